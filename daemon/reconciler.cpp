#include "daemon/reconciler.hpp"

#include <algorithm>
#include <future>
#include <iterator>
#include <thread>

#include "core/log.hpp"
#include "policies/evaluator.hpp"

namespace snapgov::daemon {

using policies::ActionKind;
using policies::PlannedAction;

std::string_view to_string(Outcome outcome) noexcept {
    switch (outcome) {
    case Outcome::done: return "done";
    case Outcome::failed: return "failed";
    case Outcome::not_verified: return "not_verified";
    case Outcome::skipped: return "skipped";
    case Outcome::dry_run: return "dry_run";
    }
    return "skipped";
}

int PassResult::exit_code() const {
    if (!provider_errors.empty()) {
        return 2;
    }
    const bool broken = std::any_of(results.begin(), results.end(), [](const ActionResult& r) {
        return r.outcome == Outcome::failed || r.outcome == Outcome::not_verified;
    });
    if (broken) {
        return 2;
    }
    return remaining().violations() > 0 ? 1 : 0;
}

/// A provider instance, shared with the collection thread that uses it: a thread whose
/// call hangs past its deadline is abandoned, not joined, and may outlive one pass.
struct ProviderHolder {
    std::unique_ptr<providers::Provider> provider;
};

/// One configured provider: its instance once connected, and its health.
struct Reconciler::Slot {
    ProviderSpec spec;
    std::shared_ptr<ProviderHolder> holder = std::make_shared<ProviderHolder>();
    /// True while a collection thread runs; the provider is not touched meanwhile.
    std::shared_ptr<std::atomic<bool>> busy = std::make_shared<std::atomic<bool>>(false);
    unsigned failures = 0;
    std::chrono::steady_clock::time_point retry_at{};
    std::string error;
    bool up = false;

