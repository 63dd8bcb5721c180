#include "core/checked_file.hpp"

#include <cerrno>
#include <cstring>
#include <string.h>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/unique_fd.hpp"

namespace snapgov {
namespace {

std::string octal(mode_t mode) {
    std::ostringstream out;
    out << '0' << std::oct << (mode & 0777);
    return out.str();
}

Result<void> refuse(const std::string& path, const std::string& why) {
    return fail(ErrorCode::config, "'" + path + "' " + why);
}

/// Opens `path` for reading and checks what was opened against `rule`.
Result<void> open_checked(const std::string& path, const FileRule& rule, int& fd_out) {
    if (path.empty()) {
        return refuse(path, "is empty; give the path of a file");
    }
    // O_NONBLOCK: opening a FIFO for reading would wait for a writer.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        const int err = errno;
        if (err == ENOENT || err == ENOTDIR) {
            return refuse(path, "does not exist; check the path (a relative path is taken from "
                                "the current folder: write ${CONFIG_DIR}/NAME for a file beside "
                                "the policy file)");
        }
        return refuse(path, std::string("cannot be opened for reading: ") + std::strerror(err) +
                                " (uid " + std::to_string(::geteuid()) +
                                "); fix its permissions or those of its folders");
    }
    const UniqueFd guard(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        return refuse(path, std::string("cannot be examined: ") + std::strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) {
        return refuse(path, "is a directory; give the path of a file");
    }
    if (!S_ISREG(st.st_mode)) {
        return refuse(path, "is not a regular file (a device, FIFO or socket); give the path of "
                            "a file");
    }
    if (static_cast<std::uintmax_t>(st.st_size) > rule.max_bytes) {
        return refuse(path, "is " + std::to_string(st.st_size) + " bytes, more than the " +
                                std::to_string(rule.max_bytes) +
                                " accepted for it; is it the right file?");
    }
    if (rule.secret) {
        if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
            return refuse(path, "holds a secret but is owned by uid " + std::to_string(st.st_uid) +
                                    ", who could change it; it must be owned by root or by the "
                                    "user snapgov runs as (uid " +
                                    std::to_string(::geteuid()) + "): run chown on it");
        }
        if ((st.st_mode & 077) != 0) {
            return refuse(path, "holds a secret but is accessible by group or others (mode " +
                                    octal(st.st_mode) + "); run chmod 600 on it");
        }
        if (st.st_size == 0) {
            return refuse(path, "is empty; it should hold the secret");
        }
    }
    fd_out = ::dup(fd);
    if (fd_out < 0) {
        return refuse(path, std::string("cannot be read: ") + std::strerror(errno));
    }
    return {};
}

} // namespace

Result<void> check_file(const std::string& path, const FileRule& rule) {
    int fd = -1;
    auto r = open_checked(path, rule, fd);
    const UniqueFd guard(fd);
    return r;
}

Result<std::string> read_checked_file(const std::string& path, const FileRule& rule) {
    int fd = -1;
    if (auto r = open_checked(path, rule, fd); !r) {
        return tl::unexpected(r.error());
    }
    const UniqueFd guard(fd);
    // Blocking reads from here: it is a regular file.
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) {
        (void)::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    }
    std::string out;
    struct stat st {};
    if (::fstat(fd, &st) == 0) {
        // One allocation: a secret is not left behind in freed, grown buffers.
        out.reserve(static_cast<std::size_t>(st.st_size) + 1);
    }
    char buffer[8192];
    struct Wipe {
        char* bytes;
        std::size_t size;
        ~Wipe() { ::explicit_bzero(bytes, size); }
    } wipe{buffer, sizeof buffer};
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return fail(ErrorCode::config,
                        "'" + path + "' cannot be read: " + std::strerror(errno));
        }
        if (n == 0) {
            break;
        }
        out.append(buffer, static_cast<std::size_t>(n));
        if (out.size() > rule.max_bytes) {
            return fail(ErrorCode::config, "'" + path + "' grew beyond " +
                                               std::to_string(rule.max_bytes) +
                                               " bytes while it was read");
        }
    }
    return out;
}

} // namespace snapgov
