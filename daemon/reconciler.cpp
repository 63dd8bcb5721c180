#include "daemon/reconciler.hpp"

#include <algorithm>

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

/// One configured provider and, once connected, its instance.
struct Reconciler::Slot {
    ProviderSpec spec;
    std::unique_ptr<providers::Provider> provider;
};

Reconciler::Reconciler(const policies::Config& config, const providers::ProviderRegistry& registry)
    : config_(config), registry_(registry) {
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

Inventory Reconciler::collect() {
    Inventory inventory;
    for (auto& s : slots_) {
        HostInventory failed_host;
        failed_host.provider = s->spec.name;
        failed_host.type = s->spec.type;
        failed_host.endpoint = s->spec.type == "hyperv" ? s->spec.endpoint : s->spec.uri;
        if (!s->provider) {
            auto created = registry_.create(s->spec);
            if (!created) {
                failed_host.error = created.error();
                inventory.hosts.push_back(std::move(failed_host));
                continue;
            }
            s->provider = std::move(*created);
        }
        auto host = s->provider->collect();
        if (!host) {
            failed_host.error = host.error();
            inventory.hosts.push_back(std::move(failed_host));
            continue;
        }
        inventory.hosts.push_back(std::move(*host));
    }
    return inventory;
}

PassResult Reconciler::plan(TimePoint now) {
    PassResult pass;
    pass.now = now;
    pass.inventory = collect();
    for (const auto& host : pass.inventory.hosts) {
        if (!host.complete && host.error) {
            pass.provider_errors.push_back(*host.error);
        }
    }
    pass.plan = policies::evaluate(pass.inventory, config_.policies, config_.exemptions, now);
    return pass;
}

PassResult Reconciler::enforce(TimePoint now, bool dry_run) {
    PassResult pass = plan(now);
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
        } else if (attempted >= cap) {
            r.outcome = Outcome::skipped;
            r.detail = "blast-radius cap reached (safety.max_actions_per_run = " +
                       std::to_string(cap) + ")";
        } else if (dry_run) {
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
        verify(pass);
    }
    return pass;
}

ActionResult Reconciler::execute(const PlannedAction& action, const Inventory& inventory) {
    ActionResult r;
    r.action = action;
    Slot* s = slot(action.provider);
    const HostInventory* host = inventory.host(action.provider);
    const Vm* vm = host != nullptr ? find_vm(*host, action.vm_id) : nullptr;
    if (s == nullptr || !s->provider || vm == nullptr) {
        r.outcome = Outcome::failed;
        r.detail = "internal error: the action names an object the inventory does not hold";
        return r;
    }
    const Checkpoint* cp =
        action.checkpoint_id.empty() ? nullptr : find_checkpoint(*vm, action.checkpoint_id);
    Result<void> outcome;
    switch (action.kind) {
    case ActionKind::delete_checkpoint:
        outcome = cp != nullptr ? s->provider->delete_checkpoint(*vm, *cp)
                                : Result<void>(fail(ErrorCode::internal, "checkpoint not in inventory"));
        break;
    case ActionKind::disable_checkpoints: outcome = s->provider->disable_checkpoints(*vm); break;
    case ActionKind::clear_memory_state:
        outcome = cp != nullptr ? s->provider->clear_memory_state(*vm, *cp)
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

void Reconciler::verify(PassResult& pass) {
    Inventory after = collect();
    for (const auto& host : after.hosts) {
        if (!host.complete && host.error) {
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
    pass.after = policies::evaluate(after, config_.policies, config_.exemptions, pass.now);
}

} // namespace snapgov::daemon
