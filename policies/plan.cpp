#include "policies/plan.hpp"
#include "policies/dump_facts.hpp"

#include <algorithm>

namespace snapgov::policies {

std::size_t Plan::violations() const {
    return static_cast<std::size_t>(std::count_if(findings.begin(), findings.end(),
                                                  [](const Finding& f) { return !f.exempt; }));
}

std::size_t Plan::exempt() const {
    return findings.size() - violations();
}

DumpFileState file_state(const DumpFacts& facts, const std::string& path) {
    const auto it = facts.files.find(path);
    return it == facts.files.end() ? DumpFileState::unknown : it->second;
}

namespace {
std::string where(const std::string& provider, const std::string& vm, const std::string& cp,
                  const std::string& path) {
    if (provider.empty() && vm.empty() && !path.empty()) {
        return path; // an orphan dump: a file, not a checkpoint
    }
    std::string out = provider + "/" + vm;
    if (!cp.empty()) {
        out += " @ " + cp;
    }
    return out;
}
} // namespace

std::string where(const Finding& f) {
    return where(f.provider, f.vm, f.checkpoint, f.path);
}

std::string where(const PlannedAction& a) {
    return where(a.provider, a.vm, a.checkpoint, a.path);
}

std::string_view to_string(ActionKind kind) noexcept {
    switch (kind) {
    case ActionKind::delete_checkpoint: return "delete_checkpoint";
    case ActionKind::disable_checkpoints: return "disable_checkpoints";
    case ActionKind::encrypt_memory: return "encrypt_memory";
    case ActionKind::wipe_memory: return "wipe_memory";
    case ActionKind::clear_memory_state: return "clear_memory_state";
    case ActionKind::wipe_orphan: return "wipe_orphan";
    case ActionKind::encrypt_orphan: return "encrypt_orphan";
    }
    return "unknown";
}

ActionTarget target_of(ActionKind kind) noexcept {
    switch (kind) {
    case ActionKind::disable_checkpoints: return ActionTarget::vm;
    case ActionKind::delete_checkpoint:
    case ActionKind::encrypt_memory:
    case ActionKind::wipe_memory:
    case ActionKind::clear_memory_state: return ActionTarget::checkpoint;
    case ActionKind::wipe_orphan:
    case ActionKind::encrypt_orphan: return ActionTarget::file;
    }
    return ActionTarget::checkpoint;
}

} // namespace snapgov::policies
