#include "engine/observer.hpp"

#include <exception>

#include "core/log.hpp"

namespace snapgov::engine {

void ObserverList::add(std::shared_ptr<PassObserver> observer) {
    if (observer) {
        observers_.push_back(std::move(observer));
    }
}

template <typename Hook> void ObserverList::each(std::string_view hook, Hook&& call) {
    for (const auto& o : observers_) {
        std::string failure;
        try {
            if (auto done = call(*o); !done) {
                failure = done.error().message;
            }
        } catch (const std::exception& e) {
            failure = e.what();
        } catch (...) {
            failure = "unknown exception";
        }
        if (!failure.empty()) {
            Error e{ErrorCode::internal, "observer " + std::string(o->name()) + " (" +
                                             std::string(hook) + "): " + failure};
            log::error(e.message);
            errors_.push_back(std::move(e));
            gate_closed_ = gate_closed_ || o->gates_actions();
        }
    }
}

void ObserverList::pass_start(const PassStart& start) {
    gate_closed_ = false;
    each("pass start", [&](PassObserver& o) { return o.on_pass_start(start); });
}

void ObserverList::collection(const HostInventory& host, CollectionPhase phase) {
    each("collection", [&](PassObserver& o) { return o.on_collection(host, phase); });
}

void ObserverList::plan(const policies::Plan& plan, const std::vector<GuardDecision>& decisions) {
    each("plan", [&](PassObserver& o) { return o.on_plan(plan, decisions); });
}

void ObserverList::dump_operation(const DumpOperation& operation) {
    each("dump operation", [&](PassObserver& o) { return o.on_dump_operation(operation); });
}

void ObserverList::action(const ActionResult& result) {
    each("action", [&](PassObserver& o) { return o.on_action(result); });
}

void ObserverList::pass_end(const PassResult& pass) {
    each("pass end", [&](PassObserver& o) { return o.on_pass_end(pass); });
}

void ObserverList::settle() {
    each("settle", [](PassObserver& o) { return o.settle(); });
}

std::vector<Error> ObserverList::take_errors() {
    auto out = std::move(errors_);
    errors_.clear();
    return out;
}

} // namespace snapgov::engine
