#include "dumps/protect.hpp"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <sstream>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/log.hpp"
#include "dumps/age_crypto.hpp"
#include "dumps/unique_fd.hpp"

namespace snapgov::dumps {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kJournalSuffix = ".journal";

// Steps of one operation, in order. The journal always names the last step that completed.
enum class Step { encrypting, encrypted, renamed, verified };

std::string_view step_name(Step s) {
    switch (s) {
    case Step::encrypting: return "encrypting";
    case Step::encrypted: return "encrypted";
    case Step::renamed: return "renamed";
    case Step::verified: return "verified";
    }
    return "?";
}

struct Journal {
    std::string file; // the journal's own path
    std::string plaintext;
    std::string ciphertext;
    std::string partial;
    bool keep = false;
    Step step = Step::encrypting;
    std::uint64_t plain_dev = 0;
    std::uint64_t plain_ino = 0;
    std::uint64_t cipher_size = 0;
    std::string cipher_sha256;
};

std::string hex(const detail::Key32& k) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (auto b : k) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

// Writes the journal atomically: temp file, fsync, rename over, fsync the directory.
Result<void> save(const Journal& j) {
    std::ostringstream s;
    s << "snapgov-protect-journal=1\n"
      << "plaintext=" << j.plaintext << "\nciphertext=" << j.ciphertext << "\npartial=" << j.partial
      << "\nkeep=" << (j.keep ? 1 : 0) << "\nstep=" << step_name(j.step)
      << "\nplain_dev=" << j.plain_dev << "\nplain_ino=" << j.plain_ino
      << "\ncipher_size=" << j.cipher_size << "\ncipher_sha256=" << j.cipher_sha256 << "\n";
    const std::string text = s.str();
    const std::string tmp = j.file + ".tmp";
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.valid()) {
        return fail(ErrorCode::io, "cannot write journal " + tmp + ": " + errno_text(errno));
    }
    if (auto r =
            write_all(fd.get(), {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()},
                      "journal " + tmp);
        !r) {
        return r;
    }
    if (::fsync(fd.get()) != 0) {
        return fail(ErrorCode::io, "fsync of journal " + tmp + " failed: " + errno_text(errno));
    }
    if (auto r = fd.close_checked("journal " + tmp); !r)
        return r;
    if (::rename(tmp.c_str(), j.file.c_str()) != 0) {
        return fail(ErrorCode::io, "cannot install journal " + j.file + ": " + errno_text(errno));
    }
    return fsync_parent_dir(j.file);
}

Result<void> remove_journal(const Journal& j) {
    if (::unlink(j.file.c_str()) != 0 && errno != ENOENT) {
        return fail(ErrorCode::io, "cannot remove journal " + j.file + ": " + errno_text(errno));
    }
    return fsync_parent_dir(j.file);
}

// A decimal number written by save(): digits only, the whole text, no overflow.
std::optional<std::uint64_t> parse_u64(std::string_view text) {
    std::uint64_t value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc{} || ptr != end)
        return std::nullopt;
    return value;
}

Result<Journal> load(const std::string& file) {
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd.valid())
        return fail(ErrorCode::io, "cannot read journal " + file + ": " + errno_text(errno));
    std::vector<std::uint8_t> buf(64 * 1024);
    auto n = read_full(fd.get(), buf, "journal " + file);
    if (!n)
        return tl::unexpected(n.error());
    std::map<std::string, std::string> kv;
    std::istringstream in(std::string(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n)));
    std::string line;
    while (std::getline(in, line)) {
        const auto eq = line.find('=');
        if (eq != std::string::npos)
            kv[line.substr(0, eq)] = line.substr(eq + 1);
    }
    if (kv["snapgov-protect-journal"] != "1" || kv["plaintext"].empty() ||
        kv["ciphertext"].empty() || kv["partial"].empty()) {
        return fail(ErrorCode::config, "journal " + file + " is not a snapgov protect journal");
    }
    Journal j;
    j.file = file;
    j.plaintext = kv["plaintext"];
    j.ciphertext = kv["ciphertext"];
    j.partial = kv["partial"];
    j.keep = kv["keep"] == "1";
    const std::string& step = kv["step"];
    if (step == "encrypting")
        j.step = Step::encrypting;
    else if (step == "encrypted")
        j.step = Step::encrypted;
    else if (step == "renamed")
        j.step = Step::renamed;
    else if (step == "verified")
        j.step = Step::verified;
    else
        return fail(ErrorCode::config, "journal " + file + " has an unknown step '" + step + "'");
    for (auto [key, field] :
         {std::pair{"plain_dev", &j.plain_dev}, std::pair{"plain_ino", &j.plain_ino},
          std::pair{"cipher_size", &j.cipher_size}}) {
        auto number = parse_u64(kv[key]);
        if (!number) {
            return fail(ErrorCode::config,
                        "journal " + file + " has a malformed " + key + " '" + kv[key] + "'");
        }
        *field = *number;
    }
    j.cipher_sha256 = kv["cipher_sha256"];
    return j;
}

