#include "dumps/protect.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <tuple>
#include <sstream>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/log.hpp"
#include "core/private_state.hpp"
#include "dumps/age_crypto.hpp"
#include "dumps/age_encoding.hpp"
#include "dumps/age_header.hpp"
#include "dumps/scanner.hpp"
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
    std::uint64_t plain_size = 0;
    std::uint64_t cipher_size = 0;
    std::string cipher_sha256;
};

std::string hex(const detail::Key32& k) {
    return hex_encode(k);
}

// Writes the journal atomically: temp file, fsync, rename over, fsync the directory.
Result<void> save(const Journal& j) {
    std::ostringstream s;
    s << "snapgov-protect-journal=1\n"
      << "plaintext=" << j.plaintext << "\nciphertext=" << j.ciphertext << "\npartial=" << j.partial
      << "\nkeep=" << (j.keep ? 1 : 0) << "\nstep=" << step_name(j.step)
      << "\nplain_dev=" << j.plain_dev << "\nplain_ino=" << j.plain_ino
      << "\nplain_size=" << j.plain_size << "\ncipher_size=" << j.cipher_size
      << "\ncipher_sha256=" << j.cipher_sha256 << "\n";
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

// Opens the state directory (creating it 0700, parents as needed, when `create`) and checks
// that only the effective user can write it. Missing and not `create`: an invalid fd.
Result<UniqueFd> open_state_dir(const std::string& dir, bool create) {
    if (create) {
        std::error_code ec;
        const fs::path parent = fs::path(dir).lexically_normal().parent_path();
        if (!parent.empty())
            fs::create_directories(parent, ec);
        if (ec) {
            return fail(ErrorCode::io,
                        "cannot create state directory " + dir + ": " + ec.message());
        }
        if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
            return fail(ErrorCode::io,
                        "cannot create state directory " + dir + ": " + errno_text(errno));
        }
    }
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) {
        if (errno == ENOENT && !create)
            return fd;
        return fail(ErrorCode::io, "cannot open state directory " + dir + ": " + errno_text(errno));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return fail(ErrorCode::io, "cannot stat state directory " + dir + ": " + errno_text(errno));
    }
    if (auto r = check_private(st, dir, "state directory"); !r)
        return tl::unexpected(r.error());
    return fd;
}

Result<Journal> load(int dir_fd, const std::string& file) {
    const std::string name = fs::path(file).filename().string();
    UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd.valid())
        return fail(ErrorCode::io, "cannot read journal " + file + ": " + errno_text(errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0)
        return fail(ErrorCode::io, "cannot stat journal " + file + ": " + errno_text(errno));
    if (auto r = check_private(st, file, "journal"); !r)
        return tl::unexpected(r.error());
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
          std::pair{"plain_size", &j.plain_size}, std::pair{"cipher_size", &j.cipher_size}}) {
        auto number = parse_u64(kv[key]);
        if (!number) {
            return fail(ErrorCode::config,
                        "journal " + file + " has a malformed " + key + " '" + kv[key] + "'");
        }
        *field = *number;
    }
    j.cipher_sha256 = kv["cipher_sha256"];
    if (!S_ISREG(st.st_mode))
        return fail(ErrorCode::config, "journal " + file + " is not a regular file");
    return j;
}

// Size and SHA-256 of a file as stored, read back after asking the kernel to drop its
// cached pages (so the check reads the device where the page cache allows).
Result<std::pair<std::uint64_t, std::string>> hash_file(const std::string& path) {
    auto fd = open_uncached(path);
    if (!fd)
        return tl::unexpected(fd.error());
    auto sha = detail::Sha256::create();
    if (!sha)
        return tl::unexpected(sha.error());
    std::vector<std::uint8_t> buf(4 << 20);
    std::uint64_t total = 0;
    for (;;) {
        auto n = read_full(fd->get(), buf, path);
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

// Removes a file snapgov wrote itself (a partial or a ciphertext): only a regular file owned
// by the effective user. Anything else is left for a person to look at.
Result<void> remove_own_file(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT)
            return {};
        return fail(ErrorCode::io, "cannot look up " + path + ": " + errno_text(errno));
    }
    if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
        return fail(ErrorCode::verification,
                    "not removing " + path +
                        ": it is not a regular file snapgov wrote (owner uid " +
                        std::to_string(st.st_uid) +
                        "); if it is a leftover of an encryption, remove it yourself");
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        return fail(ErrorCode::io, "cannot remove " + path + ": " + errno_text(errno));
    return {};
}

