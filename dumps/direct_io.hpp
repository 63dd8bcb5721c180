#pragma once
/// Sequential reads and writes that bypass the page cache (O_DIRECT) where the file accepts
/// it, and fall back to ordinary buffered I/O where it does not. Internal to the dumps
/// library: age_encrypt() writes the ciphertext and age_verify_readback() re-reads it through
/// this, so that neither copies every byte between the page cache and user memory, and the
/// re-read comes from the device, not from pages the write left behind.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <sys/types.h>

#include "core/error.hpp"

namespace snapgov::dumps::detail {

/// Alignment of buffers, lengths and file offsets for direct I/O: 4 KiB, the page size and
/// the largest logical block size of common devices.
inline constexpr std::size_t kDirectAlign = 4096;

/// `n` rounded up / down to a multiple of kDirectAlign.
[[nodiscard]] constexpr std::size_t align_up(std::size_t n) noexcept {
    return (n + kDirectAlign - 1) / kDirectAlign * kDirectAlign;
}
[[nodiscard]] constexpr std::size_t align_down(std::size_t n) noexcept {
    return n / kDirectAlign * kDirectAlign;
}

/// A zero-filled heap buffer whose start is kDirectAlign-aligned and whose size is rounded up
/// to a multiple of it. Move-only. Throws std::bad_alloc like std::vector.
class AlignedBuffer {
public:
    AlignedBuffer() = default;
    explicit AlignedBuffer(std::size_t size);

    [[nodiscard]] std::uint8_t* data() noexcept { return data_.get(); }
    [[nodiscard]] const std::uint8_t* data() const noexcept { return data_.get(); }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

private:
    struct Free {
        void operator()(std::uint8_t* p) const noexcept;
    };
    std::unique_ptr<std::uint8_t, Free> data_;
    std::size_t size_ = 0;
};

/// Borrows a file descriptor and reads or writes it sequentially from its current offset,
/// with O_DIRECT when asked for and the file accepts it: only a regular file is tried (never
/// a pipe, where O_DIRECT means packet mode), and a file system that refuses the flag
/// (EINVAL, e.g. ramfs) or a transfer (EINVAL: an unaligned offset or a device with larger
/// blocks) makes it buffered from then on, the transfer retried. Restores the descriptor's
/// original status flags when destroyed.
class DirectIo {
public:
    /// `want_direct` false: plain buffered I/O (what read_full()/write_all() do).
    DirectIo(int fd, bool want_direct) noexcept;
    DirectIo(const DirectIo&) = delete;
    DirectIo& operator=(const DirectIo&) = delete;
    ~DirectIo();

    /// True while transfers bypass the page cache.
    [[nodiscard]] bool direct() const noexcept { return direct_; }
    /// Bytes moved with O_DIRECT so far.
    [[nodiscard]] std::uint64_t direct_bytes() const noexcept { return direct_bytes_; }

    /// Reads until `buf` is full or end of file; returns the bytes read. While direct(), `buf`
    /// must be aligned and a multiple of kDirectAlign long; a read that ends at an unaligned
    /// end of file switches to buffered (the next read returns 0 or the error).
    [[nodiscard]] Result<std::size_t> read_full(std::span<std::uint8_t> buf,
                                                const std::string& what);
    /// Writes all of `data`. While direct(), `data` must be aligned and a multiple of
    /// kDirectAlign long (call stop_direct() first for a final partial block).
    [[nodiscard]] Result<void> write_all(std::span<const std::uint8_t> data,
                                         const std::string& what);
    /// Writes all of `data` at file offset `offset` (pwrite; the descriptor's offset is not
    /// moved). While direct(), `data` and `offset` must be aligned and `data` a multiple of
    /// kDirectAlign long; it is then cut into up to `ways` aligned pieces written in parallel
    /// (one thread each, the calling thread included), so that several requests are in
    /// flight: a direct write waits for the device, one request at a time. Where a piece is
    /// refused (EINVAL), the whole range is written again buffered, and so is all that
    /// follows. A piece that cannot get a thread is written on the calling thread.
    [[nodiscard]] Result<void> write_all_at(std::span<const std::uint8_t> data, off_t offset,
                                            unsigned ways, const std::string& what);
    /// Buffered I/O from now on (for a final block shorter than kDirectAlign).
    void stop_direct() noexcept;

private:
    int fd_;
    int original_flags_ = -1;
    bool direct_ = false;
    std::uint64_t direct_bytes_ = 0;
};

} // namespace snapgov::dumps::detail
