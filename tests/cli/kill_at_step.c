/* Test-only LD_PRELOAD shim: kills the process (SIGKILL) right after it installs a dump
 * journal whose step is $SNAPGOV_TEST_KILL_AT_STEP. `snapgov dump encrypt` writes each journal
 * update to NAME.tmp and renames it over NAME (dumps/protect.cpp, save()), so this stops the
 * real binary at a chosen, durable point of an operation: what a crash or kill -9 leaves.
 * With $SNAPGOV_TEST_KILL_AT_WIPE_END set, it kills the process when a wipe calls fallocate
 * (dumps/wipe.cpp: the whole file overwritten and synced, its first block last, and not yet
 * deallocated nor unlinked): the last moment of a wipe.
 * With $SNAPGOV_TEST_STOP_AT_FIFO_READ set to a path, the process stops itself (SIGSTOP) right
 * after its first read that returns data from the FIFO at that path: `snapgov checkpoint
 * create` is then held mid-stream, with libvirt's writer blocked on the full FIFO, for as
 * long as the test wants, whatever the machine's load.
 * With $SNAPGOV_TEST_HOLD_REOPEN set to a folder (in libvirtd's environment) and the file
 * FOLDER/armed present, the next open for writing without O_TRUNC or O_CREAT of a FIFO (libvirt
 * 9.0's second open of a memory path, for the final header, after the stream) is held: it
 * removes FOLDER/armed, creates FOLDER/held, and waits for FOLDER/go (60 s at most) before it
 * opens. A test kills snapgov in that window. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/stat.h>
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

/* Whether fd is the FIFO at `path` (compared by the link in /proc/self/fd). */
static int is_fifo_at(int fd, const char* path) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode))
        return 0;
    char link[64];
    char target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    const ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
        return 0;
    target[n] = '\0';
    return strcmp(target, path) == 0;
}

ssize_t read(int fd, void* buf, size_t count) {
    static ssize_t (*real)(int, void*, size_t);
    static int stopped;
    if (real == NULL)
        real = (ssize_t(*)(int, void*, size_t))dlsym(RTLD_NEXT, "read");
    const ssize_t r = real(fd, buf, count);
    const char* fifo = getenv("SNAPGOV_TEST_STOP_AT_FIFO_READ");
    if (r > 0 && fifo != NULL && !__atomic_load_n(&stopped, __ATOMIC_SEQ_CST) &&
        is_fifo_at(fd, fifo) && !__atomic_exchange_n(&stopped, 1, __ATOMIC_SEQ_CST))
        raise(SIGSTOP);
    return r;
}

typedef int (*open_fn)(const char*, int, ...);
typedef int (*openat_fn)(int, const char*, int, ...);

static void hold_reopen(const char* path, int flags) {
    const char* dir = getenv("SNAPGOV_TEST_HOLD_REOPEN");
    if (dir == NULL || path == NULL || (flags & O_ACCMODE) != O_WRONLY ||
        (flags & (O_TRUNC | O_CREAT)) != 0)
        return;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISFIFO(st.st_mode))
        return;
    char armed[4096], held[4096], go[4096];
    snprintf(armed, sizeof armed, "%s/armed", dir);
    snprintf(held, sizeof held, "%s/held", dir);
    snprintf(go, sizeof go, "%s/go", dir);
    if (unlink(armed) != 0)
        return; /* not armed, or already used */
    open_fn real = (open_fn)dlsym(RTLD_NEXT, "open");
    const int fd = real(held, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    for (int i = 0; i < 600 && access(go, F_OK) != 0; ++i)
        usleep(100000);
}

static mode_t mode_arg(int flags, va_list ap) {
    return (flags & (O_CREAT | O_TMPFILE)) != 0 ? (mode_t)va_arg(ap, int) : 0;
}

/* open, open64, openat and openat64: the same wrapper around the next definition of each. */
#define HOLD_OPEN(name)                                                                            \
    int name(const char* path, int flags, ...) {                                                   \
        va_list ap;                                                                                \
        va_start(ap, flags);                                                                       \
        const mode_t mode = mode_arg(flags, ap);                                                   \
        va_end(ap);                                                                                \
        hold_reopen(path, flags);                                                                  \
        return ((open_fn)dlsym(RTLD_NEXT, #name))(path, flags, mode);                              \
    }
#define HOLD_OPENAT(name)                                                                          \
    int name(int dirfd, const char* path, int flags, ...) {                                        \
        va_list ap;                                                                                \
        va_start(ap, flags);                                                                       \
        const mode_t mode = mode_arg(flags, ap);                                                   \
        va_end(ap);                                                                                \
        if (dirfd == AT_FDCWD || path[0] == '/')                                                   \
            hold_reopen(path, flags);                                                              \
        return ((openat_fn)dlsym(RTLD_NEXT, #name))(dirfd, path, flags, mode);                     \
    }
HOLD_OPEN(open)
HOLD_OPEN(open64)
HOLD_OPENAT(openat)
HOLD_OPENAT(openat64)
