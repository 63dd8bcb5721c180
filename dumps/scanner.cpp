#include "dumps/scanner.hpp"

#include <algorithm>
#include <cerrno>
#include <array>
#include <cctype>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

#include "dumps/age_header.hpp"
#include "dumps/unique_fd.hpp"

namespace snapgov::dumps {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
    for (char& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool is_guid(const std::string& s) {
    if (s.size() != 36)
        return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i])))
            return false;
    }
    return true;
}

bool in_hyperv_folder(const fs::path& p) {
    for (const auto& part : p.parent_path()) {
        const std::string l = lower(part.string());
        if (l == "virtual machines" || l == "snapshots")
            return true;
    }
    return false;
}

// Reads the first bytes without following a symlink or blocking on a FIFO. The error names
// the file and the reason.
Result<std::string> head(const fs::path& p, std::size_t n) {
    UniqueFd fd(::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (!fd.valid())
        return fail(ErrorCode::io, "cannot open " + p.string() + ": " + errno_text(errno));
    std::string buf(n, '\0');
    auto got = read_full(fd.get(), {reinterpret_cast<std::uint8_t*>(buf.data()), n}, p.string());
    if (!got)
        return tl::unexpected(got.error());
    buf.resize(*got);
    return buf;
}

std::string normal(const std::string& p) {
    std::error_code ec;
    fs::path c = fs::weakly_canonical(p, ec);
    if (ec)
        c = fs::absolute(p, ec).lexically_normal();
    return c.string();
}

// What the file at `p` is by the detection rules.
struct Detection {
    std::optional<DumpKind> kind; ///< nothing: no dump by these rules
    bool interrupted = false;     ///< an `.age.partial`: an interrupted encryption
    /// Why its first bytes could not be read (then only the name decided).
    std::optional<Error> unreadable;
};

Detection detect(const fs::path& p) {
    Detection out;
    const std::string name = p.filename().string();
    const std::string lname = lower(name);
    if (lname.ends_with(".age.partial")) {
        out.interrupted = true;
        return out;
    }
    auto read = head(p, 22);
    // An unreadable file is judged by its name alone; if the name says nothing, it may still
    // be a dump, so the caller reports it rather than silently passing over it.
    const std::string magic = read ? *read : std::string();
    if (!read) {
        out.unreadable = read.error();
    }
    if (magic.starts_with("LibvirtQemudSave")) {
        out.kind = DumpKind::libvirt_save;
    } else if (magic.starts_with("LibvirtQemudPart")) {
        out.kind = DumpKind::libvirt_partial;
    } else if (lname.ends_with(".age") && magic == kAgeVersionLine.substr(0, 22)) {
        out.kind = DumpKind::age_encrypted;
    } else if (lname.ends_with(".vmrs") || lname.ends_with(".vsv") ||
               (lname.ends_with(".bin") && is_guid(name.substr(0, name.size() - 4)) &&
                in_hyperv_folder(p))) {
        out.kind = DumpKind::hyperv_state;
    }
    return out;
}

void classify(const fs::path& p, std::uint64_t size, const std::set<std::string>& refs,
              ScanResult& out) {
    const Detection found = detect(p);
    if (found.interrupted) {
        out.warnings.push_back(p.string() + ": interrupted encryption (run recovery)");
        return;
    }
    if (!found.kind) {
        if (found.unreadable) {
            out.warnings.push_back(p.string() + ": cannot read it to check for a dump (" +
                                   found.unreadable->message + ")");
        }
        return;
    }
    FoundDump d{p.string(), *found.kind, size};
    if (*found.kind == DumpKind::age_encrypted) {
        out.protected_dumps.push_back(std::move(d));
        return;
    }
    (refs.count(normal(p.string())) ? out.referenced : out.orphans).push_back(std::move(d));
}

} // namespace

bool identified_by_content(DumpKind kind) noexcept {
    switch (kind) {
    case DumpKind::libvirt_save:
    case DumpKind::libvirt_partial:
    case DumpKind::age_encrypted: return true;
    case DumpKind::hyperv_state: return false;
    }
    return false;
}

std::string_view to_string(DumpKind kind) noexcept {
    switch (kind) {
    case DumpKind::libvirt_save: return "libvirt-save";
    case DumpKind::libvirt_partial: return "libvirt-partial";
    case DumpKind::hyperv_state: return "hyperv-state";
    case DumpKind::age_encrypted: return "age";
    }
    return "unknown";
}