// Undoes an unfinished encryption: the partial (never complete) ciphertext goes, the
// plaintext stays. `delete_ciphertext` only for a renamed file that failed verification.
Result<void> roll_back(const Journal& j, bool delete_ciphertext) {
    if (auto r = remove_own_file(j.partial); !r)
        return r;
    if (delete_ciphertext) {
        if (auto r = remove_own_file(j.ciphertext); !r)
            return r;
    }
    if (auto r = fsync_parent_dir(j.ciphertext); !r)
        return r;
    return remove_journal(j);
}

// The journal's claims hang together the way protect_file() writes them: an absolute plaintext
// path, the ciphertext beside it as PLAINTEXT.age, the journal named after the plaintext, a
// well-formed hash. A journal that does not is not acted on.
Result<void> check_claims(const Journal& j, const std::string& state_dir) {
    auto bad = [&](const std::string& why) -> Result<void> {
        return fail(ErrorCode::config, "journal " + j.file + " " + why +
                                           ": snapgov did not write it like this, so it is not "
                                           "acted on; inspect it, then remove it");
    };
    const fs::path plain(j.plaintext);
    if (!plain.is_absolute() || plain.lexically_normal() != plain)
        return bad("names a plaintext that is not an absolute normal path");
    if (j.ciphertext != j.plaintext + ".age" || j.partial != j.ciphertext + ".partial")
        return bad("names a ciphertext other than PLAINTEXT.age");
    auto expected = journal_path_for(state_dir, j.plaintext);
    if (!expected)
        return tl::unexpected(expected.error());
    if (fs::path(*expected).filename() != fs::path(j.file).filename())
        return bad("is not named after the plaintext it names");
    if (j.step != Step::encrypting) {
        const bool hex_ok =
            j.cipher_sha256.size() == 64 &&
            j.cipher_sha256.find_first_not_of("0123456789abcdef") == std::string::npos;
        if (!hex_ok)
            return bad("has a malformed cipher_sha256");
        if (j.cipher_size < j.plain_size + 16 + detail::kTagSize)
            return bad("has a cipher_size too small for its plain_size");
    }
    return {};
}

// The ciphertext under its final name, before the plaintext goes: a regular file the
// effective user wrote (nobody else can write it), that starts with an age v1 header with an
// X25519 stanza, and whose size is exactly that of an age encryption of `plain_size` bytes.
// The SHA-256 was compared by matches(); the payload key is not known here (only public keys
// are), so this is as far as the file can be authenticated without an identity.
Result<void> check_ciphertext(const Journal& j) {
    auto bad = [&](const std::string& why) -> Result<void> {
        return fail(ErrorCode::verification, "ciphertext " + j.ciphertext + " " + why +
                                                 "; plaintext " + j.plaintext +
                                                 " not wiped, journal " + j.file + " kept");
    };
    UniqueFd fd(::open(j.ciphertext.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd.valid())
        return bad("cannot be opened (" + errno_text(errno) + ")");
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
        return bad("is not a regular file");
    if (auto r = check_private(st, j.ciphertext, "ciphertext"); !r)
        return bad("is not snapgov's own (" + r.error().message + ")");
    if (static_cast<std::uint64_t>(st.st_size) != j.cipher_size)
        return bad("has another size than its journal records");
    std::string head(static_cast<std::size_t>(std::min<std::uint64_t>(j.cipher_size, 64 * 1024)),
                     '\0');
    auto n = read_full(fd.get(), {reinterpret_cast<std::uint8_t*>(head.data()), head.size()},
                       j.ciphertext);
    if (!n)
        return bad("cannot be read (" + n.error().message + ")");
    head.resize(*n);
    const auto mac = head.find("\n--- ");
    const auto end = mac == std::string::npos ? mac : head.find('\n', mac + 1);
    if (end == std::string::npos)
        return bad("does not start with an age header");
    auto header = parse_age_header(std::string_view(head).substr(0, end + 1));
    if (!header)
        return bad("does not start with a valid age header (" + header.error().message + ")");
    const bool x25519 =
        std::any_of(header->stanzas.begin(), header->stanzas.end(),
                    [](const AgeStanza& stanza) { return stanza.type == "X25519"; });
    if (!x25519)
        return bad("has no X25519 recipient stanza (snapgov writes one per recipient)");
    const std::uint64_t chunks =
        j.plain_size == 0 ? 1 : (j.plain_size + detail::kChunkSize - 1) / detail::kChunkSize;
    if (end + 1 + 16 + j.plain_size + chunks * detail::kTagSize != j.cipher_size)
        return bad("is not the size of an age encryption of the " + std::to_string(j.plain_size) +
                   "-byte plaintext");
    return {};
}

// Takes the lock protect_file() holds on the plaintext for its whole run, so that recovery
// never acts on an operation another process is still carrying out. No file: nothing to lock.
Result<UniqueFd> lock_plaintext(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (!fd.valid()) {
        if (errno == ENOENT)
            return fd;
        return fail(ErrorCode::io, "cannot open " + path + " to lock it: " + errno_text(errno));
    }
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            return fail(ErrorCode::usage, path + " is being encrypted by another snapgov process "
                                                 "right now; left to it");
        }
        return fail(ErrorCode::io, "cannot lock " + path + ": " + errno_text(errno));
    }
    return fd;
}

