#pragma once
/// Crash-safe encryption of a memory dump in place: FILE becomes FILE.age, and FILE is wiped
/// only once a complete, durable, verified ciphertext exists. Each step is recorded first in
/// a journal file under a state directory, so that recover() after a crash (kill -9, power
/// loss) either completes the operation or rolls it back. Invariant at every instant: the
/// plaintext is intact, or a complete verified ciphertext is durable under FILE.age.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "dumps/age_keys.hpp"
#include "dumps/age_stream.hpp"
#include "dumps/wipe.hpp"

namespace snapgov::dumps {

/// What protect_file() needs.
struct ProtectOptions {
    std::vector<X25519Recipient> recipients; ///< at least one
    bool keep_plaintext = false;             ///< true: encrypt only, do not wipe FILE
    std::string state_dir;                   ///< journal directory (created 0700 if missing)
    ProgressFn progress;                     ///< plaintext bytes encrypted so far
    unsigned threads = 0;                    ///< 0 = one per online CPU
    /// Test hook: called with the ciphertext path once it is durable under its final name
    /// and before it is read back and verified (tests use it to simulate a storage error).
    std::function<void(const std::string& ciphertext_path)> before_readback;
};

/// What protect_file() did.
struct ProtectReport {
    std::string plaintext_path;
    std::string ciphertext_path;
    std::uint64_t plaintext_bytes = 0;
    std::uint64_t ciphertext_bytes = 0;
    std::string ciphertext_sha256; ///< hex; verified by re-reading the file from disk
    /// hex, of the bytes encrypted; empty when this call only finished an earlier run
    std::string plaintext_sha256;
    std::optional<WipeReport> wipe; ///< absent when the plaintext was kept (or already gone)
    /// Non-empty when this call found the same file's earlier run interrupted and finished
    /// it (what recovery did) instead of encrypting again.
    std::string resumed;
};

/// Encrypts `path` to `path.age` (through `path.age.partial`, fsync, rename, directory
/// fsync), re-reads the result (page cache dropped first) and checks that it is exactly what
/// was written: same header, every chunk authenticating in order, same size (so the SHA-256
/// computed while writing, recorded in the journal and the report, is the file's), then
/// wipes `path` unless `keep_plaintext`. Refuses before writing anything: a missing,
/// non-regular or symlinked file, a hard-linked file (unless keeping it), an existing
/// `path.age` or `path.age.partial`, a pending journal for the same file, or too little free
/// space (statvfs) for the ciphertext. If the file changes while it is read, the ciphertext
/// is discarded and the plaintext kept. On any failure nothing is lost: the plaintext stays.
[[nodiscard]] Result<ProtectReport> protect_file(const std::string& path,
                                                 const ProtectOptions& options);

/// The default state directory (docs/policy-file.md: `state_dir`).
inline constexpr const char* kDefaultStateDir = "/var/lib/snapgov";

/// One journal handled by recover().
struct RecoveryAction {
    enum class Outcome { completed, rolled_back, needs_attention };
    std::string id; ///< the operation's ID for `snapgov dump recover --settle ID`
    std::string plaintext_path;
    Outcome outcome = Outcome::rolled_back;
    std::string detail; ///< what was done and why; for needs_attention, ends naming the
                        ///< command that settles it (settle_hint())
};

/// Finishes or rolls back every interrupted protect_file() recorded in `state_dir`: an
/// operation whose ciphertext was complete and verifies against the journal is completed
/// (rename, wipe); any other is rolled back (partial ciphertext removed, plaintext kept).
/// Never removes a plaintext without a verified ciphertext. A journal it cannot act on
/// safely is left in place and reported as needs_attention (an unsettled operation: see
/// list_unsettled() and settle()). A missing state_dir is empty.
[[nodiscard]] Result<std::vector<RecoveryAction>> recover(const std::string& state_dir);

/// The commands that settle an unsettled operation of `state_dir`, for every message about
/// one: "snapgov dump recover --list [--state-dir DIR], then snapgov dump recover --settle ID
/// --keep-plaintext|--keep-ciphertext|--forget". `id` empty: the literal `ID`.
[[nodiscard]] std::string settle_hint(const std::string& state_dir, const std::string& id = {});

/// How one settle choice would end an unsettled operation.
enum class SettleChoice { keep_plaintext, keep_ciphertext, forget };

/// `keep-plaintext`, `keep-ciphertext`, `forget` (the option without its dashes).
[[nodiscard]] std::string_view to_string(SettleChoice choice) noexcept;

/// What one choice would do to an unsettled operation, or why it is refused.
struct ChoiceVerdict {
    bool allowed = false;
    std::string effect; ///< what it would do (allowed) or why it is refused
};

/// A journal recovery left in place, and what is on disk now (docs/command-line.md, "Unsettled
/// dump operations").
struct UnsettledOperation {
    std::string id;      ///< 24 hex digits: the journal's name
    std::string journal; ///< the journal's path
    /// Empty when the journal cannot be read or is not one snapgov wrote (`problem` says why):
    /// then nothing it names is looked at or touched, and only `forget` is offered.
    std::string plaintext_path;
    std::string ciphertext_path;
    std::string step; ///< the last step the journal recorded
    bool keep = false;
    std::string problem; ///< why recovery could not settle it (empty when not known)
    /// FILE now: absent; the journal's own file (same device, inode and size); the same inode
    /// with another size; or another file (or not a regular file) under the same name.
    enum class Plaintext { absent, same, changed, different } plaintext = Plaintext::absent;
    bool plaintext_signature = false; ///< FILE starts with a memory-dump signature
    /// FILE.age now: absent; complete (size and SHA-256 recorded by the journal, an age header
    /// snapgov wrote); or present but not that file.
    enum class Ciphertext { absent, complete, mismatch } ciphertext = Ciphertext::absent;
    std::string ciphertext_detail; ///< why it is a mismatch
    bool partial = false;          ///< FILE.age.partial exists
    /// FILE.age decrypted completely (every chunk authenticated, the recorded size) with the
    /// identities given; not_checked without identities or without a ciphertext.
    enum class Decryptable { not_checked, yes, no } decryptable = Decryptable::not_checked;
    std::string decrypt_detail;
    /// Non-empty when no choice can be made now (another snapgov process holds FILE's lock,
    /// FILE cannot be looked up, FILE.age.partial is complete): why, and what to do.
    std::string blocked;
    ChoiceVerdict keep_plaintext;
    ChoiceVerdict keep_ciphertext;
    ChoiceVerdict forget;

    [[nodiscard]] const ChoiceVerdict& verdict(SettleChoice choice) const;
};

/// Every journal left in `state_dir`, with what is found on disk and what each choice would
/// do. Acts on nothing (call recover() first to settle what recovery can). `identities`
/// (may be empty) are tried on each complete ciphertext.
[[nodiscard]] Result<std::vector<UnsettledOperation>>
list_unsettled(const std::string& state_dir, std::span<const X25519Identity> identities = {});

/// What settle() did.
struct SettleReport {
    UnsettledOperation before; ///< what was found at the moment of acting
    std::string done;          ///< what was done
    std::optional<WipeReport> wipe;
};

/// Settles the operation `id` (its 24 hex digits, or a prefix naming only one) of `state_dir`
/// with `choice`, after taking FILE's lock and checking everything again: refuses
/// (ErrorCode::usage, naming the reason) a choice that could lose the only copy of the data,
/// and never wipes a file without a memory-dump signature. The rules are in
/// docs/command-line.md ("Unsettled dump operations").
[[nodiscard]] Result<SettleReport> settle(const std::string& state_dir, const std::string& id,
                                          SettleChoice choice,
                                          std::span<const X25519Identity> identities = {});

} // namespace snapgov::dumps
