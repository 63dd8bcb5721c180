#pragma once
/// The guard: the one place that decides which planned actions may run. Pure: the plan, the
/// completeness of the inventory and the limits in, a decision per action out. Enforce acts
/// on its decisions, and `plan` and the reports show them, so what plan promises is what
/// enforce does.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/inventory.hpp"
#include "policies/plan.hpp"

namespace snapgov::engine {

/// Why an action runs or not.
enum class GuardVerdict {
    run,                  ///< may be carried out
    dry_run,              ///< would be carried out; `--dry-run` says not to
    incomplete_provider,  ///< its provider was not collected completely: fail closed
    incomplete_inventory, ///< an orphan-file action while some provider was not collected
                          ///< completely (a referenced dump could look orphaned)
    over_cap,             ///< beyond `safety.max_actions_per_run` for this pass
};

/// `run`, `dry_run`, `incomplete_provider`, `incomplete_inventory`, `over_cap`.
[[nodiscard]] std::string_view to_string(GuardVerdict verdict) noexcept;

/// The guard's decision on one action: a verdict only, so that a plan of 100,000 actions
/// costs no more than that; explain() words it.
struct GuardDecision {
    GuardVerdict verdict = GuardVerdict::run;

    /// True when the action counts against the cap (`run` or `dry_run`).
    [[nodiscard]] bool admitted() const {
        return verdict == GuardVerdict::run || verdict == GuardVerdict::dry_run;
    }
};

/// The limits a pass runs under.
struct GuardLimits {
    std::size_t max_actions = 20;     ///< `safety.max_actions_per_run`
    std::size_t already_admitted = 0; ///< actions this pass already took (follow-ups)
    bool dry_run = false;
};

/// One sentence for the operator on why `action` is not carried out (empty for `run`);
/// `max_actions` is the cap the decision was made under.
[[nodiscard]] std::string explain(const GuardDecision& decision,
                                  const policies::PlannedAction& action, std::size_t max_actions);

/// Decides, for each of `actions` in order: an action on a provider whose collection in
/// `inventory` is incomplete (or absent) is refused; an orphan-file action is refused unless
/// every provider is complete; of the rest, the first `max_actions - already_admitted` are
/// admitted (`run`, or `dry_run`) and the others are `over_cap`.
[[nodiscard]] std::vector<GuardDecision> guard(const std::vector<policies::PlannedAction>& actions,
                                               const Inventory& inventory,
                                               const GuardLimits& limits);

} // namespace snapgov::engine