    [[nodiscard]] providers::Provider* provider() const {
        return busy->load() ? nullptr : holder->provider.get();
    }
};

Reconciler::Reconciler(const policies::Config& config, const providers::ProviderRegistry& registry,
                       Seconds max_backoff)
    : config_(config), registry_(registry), max_backoff_(max_backoff) {
    for (const auto& spec : config_.providers) {
        auto s = std::make_unique<Slot>();
        s->spec = spec;
        slots_.push_back(std::move(s));
    }
}

Reconciler::~Reconciler() = default;

Reconciler::Slot* Reconciler::slot(const std::string& provider) {
    const auto it = std::find_if(slots_.begin(), slots_.end(),
                                 [&](const auto& s) { return s->spec.name == provider; });
    return it == slots_.end() ? nullptr : it->get();
}

std::vector<ProviderHealth> Reconciler::health() const {
    std::vector<ProviderHealth> out;
    for (const auto& s : slots_) {
        out.push_back({s->spec.name, s->spec.type, s->up, s->error, s->failures});
    }
    return out;
}

std::vector<policies::Policy> Reconciler::policies_for(PassScope scope) const {
    if (scope == PassScope::full) {
        return config_.policies;
    }
    std::vector<policies::Policy> deny;
    std::copy_if(config_.policies.begin(), config_.policies.end(), std::back_inserter(deny),
                 [](const policies::Policy& p) { return p.deny; });
    return deny;
}

Inventory Reconciler::collect() {
    using Clock = std::chrono::steady_clock;
    struct Job {
        Slot* slot;
        std::future<Result<HostInventory>> result;
        Clock::time_point deadline;
    };
    const auto start = Clock::now();
    std::vector<std::optional<Job>> jobs(slots_.size());
    std::vector<std::optional<Error>> skipped(slots_.size());

    for (std::size_t i = 0; i < slots_.size(); ++i) {
        Slot& s = *slots_[i];
        const std::string label = "provider " + s.spec.name;
        if (s.busy->load()) {
            skipped[i] = Error{ErrorCode::provider,
                               label + ": a previous call has not returned yet; no action "
                                       "this pass"};
            continue;
        }
        if (s.failures > 0 && start < s.retry_at) {
            const auto wait = std::chrono::ceil<Seconds>(s.retry_at - start);
            skipped[i] = Error{ErrorCode::provider, label + ": down, next retry in " +
                                                        format_duration(wait) + " (last error: " +
                                                        s.error + ")"};
            continue;
        }
        std::promise<Result<HostInventory>> promise;
        Job job{&s, promise.get_future(), start + s.spec.connect_timeout + s.spec.read_timeout};
        s.busy->store(true);
        std::thread([&registry = registry_, spec = s.spec, holder = s.holder, busy = s.busy,
                     sink = event_sink_, promise = std::move(promise)]() mutable {
            Result<HostInventory> result = fail(ErrorCode::internal, "not collected");
            if (!holder->provider) {
                auto created = registry.create(spec);
                if (created) {
                    holder->provider = std::move(*created);
                    if (sink) {
                        auto watching = holder->provider->watch(
                            [sink, name = spec.name](const std::string& vm) { sink(name, vm); });
                        if (!watching && watching.error().code != ErrorCode::unsupported) {
                            log::warning(watching.error().message);
                        }
                    }
                } else {
                    result = tl::unexpected(created.error());
                }
            }
            if (holder->provider) {
                result = holder->provider->collect();
            }
            // Released before the result is published: whoever sees the result may use
            // the provider at once, and this thread no longer touches it.
            busy->store(false);
            promise.set_value(std::move(result));
        }).detach();
        jobs[i] = std::move(job);
    }

    Inventory inventory;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        Slot& s = *slots_[i];
        Result<HostInventory> result = fail(ErrorCode::internal, "not collected");
        if (skipped[i]) {
            result = tl::unexpected(*skipped[i]);
        } else if (jobs[i]->result.wait_until(jobs[i]->deadline) != std::future_status::ready) {
            const auto limit = s.spec.connect_timeout + s.spec.read_timeout;
            result = fail(ErrorCode::provider,
                          "provider " + s.spec.name + ": no answer within " +
                              format_duration(limit) +
                              " (connect_timeout + read_timeout); no action this pass");
        } else {
            result = jobs[i]->result.get();
        }
        if (result) {
            s.up = true;
            s.failures = 0;
            s.error.clear();
            inventory.hosts.push_back(std::move(*result));
            continue;
        }
        if (!skipped[i]) {
            ++s.failures;
            const auto backoff =
                std::min<Seconds>(max_backoff_, Seconds{std::int64_t{1} << std::min(s.failures - 1, 20u)});
            s.retry_at = Clock::now() + backoff;
        }
        s.up = false;
        s.error = result.error().message;
        HostInventory failed;
        failed.provider = s.spec.name;
        failed.type = s.spec.type;
        failed.endpoint = s.spec.type == "hyperv" ? s.spec.endpoint : s.spec.uri;
        failed.error = result.error();
        inventory.hosts.push_back(std::move(failed));
    }
    return inventory;
}

PassResult Reconciler::plan(TimePoint now, PassScope scope) {
    PassResult pass;
    pass.now = now;
    pass.inventory = collect();
    for (const auto& host : pass.inventory.hosts) {
        if (!host.complete && host.error) {
            pass.provider_errors.push_back(*host.error);
        }
    }
    pass.plan = policies::evaluate(pass.inventory, policies_for(scope), config_.exemptions, now);
    return pass;
}

PassResult Reconciler::enforce(TimePoint now, const PassOptions& options) {
    PassResult pass = plan(now, options.scope);
    const std::size_t cap = config_.safety.max_actions_per_run;
    std::size_t attempted = 0;
    for (const auto& action : pass.plan.actions) {
        ActionResult r;
        r.action = action;
        const HostInventory* host = pass.inventory.host(action.provider);
        if (host == nullptr || !host->complete) {
            // Fail closed: an incomplete inventory could hide why an action is wrong.
            r.outcome = Outcome::skipped;
            r.detail = "provider " + action.provider +
                       " could not be collected completely; no action this pass";
        } else if (options.cancel != nullptr && options.cancel->load()) {
            r.outcome = Outcome::skipped;
            r.detail = "shutting down: no new action started";
        } else if (attempted >= cap) {
            r.outcome = Outcome::skipped;
            r.detail = "blast-radius cap reached (safety.max_actions_per_run = " +
                       std::to_string(cap) + ")";
        } else if (options.dry_run) {
            ++attempted;
            r.outcome = Outcome::dry_run;
            r.detail = "dry run: not carried out";
        } else {
            ++attempted;
            r = execute(action, pass.inventory);
        }
        pass.results.push_back(std::move(r));
    }
    const bool acted = std::any_of(pass.results.begin(), pass.results.end(),
                                   [](const ActionResult& r) { return r.outcome == Outcome::done; });
    if (acted) {
        verify(pass, options.scope);
    }
    return pass;
}

