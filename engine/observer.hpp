#pragma once
/// The seam through which the rest of snapgov watches a reconcile pass: the daemon's metrics,
/// the evidence ledger and the command line's output are observers. The engine calls each
/// hook at a fixed point of the pass; an observer never changes the pass.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/inventory.hpp"
#include "dumps/wipe.hpp"
#include "engine/pass.hpp"
#include "policies/plan.hpp"

namespace snapgov::engine {

/// What a pass is about to do, before it collects anything.
struct PassStart {
    TimePoint now{};
    PassScope scope = PassScope::full;
    PassMode mode = PassMode::plan;
    std::string config_path;
    std::string config_sha256; ///< hex SHA-256 of the policy file's bytes as loaded
    std::string version;       ///< snapgov's version
};

/// Before acting, or after acting to verify.
enum class CollectionPhase { before, after };

/// One memory-dump operation carried out by an action (an action may make several: one per
/// memory file of a checkpoint).
struct DumpOperation {
    enum class Kind { encrypt, wipe };
    Kind kind = Kind::encrypt;
    policies::PlannedAction action; ///< the action it belongs to
    std::string plaintext_path;
    std::uint64_t plaintext_bytes = 0;
    std::string plaintext_sha256; ///< hex; empty when not computed
    std::string ciphertext_path;  ///< encrypt only
    std::uint64_t ciphertext_bytes = 0;
    std::string ciphertext_sha256; ///< hex, of the file as re-read from disk
    /// The wipe of the plaintext (encrypt) or of the file (wipe); absent when kept.
    std::optional<dumps::WipeReport> wipe;
};

/// Hooks with empty defaults, called on the pass's thread in this order: on_pass_start,
/// on_collection per provider (phase before; again per provider and phase after when the
/// pass acted), on_plan, on_dump_operation as dump work happens, on_action per action once its
/// outcome is final, on_pass_end, then settle (at once, or when the caller asks: see
/// PassOptions::settle_later). A hook that fails returns an error: the engine reports it
/// (in the pass's errors, naming the observer) and carries on; it never stops an action
/// half-way.
class PassObserver {
public:
    virtual ~PassObserver() = default;

    /// Names the observer in error messages (`metrics`, `evidence`).
    [[nodiscard]] virtual std::string_view name() const = 0;
    /// True for an observer that must see every action (the evidence ledger): when one of
    /// its hooks fails before the pass acts, the pass carries out no action (each is
    /// `skipped`, saying why) instead of acting unrecorded. Metrics do not gate.
    [[nodiscard]] virtual bool gates_actions() const { return false; }

    [[nodiscard]] virtual Result<void> on_pass_start(const PassStart& /*start*/) { return {}; }
    /// One provider's collection: `host.complete`, its error, its VMs and checkpoints.
    [[nodiscard]] virtual Result<void> on_collection(const HostInventory& /*host*/,
                                                     CollectionPhase /*phase*/) {
        return {};
    }
    /// The plan and the guard's decision on each of its actions (same order).
    [[nodiscard]] virtual Result<void> on_plan(const policies::Plan& /*plan*/,
                                               const std::vector<GuardDecision>& /*decisions*/) {
        return {};
    }
    [[nodiscard]] virtual Result<void> on_dump_operation(const DumpOperation& /*operation*/) {
        return {};
    }
    /// An action with its final outcome (after verification), including skipped ones.
    [[nodiscard]] virtual Result<void> on_action(const ActionResult& /*result*/) { return {}; }
    /// The pass as its caller gets it, with `duration` and `health` set.
    [[nodiscard]] virtual Result<void> on_pass_end(const PassResult& /*pass*/) { return {}; }
    /// Waits for what the observer carries on with after on_pass_end returned (the evidence
    /// ledger commits a pass's records on a thread of its own, so that a caller can report
    /// the pass meanwhile). Its error belongs to the pass that ended last.
    [[nodiscard]] virtual Result<void> settle() { return {}; }
};

/// The observers of an engine, called in the order added. Failures (an error returned or an
/// exception thrown by a hook) are kept as errors naming the observer and the hook.
class ObserverList {
public:
    void add(std::shared_ptr<PassObserver> observer);
    [[nodiscard]] bool empty() const { return observers_.empty(); }

    void pass_start(const PassStart& start);
    void collection(const HostInventory& host, CollectionPhase phase);
    void plan(const policies::Plan& plan, const std::vector<GuardDecision>& decisions);
    void dump_operation(const DumpOperation& operation);
    void action(const ActionResult& result);
    void pass_end(const PassResult& pass);
    void settle();

    /// True when an observer that gates actions failed since the last pass_start().
    [[nodiscard]] bool gate_closed() const { return gate_closed_; }

    /// Errors since the last call, which clears them.
    [[nodiscard]] std::vector<Error> take_errors();

private:
    template <typename Hook> void each(std::string_view hook, Hook&& call);

    std::vector<std::shared_ptr<PassObserver>> observers_;
    std::vector<Error> errors_;
    bool gate_closed_ = false;
};

} // namespace snapgov::engine
