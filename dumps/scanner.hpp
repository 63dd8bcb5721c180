#pragma once
/// Finds VM memory dumps on disk and sorts them into orphans (no checkpoint or managed save
/// references them), referenced ones, and protected ones (already age-encrypted).
///
/// Detection rules:
/// - libvirt/QEMU save images by content: the 16-byte magic `LibvirtQemudSave` at offset 0,
///   or `LibvirtQemudPart` (a save libvirt did not finish), whatever the file name;
/// - Hyper-V saved state by name: `*.vmrs` and `*.vsv` anywhere; `*.bin` only when the stem
///   is a GUID and a parent folder is named `Virtual Machines` or `Snapshots` (Hyper-V's
///   layout), since `.bin` alone is far too common. A name proves nothing (Hyper-V's formats
///   have no published header to check; a `.bin` is raw memory), so these are reported only:
///   classify_file() refuses them and nothing wipes or encrypts them automatically;
/// - protected dumps: `*.age` files that start with the age v1 header line;
/// - `*.age.partial` files (an interrupted encryption) are reported as warnings.
/// Symbolic links are never followed (neither files nor directories); the walk does not
/// cross into unreadable directories but reports them.

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace snapgov::dumps {

/// What a found file is.
enum class DumpKind {
    libvirt_save,    ///< `LibvirtQemudSave` magic
    libvirt_partial, ///< `LibvirtQemudPart` magic (incomplete save)
    hyperv_state,    ///< .vmrs / .vsv / Hyper-V .bin
    age_encrypted,   ///< an age v1 file (an encrypted dump)
};

/// True when files of this kind are recognised by their content (a header), so that a
/// destructive action may rely on the classification; false for Hyper-V saved state, which
/// only its name suggests.
[[nodiscard]] bool identified_by_content(DumpKind kind) noexcept;

/// "libvirt-save", "libvirt-partial", "hyperv-state", "age".
[[nodiscard]] std::string_view to_string(DumpKind kind) noexcept;

/// One dump found on disk.
struct FoundDump {
    std::string path; ///< absolute, lexically normal
    DumpKind kind = DumpKind::libvirt_save;
    std::uint64_t size = 0; ///< apparent size in bytes
};

/// Outcome of a scan; every list is sorted by path.
struct ScanResult {
    std::vector<FoundDump> orphans;         ///< plaintext dumps nothing references
    std::vector<FoundDump> referenced;      ///< plaintext dumps a checkpoint or save references
    std::vector<FoundDump> protected_dumps; ///< age-encrypted dumps
    std::vector<std::string> warnings;      ///< unreadable folders, interrupted encryptions
};

/// Classifies one file by the same rules, for an action about to touch it: fails with
/// `not_found` if nothing is there, `unsupported` if it is not a regular file (symbolic
/// links are not followed) or carries no dump signature in its content (a Hyper-V name is not
/// one; the message says so and the fix).
[[nodiscard]] Result<FoundDump> classify_file(const std::string& path);

/// Walks each of `paths` (a file or a directory) and classifies the dumps found against
/// `referenced` (paths that checkpoints and managed saves use; compared after resolving
/// them to canonical absolute form where they exist). Fails with ErrorCode::not_found if a
/// given path does not exist; problems below it become warnings.
[[nodiscard]] Result<ScanResult> scan(const std::vector<std::string>& paths,
                                      const std::set<std::string>& referenced);

} // namespace snapgov::dumps
