#include "dumps/direct_io.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <future>
#include <new>
#include <system_error>
#include <vector>
#include <sys/stat.h>
#include <unistd.h>

#include "dumps/unique_fd.hpp"

namespace snapgov::dumps::detail {

AlignedBuffer::AlignedBuffer(std::size_t size) : size_(align_up(size)) {
    void* p = nullptr;
    if (size_ > 0) {
        if (::posix_memalign(&p, kDirectAlign, size_) != 0)
            throw std::bad_alloc();
        std::memset(p, 0, size_);
    }
    data_.reset(static_cast<std::uint8_t*>(p));
}

void AlignedBuffer::Free::operator()(std::uint8_t* p) const noexcept {
    std::free(p);
}

DirectIo::DirectIo(int fd, bool want_direct) noexcept : fd_(fd) {
    if (!want_direct)
        return;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0)
        return;
    original_flags_ = flags;
    // Refused (EINVAL) by file systems without direct I/O: buffered, as if not asked.
    direct_ = (flags & O_DIRECT) != 0 || ::fcntl(fd, F_SETFL, flags | O_DIRECT) == 0;
}

DirectIo::~DirectIo() {
    if (original_flags_ >= 0)
        (void)::fcntl(fd_, F_SETFL, original_flags_);
}

void DirectIo::stop_direct() noexcept {
    if (original_flags_ >= 0)
        (void)::fcntl(fd_, F_SETFL, original_flags_ & ~O_DIRECT);
    direct_ = false;
}

Result<std::size_t> DirectIo::read_full(std::span<std::uint8_t> buf, const std::string& what) {
    std::size_t done = 0;
    while (done < buf.size()) {
        const ssize_t n = ::read(fd_, buf.data() + done, buf.size() - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EINVAL && direct_) {
                stop_direct(); // the transfer was refused, nothing was read: retry it
                continue;
            }
            return fail(ErrorCode::io, "reading " + what + " failed: " + errno_text(errno));
        }
        if (n == 0)
            break;
        done += static_cast<std::size_t>(n);
        if (direct_) {
            direct_bytes_ += static_cast<std::size_t>(n);
            // Only end of file (or an error the next read reports) ends a direct read short;
            // the offset is now unaligned, so go on buffered.
            if (done % kDirectAlign != 0)
                stop_direct();
        }
    }
    return done;
}

Result<void> DirectIo::write_all(std::span<const std::uint8_t> data, const std::string& what) {
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EINVAL && direct_) {
                stop_direct(); // refused before anything was written: retry buffered
                continue;
            }
            const int err = errno;
            std::string msg = "writing " + what + " failed: " + errno_text(err);
            if (err == ENOSPC || err == EDQUOT)
                msg += " (free space on that filesystem and retry)";
            return fail(ErrorCode::io, std::move(msg));
        }
        done += static_cast<std::size_t>(n);
        if (direct_) {
            direct_bytes_ += static_cast<std::size_t>(n);
            if (done % kDirectAlign != 0)
                stop_direct();
        }
    }
    return {};
}

namespace {

// pwrite()s all of `data` at `offset`; 0 or the errno of the first failure.
int pwrite_all(int fd, std::span<const std::uint8_t> data, off_t offset) noexcept {
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n =
            ::pwrite(fd, data.data() + done, data.size() - done, offset + static_cast<off_t>(done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        done += static_cast<std::size_t>(n);
    }
    return 0;
}

std::string write_error(int err, const std::string& what) {
    std::string msg = "writing " + what + " failed: " + errno_text(err);
    if (err == ENOSPC || err == EDQUOT)
        msg += " (free space on that filesystem and retry)";
    return msg;
}

} // namespace

Result<void> DirectIo::write_all_at(std::span<const std::uint8_t> data, off_t offset, unsigned ways,
                                    const std::string& what) {
    if (direct_ && data.size() >= 2 * kDirectAlign && ways > 1) {
        const std::size_t piece = align_up((data.size() + ways - 1) / ways);
        std::vector<std::future<int>> others;
        for (std::size_t at = piece; at < data.size(); at += piece) {
            const auto part = data.subspan(at, std::min(piece, data.size() - at));
            const off_t where = offset + static_cast<off_t>(at);
            try {
                others.push_back(std::async(std::launch::async, [fd = fd_, part, where] {
                    return pwrite_all(fd, part, where);
                }));
            } catch (const std::system_error&) {
                others.push_back(std::async(std::launch::deferred, [fd = fd_, part, where] {
                    return pwrite_all(fd, part, where);
                }));
            }
        }
        int err = pwrite_all(fd_, data.first(std::min(piece, data.size())), offset);
        for (auto& f : others) {
            const int e = f.get();
            if (err == 0 || err == EINVAL)
                err = e != 0 ? e : err;
        }
        if (err == 0) {
            direct_bytes_ += data.size();
            return {};
        }
        if (err != EINVAL)
            return fail(ErrorCode::io, write_error(err, what));
        stop_direct(); // refused: the whole range again, buffered
    } else if (direct_) {
        const int err = pwrite_all(fd_, data, offset);
        if (err == 0) {
            direct_bytes_ += data.size();
            return {};
        }
        if (err != EINVAL)
            return fail(ErrorCode::io, write_error(err, what));
        stop_direct();
    }
    if (const int err = pwrite_all(fd_, data, offset); err != 0)
        return fail(ErrorCode::io, write_error(err, what));
    return {};
}

} // namespace snapgov::dumps::detail