// True when `path` is still the journal's plaintext (device, inode, size) and holds only zero
// bytes: what wipe_file() leaves once it has overwritten the whole file, the first block (the
// dump's signature) last, and was stopped before it unlinked it. Such a file holds no data, so
// finishing its wipe cannot lose anything.
bool wiped_but_not_removed(const Journal& j) {
    struct stat st {};
    return ::lstat(j.plaintext.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
           st.st_dev == j.plain_dev && st.st_ino == j.plain_ino &&
           static_cast<std::uint64_t>(st.st_size) == j.plain_size && holds_only_zeros(j.plaintext);
}

// What recovery of one journal did, with what protect_file() reports when it resumes one.
struct JournalOutcome {
    RecoveryAction action;
    std::optional<Journal> journal;
    std::optional<WipeReport> wipe;
};

// Finishes or rolls back the operation recorded in the journal `file` of `state_dir` (open
// as `dir_fd`), re-checking everything the journal claims at the moment of acting.
JournalOutcome recover_journal(int dir_fd, const std::string& state_dir, const std::string& file) {
    JournalOutcome out;
    RecoveryAction& act = out.action;
    auto attention = [&](const std::string& why) {
        act.outcome = RecoveryAction::Outcome::needs_attention;
        act.detail = why;
        return out;
    };
    act.plaintext_path = "?";
    auto loaded = load(dir_fd, file);
    if (!loaded)
        return attention(loaded.error().message);
    Journal j = *loaded;
    out.journal = j;
    act.plaintext_path = j.plaintext;
    if (auto r = check_claims(j, state_dir); !r)
        return attention(r.error().message);
    auto lock = lock_plaintext(j.plaintext);
    if (!lock)
        return attention(lock.error().message + "; journal " + j.file + " kept");

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
                return attention(j.ciphertext + " no longer matches its journal; plaintext not "
                                                "wiped, journal kept for inspection");
            }
        }
        break;
    }
    if (!ready)
        return out;
    if (auto r = check_ciphertext(j); !r)
        return attention(r.error().message);
    j.step = Step::verified;
    out.journal = j;
    if (auto r = save(j); !r)
        return attention(r.error().message);
    act.outcome = RecoveryAction::Outcome::completed;
    struct stat st {};
    if (j.keep) {
        act.detail = "ciphertext verified; plaintext kept";
    } else if (::lstat(j.plaintext.c_str(), &st) != 0) {
        if (errno != ENOENT) {
            return attention("cannot look up " + j.plaintext + ": " + errno_text(errno) +
                             "; not wiped, journal kept");
        }
        act.detail = "ciphertext verified";
    } else if (st.st_ino != j.plain_ino || st.st_dev != j.plain_dev || !S_ISREG(st.st_mode)) {
        return attention(j.plaintext + " now holds a different file; not wiped");
    } else if (static_cast<std::uint64_t>(st.st_size) != j.plain_size) {
        return attention(j.plaintext + " is " + std::to_string(st.st_size) +
                         " bytes, its journal " + j.file + " says " + std::to_string(j.plain_size) +
                         "; not wiped");
    } else {
        // Only what carries a dump signature is wiped: a partly wiped plaintext (a crash
        // during the wipe) or anything else is left for a person to decide on. A plaintext
        // that is all zeros is the exception: its wipe was interrupted after the overwrite
        // (the signature goes last), so finishing it removes nothing but zeros.
        auto found = classify_file(j.plaintext);
        if ((!found || found->kind == DumpKind::age_encrypted) && !wiped_but_not_removed(j)) {
            return attention(j.plaintext + " carries no memory-dump signature (" +
                             (found ? std::string("it is an age file") : found.error().message) +
                             "); not wiped. The ciphertext " + j.ciphertext + " is verified: if " +
                             j.plaintext +
                             " is the dump's partly wiped plaintext, run snapgov dump wipe " +
                             j.plaintext + " and recovery completes the operation");
        }
        WipeOptions wo;
        wo.expect = WipeOptions::Expected{j.plain_dev, j.plain_ino, j.plain_size};
        auto w = wipe_file(j.plaintext, wo);
        if (!w)
            return attention(w.error().message);
        act.detail = "ciphertext verified; plaintext wiped (" +
                     std::string(to_string(w->storage.assurance)) + ")";
        out.wipe = *w;
    }
    if (auto r = remove_journal(j); !r)
        return attention(r.error().message);
    return out;
}

