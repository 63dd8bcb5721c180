#pragma once
/// The reconcile pass, shared by `plan`, `enforce --once` and the daemon:
/// collect -> evaluate -> guard -> execute -> verify.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/inventory.hpp"
#include "core/time.hpp"
#include "policies/config.hpp"
#include "policies/plan.hpp"
#include "providers/registry.hpp"

namespace snapgov::daemon {

/// What became of one planned action.
enum class Outcome {
    done,         ///< carried out, and its effect was seen on re-collection
    failed,       ///< the provider refused or errored
    not_verified, ///< the provider accepted it but the effect was not seen
    skipped,      ///< not attempted: blast-radius cap, failed provider, unsupported kind
    dry_run,      ///< would have been attempted (`--dry-run`)
};

[[nodiscard]] std::string_view to_string(Outcome outcome) noexcept;

struct ActionResult {
    policies::PlannedAction action;
    Outcome outcome = Outcome::skipped;
    std::string detail;
};

/// Everything one pass saw and did.
struct PassResult {
    TimePoint now{};
    Inventory inventory;  ///< as collected before acting
    policies::Plan plan;  ///< evaluated on `inventory`
    std::vector<ActionResult> results; ///< one per planned action (enforce only)
    /// Evaluated on a fresh collection after acting (enforce without --dry-run and with at
    /// least one action attempted); what is listed there remains.
    std::optional<policies::Plan> after;
    /// Providers that could not be collected (before or after acting), as errors naming them.
    std::vector<Error> provider_errors;

    /// The plan whose findings still stand: `after` if there is one, else `plan`.
    [[nodiscard]] const policies::Plan& remaining() const { return after ? *after : plan; }
    /// 0 compliant, 1 violations remain, 2 a provider or an action failed.
    [[nodiscard]] int exit_code() const;
};

/// Owns one provider instance per configured provider and runs passes over them. Providers
/// connect lazily on first use and keep their connection between passes (the libvirt test
/// driver's state lives in its connection). Not thread-safe.
class Reconciler {
public:
    /// `config` and `registry` must outlive the reconciler.
    Reconciler(const policies::Config& config, const providers::ProviderRegistry& registry);
    ~Reconciler();
    Reconciler(const Reconciler&) = delete;
    Reconciler& operator=(const Reconciler&) = delete;

    /// Collects every provider. A provider that fails is present with `complete = false` and
    /// its error; the others are unaffected.
    [[nodiscard]] Inventory collect();

    /// Collects and evaluates; acts on nothing.
    [[nodiscard]] PassResult plan(TimePoint now);

    /// One enforcing pass: plan, then carry out at most `safety.max_actions_per_run` actions
    /// on providers whose collection was complete, then collect again and verify each
    /// action's effect. With `dry_run`, stops after planning and marks actions `dry_run`.
    [[nodiscard]] PassResult enforce(TimePoint now, bool dry_run);

private:
    struct Slot;

    [[nodiscard]] ActionResult execute(const policies::PlannedAction& action,
                                       const Inventory& inventory);
    void verify(PassResult& pass);
    [[nodiscard]] Slot* slot(const std::string& provider);

    const policies::Config& config_;
    const providers::ProviderRegistry& registry_;
    std::vector<std::unique_ptr<Slot>> slots_;
};

} // namespace snapgov::daemon
