#include "engine/engine.hpp"

#include <algorithm>
#include <deque>
#include <iterator>
#include <set>
#include <stdexcept>

#include "core/log.hpp"
#include "dumps/dump_commands.hpp"
#include "engine/action_handler.hpp"
#include "engine/dump_survey.hpp"
#include "engine/guard.hpp"
#include "policies/evaluator.hpp"

#ifndef SNAPGOV_VERSION
#define SNAPGOV_VERSION "0.0.0"
#endif

namespace snapgov::engine {

using policies::ActionKind;
using policies::ActionTarget;
using policies::PlannedAction;

namespace {

/// An action being carried out: its result, and its objects resolved once in the inventory
/// collected before acting.
struct Work {
    ActionResult result;
    ResolvedAction target;
};

/// Resolves `action` in `inventory`; an error when the objects it names are not there (an
/// evaluator bug, never expected).
Result<ResolvedAction> resolve(const PlannedAction& action, const Inventory& inventory,
                               const ProviderPool& pool) {
    ResolvedAction target;
    target.action = &action;
    if (policies::target_of(action.kind) == ActionTarget::file) {
        return target;
    }
    const HostInventory* host = inventory.host(action.provider);
    target.provider = pool.provider(action.provider);
    target.vm = host != nullptr ? find_vm(*host, action.vm_id) : nullptr;
    if (target.vm != nullptr && policies::target_of(action.kind) == ActionTarget::checkpoint) {
        target.checkpoint = find_checkpoint(*target.vm, action.checkpoint_id);
    }
    const bool complete =
        target.provider != nullptr && target.vm != nullptr &&
        (policies::target_of(action.kind) != ActionTarget::checkpoint || target.checkpoint);
    if (!complete) {
        return fail(ErrorCode::internal,
                    "internal error: the action names an object the inventory does not hold");
    }
    return target;
}

/// What a pass of `scope` needs collected: a deny pass acts only on what deny policies match,
/// and no pass reads which checkpoint is current.
providers::CollectScope collect_scope(PassScope scope) {
    providers::CollectScope out;
    out.deny_only = scope == PassScope::deny;
    out.mark_current = false;
    return out;
}

} // namespace

/// What crash recovery did before a pass acted.
struct Engine::Recovery {
    bool changed = false; ///< something on disk or in a hypervisor changed: collect again
    std::vector<std::string> notes;
    std::vector<std::string> unsettled; ///< dump operations that need a person
    std::vector<Error> errors;
};

Engine::Engine(std::shared_ptr<const policies::Config> config,
               std::shared_ptr<const providers::ProviderRegistry> registry, EngineOptions options)
    : config_(std::move(config)), options_(std::move(options)),
      pool_(config_->providers, std::move(registry), options_.max_backoff,
            {.collect_only = options_.collect_only}) {}

void Engine::add_observer(std::shared_ptr<PassObserver> observer) {
    observers_.add(std::move(observer));
}

void Engine::set_event_sink(ProviderPool::EventSink sink) {
    pool_.set_event_sink(std::move(sink));
}

Inventory Engine::collect() {
    return pool_.collect();
}

std::vector<policies::Policy> Engine::policies_for(PassScope scope) const {
    if (scope == PassScope::full) {
        return config_->policies;
    }
    std::vector<policies::Policy> deny;
    std::copy_if(config_->policies.begin(), config_->policies.end(), std::back_inserter(deny),
                 [](const policies::Policy& p) { return p.deny; });
    return deny;
}

policies::Plan Engine::evaluate(const Inventory& inventory, PassScope scope, TimePoint now,
                                const policies::DumpFacts& facts) const {
    return policies::evaluate(inventory, policies_for(scope), config_->exemptions, now, facts);
}

void Engine::collect_and_evaluate(PassResult& pass) {
    pass.inventory = pool_.collect(collect_scope(pass.scope));
    ++pass.collections;
    pass.errors.clear();
    for (const auto& host : pass.inventory.hosts) {
        observers_.collection(host, CollectionPhase::before);
        if (!host.complete && host.error) {
            pass.errors.push_back(*host.error);
        }
    }
    // Memory dumps are the business of full passes: the daemon's fast deny pass neither
    // scans the disk nor acts on dumps.
    pass.dumps = pass.scope == PassScope::full ? survey_dumps(pass.inventory, *config_)
                                               : policies::DumpFacts{};
    pass.plan = evaluate(pass.inventory, pass.scope, pass.now, pass.dumps);
}

PassResult Engine::plan(TimePoint now, PassScope scope) {
    const auto started = std::chrono::steady_clock::now();
    PassResult pass;
    pass.now = now;
    pass.scope = scope;
    pass.mode = PassMode::plan;
    observers_.pass_start(
        {now, scope, pass.mode, config_->path, options_.config_sha256, SNAPGOV_VERSION});
    collect_and_evaluate(pass);
    pass.decisions =
        guard(pass.plan.actions, pass.inventory, {config_->safety.max_actions_per_run, 0, false});
    observers_.plan(pass.plan, pass.decisions);
    finish(pass, started);
    return pass;
}

Engine::Recovery Engine::recover_interrupted(const Inventory& inventory) {
    Recovery out;
    auto recovered = dumps::recover_dumps(config_->state_dir);
    if (!recovered) {
        out.errors.push_back(recovered.error().with_context("recovering dump operations"));
    } else {
        for (const auto& a : *recovered) {
            const std::string line = "recovery of " + a.plaintext_path + ": " + a.detail;
            // An operation recovery cannot settle stays until a person does (its line names
            // the command); it is not a failure of this pass. Nothing changed on disk for it.
            if (a.outcome == dumps::RecoveryAction::Outcome::needs_attention) {
                out.unsettled.push_back(line);
            } else {
                out.notes.push_back(line);
                out.changed = true;
            }
        }
    }
    for (const auto& host : inventory.hosts) {
        providers::Provider* provider = pool_.provider(host.provider);
        if (!host.complete || provider == nullptr) {
            continue;
        }
        auto done = provider->finish_disk_only(config_->state_dir);
        if (!done) {
            out.errors.push_back(done.error());
            continue;
        }
        for (const auto& line : *done) {
            out.notes.push_back("provider " + host.provider + ": " + line);
            out.changed = true;
        }
    }
    return out;
}

PassResult Engine::enforce(TimePoint now, const PassOptions& options) {
    const auto started = std::chrono::steady_clock::now();
    PassResult pass;
    if (options_.collect_only && !options.dry_run) {
        throw std::logic_error("an engine made for collections only cannot enforce");
    }
    pass.now = now;
    pass.scope = options.scope;
    pass.mode = options.dry_run ? PassMode::dry_run : PassMode::enforce;
    observers_.pass_start(
        {now, pass.scope, pass.mode, config_->path, options_.config_sha256, SNAPGOV_VERSION});
    collect_and_evaluate(pass);
    if (!options.dry_run) {
        Recovery recovery = recover_interrupted(pass.inventory);
        if (recovery.changed) {
            // Something changed on disk or in a hypervisor: plan on what is there now.
            collect_and_evaluate(pass);
        }
        pass.plan.notes.insert(pass.plan.notes.end(), recovery.notes.begin(), recovery.notes.end());
        pass.errors.insert(pass.errors.end(), recovery.errors.begin(), recovery.errors.end());
        pass.unsettled = std::move(recovery.unsettled);
        pass.unsettled_command =
            "snapgov dump recover --list" + (config_->state_dir == dumps::kDefaultStateDir
                                                 ? std::string()
                                                 : " --state-dir " + config_->state_dir);
    }
    pass.decisions = guard(pass.plan.actions, pass.inventory,
                           {config_->safety.max_actions_per_run, 0, options.dry_run});
    observers_.plan(pass.plan, pass.decisions);
    act(pass, options);
    finish(pass, started, options.settle_later);
    return pass;
}

void Engine::act(PassResult& pass, const PassOptions& options) {
    const ActionContext context{*config_,
                                [this](const DumpOperation& op) { observers_.dump_operation(op); }};
    auto cancelled = [&] { return options.cancel != nullptr && options.cancel->load(); };
    // A deque: its elements stay where they are, so targets may point at their actions.
    std::deque<Work> work;
    auto run = [&](const PlannedAction& action, const GuardDecision& decision, bool follow_up) {
        Work& w = work.emplace_back();
        w.result.action = action;
        w.result.follow_up = follow_up;
        if (!decision.admitted()) {
            w.result.outcome = Outcome::skipped;
            w.result.detail = explain(decision, action, config_->safety.max_actions_per_run);
            return;
        }
        if (cancelled()) {
            w.result.outcome = Outcome::skipped;
            w.result.detail = "shutting down: no new action started";
            return;
        }
        if (decision.verdict == GuardVerdict::run && observers_.gate_closed()) {
            w.result.outcome = Outcome::skipped;
            w.result.detail = "not carried out: the evidence ledger could not record this pass "
                              "(fail closed; see the pass's errors)";
            return;
        }
        if (decision.verdict == GuardVerdict::dry_run) {
            w.result.outcome = Outcome::dry_run;
            w.result.detail = explain(decision, action, config_->safety.max_actions_per_run);
            return;
        }
        auto target = resolve(w.result.action, pass.inventory, pool_);
        if (!target) {
            w.result.outcome = Outcome::failed;
            w.result.detail = target.error().message;
            return;
        }
        w.target = *target;
        auto done = handler_for(action.kind).execute(w.target, context);
        // Counted as done only once verification sees the effect.
        w.result.outcome = done ? Outcome::done : Outcome::failed;
        w.result.detail = done ? *done : done.error().message;
        if (!done) {
            log::error(w.result.detail);
        }
    };
    for (std::size_t i = 0; i < pass.plan.actions.size(); ++i) {
        run(pass.plan.actions[i], pass.decisions[i], false);
    }

    auto is_done = [](const Work& w) { return w.result.outcome == Outcome::done; };
    if (std::any_of(work.begin(), work.end(), is_done)) {
        const Inventory after = pool_.collect(collect_scope(pass.scope));
        ++pass.collections;
        for (const auto& host : after.hosts) {
            observers_.collection(host, CollectionPhase::after);
            const HostInventory* before = pass.inventory.host(host.provider);
            // A provider that was already down is reported once, from the first collection.
            if (!host.complete && host.error && before != nullptr && before->complete) {
                pass.errors.push_back(host.error->with_context("after acting"));
            }
        }
        auto verify = [&](Work& w) {
            if (!is_done(w)) {
                return;
            }
            const HostInventory* host = nullptr;
            if (policies::target_of(w.result.action.kind) != ActionTarget::file) {
                host = after.host(w.result.action.provider);
                if (host == nullptr || !host->complete) {
                    w.result.outcome = Outcome::not_verified;
                    w.result.verification =
                        "not verified: the provider could not be read again to confirm the "
                        "effect";
                    return;
                }
            }
            auto seen = handler_for(w.result.action.kind).verify(w.target, host);
            if (seen) {
                w.result.verification = *seen;
                return;
            }
            w.result.outcome = Outcome::not_verified;
            w.result.verification = "not verified: " + seen.error().message;
            log::error(std::string(policies::to_string(w.result.action.kind)) + " on " +
                       policies::where(w.result.action) + ": " + w.result.verification);
        };
        for (auto& w : work) {
            verify(w);
        }
        const policies::DumpFacts facts =
            pass.scope == PassScope::full ? survey_dumps(after, *config_) : policies::DumpFacts{};
        pass.after = evaluate(after, pass.scope, pass.now, facts);

        // The memory files of checkpoints deleted in this pass are orphans now: handle them
        // in this pass, under the same cap, when every provider answered both collections.
        std::set<std::string> freed;
        for (const auto& w : work) {
            if (is_done(w) && w.result.action.kind == ActionKind::delete_checkpoint) {
                freed.insert(w.target.checkpoint->memory_files.begin(),
                             w.target.checkpoint->memory_files.end());
            }
        }
        const bool all_complete =
            std::all_of(pass.inventory.hosts.begin(), pass.inventory.hosts.end(),
                        [](const HostInventory& h) { return h.complete; });
        if (!freed.empty() && all_complete && pass.errors.empty()) {
            std::vector<PlannedAction> follow;
            for (const auto& a : pass.after->actions) {
                if (policies::target_of(a.kind) == ActionTarget::file && freed.count(a.path) != 0) {
                    follow.push_back(a);
                }
            }
            const auto admitted = static_cast<std::size_t>(
                std::count_if(pass.decisions.begin(), pass.decisions.end(),
                              [](const GuardDecision& d) { return d.admitted(); }));
            const auto decisions =
                guard(follow, after, {config_->safety.max_actions_per_run, admitted, false});
            const std::size_t first = work.size();
            for (std::size_t i = 0; i < follow.size(); ++i) {
                // Beyond the cap a follow-up waits for the next pass like any other orphan.
                if (decisions[i].admitted()) {
                    run(follow[i], decisions[i], true);
                }
            }
            bool followed = false;
            for (std::size_t i = first; i < work.size(); ++i) {
                verify(work[i]);
                followed = followed || is_done(work[i]);
            }
            if (followed) {
                // The files are gone: what remains is the rest of the same plan.
                pass.after = evaluate(after, pass.scope, pass.now, survey_dumps(after, *config_));
            }
        }
    }
    pass.results.reserve(work.size());
    for (auto& w : work) {
        observers_.action(w.result);
        pass.results.push_back(std::move(w.result));
    }
}

void Engine::finish(PassResult& pass, std::chrono::steady_clock::time_point started,
                    bool settle_later) {
    pass.health = pool_.health();
    pass.duration = std::chrono::steady_clock::now() - started;
    // Observer failures so far are part of the pass that on_pass_end sees (and of its exit
    // code); a failure of on_pass_end itself (or of settling, unless the caller settles) is
    // added after.
    for (int round = 0; round < 2; ++round) {
        auto failed = observers_.take_errors();
        pass.errors.insert(pass.errors.end(), failed.begin(), failed.end());
        if (round == 0) {
            observers_.pass_end(pass);
            if (!settle_later) {
                observers_.settle();
            }
        }
    }
}

std::vector<Error> Engine::settle() {
    observers_.settle();
    return observers_.take_errors();
}

} // namespace snapgov::engine
