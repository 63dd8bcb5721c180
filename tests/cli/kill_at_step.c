/* Test-only LD_PRELOAD shim: kills the process (SIGKILL) right after it installs a dump
 * journal whose step is $SNAPGOV_TEST_KILL_AT_STEP. `snapgov dump encrypt` writes each journal
 * update to NAME.tmp and renames it over NAME (dumps/protect.cpp, save()), so this stops the
 * real binary at a chosen, durable point of an operation: what a crash or kill -9 leaves.
 * With $SNAPGOV_TEST_KILL_AT_WIPE_END set, it kills the process when a wipe calls fallocate
 * (dumps/wipe.cpp: the whole file overwritten and synced, its first block last, and not yet
 * deallocated nor unlinked): the last moment of a wipe. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int rename(const char* from, const char* to) {
    int (*real)(const char*, const char*) =
        (int (*)(const char*, const char*))dlsym(RTLD_NEXT, "rename");
    const int r = real(from, to);
    const char* step = getenv("SNAPGOV_TEST_KILL_AT_STEP");
    const size_t n = strlen(to);
    if (r != 0 || step == NULL || n < 8 || strcmp(to + n - 8, ".journal") != 0)
        return r;
    char want[64];
    snprintf(want, sizeof want, "\nstep=%s\n", step);
    char text[8192];
    const int fd = open(to, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return r;
    const ssize_t got = read(fd, text, sizeof text - 1);
    close(fd);
    if (got > 0) {
        text[got] = '\0';
        if (strstr(text, want) != NULL)
            raise(SIGKILL);
    }
    return r;
}

int fallocate(int fd, int mode, off_t offset, off_t len) {
    int (*real)(int, int, off_t, off_t) =
        (int (*)(int, int, off_t, off_t))dlsym(RTLD_NEXT, "fallocate");
    if (getenv("SNAPGOV_TEST_KILL_AT_WIPE_END") != NULL)
        raise(SIGKILL);
    return real(fd, mode, offset, len);
}