// --- unsettled operations -------------------------------------------------------------------

// The ID of the journal `file`: the hex digits of its name (protect-ID.journal).
std::string id_of(const std::string& file) {
    const std::string name = fs::path(file).filename().string();
    constexpr std::size_t kPrefix = std::string_view("protect-").size();
    if (name.size() <= kPrefix + kJournalSuffix.size())
        return name;
    return name.substr(kPrefix, name.size() - kPrefix - kJournalSuffix.size());
}

// The journals in `state_dir` (open as `dir_fd`), by path.
Result<std::vector<std::string>> journal_files(const std::string& state_dir) {
    std::vector<std::string> journals;
    std::error_code ec;
    fs::directory_iterator it(state_dir, ec);
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.starts_with("protect-") && name.ends_with(kJournalSuffix))
            journals.push_back(it->path().string());
    }
    if (ec)
        return fail(ErrorCode::io,
                    "cannot list state directory " + state_dir + ": " + ec.message());
    std::sort(journals.begin(), journals.end());
    return journals;
}

// Decrypts `path` completely with `ids` into nothing: every chunk authenticated, and the
// recorded plaintext size.
std::pair<UnsettledOperation::Decryptable, std::string>
try_decrypt(const Journal& j, std::span<const X25519Identity> ids) {
    using D = UnsettledOperation::Decryptable;
    UniqueFd fd(::open(j.ciphertext.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd.valid())
        return {D::no, "cannot open it: " + errno_text(errno)};
    (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    auto n = age_decrypt(
        fd.get(), [](std::span<const std::uint8_t>) -> Result<void> { return {}; }, ids);
    if (!n)
        return {D::no, n.error().message};
    if (*n != j.plain_size) {
        return {D::no, "it decrypts to " + std::to_string(*n) + " bytes, the journal recorded " +
                           std::to_string(j.plain_size)};
    }
    return {D::yes, "decrypts completely with the identity given (" + std::to_string(*n) +
                        " bytes, every chunk authenticated)"};
}

// What each choice would do to `u`, or why it is refused (docs/command-line.md, "Unsettled
// dump operations").
void decide(UnsettledOperation& u) {
    using P = UnsettledOperation::Plaintext;
    using C = UnsettledOperation::Ciphertext;
    using D = UnsettledOperation::Decryptable;
    auto allow = [](std::string effect) { return ChoiceVerdict{true, std::move(effect)}; };
    auto refuse = [](std::string why) { return ChoiceVerdict{false, std::move(why)}; };
    if (u.plaintext_path.empty()) {
        const std::string why = "the journal cannot be trusted to name files (" + u.problem +
                                "), so snapgov touches none of them";
        u.keep_plaintext = refuse(why);
        u.keep_ciphertext = refuse(why);
        u.forget = allow("removes the journal " + u.journal +
                         " only; no file it names is looked at or touched");
        return;
    }
    if (!u.blocked.empty()) {
        u.keep_plaintext = u.keep_ciphertext = u.forget = refuse(u.blocked);
        return;
    }
    const std::string& pt = u.plaintext_path;
    const std::string& ct = u.ciphertext_path;
    const bool plain_intact = u.plaintext == P::same && u.plaintext_signature;
    const bool cipher_ok = u.ciphertext == C::complete && u.decryptable != D::no;
    const std::string partial =
        u.partial ? "; removes " + ct + ".partial (an unfinished ciphertext)" : "";
    const std::string why_not_intact =
        u.plaintext == P::different ? pt + " is another file now (not the one encrypted)"
        : u.plaintext == P::changed ? pt + " changed size since it was encrypted"
        : u.plaintext == P::absent  ? pt + " is gone"
                                    : pt + " carries no memory-dump signature (partly wiped?)";

    // --keep-plaintext: FILE stays; this operation's ciphertext goes.
    if (u.plaintext == P::absent) {
        u.keep_plaintext = refuse(pt + " is gone: there is no plaintext to keep");
    } else if (u.ciphertext == C::complete && !plain_intact) {
        u.keep_plaintext = refuse(ct + " is complete and " + why_not_intact + ": removing " + ct +
                                  " could lose the only copy of the dump");
    } else {
        std::string effect = "keeps " + pt + " as it is";
        if (u.ciphertext == C::complete) {
            effect += "; removes " + ct + " (a second, encrypted copy of it)";
        } else if (u.ciphertext == C::mismatch) {
            effect += "; leaves " + ct + " alone (not the file this operation wrote)";
        }
        u.keep_plaintext = allow(effect + partial + "; removes the journal");
    }

    // --keep-ciphertext: FILE.age stands for the dump; FILE is wiped if it is still its
    // plaintext.
    if (u.ciphertext == C::absent) {
        u.keep_ciphertext = refuse(ct + " does not exist");
    } else if (u.ciphertext == C::mismatch) {
        u.keep_ciphertext = refuse(ct + " is not the complete ciphertext this operation wrote (" +
                                   u.ciphertext_detail + "), so it cannot stand for the dump");
    } else if (u.decryptable == D::no) {
        u.keep_ciphertext =
            refuse(ct + " does not decrypt with the identity given (" + u.decrypt_detail + ")");
    } else {
        const std::string keeps =
            "keeps " + ct +
            (u.decryptable == D::yes ? " (decrypts with the identity given)"
                                     : " (complete as recorded; -i IDENTITY also decrypts it)");
        switch (u.plaintext) {
        case P::absent:
            u.keep_ciphertext =
                allow(keeps + "; " + pt + " is already gone" + partial + "; removes the journal");
            break;
        case P::same:
            u.keep_ciphertext =
                u.plaintext_signature
                    ? allow(keeps + "; wipes " + pt + " (the dump's plaintext)" + partial +
                            "; removes the journal")
                    : refuse(pt + " carries no memory-dump signature (a wipe interrupted?), and " +
                             "snapgov wipes only what it can identify: check it, remove it " +
                             "(snapgov dump wipe " + pt + "), then settle again");
            break;
        case P::changed:
            u.keep_ciphertext =
                refuse(pt + " is the file that was encrypted but its size changed since: its " +
                       "content now exists nowhere else; move it away, then settle again");
            break;
        case P::different:
            u.keep_ciphertext = allow(keeps + "; leaves " + pt +
                                      " alone (another file, not the dump's plaintext: not "
                                      "wiped)" +
                                      partial + "; removes the journal");
            break;
        }
    }

    // --forget: only the journal goes.
    const bool op_plain = u.plaintext == P::same || u.plaintext == P::changed;
    const bool op_cipher = u.ciphertext == C::complete;
    if (u.partial) {
        u.forget = refuse(ct + ".partial (an unfinished ciphertext) would be left with nothing "
                               "recording it: choose --keep-plaintext or --keep-ciphertext");
    } else if (!op_plain && !op_cipher) {
        u.forget = allow("removes the journal only: neither " + pt + " nor " + ct +
                         " is this operation's file any more; both stay as they are");
    } else if (plain_intact && cipher_ok) {
        u.forget = allow("removes the journal only: " + pt + " (the dump) and " + ct +
                         " (its complete ciphertext) both stay, as with dump encrypt --keep");
    } else {
        u.forget = refuse(
            "the journal is the only record that " + (op_plain ? pt : ct) +
            " is this operation's " + (op_plain ? "plaintext" : "ciphertext") + " and " +
            (op_plain ? (op_cipher ? why_not_intact : ct + " is not complete") : why_not_intact) +
            ": choose --keep-plaintext or --keep-ciphertext");
    }
}

// Looks at what is on disk for the journal `file` now, changing nothing. `journal` receives
// the journal when it could be read and is one snapgov wrote.
UnsettledOperation inspect(int dir_fd, const std::string& state_dir, const std::string& file,
                           std::span<const X25519Identity> ids, std::optional<Journal>& journal) {
    using P = UnsettledOperation::Plaintext;
    using C = UnsettledOperation::Ciphertext;
    using D = UnsettledOperation::Decryptable;
    UnsettledOperation u;
    u.journal = file;
    u.id = id_of(file);
    journal.reset();
    auto loaded = load(dir_fd, file);
    if (!loaded) {
        u.problem = loaded.error().message;
    } else if (auto r = check_claims(*loaded, state_dir); !r) {
        u.problem = r.error().message;
    }
    if (!u.problem.empty()) {
        decide(u);
        return u;
    }
    const Journal& j = *loaded;
    journal = j;
    u.plaintext_path = j.plaintext;
    u.ciphertext_path = j.ciphertext;
    u.step = step_name(j.step);
    u.keep = j.keep;
    struct stat st {};
    if (::lstat(j.plaintext.c_str(), &st) != 0) {
        if (errno != ENOENT)
            u.blocked = "cannot look up " + j.plaintext + ": " + errno_text(errno);
        u.plaintext = P::absent;
    } else if (!S_ISREG(st.st_mode) || st.st_dev != j.plain_dev || st.st_ino != j.plain_ino) {
        u.plaintext = P::different;
    } else {
        u.plaintext = static_cast<std::uint64_t>(st.st_size) == j.plain_size ? P::same : P::changed;
    }
    if (u.plaintext != P::absent && S_ISREG(st.st_mode)) {
        auto found = classify_file(j.plaintext);
        u.plaintext_signature = found && found->kind != DumpKind::age_encrypted;
    }
    u.partial = path_exists(j.partial);
    if (u.partial && j.step != Step::encrypting && matches(j, j.partial)) {
        u.blocked = j.partial + " is a complete ciphertext: run snapgov dump recover --state-dir " +
                    state_dir + " (it renames it to " + j.ciphertext + " when that name is free)";
    }
    if (path_exists(j.ciphertext)) {
        if (j.step == Step::encrypting) {
            u.ciphertext = C::mismatch;
            u.ciphertext_detail = "the journal recorded no complete ciphertext";
        } else if (!matches(j, j.ciphertext)) {
            u.ciphertext = C::mismatch;
            u.ciphertext_detail = "its size or SHA-256 is not what the journal recorded";
        } else if (auto r = check_ciphertext(j); !r) {
            u.ciphertext = C::mismatch;
            u.ciphertext_detail = r.error().message;
        } else {
            u.ciphertext = C::complete;
        }
    }
    if (u.ciphertext == C::complete && !ids.empty()) {
        std::tie(u.decryptable, u.decrypt_detail) = try_decrypt(j, ids);
    } else {
        u.decryptable = D::not_checked;
    }
    decide(u);
    return u;
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
    auto dir_fd = open_state_dir(options.state_dir, true);
    if (!dir_fd)
        return tl::unexpected(dir_fd.error());
    auto journal_file = journal_path_for(options.state_dir, abs);
    if (!journal_file)
        return tl::unexpected(journal_file.error());
    if (path_exists(*journal_file)) {
        // An earlier run on this same file was interrupted (a cron job reruns its command):
        // finish or roll back that operation, and only that one, before going on.
        JournalOutcome earlier = recover_journal(dir_fd->get(), options.state_dir, *journal_file);
        switch (earlier.action.outcome) {
        case RecoveryAction::Outcome::needs_attention:
            return fail(ErrorCode::usage,
                        "an interrupted encryption of " + abs +
                            " is pending and could not be finished or rolled back: " +
                            earlier.action.detail + "; to settle it: " +
                            settle_hint(options.state_dir, id_of(*journal_file)));
        case RecoveryAction::Outcome::completed: {
            const Journal& done = *earlier.journal;
            ProtectReport report;
            report.plaintext_path = done.plaintext;
            report.ciphertext_path = done.ciphertext;
            report.plaintext_bytes = done.plain_size;
            report.ciphertext_bytes = done.cipher_size;
            report.ciphertext_sha256 = done.cipher_sha256;
            report.wipe = earlier.wipe;
            report.resumed = "finished an interrupted earlier run: " + earlier.action.detail;
            return report;
        }
        case RecoveryAction::Outcome::rolled_back:
            log::info("an interrupted encryption of " + abs +
                      " was rolled back: " + earlier.action.detail);
            break;
        }
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
    j.file = std::move(*journal_file);
    if (path_exists(j.file)) {
        return fail(ErrorCode::usage, "an interrupted encryption of " + abs + " is pending (" +
                                          j.file + "): run snapgov dump recover --state-dir " +
                                          options.state_dir);
    }
    if (path_exists(j.partial)) {
        return fail(ErrorCode::usage,
                    "refusing to encrypt " + abs + ": " + j.partial + " exists but no journal in " +
                        options.state_dir +
                        " records it (another encryption with another --state-dir, or a "
                        "leftover that snapgov dump recover does not know): if none is running, "
                        "remove it");
    }

    UniqueFd in(::open(abs.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!in.valid())
        return fail(ErrorCode::io, "cannot open " + abs + ": " + errno_text(errno));
    (void)::posix_fadvise(in.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    struct stat st {};
    if (::fstat(in.get(), &st) != 0 || st.st_ino != lst.st_ino || st.st_dev != lst.st_dev) {
        return fail(ErrorCode::io, abs + " changed while being opened; retry");
    }
    // Held until the journal is gone: recovery (another process) leaves this file alone.
    if (::flock(in.get(), LOCK_EX | LOCK_NB) != 0) {
        return fail(ErrorCode::usage, abs + " is being encrypted by another snapgov process");
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
    j.plain_size = static_cast<std::uint64_t>(st.st_size);
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
    if (auto r = age_verify_file(j.ciphertext, *stats.readback, options.threads); !r) {
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
    report.plaintext_sha256 = hex(stats.plaintext_sha256);
    if (!options.keep_plaintext) {
        WipeOptions wo;
        wo.expect = WipeOptions::Expected{j.plain_dev, j.plain_ino, j.plain_size};
        auto w = wipe_file(abs, wo);
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
    auto dir = open_state_dir(state_dir, false);
    if (!dir)
        return tl::unexpected(dir.error());
    if (!dir->valid())
        return actions;
    std::error_code ec;
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
            if (::unlinkat(dir->get(), name.c_str(), 0) != 0 && errno != ENOENT) {
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
    std::sort(journals.begin(), journals.end());
    for (const auto& file : journals) {
        RecoveryAction a = recover_journal(dir->get(), state_dir, file).action;
        a.id = id_of(file);
        if (a.outcome == RecoveryAction::Outcome::needs_attention)
            a.detail += "; to settle it: " + settle_hint(state_dir, a.id);
        actions.push_back(std::move(a));
    }
    return actions;
}

std::string settle_hint(const std::string& state_dir, const std::string& id) {
    const std::string dir =
        state_dir == kDefaultStateDir ? std::string() : " --state-dir " + state_dir;
    return "snapgov dump recover --list" + dir + ", then snapgov dump recover --settle " +
           (id.empty() ? std::string("ID") : id) + dir +
           " --keep-plaintext|--keep-ciphertext|--forget";
}

std::string_view to_string(SettleChoice choice) noexcept {
    switch (choice) {
    case SettleChoice::keep_plaintext: return "keep-plaintext";
    case SettleChoice::keep_ciphertext: return "keep-ciphertext";
    case SettleChoice::forget: return "forget";
    }
    return "forget";
}

const ChoiceVerdict& UnsettledOperation::verdict(SettleChoice choice) const {
    switch (choice) {
    case SettleChoice::keep_plaintext: return keep_plaintext;
    case SettleChoice::keep_ciphertext: return keep_ciphertext;
    case SettleChoice::forget: return forget;
    }
    return forget;
}

Result<std::vector<UnsettledOperation>> list_unsettled(const std::string& state_dir,
                                                       std::span<const X25519Identity> identities) {
    std::vector<UnsettledOperation> out;
    auto dir = open_state_dir(state_dir, false);
    if (!dir)
        return tl::unexpected(dir.error());
    if (!dir->valid())
        return out;
    auto journals = journal_files(state_dir);
    if (!journals)
        return tl::unexpected(journals.error());
    for (const auto& file : *journals) {
        std::optional<Journal> j;
        // The lock only tells whether another process is carrying the operation out now.
        UnsettledOperation u = inspect(dir->get(), state_dir, file, identities, j);
        if (j && u.blocked.empty()) {
            if (auto lock = lock_plaintext(j->plaintext); !lock) {
                u.blocked = lock.error().message;
                decide(u);
            }
        }
        out.push_back(std::move(u));
    }
    return out;
}

Result<SettleReport> settle(const std::string& state_dir, const std::string& id,
                            SettleChoice choice, std::span<const X25519Identity> identities) {
    const std::string listing =
        "snapgov dump recover --list" +
        (state_dir == kDefaultStateDir ? std::string() : " --state-dir " + state_dir);
    auto dir = open_state_dir(state_dir, false);
    if (!dir)
        return tl::unexpected(dir.error());
    std::vector<std::string> found;
    if (dir->valid()) {
        auto journals = journal_files(state_dir);
        if (!journals)
            return tl::unexpected(journals.error());
        for (const auto& file : *journals) {
            if (!id.empty() && id_of(file).starts_with(id))
                found.push_back(file);
        }
    }
    if (found.empty()) {
        return fail(ErrorCode::usage, "no unsettled operation " + id + " in " + state_dir + " (" +
                                          listing + " shows them)");
    }
    if (found.size() > 1) {
        return fail(ErrorCode::usage, "the ID " + id + " names " + std::to_string(found.size()) +
                                          " operations in " + state_dir + ": give more of it (" +
                                          listing + ")");
    }
    const std::string& file = found.front();
    const std::string refused =
        "refused: --settle " + id_of(file) + " --" + std::string(to_string(choice)) + ": ";
    // Everything is checked again with FILE's lock held, so that no other snapgov process
    // acts on it meanwhile; what is found now decides, not what a listing showed.
    std::optional<Journal> j;
    SettleReport report;
    report.before = inspect(dir->get(), state_dir, file, identities, j);
    UniqueFd lock;
    if (j && report.before.blocked.empty()) {
        auto locked = lock_plaintext(j->plaintext);
        if (!locked)
            return fail(ErrorCode::usage, refused + locked.error().message);
        lock = std::move(*locked);
        report.before = inspect(dir->get(), state_dir, file, identities, j);
    }
    const UnsettledOperation& u = report.before;
    const ChoiceVerdict& verdict = u.verdict(choice);
    if (!verdict.allowed)
        return fail(ErrorCode::usage, refused + verdict.effect);
    Journal own;
    own.file = file;
    if (!j) { // only --forget is allowed: the journal alone goes
        if (auto r = remove_journal(own); !r)
            return tl::unexpected(r.error());
        report.done = "removed the journal " + file + "; no other file was touched";
        return report;
    }
    using P = UnsettledOperation::Plaintext;
    using C = UnsettledOperation::Ciphertext;
    std::vector<std::string> done;
    if (choice == SettleChoice::keep_plaintext && u.ciphertext == C::complete) {
        if (!matches(*j, j->ciphertext)) // changed since it was looked at: act on nothing
            return fail(ErrorCode::usage, refused + j->ciphertext + " changed while settling");
        if (auto r = remove_own_file(j->ciphertext); !r)
            return fail(ErrorCode::usage, refused + r.error().message);
        done.push_back("removed " + j->ciphertext);
    }
    if (choice == SettleChoice::keep_ciphertext && u.plaintext == P::same) {
        // decide() allowed it only with a memory-dump signature; checked once more here, and
        // wipe_file() checks the device, inode and size again on the open file.
        auto sig = classify_file(j->plaintext);
        if (!sig || sig->kind == DumpKind::age_encrypted) {
            return fail(ErrorCode::usage, refused + j->plaintext +
                                              " no longer carries a memory-dump signature; "
                                              "not wiped");
        }
        WipeOptions wo;
        wo.expect = WipeOptions::Expected{j->plain_dev, j->plain_ino, j->plain_size};
        auto w = wipe_file(j->plaintext, wo);
        if (!w) {
            return tl::unexpected(w.error().with_context(
                "wiping " + j->plaintext + " failed; the journal is kept (" + listing + ")"));
        }
        report.wipe = *w;
        done.push_back("wiped " + j->plaintext + " (" +
                       std::string(to_string(w->storage.assurance)) + ")");
    }
    if (choice != SettleChoice::forget && u.partial) {
        if (auto r = remove_own_file(j->partial); !r)
            return fail(ErrorCode::usage, refused + r.error().message);
        done.push_back("removed " + j->partial);
    }
    if (auto r = fsync_parent_dir(j->ciphertext); !r)
        return tl::unexpected(r.error());
    if (auto r = remove_journal(own); !r)
        return tl::unexpected(r.error());
    done.push_back("removed the journal");
    std::string text = verdict.effect + ": ";
    for (std::size_t i = 0; i < done.size(); ++i)
        text += (i == 0 ? "" : ", ") + done[i];
    report.done = text;
    return report;
}

} // namespace snapgov::dumps
