#pragma once
/// The reconcile pass, shared by `plan`, `enforce --once` and the daemon:
/// collect -> evaluate -> guard -> execute -> verify.

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/inventory.hpp"
#include "core/time.hpp"
#include "policies/config.hpp"
#include "policies/dump_facts.hpp"
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
    Inventory inventory; ///< as collected before acting
    policies::Plan plan; ///< evaluated on `inventory`
    /// Memory files and orphan dumps seen on disk before acting (input of `plan`).
    policies::DumpFacts dumps;
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

/// Which policies a pass evaluates.
enum class PassScope {
    full, ///< every policy
    deny, ///< only `checkpoints: deny` policies: the daemon's fast pass
};

/// How one pass runs.
struct PassOptions {
    PassScope scope = PassScope::full;
    bool dry_run = false;
    /// Checked before each action: when it becomes true, the action in flight finishes and
    /// no further one starts (the rest are `skipped`). May be null.
    const std::atomic<bool>* cancel = nullptr;
};

/// The health of one provider as the reconciler sees it.
struct ProviderHealth {
    std::string name;
    std::string type;
    bool up = false;
    std::string error;     ///< last error, empty when up
    unsigned failures = 0; ///< consecutive failed collections
};

/// Owns one provider instance per configured provider and runs passes over them. Providers
/// connect lazily on first use and keep their connection between passes (the libvirt test
/// driver's state lives in its connection). Providers are collected concurrently, each
/// bounded by its `connect_timeout + read_timeout`; a provider that fails is retried with
/// exponential backoff (1 s doubling, at most `max_backoff`) and gets no action until a
/// complete collection succeeds again. Not thread-safe: one pass at a time.
class Reconciler {
public:
    /// `config` and `registry` must outlive the reconciler.
    Reconciler(const policies::Config& config, const providers::ProviderRegistry& registry,
               Seconds max_backoff = Seconds{300});
    ~Reconciler();
    Reconciler(const Reconciler&) = delete;
    Reconciler& operator=(const Reconciler&) = delete;

    /// Collects every provider. A provider that fails, times out or is backing off is
    /// present with `complete = false` and its error; the others are unaffected.
    [[nodiscard]] Inventory collect();

    /// Collects and evaluates; acts on nothing.
    [[nodiscard]] PassResult plan(TimePoint now, PassScope scope = PassScope::full);

    /// One enforcing pass: plan, then carry out at most `safety.max_actions_per_run` actions
    /// on providers whose collection was complete, then collect again and verify each
    /// action's effect. With `dry_run`, stops after planning and marks actions `dry_run`.
    /// Without it, first finishes what a crash interrupted: dump encryptions journaled in
    /// `state_dir` (dumps::recover) and disk-only redefines (Provider::finish_disk_only).
    /// Memory-dump actions fail closed: a file is encrypted or wiped only when it carries a
    /// memory-dump signature, `wipe_memory` only where the provider can then redefine the
    /// checkpoint disk-only, and orphan actions only when every provider was collected.
    [[nodiscard]] PassResult enforce(TimePoint now, const PassOptions& options);

    /// Called (on a provider's thread) with provider and VM names when a provider reports a
    /// VM event. Set before the first collection: providers subscribe when they connect.
    using EventSink = std::function<void(const std::string& provider, const std::string& vm)>;
    void set_event_sink(EventSink sink) { event_sink_ = std::move(sink); }

    /// Health of every provider after the last collection, in config order.
    [[nodiscard]] std::vector<ProviderHealth> health() const;

private:
    struct Slot;

    [[nodiscard]] ActionResult execute(const policies::PlannedAction& action,
                                       const Inventory& inventory);
    /// Carries out encrypt_memory / wipe_memory / wipe_orphan / encrypt_orphan; returns what
    /// was done, for the action's detail.
    [[nodiscard]] Result<std::string> execute_dump_action(const policies::PlannedAction& action,
                                                          providers::Provider* provider,
                                                          const Vm* vm, const Checkpoint* cp);
    /// Looks at the memory files the inventory references and scans `scan_paths` (I/O; the
    /// evaluator gets the result).
    [[nodiscard]] policies::DumpFacts gather_dump_facts(const Inventory& inventory) const;
    /// Runs recovery of interrupted dump and redefine operations; returns true when a
    /// provider redefined something (the inventory must then be collected again).
    bool recover_interrupted(const Inventory& inventory, std::vector<std::string>& notes,
                             std::vector<Error>& errors);
    void verify(PassResult& pass, PassScope scope);
    [[nodiscard]] Slot* slot(const std::string& provider);
    [[nodiscard]] std::vector<policies::Policy> policies_for(PassScope scope) const;

    const policies::Config& config_;
    const providers::ProviderRegistry& registry_;
    Seconds max_backoff_;
    EventSink event_sink_;
    std::vector<std::unique_ptr<Slot>> slots_;
};

} // namespace snapgov::daemon
