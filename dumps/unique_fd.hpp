#pragma once
/// Owning wrapper for a POSIX file descriptor, plus the small I/O helpers the dumps library
/// shares (full reads and writes that retry on EINTR and short transfers).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "core/error.hpp"

namespace snapgov::dumps {

/// Owns one file descriptor and closes it on destruction. Move-only.
class UniqueFd {
public:
    UniqueFd() = default;
    /// Takes ownership of `fd` (may be -1 for "none").
    explicit UniqueFd(int fd) noexcept : fd_(fd) {}
    /// Moves ownership; `other` becomes empty.
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    /// Closes the held descriptor, then takes `other`'s.
    UniqueFd& operator=(UniqueFd&& other) noexcept;
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    /// Closes the descriptor (errors ignored; use close_checked() where they matter).
    ~UniqueFd();

    /// The descriptor, still owned by this object; -1 if none.
    [[nodiscard]] int get() const noexcept { return fd_; }
    /// True if a descriptor is held.
    [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
    /// Gives up ownership and returns the descriptor.
    [[nodiscard]] int release() noexcept;
    /// Closes the descriptor now and reports a close error (which can carry a delayed write
    /// error on NFS). `what` names the file in the message.
    [[nodiscard]] Result<void> close_checked(const std::string& what);

private:
    int fd_ = -1;
};

/// Reads until `buf` is full or end of file; returns the number of bytes read. Fails with
/// ErrorCode::io naming `what` on a read error.
[[nodiscard]] Result<std::size_t> read_full(int fd, std::span<std::uint8_t> buf,
                                            const std::string& what);

/// Writes all of `data`; fails with ErrorCode::io naming `what` (ENOSPC is spelled out).
[[nodiscard]] Result<void> write_all(int fd, std::span<const std::uint8_t> data,
                                     const std::string& what);

/// fsync()s the directory that contains `path`, so a rename or unlink in it is durable.
[[nodiscard]] Result<void> fsync_parent_dir(const std::string& path);

/// `strerror` of `err` as a std::string (thread-safe).
[[nodiscard]] std::string errno_text(int err);

} // namespace snapgov::dumps