ActionResult Reconciler::execute(const PlannedAction& action, const Inventory& inventory) {
    ActionResult r;
    r.action = action;
    Slot* s = slot(action.provider);
    providers::Provider* provider = s != nullptr ? s->provider() : nullptr;
    const HostInventory* host = inventory.host(action.provider);
    const Vm* vm = host != nullptr ? find_vm(*host, action.vm_id) : nullptr;
    if (provider == nullptr || vm == nullptr) {
        r.outcome = Outcome::failed;
        r.detail = "internal error: the action names an object the inventory does not hold";
        return r;
    }
    const Checkpoint* cp =
        action.checkpoint_id.empty() ? nullptr : find_checkpoint(*vm, action.checkpoint_id);
    Result<void> outcome;
    switch (action.kind) {
    case ActionKind::delete_checkpoint:
        outcome = cp != nullptr ? provider->delete_checkpoint(*vm, *cp)
                                : Result<void>(fail(ErrorCode::internal, "checkpoint not in inventory"));
        break;
    case ActionKind::disable_checkpoints: outcome = provider->disable_checkpoints(*vm); break;
    case ActionKind::clear_memory_state:
        outcome = cp != nullptr ? provider->clear_memory_state(*vm, *cp)
                                : Result<void>(fail(ErrorCode::internal, "checkpoint not in inventory"));
        break;
    case ActionKind::encrypt_memory:
    case ActionKind::wipe_memory:
    case ActionKind::wipe_orphan:
    case ActionKind::encrypt_orphan:
        r.outcome = Outcome::skipped;
        r.detail = "not yet supported: memory-dump actions are planned but not carried out by "
                   "this version";
        return r;
    }
    if (!outcome) {
        r.outcome = Outcome::failed;
        r.detail = outcome.error().message;
        log::error(r.detail);
        return r;
    }
    // Counted as done only once verification sees the effect.
    r.outcome = Outcome::done;
    r.detail = "accepted by the provider";
    return r;
}

void Reconciler::verify(PassResult& pass, PassScope scope) {
    Inventory after = collect();
    for (const auto& host : after.hosts) {
        const HostInventory* before = pass.inventory.host(host.provider);
        // A provider that was already down is reported once, from the first collection.
        if (!host.complete && host.error && before != nullptr && before->complete) {
            pass.provider_errors.push_back(host.error->with_context("after acting"));
        }
    }
    for (auto& r : pass.results) {
        if (r.outcome != Outcome::done) {
            continue;
        }
        const HostInventory* host = after.host(r.action.provider);
        if (host == nullptr || !host->complete) {
            r.outcome = Outcome::not_verified;
            r.detail = "the provider could not be read again to confirm the effect";
            continue;
        }
        const Vm* vm = find_vm(*host, r.action.vm_id);
        bool seen = false;
        switch (r.action.kind) {
        case ActionKind::delete_checkpoint:
            seen = vm == nullptr || find_checkpoint(*vm, r.action.checkpoint_id) == nullptr;
            break;
        case ActionKind::disable_checkpoints:
            seen = vm != nullptr && vm->checkpoint_setting == CheckpointSetting::disabled;
            break;
        case ActionKind::clear_memory_state: {
            const Checkpoint* cp =
                vm == nullptr ? nullptr : find_checkpoint(*vm, r.action.checkpoint_id);
            seen = cp == nullptr || cp->memory == MemoryKind::none;
            break;
        }
        default: break;
        }
        if (seen) {
            r.detail = "verified: effect seen on re-collection";
        } else {
            r.outcome = Outcome::not_verified;
            r.detail = "the provider accepted the action but the effect is not visible";
            log::error("provider " + r.action.provider + ": " + std::string(policies::to_string(r.action.kind)) +
                       " on " + r.action.vm + " " + r.action.checkpoint + ": " + r.detail);
        }
    }
    pass.after = policies::evaluate(after, policies_for(scope), config_.exemptions, pass.now);
}

} // namespace snapgov::daemon
