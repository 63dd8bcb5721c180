#pragma once
/// The reconcile pass, shared by `plan`, `enforce --once` and the daemon:
/// collect -> evaluate -> guard -> execute -> verify -> record.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/inventory.hpp"
#include "core/time.hpp"
#include "engine/observer.hpp"
#include "engine/pass.hpp"
#include "engine/provider_pool.hpp"
#include "policies/config.hpp"
#include "providers/registry.hpp"

namespace snapgov::engine {

/// What an engine is built from besides the config and the registry.
struct EngineOptions {
    Seconds max_backoff{300};  ///< longest wait before retrying a failed provider
    std::string config_sha256; ///< of the policy file, for observers (PassStart)
    /// The caller runs only plan(), collect() and dry-run passes (`snapgov plan`, `inventory`):
    /// providers are created for collections only (providers::ProviderUse), and enforce()
    /// without `dry_run` throws std::logic_error.
    bool collect_only = false;
};

/// Runs passes over one immutable configuration. Owns one provider instance per configured
/// provider (see ProviderPool); the config and the registry are shared, so a pass in flight
/// keeps the config it started with whatever its owner does meanwhile. Not thread-safe: one
/// pass at a time.
class Engine {
public:
    Engine(std::shared_ptr<const policies::Config> config,
           std::shared_ptr<const providers::ProviderRegistry> registry, EngineOptions options = {});

    /// Adds an observer of every later pass (see PassObserver for the order of hooks).
    void add_observer(std::shared_ptr<PassObserver> observer);

    /// See ProviderPool::set_event_sink.
    void set_event_sink(ProviderPool::EventSink sink);

    /// Collects every provider (for `snapgov inventory`); observers are not called.
    [[nodiscard]] Inventory collect();

    /// One collection and evaluation; acts on nothing. The guard's decisions say what enforce
    /// would do.
    [[nodiscard]] PassResult plan(TimePoint now, PassScope scope = PassScope::full);

    /// One enforcing pass. Without `dry_run`, first finishes what a crash interrupted (dump
    /// encryptions journaled in `state_dir`, disk-only redefines) and collects again only if
    /// that changed something. Then the guard decides (fail closed on an incomplete provider,
    /// at most `safety.max_actions_per_run` actions), each admitted action runs through its
    /// kind's handler, and one more collection verifies every action that was carried out.
    /// A checkpoint deleted in this pass leaves its external memory file behind (libvirt 9):
    /// that file is handled in the same pass per `memory_dumps.orphans`, under the same cap,
    /// when every provider answered both collections (a `follow_up` result).
    [[nodiscard]] PassResult enforce(TimePoint now, const PassOptions& options);

    /// After a pass run with `settle_later`: waits for the observers (PassObserver::settle)
    /// and returns what failed, each a reason for exit code 2.
    [[nodiscard]] std::vector<Error> settle();

    /// Health of every provider after the last collection, in config order.
    [[nodiscard]] std::vector<ProviderHealth> health() const { return pool_.health(); }

    /// The configuration every pass of this engine runs with.
    [[nodiscard]] const policies::Config& config() const { return *config_; }

private:
    struct Recovery;

    void collect_and_evaluate(PassResult& pass);
    [[nodiscard]] Recovery recover_interrupted(const Inventory& inventory);
    void act(PassResult& pass, const PassOptions& options);
    void finish(PassResult& pass, std::chrono::steady_clock::time_point started,
                bool settle_later = false);
    [[nodiscard]] std::vector<policies::Policy> policies_for(PassScope scope) const;
    [[nodiscard]] policies::Plan evaluate(const Inventory& inventory, PassScope scope,
                                          TimePoint now, const policies::DumpFacts& facts) const;

    std::shared_ptr<const policies::Config> config_;
    EngineOptions options_;
    ProviderPool pool_;
    ObserverList observers_;
};

} // namespace snapgov::engine
