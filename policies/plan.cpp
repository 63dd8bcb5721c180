#include "policies/plan.hpp"

#include <algorithm>

namespace snapgov::policies {

std::size_t Plan::violations() const {
    return static_cast<std::size_t>(
        std::count_if(findings.begin(), findings.end(), [](const Finding& f) { return !f.exempt; }));
}

std::size_t Plan::exempt() const { return findings.size() - violations(); }

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

} // namespace snapgov::policies