// Size and SHA-256 of a file as stored, read back after asking the kernel to drop its
// cached pages (so the check reads the device where the page cache allows).
Result<std::pair<std::uint64_t, std::string>> hash_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd.valid()) {
        return fail(errno == ENOENT ? ErrorCode::not_found : ErrorCode::io,
                    "cannot open " + path + " to verify it: " + errno_text(errno));
    }
    (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
    (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    auto sha = detail::Sha256::create();
    if (!sha)
        return tl::unexpected(sha.error());
    std::vector<std::uint8_t> buf(4 << 20);
    std::uint64_t total = 0;
    for (;;) {
        auto n = read_full(fd.get(), buf, path);
        if (!n)
            return tl::unexpected(n.error());
        if (*n == 0)
            break;
        if (auto r = sha->update({buf.data(), *n}); !r)
            return tl::unexpected(r.error());
        total += *n;
    }
    auto digest = sha->finish();
    if (!digest)
        return tl::unexpected(digest.error());
    return std::make_pair(total, hex(*digest));
}

// Re-reads the just-written ciphertext from storage (page cache dropped first) and checks it
// is exactly what age_encrypt() wrote: the header compared, the chunks authenticated on the
// worker pool. Equivalent to comparing the SHA-256, without a second serial hash pass.
Result<void> read_back(const std::string& path, const AgeReadbackCheck& check, unsigned threads) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd.valid()) {
        return fail(errno == ENOENT ? ErrorCode::not_found : ErrorCode::io,
                    "cannot open " + path + " to verify it: " + errno_text(errno));
    }
    (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
    (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    AgeStreamOptions so;
    so.threads = threads;
    so.input_name = path;
    return age_verify_readback(fd.get(), check, so);
}

bool matches(const Journal& j, const std::string& path) {
    auto h = hash_file(path);
    return h && h->first == j.cipher_size && h->second == j.cipher_sha256;
}

bool path_exists(const std::string& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0;
}

std::uint64_t ciphertext_size_for(std::uint64_t plain) {
    const std::uint64_t chunks =
        plain == 0 ? 1 : (plain + detail::kChunkSize - 1) / detail::kChunkSize;
    return plain + chunks * detail::kTagSize + 16 + 4096; // nonce + a generous header bound
}

Result<std::string> journal_path_for(const std::string& state_dir, const std::string& plaintext) {
    auto sha = detail::Sha256::create();
    if (!sha)
        return tl::unexpected(sha.error());
    if (auto r = sha->update(
            {reinterpret_cast<const std::uint8_t*>(plaintext.data()), plaintext.size()});
        !r) {
        return tl::unexpected(r.error());
    }
    auto digest = sha->finish();
    if (!digest)
        return tl::unexpected(digest.error());
    return (fs::path(state_dir) /
            ("protect-" + hex(*digest).substr(0, 24) + std::string(kJournalSuffix)))
        .string();
}

// Undoes an unfinished encryption: the partial (never complete) ciphertext goes, the
// plaintext stays. `delete_ciphertext` only for a renamed file that failed verification.
Result<void> roll_back(const Journal& j, bool delete_ciphertext) {
    if (::unlink(j.partial.c_str()) != 0 && errno != ENOENT) {
        return fail(ErrorCode::io, "cannot remove " + j.partial + ": " + errno_text(errno));
    }
    if (delete_ciphertext && ::unlink(j.ciphertext.c_str()) != 0 && errno != ENOENT) {
        return fail(ErrorCode::io, "cannot remove " + j.ciphertext + ": " + errno_text(errno));
    }
    if (auto r = fsync_parent_dir(j.ciphertext); !r)
        return r;
    return remove_journal(j);
}

} // namespace

