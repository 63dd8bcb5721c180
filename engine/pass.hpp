#pragma once
/// What one reconcile pass is asked to do and what it found and did: the values the engine
/// hands to its observers and its callers (the CLI's reports, the daemon's status).

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/inventory.hpp"
#include "core/time.hpp"
#include "engine/guard.hpp"
#include "policies/dump_facts.hpp"
#include "policies/plan.hpp"

namespace snapgov::engine {

/// What became of one planned action.
enum class Outcome {
    done,         ///< carried out, and its effect was seen on re-collection
    failed,       ///< the provider refused or errored
    not_verified, ///< the provider accepted it but the effect was not seen
    skipped,      ///< not attempted: guard (cap, incomplete provider) or shutting down
    dry_run,      ///< would have been attempted (`--dry-run`)
};

/// `done`, `failed`, `not_verified`, `skipped`, `dry_run` (the JSON contract's words).
[[nodiscard]] std::string_view to_string(Outcome outcome) noexcept;

/// One planned action and what became of it.
struct ActionResult {
    policies::PlannedAction action;
    Outcome outcome = Outcome::skipped;
    /// What was done (or why it was not): the provider's answer, the files written, the
    /// guard's reason for a skip.
    std::string detail;
    /// How the effect was checked (set once, by verification), e.g. "effect seen on
    /// re-collection"; empty when nothing was verified.
    std::string verification;
    /// True for an action that was not in the plan shown before acting: the memory file a
    /// checkpoint deleted in this pass left behind, handled in the same pass.
    bool follow_up = false;

    /// `detail` and `verification` joined for one line of text.
    [[nodiscard]] std::string summary() const;
};

/// Which policies a pass evaluates.
enum class PassScope {
    full, ///< every policy
    deny, ///< only `checkpoints: deny` policies: the daemon's fast pass
};

/// `full` or `deny`.
[[nodiscard]] std::string_view to_string(PassScope scope) noexcept;

/// How a pass runs: `plan` acts on nothing, `enforce` acts, `dry_run` guards but acts on
/// nothing.
enum class PassMode { plan, enforce, dry_run };

/// `plan`, `enforce`, `dry-run`.
[[nodiscard]] std::string_view to_string(PassMode mode) noexcept;

/// How one enforcing pass runs.
struct PassOptions {
    PassScope scope = PassScope::full;
    bool dry_run = false;
    /// Checked before each action: when it becomes true, the action in flight finishes and
    /// no further one starts (the rest are `skipped`). May be null.
    const std::atomic<bool>* cancel = nullptr;
    /// The caller calls Engine::settle() once it has used the result (it reports the pass
    /// while the observers finish: the evidence ledger's commit of a large pass overlaps the
    /// report). Otherwise enforce() settles before it returns and the errors are the pass's.
    bool settle_later = false;
};

/// The health of one provider as the engine sees it.
struct ProviderHealth {
    std::string name;
    std::string type;
    bool up = false;
    std::string error;     ///< last error, empty when up
    unsigned failures = 0; ///< consecutive failed collections
};

/// Everything one pass saw and did.
struct PassResult {
    TimePoint now{};
    PassScope scope = PassScope::full;
    PassMode mode = PassMode::plan;
    Inventory inventory; ///< as collected before acting
    policies::Plan plan; ///< evaluated on `inventory`
    /// The guard's verdict on each planned action (same order as `plan.actions`).
    std::vector<GuardDecision> decisions;
    /// Memory files and orphan dumps seen on disk before acting (input of `plan`).
    policies::DumpFacts dumps;
    std::vector<ActionResult> results; ///< one per planned action, then follow-ups (enforce)
    /// Evaluated after acting (enforce without --dry-run and with at least one action
    /// carried out); what is listed there remains.
    std::optional<policies::Plan> after;
    /// What went wrong besides actions: providers that could not be collected (before or
    /// after acting), crash recovery that could not run, observers that failed; each names
    /// its source. Any makes the exit code 2.
    std::vector<Error> errors;
    /// Dump operations a crash interrupted that recovery could not finish or roll back
    /// safely (one line each: the file, why, and the command that settles it). They remain
    /// until a person settles them (`snapgov dump recover --list`, then `--settle ID ...`):
    /// a state of the host like a remaining violation, not a failure of this pass (exit 1).
    std::vector<std::string> unsettled;
    /// The command that lists them: `snapgov dump recover --list [--state-dir DIR]`.
    std::string unsettled_command;
    /// Provider health after the pass, in config order.
    std::vector<ProviderHealth> health;
    /// Provider collections this pass made (1 for plan; 2 for enforce, 3 when crash recovery
    /// changed something).
    std::size_t collections = 0;
    std::chrono::duration<double> duration{0};

    /// The plan whose findings still stand: `after` if there is one, else `plan`.
    [[nodiscard]] const policies::Plan& remaining() const { return after ? *after : plan; }
    /// 0 compliant, 1 violations or unsettled dump operations remain, 2 a provider or an
    /// action failed.
    [[nodiscard]] int exit_code() const;
    /// How many results have `outcome`.
    [[nodiscard]] std::size_t count(Outcome outcome) const;
    /// How many results are follow-ups (not in the plan shown before acting).
    [[nodiscard]] std::size_t follow_ups() const;
};

} // namespace snapgov::engine
