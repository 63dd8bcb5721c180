#include "core/unique_fd.hpp"

#include <cerrno>
#include <cstring>

#include <unistd.h>

namespace snapgov {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = other.release();
    }
    return *this;
}

UniqueFd::~UniqueFd() {
    if (fd_ >= 0)
        ::close(fd_);
}

int UniqueFd::release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
}

Result<void> UniqueFd::close_checked(const std::string& what) {
    const int fd = release();
    if (fd < 0)
        return {};
    if (::close(fd) != 0 && errno != EINTR) {
        return fail(ErrorCode::io, "closing " + what + " failed: " + std::strerror(errno));
    }
    return {};
}

} // namespace snapgov
