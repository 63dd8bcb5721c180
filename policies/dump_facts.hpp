#pragma once
/// What a pass found on disk about memory dumps, gathered by the reconciler (which does the
/// I/O) and handed to the pure evaluator as one more input.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "policies/config.hpp"

namespace snapgov::policies {

/// The state on disk of one memory file that a checkpoint references.
enum class DumpFileState {
    unknown,   ///< not looked at (remote host, or no facts given): treated as plaintext
    plaintext, ///< FILE exists in the clear
    encrypted, ///< FILE is gone and FILE.age exists: protected by `encrypt_memory` earlier
    missing,   ///< neither FILE nor FILE.age exists
};

/// A plaintext memory dump under `memory_dumps.scan_paths` that no checkpoint references.
struct OrphanDump {
    std::string path;
    std::string kind; ///< "libvirt-save", "libvirt-partial", "hyperv-state"
    std::uint64_t size = 0;
    /// Modified within the last minutes: it may belong to a checkpoint being taken right now
    /// (libvirt writes the file before the metadata), so it is reported, never acted on.
    bool recent = false;
    /// False when only the file name says it is a dump (Hyper-V saved state): it is
    /// reported, never wiped or encrypted automatically.
    bool identified_by_content = true;
};

struct DumpFacts {
    /// Memory file path (as the checkpoint names it) -> its state. Files absent here are
    /// `unknown`.
    std::map<std::string, DumpFileState> files;
    /// True when `memory_dumps.scan_paths` were scanned this pass.
    bool scanned = false;
    std::vector<OrphanDump> orphans;
    /// Scan problems (unreadable folders, interrupted encryptions, missing scan paths).
    std::vector<std::string> warnings;
    OrphanAction orphan_action = OrphanAction::report;
};

/// The state of `path` in `facts` (unknown when absent).
[[nodiscard]] DumpFileState file_state(const DumpFacts& facts, const std::string& path);

} // namespace snapgov::policies
