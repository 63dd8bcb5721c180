#pragma once
/// What is on disk about memory dumps: the I/O half of dump handling, whose result the pure
/// evaluator reads (policies::DumpFacts). Shared by the pass and by `snapgov dump scan`.

#include <set>
#include <string>

#include "core/inventory.hpp"
#include "policies/config.hpp"
#include "policies/dump_facts.hpp"

namespace snapgov::engine {

/// The memory files an inventory references, with the rule for libvirt's managed saves:
/// the inventory does not list `VM.save` images, so a `.save` file named after a known VM
/// counts as referenced.
class ReferencedDumps {
public:
    explicit ReferencedDumps(const Inventory& inventory);

    /// Memory files of every checkpoint, as the checkpoints name them.
    [[nodiscard]] const std::set<std::string>& files() const { return files_; }
    /// True when `path` (a dump found on disk) is one of `files()` or a managed save.
    [[nodiscard]] bool references(const std::string& path) const;

private:
    std::set<std::string> files_;
    std::set<std::string> vm_names_;
};

/// Looks at the memory files that complete, local providers reference (plaintext, `.age`,
/// gone) and scans `memory_dumps.scan_paths` for dumps no checkpoint references. A file
/// younger than ten minutes is marked recent (it may belong to a checkpoint being taken).
/// Never fails: problems become `warnings`, and a failed scan leaves `scanned` false so no
/// orphan is acted on.
[[nodiscard]] policies::DumpFacts survey_dumps(const Inventory& inventory,
                                               const policies::Config& config);

} // namespace snapgov::engine