Result<FoundDump> classify_file(const std::string& path) {
    struct stat sb {};
    if (::lstat(path.c_str(), &sb) != 0) {
        return fail(ErrorCode::not_found, path + ": " + std::strerror(errno));
    }
    if (!S_ISREG(sb.st_mode)) {
        return fail(ErrorCode::unsupported,
                    path + " is not a regular file (a symbolic link, folder or device): "
                           "refusing to touch it");
    }
    const Detection found = detect(fs::path(path));
    if (!found.kind && found.unreadable) {
        return tl::unexpected(found.unreadable->with_context(
            "cannot read " + path + " to check that it is a memory dump; left alone"));
    }
    if (!found.kind) {
        return fail(ErrorCode::unsupported,
                    path + " does not look like a VM memory dump (no LibvirtQemudSave header, "
                           "no age header): refusing to touch it; check the checkpoint's memory "
                           "file in the hypervisor");
    }
    if (!identified_by_content(*found.kind)) {
        return fail(ErrorCode::unsupported,
                    path + " is named like Hyper-V saved state, but nothing in its content can "
                           "confirm it (Hyper-V's formats have no published header): refusing to "
                           "wipe or encrypt it; check it in Hyper-V and remove it there");
    }
    return FoundDump{path, *found.kind, static_cast<std::uint64_t>(sb.st_size)};
}

Result<ScanResult> scan(const std::vector<std::string>& paths,
                        const std::set<std::string>& referenced) {
    std::set<std::string> refs;
    for (const auto& r : referenced)
        refs.insert(normal(r));
    ScanResult out;
    for (const auto& root_text : paths) {
        std::error_code ec;
        const fs::path root = fs::absolute(root_text, ec).lexically_normal();
        if (ec) {
            return fail(ErrorCode::io,
                        "cannot resolve scan path " + root_text + ": " + ec.message());
        }
        const fs::file_status st = fs::symlink_status(root, ec);
        if (st.type() == fs::file_type::not_found) {
            return fail(ErrorCode::not_found, "scan path " + root_text + " does not exist");
        }
        if (ec) {
            return fail(ErrorCode::io,
                        "cannot look up scan path " + root_text + ": " + ec.message());
        }
        if (fs::is_symlink(st)) {
            out.warnings.push_back(root.string() + ": symbolic link, not followed");
            continue;
        }
        if (fs::is_regular_file(st)) {
            const std::uintmax_t size = fs::file_size(root, ec);
            if (ec) {
                return fail(ErrorCode::io, "cannot read the size of scan path " + root.string() +
                                               ": " + ec.message());
            }
            classify(root, size, refs, out);
            continue;
        }
        if (!fs::is_directory(st))
            continue;
        // An explicit stack instead of recursive_directory_iterator: each unreadable folder
        // becomes a warning and the walk goes on with its siblings.
        std::vector<fs::path> pending{root};
        while (!pending.empty()) {
            const fs::path dir = pending.back();
            pending.pop_back();
            fs::directory_iterator it(dir, ec);
            if (ec) {
                out.warnings.push_back(dir.string() + ": cannot read (" + ec.message() + ")");
                ec.clear();
                continue;
            }
            for (; it != fs::directory_iterator(); it.increment(ec)) {
                const fs::path p = it->path();
                struct stat sb {};
                if (::lstat(p.c_str(), &sb) != 0)
                    continue;
                if (S_ISDIR(sb.st_mode)) {
                    pending.push_back(p);
                } else if (S_ISREG(sb.st_mode)) {
                    classify(p, static_cast<std::uint64_t>(sb.st_size), refs, out);
                }
                // Symlinks, devices, sockets and FIFOs are skipped.
            }
            if (ec) {
                out.warnings.push_back(dir.string() + ": listing failed (" + ec.message() + ")");
                ec.clear();
            }
        }
    }
    auto by_path = [](const FoundDump& a, const FoundDump& b) { return a.path < b.path; };
    std::sort(out.orphans.begin(), out.orphans.end(), by_path);
    std::sort(out.referenced.begin(), out.referenced.end(), by_path);
    std::sort(out.protected_dumps.begin(), out.protected_dumps.end(), by_path);
    return out;
}

} // namespace snapgov::dumps
