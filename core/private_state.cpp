#include "core/private_state.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <unistd.h>

namespace snapgov {
namespace {

std::string mode_text(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

} // namespace

Result<void> check_private(const struct stat& st, const std::string& path,
                           const std::string& what) {
    const uid_t me = ::geteuid();
    if (st.st_uid != me) {
        return fail(ErrorCode::config,
                    what + " " + path + " is owned by uid " + std::to_string(st.st_uid) +
                        ", not by the user snapgov runs as (uid " + std::to_string(me) +
                        "): whoever owns it could make snapgov act on any file, so it is not "
                        "used; check its content, then fix: chown " +
                        std::to_string(me) + " " + path);
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        return fail(ErrorCode::config,
                    what + " " + path + " is writable by group or others (mode " +
                        mode_text(st.st_mode) +
                        "): anyone who can write it could make snapgov act on any file, so it "
                        "is not used; check its content, then fix: chmod go-w " +
                        path);
    }
    return {};
}

Result<void> check_private_fd(int fd, const std::string& path, const std::string& what) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        return fail(ErrorCode::io,
                    "cannot examine " + what + " " + path + ": " + std::strerror(errno));
    }
    return check_private(st, path, what);
}

} // namespace snapgov
