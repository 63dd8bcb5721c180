#pragma once
/// Overwrite-and-unlink of a single file, with an honest statement of what the overwrite
/// achieved on this filesystem and device (NIST SP 800-88 terms: `clear` or best effort).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/error.hpp"

namespace snapgov::dumps {

/// How much an overwrite of a file's blocks can be trusted to destroy its old content.
enum class WipeAssurance {
    clear,       ///< in-place overwrite on a device that does not remap writes (NIST "clear")
    best_effort, ///< copy-on-write filesystem, flash, network or unknown storage
};

/// "clear" or "best-effort".
[[nodiscard]] std::string_view to_string(WipeAssurance assurance) noexcept;

/// What the storage under a file promises about in-place overwrites.
struct StorageAssessment {
    WipeAssurance assurance = WipeAssurance::best_effort;
    std::string filesystem; ///< e.g. "ext4", "btrfs", "xfs", "nfs", "tmpfs", or a hex magic
    std::string device;     ///< e.g. "sda (rotational)", "nvme0n1 (non-rotational, discard)"
    std::string reason;     ///< one sentence for the admin and the evidence record
};

/// Assesses the filesystem (statfs) and block device (/sys/dev/block) under the open file
/// `fd`. Never fails: what cannot be determined makes the result best-effort, with why.
[[nodiscard]] StorageAssessment assess_storage(int fd);

/// Result of a wipe.
struct WipeReport {
    std::string path;
    std::uint64_t size = 0;              ///< file size before the wipe
    std::uint64_t bytes_overwritten = 0; ///< allocated (non-hole) bytes overwritten with zeros
    bool hole_punched = false;           ///< blocks deallocated with FALLOC_FL_PUNCH_HOLE
    StorageAssessment storage;
};

/// Options for wipe_file().
struct WipeOptions {
    /// Called with bytes overwritten so far (for a progress bar on big dumps).
    std::function<void(std::uint64_t done, std::uint64_t total)> progress;
    /// The file the caller checked: wipe_file() refuses, before writing, unless the file it
    /// opened is this one (same device, inode and size).
    struct Expected {
        std::uint64_t dev = 0;
        std::uint64_t ino = 0;
        std::uint64_t size = 0;
    };
    std::optional<Expected> expect;
};

/// Overwrites the regular file `path` once with zeros (only its allocated extents; holes
/// hold no data), fdatasync()s it, deallocates its blocks where the filesystem supports hole
/// punching, then unlinks it and fsyncs the directory. Refuses, without touching anything:
/// symbolic links (the final component is never followed), non-regular files, and files
/// with more than one hard link (the data would stay reachable under the other name), a
/// file whose name could not be removed afterwards (directory not writable and searchable by
/// the effective user, or sticky and owned by someone else), and a file other than
/// `options.expect`. The first block is overwritten last, so a file whose wipe was cut short
/// still carries its signature.
/// The unlink is checked to remove the same inode that was overwritten. Errors name the file
/// and the reason; on an error after the overwrite started, the file may be partly zeroed but
/// is not unlinked.
[[nodiscard]] Result<WipeReport> wipe_file(const std::string& path,
                                           const WipeOptions& options = {});

/// True when `path` is a regular file (a final symlink is not followed) that holds only zero
/// bytes: what wipe_file() leaves when it is stopped (a crash, kill -9) after its overwrite and
/// before its unlink. Such a file has nothing left to lose; it no longer carries the dump
/// signature that would identify it. False when it cannot be read.
[[nodiscard]] bool holds_only_zeros(const std::string& path);

} // namespace snapgov::dumps
