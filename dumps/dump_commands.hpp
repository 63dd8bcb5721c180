#pragma once
/// The dumps API behind `snapgov dump encrypt|decrypt|wipe|scan|recover`: one call per
/// subcommand, each returning a report the CLI prints and the evidence ledger records.
/// Nothing here prints or exits; errors name the file and the fix and never carry key
/// material.

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "dumps/age_keys.hpp"
#include "dumps/protect.hpp"
#include "dumps/scanner.hpp"
#include "dumps/wipe.hpp"

namespace snapgov::dumps {

/// Progress of a long operation, in plaintext bytes: `total` is exact for encryption and
/// wiping, estimated from the ciphertext size for decryption. Called on the calling thread
/// about every 4 MiB.
using DumpProgressFn = std::function<void(std::uint64_t done, std::uint64_t total)>;

/// Files at least this large deserve a terminal progress bar (256 MiB).
inline constexpr std::uint64_t kProgressThreshold = 256ULL << 20;

/// Parses recipients given on the command line: each entry is an `age1...` key, or the path
/// of a recipients file (one `age1...` per line, `#` comments, as `age -R` reads). Fails with
/// ErrorCode::usage naming the entry (and line) at fault, or if the list ends up empty.
[[nodiscard]] Result<std::vector<X25519Recipient>>
parse_recipients(const std::vector<std::string>& entries);

/// `snapgov dump encrypt`: encrypts `path` to `path.age` crash-safely and, unless `keep`,
/// wipes `path` afterwards (see protect_file() for the refusals and the guarantees).
/// `recipients` as for parse_recipients(). `state_dir` holds the operation journal.
[[nodiscard]] Result<ProtectReport> encrypt_file(const std::string& path,
                                                 const std::vector<std::string>& recipients,
                                                 bool keep, const std::string& state_dir,
                                                 const DumpProgressFn& progress = {});

/// What decrypt_file() produced.
struct DecryptReport {
    std::string input;
    std::string output;
    std::uint64_t plaintext_bytes = 0;
};

/// `snapgov dump decrypt`: decrypts the age file `in` with the identities in
/// `identity_file` (refused if group/others can access it: mode & 077) into `out`. The
/// plaintext is written to an unnamed file (O_TMPFILE, mode 0600) in `out`'s folder, fsynced
/// and linked as `out` only after the whole file authenticated, so `out` never holds partial
/// or unauthenticated plaintext, and nothing is left behind by a failure, a signal or a kill.
/// Where the filesystem lacks O_TMPFILE, a named `out.partial-XXXX` (0600) is used instead,
/// and SIGINT/SIGTERM/SIGHUP remove it while the call runs. Refuses an existing `out`.
[[nodiscard]] Result<DecryptReport> decrypt_file(const std::string& in,
                                                 const std::string& identity_file,
                                                 const std::string& out,
                                                 const DumpProgressFn& progress = {});

/// `snapgov dump wipe`: overwrite, sync, punch, unlink; see wipe_file() in wipe.hpp. The
/// report carries the assurance level (clear / best-effort) and its reason.
[[nodiscard]] Result<WipeReport> wipe_dump(const std::string& path,
                                           const DumpProgressFn& progress = {});

/// `snapgov dump scan`: see scan() in scanner.hpp. `referenced` are the memory paths of
/// checkpoints and managed saves from the inventory.
[[nodiscard]] Result<ScanResult> scan_dumps(const std::vector<std::string>& paths,
                                            const std::set<std::string>& referenced);

/// `snapgov dump recover` (and daemon start-up): see recover() in protect.hpp.
[[nodiscard]] Result<std::vector<RecoveryAction>> recover_dumps(const std::string& state_dir);

} // namespace snapgov::dumps
