#include "dumps/wipe.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <linux/falloc.h>
#include <optional>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <vector>

#include "dumps/unique_fd.hpp"

namespace snapgov::dumps {
namespace {

namespace fs = std::filesystem;

// Filesystem magic numbers from <linux/magic.h> (ZFS's is its own).
constexpr unsigned long kExt4Magic = 0xEF53;
constexpr unsigned long kBtrfsMagic = 0x9123683E;
constexpr unsigned long kXfsMagic = 0x58465342;
constexpr unsigned long kZfsMagic = 0x2FC12FC1;
constexpr unsigned long kNfsMagic = 0x6969;
constexpr unsigned long kTmpfsMagic = 0x01021994;
constexpr unsigned long kOverlayMagic = 0x794C7630;
constexpr unsigned long kF2fsMagic = 0xF2F52010;
constexpr unsigned long kSmbMagic = 0xFE534D42;
constexpr unsigned long kCifsMagic = 0xFF534D42;
constexpr unsigned long kFuseMagic = 0x65735546;

std::string read_sys(const fs::path& p) {
    std::ifstream in(p);
    std::string s;
    std::getline(in, s);
    return s;
}

// Whether any swap area is active; nullopt when /proc/swaps cannot be read (then nobody can
// promise that tmpfs pages never reached a disk).
std::optional<bool> swap_active() {
    std::ifstream in("/proc/swaps");
    if (!in)
        return std::nullopt;
    std::string line;
    int lines = 0;
    while (std::getline(in, line))
        ++lines;
    if (in.bad() || lines == 0)
        return std::nullopt; // even an empty table has its column header
    return lines > 1;
}

struct DeviceInfo {
    bool known = false;
    bool rotational = false;
    bool discard = false;
    std::string name;
    std::string note;
};

DeviceInfo device_of(dev_t dev) {
    DeviceInfo info;
    if (major(dev) == 0)
        return info; // anonymous device: tmpfs, NFS, btrfs subvolumes
    std::error_code ec;
    fs::path sys = fs::canonical(
        "/sys/dev/block/" + std::to_string(major(dev)) + ":" + std::to_string(minor(dev)), ec);
    if (ec)
        return info;
    // A partition has no queue/ of its own: its parent directory is the whole disk. A
    // lookup error reads as "not a partition": queue/ is then missing and the device unknown.
    if (fs::exists(sys / "partition", ec))
        sys = sys.parent_path();
    const std::string rot = read_sys(sys / "queue" / "rotational");
    if (rot.empty())
        return info;
    info.known = true;
    info.name = sys.filename().string();
    info.rotational = rot == "1";
    info.discard = read_sys(sys / "queue" / "discard_max_bytes") != "0" &&
                   !read_sys(sys / "queue" / "discard_max_bytes").empty();
    if (info.name.starts_with("vd") || info.name.starts_with("xvd")) {
        info.note = "virtual disk: the hypervisor's backing store decides what an overwrite does";
    } else if (info.name.starts_with("loop")) {
        info.note = "loop device: backed by a file on another filesystem";
    } else if (info.name.starts_with("dm-") || info.name.starts_with("md")) {
        info.note = "device-mapper/RAID volume";
    }
    return info;
}

} // namespace

std::string_view to_string(WipeAssurance assurance) noexcept {
    return assurance == WipeAssurance::clear ? "clear" : "best-effort";
}

StorageAssessment assess_storage(int fd) {
    StorageAssessment out;
    struct statfs sfs {};
    if (::fstatfs(fd, &sfs) != 0) {
        out.filesystem = "unknown";
        out.reason = "cannot identify the filesystem (fstatfs failed)";
        return out;
    }
    const auto magic = static_cast<unsigned long>(sfs.f_type);
    switch (magic) {
    case kExt4Magic: out.filesystem = "ext2/3/4"; break;
    case kBtrfsMagic: out.filesystem = "btrfs"; break;
    case kXfsMagic: out.filesystem = "xfs"; break;
    case kZfsMagic: out.filesystem = "zfs"; break;
    case kNfsMagic: out.filesystem = "nfs"; break;
    case kTmpfsMagic: out.filesystem = "tmpfs"; break;
    case kOverlayMagic: out.filesystem = "overlayfs"; break;
    case kF2fsMagic: out.filesystem = "f2fs"; break;
    case kSmbMagic:
    case kCifsMagic: out.filesystem = "smb"; break;
    case kFuseMagic: out.filesystem = "fuse"; break;
    default: {
        char buf[32];
        std::snprintf(buf, sizeof buf, "0x%lx", magic);
        out.filesystem = buf;
    }
    }
    // Filesystems that never overwrite in place, or whose storage we cannot see.
    switch (magic) {
    case kBtrfsMagic:
    case kZfsMagic:
        out.reason = out.filesystem + " is copy-on-write: the overwrite goes to new blocks and the "
                                      "old ones (and any snapshot) keep the data until reused";
        return out;
    case kF2fsMagic:
        out.reason = "f2fs is log-structured: overwrites are written elsewhere";
        return out;
    case kNfsMagic:
    case kSmbMagic:
    case kCifsMagic:
    case kFuseMagic:
        out.reason = out.filesystem + ": the server's storage decides what an overwrite does";
        return out;
    case kOverlayMagic:
        out.reason = "overlayfs: a copy in a lower layer is not touched";
        return out;
    case kTmpfsMagic: {
        const std::optional<bool> swap = swap_active();
        if (!swap) {
            out.reason = "tmpfs, but /proc/swaps cannot be read: pages may have been swapped out";
        } else if (*swap) {
            out.reason = "tmpfs with swap enabled: pages swapped out earlier may remain in swap";
        } else {
            out.assurance = WipeAssurance::clear;
            out.reason = "tmpfs without swap: the data lived only in RAM and is overwritten there";
        }
        return out;
    }
    default: break;
    }
    struct stat st {};
    const DeviceInfo dev = ::fstat(fd, &st) == 0 ? device_of(st.st_dev) : DeviceInfo{};
    if (!dev.known) {
        out.device = "unknown";
        out.reason = out.filesystem + " on a block device snapgov cannot identify";
        return out;
    }
    out.device = dev.name + (dev.rotational ? " (rotational" : " (non-rotational") +
                 (dev.discard ? ", discard)" : ")");
    if (!dev.rotational) {
        out.reason = "solid-state storage remaps writes: old blocks may survive an overwrite "
                     "(NIST SP 800-88 requires a device sanitize or crypto-erase)";
        return out;
    }
    if (!dev.note.empty()) {
        out.reason = dev.note;
        return out;
    }
    if (magic == kXfsMagic) {
        out.reason = "xfs may share blocks through reflinks (cp --reflink, VM clones): shared "
                     "extents keep the old data";
        return out;
    }
    if (magic != kExt4Magic) {
        out.reason = out.filesystem + " is not known to overwrite in place";
        return out;
    }
    out.assurance = WipeAssurance::clear;
    out.reason = "in-place overwrite on ext4 over a rotational disk (NIST SP 800-88 clear)";
    return out;
}

Result<WipeReport> wipe_file(const std::string& path, const WipeOptions& options) {
    const fs::path p(path);
    const std::string name = p.filename().string();
    if (name.empty() || name == "." || name == "..") {
        return fail(ErrorCode::usage, "cannot wipe " + path + ": not a file name");
    }
    fs::path dir = p.parent_path();
    if (dir.empty())
        dir = ".";
    UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd.valid()) {
        return fail(ErrorCode::io,
                    "cannot open directory " + dir.string() + ": " + errno_text(errno));
    }
    struct stat lst {};
    if (::fstatat(dir_fd.get(), name.c_str(), &lst, AT_SYMLINK_NOFOLLOW) != 0) {
        return fail(errno == ENOENT ? ErrorCode::not_found : ErrorCode::io,
                    "cannot wipe " + path + ": " + errno_text(errno));
    }
    if (S_ISLNK(lst.st_mode)) {
        return fail(ErrorCode::usage, "refusing to wipe " + path +
                                          ": it is a symbolic link (wipe its target by its real "
                                          "path if that is intended)");
    }
    if (!S_ISREG(lst.st_mode)) {
        return fail(ErrorCode::usage, "refusing to wipe " + path + ": not a regular file");
    }
    // O_NOFOLLOW closes the race with a symlink swapped in after the check above; O_NONBLOCK
    // keeps a FIFO swapped in from blocking the open (it is then refused by fstat).
    UniqueFd fd(::openat(dir_fd.get(), name.c_str(),
                         O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd.valid()) {
        const int err = errno;
        if (err == ELOOP) {
            return fail(ErrorCode::usage, "refusing to wipe " + path + ": it is a symbolic link");
        }
        return fail(ErrorCode::io, "cannot open " + path + " for wiping: " + errno_text(err));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return fail(ErrorCode::io, "cannot stat " + path + ": " + errno_text(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return fail(ErrorCode::usage, "refusing to wipe " + path + ": not a regular file");
    }
    if (st.st_nlink > 1) {
        return fail(ErrorCode::usage,
                    "refusing to wipe " + path + ": it has " + std::to_string(st.st_nlink) +
                        " hard links, so its data is also reachable under another name; remove "
                        "the other links first (find -samefile)");
    }

    // The overwrite is only worth doing if the name can be removed afterwards: check that
    // now, so a directory we may not write leaves the file untouched rather than zeroed.
    if (::faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) != 0) {
        return fail(ErrorCode::usage, "refusing to wipe " + path + ": it could not be removed " +
                                          "afterwards, since directory " + dir.string() +
                                          " is not writable by the user snapgov runs as (" +
                                          errno_text(errno) +
                                          "); nothing was overwritten. Fix: run as a user who "
                                          "may write " +
                                          dir.string() + ", or chmod u+w it");
    }
    if (struct stat dst{}; ::fstat(dir_fd.get(), &dst) == 0 && (dst.st_mode & S_ISVTX) != 0 &&
                           ::geteuid() != 0 && ::geteuid() != st.st_uid &&
                           ::geteuid() != dst.st_uid) {
        return fail(ErrorCode::usage,
                    "refusing to wipe " + path + ": directory " + dir.string() +
                        " is sticky (like /tmp) and the file belongs to uid " +
                        std::to_string(st.st_uid) +
                        ", so it could not be removed afterwards; nothing was overwritten. Fix: "
                        "wipe it as its owner or as root");
    }
    if (options.expect && (st.st_dev != options.expect->dev || st.st_ino != options.expect->ino ||
                           static_cast<std::uint64_t>(st.st_size) != options.expect->size)) {
        return fail(ErrorCode::verification,
                    "not wiping " + path +
                        ": it is no longer the file that was checked (device, inode or size "
                        "changed); nothing was overwritten");
    }

    WipeReport report;
    report.path = path;
    report.size = static_cast<std::uint64_t>(st.st_size);
    report.storage = assess_storage(fd.get());

    // Overwrite only allocated extents: holes hold no data, and filling them would turn a
    // sparse multi-GiB dump into a fully allocated one for nothing.
    std::vector<std::uint8_t> zeros(4 << 20, 0);
    const off_t size = st.st_size;
    // The first block (where a dump's signature is) is overwritten last: a crash during the
    // wipe leaves a file that still says what it is, so recovery can finish the wipe.
    const off_t head = std::min<off_t>(size, 4096);
    auto overwrite = [&](off_t from, off_t to, bool show_progress) -> Result<void> {
        for (off_t off = from; off < to;) {
            const auto len = static_cast<std::size_t>(
                std::min<off_t>(to - off, static_cast<off_t>(zeros.size())));
            const ssize_t n = ::pwrite(fd.get(), zeros.data(), len, off);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return fail(ErrorCode::io, "overwriting " + path + " failed: " + errno_text(errno) +
                                               " (the file was partly zeroed and not removed)");
            }
            // Start write-back now, so the fdatasync below does not find 2 GiB still dirty.
            // A hint: the fdatasync is what makes the zeros durable.
            (void)::sync_file_range(fd.get(), off, n, SYNC_FILE_RANGE_WRITE);
            off += n;
            report.bytes_overwritten += static_cast<std::uint64_t>(n);
            if (show_progress && options.progress)
                options.progress(static_cast<std::uint64_t>(off), report.size);
        }
        return {};
    };
    off_t head_data = ::lseek(fd.get(), 0, SEEK_DATA);
    if (head_data < 0)
        head_data = errno == ENXIO ? head : 0; // no data at all, or SEEK_DATA unsupported
    off_t pos = head;
    while (pos < size) {
        off_t data = ::lseek(fd.get(), pos, SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO)
                break;  // no data after pos
            data = pos; // SEEK_DATA unsupported: treat everything as data
        }
        off_t hole = ::lseek(fd.get(), data, SEEK_HOLE);
        if (hole < 0 || hole > size)
            hole = size;
        if (auto r = overwrite(data, hole, true); !r)
            return tl::unexpected(r.error());
        pos = hole;
    }
    if (head_data < head) {
        if (auto r = overwrite(head_data, head, false); !r)
            return tl::unexpected(r.error());
        if (options.progress)
            options.progress(std::max<std::uint64_t>(static_cast<std::uint64_t>(pos), head),
                             report.size);
    }
    if (::fdatasync(fd.get()) != 0) {
        return fail(ErrorCode::io, "fdatasync of " + path + " failed: " + errno_text(errno) +
                                       " (the overwrite may not be on disk; file not removed)");
    }
    if (size > 0 &&
        ::fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, size) == 0) {
        // No fdatasync here: the zeros are already durable, and the deallocation is metadata
        // that the directory fsync below commits with the unlink (a crash before that leaves
        // a zeroed file, never the old data).
        report.hole_punched = true;
    }
    // Unlink only the inode we overwrote, not something renamed into its place meanwhile.
    struct stat now {};
    if (::fstatat(dir_fd.get(), name.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0 ||
        now.st_ino != st.st_ino || now.st_dev != st.st_dev) {
        return fail(ErrorCode::verification,
                    "not removing " + path +
                        ": it was replaced by another file during the wipe "
                        "(the original was overwritten)");
    }
    if (auto r = fd.close_checked(path); !r)
        return tl::unexpected(r.error());
    if (::unlinkat(dir_fd.get(), name.c_str(), 0) != 0) {
        return fail(ErrorCode::io,
                    "removing " + path + " after overwriting it failed: " + errno_text(errno));
    }
    if (::fsync(dir_fd.get()) != 0) {
        return fail(ErrorCode::io,
                    "fsync of directory " + dir.string() + " failed: " + errno_text(errno));
    }
    return report;
}

bool holds_only_zeros(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    struct stat st {};
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        return false;
    }
    std::vector<std::uint8_t> buf(1 << 20);
    for (;;) {
        auto n = read_full(fd.get(), buf, path);
        if (!n) {
            return false;
        }
        if (std::any_of(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n),
                        [](std::uint8_t b) { return b != 0; })) {
            return false;
        }
        if (*n < buf.size()) {
            return true;
        }
    }
}

} // namespace snapgov::dumps
