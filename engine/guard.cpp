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

std::string explain(const GuardDecision& decision, const policies::PlannedAction& action,
                    std::size_t max_actions) {
    switch (decision.verdict) {
    case GuardVerdict::run: return {};
    case GuardVerdict::dry_run: return "dry run: not carried out";
    case GuardVerdict::incomplete_provider:
        return "provider " + action.provider +
               " could not be collected completely; no action this pass";
    case GuardVerdict::incomplete_inventory:
        return "not every provider was collected completely; orphan dumps are left alone this "
               "pass";
    case GuardVerdict::over_cap:
        return "blast-radius cap reached (safety.max_actions_per_run = " +
               std::to_string(max_actions) + ")";
    }
    return {};
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
            }
        } else if (const HostInventory* host = inventory.host(action.provider);
                   host == nullptr || !host->complete) {
            d.verdict = GuardVerdict::incomplete_provider;
        }
        if (d.verdict == GuardVerdict::run) {
            if (admitted >= limits.max_actions) {
                d.verdict = GuardVerdict::over_cap;
            } else {
                ++admitted;
                if (limits.dry_run) {
                    d.verdict = GuardVerdict::dry_run;
                }
            }
        }
        out.push_back(d);
    }
    return out;
}

} // namespace snapgov::engine
