#pragma once
/// The small I/O helpers the dumps library shares (full reads and writes that retry on EINTR and
/// short transfers).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "core/error.hpp"
#include "core/unique_fd.hpp"

namespace snapgov::dumps {

using snapgov::UniqueFd;

/// Reads until `buf` is full or end of file; returns the number of bytes read. Fails with
/// ErrorCode::io naming `what` on a read error.
[[nodiscard]] Result<std::size_t> read_full(int fd, std::span<std::uint8_t> buf,
                                            const std::string& what);

/// Writes all of `data`; fails with ErrorCode::io naming `what` (ENOSPC is spelled out).
[[nodiscard]] Result<void> write_all(int fd, std::span<const std::uint8_t> data,
                                     const std::string& what);

/// Opens `path` read-only (no symlink) and asks the kernel to drop its cached pages, so that a
/// check reads what storage returns where the page cache allows. ErrorCode::not_found when
/// it is missing, io otherwise.
[[nodiscard]] Result<UniqueFd> open_uncached(const std::string& path);

/// fsync()s the directory that contains `path`, so a rename or unlink in it is durable.
[[nodiscard]] Result<void> fsync_parent_dir(const std::string& path);

/// `strerror` of `err` as a std::string (thread-safe).
[[nodiscard]] std::string errno_text(int err);

} // namespace snapgov::dumps
