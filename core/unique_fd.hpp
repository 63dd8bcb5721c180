#pragma once
/// Owning wrapper for a POSIX file descriptor.

#include <string>

#include "core/error.hpp"

namespace snapgov {

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

} // namespace snapgov