Result<ProtectReport> protect_file(const std::string& path, const ProtectOptions& options) {
    if (options.recipients.empty()) {
        return fail(ErrorCode::usage, "no recipient given: pass at least one age1... public key");
    }
    if (options.state_dir.empty())
        return fail(ErrorCode::usage, "no state directory given");
    std::error_code ec;
    const std::string abs = fs::absolute(path, ec).lexically_normal().string();
    if (ec || abs.find('\n') != std::string::npos) {
        return fail(ErrorCode::usage, "cannot use path " + path);
    }
    struct stat lst {};
    if (::lstat(abs.c_str(), &lst) != 0) {
        return fail(errno == ENOENT ? ErrorCode::not_found : ErrorCode::io,
                    "cannot encrypt " + abs + ": " + errno_text(errno));
    }
    if (S_ISLNK(lst.st_mode)) {
        return fail(ErrorCode::usage, "refusing to encrypt " + abs + ": it is a symbolic link");
    }
    if (!S_ISREG(lst.st_mode)) {
        return fail(ErrorCode::usage, "refusing to encrypt " + abs + ": not a regular file");
    }
    if (lst.st_nlink > 1 && !options.keep_plaintext) {
        return fail(ErrorCode::usage, "refusing to encrypt " + abs +
                                          ": it has several hard links, so it could not be wiped "
                                          "afterwards (remove the other links, or keep the "
                                          "plaintext)");
    }
    Journal j;
    j.plaintext = abs;
    j.ciphertext = abs + ".age";
    j.partial = j.ciphertext + ".partial";
    j.keep = options.keep_plaintext;
    if (path_exists(j.ciphertext)) {
        return fail(ErrorCode::usage, "refusing to encrypt " + abs + ": " + j.ciphertext +
                                          " already exists (move it away first)");
    }
    fs::create_directories(options.state_dir, ec);
    if (ec) {
        return fail(ErrorCode::io,
                    "cannot create state directory " + options.state_dir + ": " + ec.message());
    }
    auto journal_file = journal_path_for(options.state_dir, abs);
    if (!journal_file)
        return tl::unexpected(journal_file.error());
    j.file = std::move(*journal_file);
    if (path_exists(j.file) || path_exists(j.partial)) {
        return fail(ErrorCode::usage, "an interrupted encryption of " + abs +
                                          " is pending: run recovery (snapgov dump recover) first");
    }

    UniqueFd in(::open(abs.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!in.valid())
        return fail(ErrorCode::io, "cannot open " + abs + ": " + errno_text(errno));
    (void)::posix_fadvise(in.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    struct stat st {};
    if (::fstat(in.get(), &st) != 0 || st.st_ino != lst.st_ino || st.st_dev != lst.st_dev) {
        return fail(ErrorCode::io, abs + " changed while being opened; retry");
    }
    struct statvfs vfs {};
    const std::string dir = fs::path(abs).parent_path().string();
    // A failing statvfs only skips this early refusal: a full disk still fails the write
    // below (ENOSPC, named), and the plaintext is kept either way.
    if (::statvfs(dir.c_str(), &vfs) == 0) {
        const std::uint64_t avail = std::uint64_t{vfs.f_bavail} * vfs.f_frsize;
        // A sparse dump's ciphertext is not sparse: it needs the full apparent size.
        const std::uint64_t need = ciphertext_size_for(static_cast<std::uint64_t>(st.st_size));
        if (avail < need) {
            return fail(ErrorCode::io, "not enough free space in " + dir + " to encrypt " + abs +
                                           ": need " + std::to_string(need >> 20) + " MiB, " +
                                           std::to_string(avail >> 20) +
                                           " MiB available; free space or move the dump");
        }
    }
    j.plain_dev = st.st_dev;
    j.plain_ino = st.st_ino;
    j.step = Step::encrypting;
    if (auto r = save(j); !r)
        return tl::unexpected(r.error());

    auto failed = [&](const Error& e, bool delete_ciphertext) -> tl::unexpected<Error> {
        if (auto r = roll_back(j, delete_ciphertext); !r) {
            log::error("rollback after a failed encryption of " + abs +
                       " failed: " + r.error().message + "; run recovery");
        }
        return tl::unexpected(e);
    };

    AgeEncryptStats stats;
    {
        UniqueFd out(
            ::open(j.partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (!out.valid()) {
            const Error e{ErrorCode::io, "cannot create " + j.partial + ": " + errno_text(errno)};
            if (auto r = remove_journal(j); !r) {
                // The journal says "encrypting" with no partial file: recovery rolls it back
                // harmlessly, so the open error stays the one reported.
                log::warning(r.error().message);
            }
            return tl::unexpected(e);
        }
        AgeStreamOptions so;
        so.threads = options.threads;
        so.progress = options.progress;
        so.input_name = abs;
        so.output_name = j.partial;
        so.start_writeback = true;
        auto enc = age_encrypt(in.get(), out.get(), options.recipients, so);
        if (!enc)
            return failed(enc.error(), false);
        stats = std::move(*enc);
        if (::fsync(out.get()) != 0) {
            return failed(
                {ErrorCode::io, "fsync of " + j.partial + " failed: " + errno_text(errno)}, false);
        }
        if (auto r = out.close_checked(j.partial); !r)
            return failed(r.error(), false);
    }
    struct stat after {};
    if (::fstat(in.get(), &after) != 0 || after.st_size != st.st_size ||
        after.st_mtim.tv_sec != st.st_mtim.tv_sec || after.st_mtim.tv_nsec != st.st_mtim.tv_nsec ||
        stats.plaintext_bytes != static_cast<std::uint64_t>(st.st_size)) {
        return failed({ErrorCode::verification,
                       abs + " changed while it was being encrypted (is the VM still writing "
                             "it?); the plaintext is kept, nothing was encrypted"},
                      false);
    }
    j.cipher_size = stats.ciphertext_bytes;
    j.cipher_sha256 = hex(stats.ciphertext_sha256);
    j.step = Step::encrypted;
    if (auto r = save(j); !r)
        return failed(r.error(), false);

    if (::renameat2(AT_FDCWD, j.partial.c_str(), AT_FDCWD, j.ciphertext.c_str(),
                    RENAME_NOREPLACE) != 0) {
        return failed({ErrorCode::io, "cannot rename " + j.partial + " to " + j.ciphertext + ": " +
                                          errno_text(errno)},
                      false);
    }
    if (auto r = fsync_parent_dir(j.ciphertext); !r)
        return failed(r.error(), true);
    j.step = Step::renamed;
    if (auto r = save(j); !r)
        return failed(r.error(), true);

    if (options.before_readback)
        options.before_readback(j.ciphertext);
    if (auto r = read_back(j.ciphertext, *stats.readback, options.threads); !r) {
        return failed(r.error().with_context("verification of " + j.ciphertext +
                                             " failed (storage error?); it was removed and the "
                                             "plaintext kept"),
                      true);
    }
    stats.readback.reset(); // wipes the payload key
    j.step = Step::verified;
    if (auto r = save(j); !r)
        return tl::unexpected(r.error());

    ProtectReport report;
    report.plaintext_path = abs;
    report.ciphertext_path = j.ciphertext;
    report.plaintext_bytes = stats.plaintext_bytes;
    report.ciphertext_bytes = stats.ciphertext_bytes;
    report.ciphertext_sha256 = j.cipher_sha256;
    if (!options.keep_plaintext) {
        in = UniqueFd();
        auto w = wipe_file(abs);
        if (!w) {
            // The ciphertext is complete and verified; the journal stays so that recovery
            // retries the wipe.
            return tl::unexpected(w.error().with_context(
                j.ciphertext + " is complete and verified, but wiping the plaintext failed (run "
                               "recovery to retry)"));
        }
        report.wipe = *w;
    }
    if (auto r = remove_journal(j); !r)
        return tl::unexpected(r.error());
    return report;
}

Result<std::vector<RecoveryAction>> recover(const std::string& state_dir) {
    std::vector<RecoveryAction> actions;
    std::error_code ec;
    const bool present = fs::exists(state_dir, ec);
    if (ec) {
        return fail(ErrorCode::io,
                    "cannot look up state directory " + state_dir + ": " + ec.message());
    }
    if (!present)
        return actions;
    std::vector<std::string> journals;
    // The error_code overloads throughout: a range-for would call the throwing operator++.
    fs::directory_iterator it(state_dir, ec);
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (!name.starts_with("protect-"))
            continue;
        if (name.ends_with(std::string(kJournalSuffix) + ".tmp")) {
            // A journal update that never got renamed into place: the previous version
            // holds. A leftover that cannot be removed does no harm (it is skipped again).
            if (::unlink(it->path().c_str()) != 0 && errno != ENOENT) {
                log::warning("cannot remove stale journal " + it->path().string() + ": " +
                             errno_text(errno));
            }
        } else if (name.ends_with(kJournalSuffix)) {
            journals.push_back(it->path().string());
        }
    }
    if (ec)
        return fail(ErrorCode::io,
                    "cannot list state directory " + state_dir + ": " + ec.message());

    for (const auto& file : journals) {
        RecoveryAction act;
        auto loaded = load(file);
        if (!loaded) {
            act.plaintext_path = "?";
            act.outcome = RecoveryAction::Outcome::needs_attention;
            act.detail = loaded.error().message;
            actions.push_back(act);
            continue;
        }
        Journal j = *loaded;
        act.plaintext_path = j.plaintext;
        auto rolled_back = [&](const std::string& why, bool delete_ciphertext) {
            auto r = roll_back(j, delete_ciphertext);
            act.outcome =
                r ? RecoveryAction::Outcome::rolled_back : RecoveryAction::Outcome::needs_attention;
            act.detail = r ? why + "; plaintext kept" : r.error().message;
        };
        bool ready = false; // ciphertext complete and verified under its final name
        switch (j.step) {
        case Step::encrypting: rolled_back("encryption was interrupted", false); break;
        case Step::encrypted:
            if (path_exists(j.partial) && matches(j, j.partial)) {
                if (::renameat2(AT_FDCWD, j.partial.c_str(), AT_FDCWD, j.ciphertext.c_str(),
                                RENAME_NOREPLACE) != 0 ||
                    !fsync_parent_dir(j.ciphertext)) {
                    rolled_back("could not rename the complete ciphertext", false);
                    break;
                }
                ready = matches(j, j.ciphertext);
                if (!ready)
                    rolled_back("ciphertext failed verification", true);
            } else if (!path_exists(j.partial) && matches(j, j.ciphertext)) {
                ready = true; // the rename happened before the journal recorded it
            } else {
                rolled_back("ciphertext incomplete or altered", false);
            }
            break;
        case Step::renamed:
        case Step::verified:
            ready = matches(j, j.ciphertext);
            if (!ready) {
                if (j.step == Step::renamed) {
                    rolled_back("ciphertext failed verification", true);
                } else {
                    // Verified once, now missing or different: do not touch the plaintext.
                    act.outcome = RecoveryAction::Outcome::needs_attention;
                    act.detail = j.ciphertext + " no longer matches its journal; plaintext not "
                                                "wiped, journal kept for inspection";
                }
            }
            break;
        }
        if (ready) {
            j.step = Step::verified;
            if (auto r = save(j); !r) {
                act.outcome = RecoveryAction::Outcome::needs_attention;
                act.detail = r.error().message;
                actions.push_back(act);
                continue;
            }
            struct stat st {};
            act.outcome = RecoveryAction::Outcome::completed;
            if (j.keep || ::lstat(j.plaintext.c_str(), &st) != 0) {
                act.detail = "ciphertext verified" + std::string(j.keep ? "; plaintext kept" : "");
            } else if (st.st_ino != j.plain_ino || st.st_dev != j.plain_dev) {
                act.outcome = RecoveryAction::Outcome::needs_attention;
                act.detail = j.plaintext + " now holds a different file; not wiped";
            } else if (auto w = wipe_file(j.plaintext); !w) {
                act.outcome = RecoveryAction::Outcome::needs_attention;
                act.detail = w.error().message;
            } else {
                act.detail = "ciphertext verified; plaintext wiped (" +
                             std::string(to_string(w->storage.assurance)) + ")";
            }
            if (act.outcome == RecoveryAction::Outcome::completed) {
                if (auto r = remove_journal(j); !r) {
                    act.outcome = RecoveryAction::Outcome::needs_attention;
                    act.detail = r.error().message;
                }
            }
        }
        actions.push_back(act);
    }
    return actions;
}

} // namespace snapgov::dumps
