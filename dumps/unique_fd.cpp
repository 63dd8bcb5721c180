#include "dumps/unique_fd.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <unistd.h>

namespace snapgov::dumps {

std::string errno_text(int err) {
    char buf[256];
    // GNU strerror_r returns a pointer that may or may not be buf.
    const char* text = ::strerror_r(err, buf, sizeof buf);
    return text;
}

Result<UniqueFd> open_uncached(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd.valid()) {
        return fail(errno == ENOENT ? ErrorCode::not_found : ErrorCode::io,
                    "cannot open " + path + " to verify it: " + errno_text(errno));
    }
    (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
    (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    return fd;
}

Result<std::size_t> read_full(int fd, std::span<std::uint8_t> buf, const std::string& what) {
    std::size_t done = 0;
    while (done < buf.size()) {
        const ssize_t n = ::read(fd, buf.data() + done, buf.size() - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return fail(ErrorCode::io, "reading " + what + " failed: " + errno_text(errno));
        }
        if (n == 0)
            break;
        done += static_cast<std::size_t>(n);
    }
    return done;
}

Result<void> write_all(int fd, std::span<const std::uint8_t> data, const std::string& what) {
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            const int err = errno;
            std::string msg = "writing " + what + " failed: " + errno_text(err);
            if (err == ENOSPC || err == EDQUOT)
                msg += " (free space on that filesystem and retry)";
            return fail(ErrorCode::io, std::move(msg));
        }
        done += static_cast<std::size_t>(n);
    }
    return {};
}

Result<void> fsync_parent_dir(const std::string& path) {
    std::filesystem::path dir = std::filesystem::path(path).parent_path();
    if (dir.empty())
        dir = ".";
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) {
        return fail(ErrorCode::io,
                    "cannot open directory " + dir.string() + " to sync it: " + errno_text(errno));
    }
    if (::fsync(fd.get()) != 0) {
        return fail(ErrorCode::io,
                    "fsync of directory " + dir.string() + " failed: " + errno_text(errno));
    }
    return {};
}

} // namespace snapgov::dumps
