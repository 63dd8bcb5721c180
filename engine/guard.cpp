#include "engine/guard.hpp"

#include <algorithm>

namespace snapgov::engine {

std::string_view to_string(GuardVerdict verdict) noexcept {
    switch (verdict) {
    case GuardVerdict::run: return "run";
    case GuardVerdict::dry_run: return "dry_run";
    case GuardVerdict::incomplete_provider: return "incomplete_provider";
    case GuardVerdict::incomplete_inventory: return "incomplete_inventory";
    case GuardVerdict::over_cap: return "over_cap";
    }
    return "run";
}

std::vector<GuardDecision> guard(const std::vector<policies::PlannedAction>& actions,
                                 const Inventory& inventory, const GuardLimits& limits) {
    const bool all_complete = std::all_of(inventory.hosts.begin(), inventory.hosts.end(),
                                          [](const HostInventory& h) { return h.complete; });
    std::size_t admitted = limits.already_admitted;
    std::vector<GuardDecision> out;
    out.reserve(actions.size());
    for (const auto& action : actions) {
        GuardDecision d;
        if (policies::target_of(action.kind) == policies::ActionTarget::file) {
            if (!all_complete) {
                d.verdict = GuardVerdict::incomplete_inventory;
                d.reason = "not every provider was collected completely; orphan dumps are left "
                           "alone this pass";
            }
        } else if (const HostInventory* host = inventory.host(action.provider);
                   host == nullptr || !host->complete) {
            d.verdict = GuardVerdict::incomplete_provider;
            d.reason = "provider " + action.provider +
                       " could not be collected completely; no action this pass";
        }
        if (d.verdict == GuardVerdict::run) {
            if (admitted >= limits.max_actions) {
                d.verdict = GuardVerdict::over_cap;
                d.reason = "blast-radius cap reached (safety.max_actions_per_run = " +
                           std::to_string(limits.max_actions) + ")";
            } else {
                ++admitted;
                if (limits.dry_run) {
                    d.verdict = GuardVerdict::dry_run;
                    d.reason = "dry run: not carried out";
                }
            }
        }
        out.push_back(std::move(d));
    }
    return out;
}

} // namespace snapgov::engine
