#pragma once
/// Crash-safe encryption of a memory dump in place: FILE becomes FILE.age, and FILE is wiped
/// only once a complete, durable, verified ciphertext exists. Each step is recorded first in
/// a journal file under a state directory, so that recover() after a crash (kill -9, power
/// loss) either completes the operation or rolls it back. Invariant at every instant: the
/// plaintext is intact, or a complete verified ciphertext is durable under FILE.age.

#include <cstdint>
#include <functional>
#include <optional>
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
    std::string ciphertext_sha256;  ///< hex; verified by re-reading the file from disk
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

/// One journal handled by recover().
struct RecoveryAction {
    enum class Outcome { completed, rolled_back, needs_attention };
    std::string plaintext_path;
    Outcome outcome = Outcome::rolled_back;
    std::string detail; ///< what was done and why
};

/// Finishes or rolls back every interrupted protect_file() recorded in `state_dir`: an
/// operation whose ciphertext was complete and verifies against the journal is completed
/// (rename, wipe); any other is rolled back (partial ciphertext removed, plaintext kept).
/// Never removes a plaintext without a verified ciphertext. A journal it cannot act on
/// safely is left in place and reported as needs_attention. A missing state_dir is empty.
[[nodiscard]] Result<std::vector<RecoveryAction>> recover(const std::string& state_dir);

} // namespace snapgov::dumps
