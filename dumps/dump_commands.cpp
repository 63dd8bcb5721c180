#include "dumps/dump_commands.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

#include "dumps/age_crypto.hpp"
#include "dumps/age_stream.hpp"
#include "dumps/unique_fd.hpp"

namespace snapgov::dumps {
namespace {

namespace fs = std::filesystem;

Result<std::vector<X25519Recipient>> recipients_from_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
        return fail(ErrorCode::usage,
                    "recipient '" + path +
                        "' is neither an age1... key nor a readable file: " + errno_text(errno));
    }
    std::vector<std::uint8_t> buf(1 << 20);
    auto n = read_full(fd.get(), buf, "recipients file " + path);
    if (!n)
        return tl::unexpected(n.error());
    std::vector<X25519Recipient> out;
    std::string text(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
    std::size_t pos = 0;
    std::size_t line_no = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos)
            end = text.size();
        std::string line = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
            line.pop_back();
        std::size_t start = 0;
        while (start < line.size() && std::isspace(static_cast<unsigned char>(line[start])))
            ++start;
        line.erase(0, start);
        if (line.empty() || line.front() == '#')
            continue;
        auto r = X25519Recipient::parse(line);
        if (!r) {
            return fail(ErrorCode::usage,
                        path + ":" + std::to_string(line_no) + ": " + r.error().message);
        }
        out.push_back(*r);
    }
    return out;
}

// While it lives, SIGINT, SIGTERM and SIGHUP first remove the named temporary file `path`
// (which may hold plaintext), then end the process as their default action does. One at a
// time per process.
class PartialFileGuard {
public:
    explicit PartialFileGuard(const std::string& path) {
        const std::size_t n = std::min(path.size(), sizeof path_ - 1);
        std::memcpy(path_, path.data(), n);
        path_[n] = '\0';
        struct sigaction sa {};
        sa.sa_handler = &PartialFileGuard::on_signal;
        sigemptyset(&sa.sa_mask);
        for (std::size_t i = 0; i < kSignals.size(); ++i)
            ::sigaction(kSignals[i], &sa, &previous_[i]);
    }
    PartialFileGuard(const PartialFileGuard&) = delete;
    PartialFileGuard& operator=(const PartialFileGuard&) = delete;
    ~PartialFileGuard() {
        for (std::size_t i = 0; i < kSignals.size(); ++i)
            ::sigaction(kSignals[i], &previous_[i], nullptr);
        path_[0] = '\0';
    }

private:
    static constexpr std::array<int, 3> kSignals{SIGINT, SIGTERM, SIGHUP};

    // Async-signal-safe: unlink(), then the default action re-raised.
    static void on_signal(int sig) {
        if (path_[0] != '\0')
            (void)::unlink(path_);
        ::signal(sig, SIG_DFL);
        ::raise(sig);
    }

    static inline char path_[4096] = {};
    std::array<struct sigaction, 3> previous_{};
};

// For progress totals only: an unknown size shows as 0 and the operation itself reports
// any real problem with the file.
std::uint64_t file_size(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

} // namespace

Result<std::vector<X25519Recipient>> parse_recipients(const std::vector<std::string>& entries) {
    std::vector<X25519Recipient> out;
    for (const auto& e : entries) {
        if (e.starts_with("age1")) {
            auto r = X25519Recipient::parse(e);
            if (!r)
                return fail(ErrorCode::usage, "recipient '" + e + "': " + r.error().message);
            out.push_back(*r);
        } else {
            auto list = recipients_from_file(e);
            if (!list)
                return tl::unexpected(list.error());
            out.insert(out.end(), list->begin(), list->end());
        }
    }
    if (out.empty()) {
        return fail(ErrorCode::usage, "no recipient given: pass an age1... public key or a "
                                      "recipients file");
    }
    return out;
}

Result<ProtectReport> encrypt_file(const std::string& path,
                                   const std::vector<std::string>& recipients, bool keep,
                                   const std::string& state_dir, const DumpProgressFn& progress) {
    auto parsed = parse_recipients(recipients);
    if (!parsed)
        return tl::unexpected(parsed.error());
    ProtectOptions opt;
    opt.recipients = std::move(*parsed);
    opt.keep_plaintext = keep;
    opt.state_dir = state_dir;
    if (progress) {
        const std::uint64_t total = file_size(path);
        opt.progress = [progress, total](std::uint64_t done) { progress(done, total); };
    }
    return protect_file(path, opt);
}

Result<DecryptReport> decrypt_file(const std::string& in, const std::string& identity_file,
                                   const std::string& out, const DumpProgressFn& progress) {
    auto ids = load_identity_file(identity_file);
    if (!ids)
        return tl::unexpected(ids.error());
    struct stat ost {};
    if (::lstat(out.c_str(), &ost) == 0) {
        return fail(ErrorCode::usage, "refusing to overwrite " + out + " (choose another output)");
    }
    UniqueFd in_fd(::open(in.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in_fd.valid()) {
        return fail(errno == ENOENT ? ErrorCode::not_found : ErrorCode::io,
                    "cannot open " + in + ": " + errno_text(errno));
    }
    // The plaintext goes to an unnamed file in the output's folder (O_TMPFILE), linked under
    // `out` only once complete and authenticated: a signal, a crash or a kill -9 on the way
    // leaves nothing behind. Where the filesystem has no O_TMPFILE, a named temporary file
    // is used, and SIGINT/SIGTERM/SIGHUP remove it before the process ends.
    std::string dir = fs::path(out).parent_path().string();
    if (dir.empty())
        dir = ".";
    std::string tmp = out + " (unnamed, in " + dir + ")";
    std::optional<PartialFileGuard> guard;
    UniqueFd out_fd(::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600));
    const bool unnamed = out_fd.valid();
    if (!unnamed) {
        if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
            return fail(ErrorCode::io, "cannot create the output in " + dir + ": " +
                                           errno_text(errno) + " (check " + dir + " is writable)");
        }
        std::array<std::uint8_t, 6> rnd{};
        if (auto r = detail::random_bytes(rnd); !r)
            return tl::unexpected(r.error());
        char suffix[16];
        std::snprintf(suffix, sizeof suffix, "%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
                      rnd[3], rnd[4], rnd[5]);
        tmp = out + ".partial-" + suffix;
        guard.emplace(tmp); // before the file exists, so no signal finds it unguarded
        out_fd = UniqueFd(
            ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (!out_fd.valid()) {
            return fail(ErrorCode::io, "cannot create " + tmp + ": " + errno_text(errno));
        }
    }
    auto discard = [&](const Error& e) -> tl::unexpected<Error> {
        out_fd = UniqueFd();
        if (unnamed)
            return tl::unexpected(e); // closing it was enough
        // The temporary file may hold unauthenticated plaintext: if it stays, say so.
        if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) {
            return tl::unexpected(Error{e.code, e.message + "; the partial output " + tmp +
                                                    " could not be removed (" + errno_text(errno) +
                                                    "): delete it"});
        }
        return tl::unexpected(e);
    };
    AgeStreamOptions so;
    so.input_name = in;
    so.output_name = tmp;
    if (progress) {
        // Plaintext is the ciphertext minus 16 bytes per 64 KiB chunk (and the header).
        const std::uint64_t total =
            file_size(in) / (detail::kChunkSize + detail::kTagSize) * detail::kChunkSize;
        so.progress = [progress, total](std::uint64_t done) {
            progress(done, std::max(done, total));
        };
    }
    const int ofd = out_fd.get();
    auto n = age_decrypt(
        in_fd.get(), [&](std::span<const std::uint8_t> d) { return write_all(ofd, d, tmp); }, *ids,
        so);
    if (!n)
        return discard(n.error().with_context("decrypting " + in));
    if (::fsync(ofd) != 0) {
        return discard({ErrorCode::io, "fsync of " + tmp + " failed: " + errno_text(errno)});
    }
    if (unnamed) {
        // linkat() never replaces an existing name: an `out` created meanwhile is kept.
        const std::string self = "/proc/self/fd/" + std::to_string(ofd);
        if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, out.c_str(), AT_SYMLINK_FOLLOW) != 0) {
            return discard({ErrorCode::io, "cannot create " + out + ": " + errno_text(errno)});
        }
        if (auto r = out_fd.close_checked(out); !r)
            return tl::unexpected(r.error());
    } else {
        if (auto r = out_fd.close_checked(tmp); !r)
            return discard(r.error());
        if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, out.c_str(), RENAME_NOREPLACE) != 0) {
            return discard(
                {ErrorCode::io, "cannot rename " + tmp + " to " + out + ": " + errno_text(errno)});
        }
    }
    if (auto r = fsync_parent_dir(out); !r)
        return tl::unexpected(r.error());
    return DecryptReport{in, out, *n};
}

Result<WipeReport> wipe_dump(const std::string& path, const DumpProgressFn& progress) {
    WipeOptions opt;
    if (progress)
        opt.progress = progress;
    return wipe_file(path, opt);
}

Result<ScanResult> scan_dumps(const std::vector<std::string>& paths,
                              const std::set<std::string>& referenced) {
    return scan(paths, referenced);
}

Result<std::vector<RecoveryAction>> recover_dumps(const std::string& state_dir) {
    return recover(state_dir);
}

} // namespace snapgov::dumps
