#include "engine/provider_pool.hpp"

#include <algorithm>
#include <atomic>
#include <future>
#include <optional>
#include <system_error>
#include <thread>

#include "core/log.hpp"

namespace snapgov::engine {
namespace {

/// Collection threads started and not yet ended, in the whole process.
std::atomic<int> running_collections{0};

/// The most a connect may take. Opening a connection can include reading (libvirt's test
/// driver loads its whole host file when it opens, 10 s for 100,000 checkpoints) and gives no
/// sign of life meanwhile, so it gets the read timeout on top of the connect timeout: the
/// bound the whole collection had before answers were counted.
Seconds connect_limit(const providers::ProviderSpec& spec) {
    return spec.connect_timeout + spec.read_timeout;
}

/// Waits for `result` as long as the collection shows signs of life: connected within
/// connect_limit(), then an answer from the hypervisor at least every `read_timeout`. No
/// bound on the whole: a large host that keeps answering is never cut off. nullopt when the
/// result is ready; otherwise what stalled.
std::optional<std::string> wait_alive(const std::future<Result<HostInventory>>& result,
                                      const providers::Heartbeat& heartbeat,
                                      const providers::ProviderSpec& spec) {
    // Each round ends with the result, or with a beat newer than the one it waited from
    // (then it waits again), or with a stall.
    for (;;) {
        const bool connecting = heartbeat.connecting();
        const Seconds limit = connecting ? connect_limit(spec) : spec.read_timeout;
        const auto due = heartbeat.last() + limit;
        if (result.wait_until(due) == std::future_status::ready) {
            return std::nullopt;
        }
        const bool still_connecting = heartbeat.connecting();
        const Seconds now_limit = still_connecting ? connect_limit(spec) : spec.read_timeout;
        if (std::chrono::steady_clock::now() >= heartbeat.last() + now_limit) {
            return still_connecting ? "not connected within " + format_duration(now_limit) +
                                          " (connect_timeout + read_timeout)"
                                    : "no answer within " + format_duration(now_limit) +
                                          " (read_timeout: the host stopped answering)";
        }
    }
}

} // namespace

/// One configured provider: its instance once connected, and its health.
struct ProviderPool::Slot {
    /// A provider instance, shared with the collection thread that uses it.
    struct Holder {
        std::unique_ptr<providers::Provider> provider;
    };

    providers::ProviderSpec spec;
    std::shared_ptr<Holder> holder = std::make_shared<Holder>();
    /// True while a collection thread runs; the provider is not touched meanwhile.
    std::shared_ptr<std::atomic<bool>> busy = std::make_shared<std::atomic<bool>>(false);
    /// The collection's signs of life, shared with its thread and the provider instance.
    std::shared_ptr<providers::Heartbeat> heartbeat = std::make_shared<providers::Heartbeat>();
    unsigned failures = 0;
    std::chrono::steady_clock::time_point retry_at{};
    std::string error;
    bool up = false;
};

ProviderPool::ProviderPool(std::vector<providers::ProviderSpec> specs,
                           std::shared_ptr<const providers::ProviderRegistry> registry,
                           Seconds max_backoff, providers::ProviderUse use)
    : registry_(std::move(registry)), max_backoff_(max_backoff), use_(use) {
    for (auto& spec : specs) {
        auto s = std::make_unique<Slot>();
        s->spec = std::move(spec);
        slots_.push_back(std::move(s));
    }
}

ProviderPool::~ProviderPool() = default;

providers::Provider* ProviderPool::provider(std::string_view name) const {
    const auto it = std::find_if(slots_.begin(), slots_.end(),
                                 [&](const auto& s) { return s->spec.name == name; });
    if (it == slots_.end() || (*it)->busy->load()) {
        return nullptr;
    }
    return (*it)->holder->provider.get();
}

std::vector<ProviderHealth> ProviderPool::health() const {
    std::vector<ProviderHealth> out;
    out.reserve(slots_.size());
    for (const auto& s : slots_) {
        out.push_back({s->spec.name, s->spec.type, s->up, s->error, s->failures});
    }
    return out;
}

int ProviderPool::running_calls() {
    return running_collections.load();
}

Inventory ProviderPool::collect(const providers::CollectScope& scope) {
    using Clock = std::chrono::steady_clock;
    struct Job {
        std::future<Result<HostInventory>> result;
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
                                                        format_duration(wait) +
                                                        " (last error: " + s.error + ")"};
            continue;
        }
        std::promise<Result<HostInventory>> promise;
        Job job{promise.get_future()};
        s.busy->store(true);
        s.heartbeat->start(!s.holder->provider);
        // The thread owns everything it touches: it may outlive this pool if its call hangs.
        auto work = [registry = registry_, use = use_, spec = s.spec, holder = s.holder,
                     busy = s.busy, heartbeat = s.heartbeat, sink = event_sink_, scope,
                     promise = std::move(promise)]() mutable {
            Result<HostInventory> result = fail(ErrorCode::internal, "not collected");
            // Providers return errors as values; an exception here is a bug, and on a
            // detached thread it would end the process.
            try {
                if (!holder->provider) {
                    auto created = registry->create(spec, use);
                    if (created) {
                        holder->provider = std::move(*created);
                        holder->provider->set_heartbeat(heartbeat);
                        heartbeat->connected();
                        if (sink) {
                            auto watching = holder->provider->watch(
                                [sink, name = spec.name](const std::string& vm) {
                                    sink(name, vm);
                                });
                            if (!watching && watching.error().code != ErrorCode::unsupported) {
                                log::warning(watching.error().message);
                            }
                        }
                    } else {
                        result = tl::unexpected(created.error());
                    }
                }
                if (holder->provider) {
                    result = holder->provider->collect(scope);
                }
            } catch (const std::exception& e) {
                result = fail(ErrorCode::internal,
                              "provider " + spec.name + ": internal error: " + e.what());
            }
            // Released before the result is published: whoever sees the result may use
            // the provider at once, and this thread no longer touches it. Its references go
            // too: else the last one could be this thread's, and the provider (with its
            // libraries' state: GSSAPI, libvirt) would be destroyed here while the process
            // that has its result exits and tears those libraries down (seen: an assertion
            // in libkrb5's mutex at the end of `snapgov plan`).
            busy->store(false);
            holder.reset();
            registry.reset();
            heartbeat.reset();
            sink = nullptr;
            promise.set_value(std::move(result));
            running_collections.fetch_sub(1);
        };
        running_collections.fetch_add(1);
        try {
            std::thread(std::move(work)).detach();
        } catch (const std::system_error& e) {
            running_collections.fetch_sub(1);
            s.busy->store(false);
            skipped[i] = Error{ErrorCode::internal,
                               label + ": cannot start a collection thread: " + e.what()};
            continue;
        }
        jobs[i] = std::move(job);
    }

    Inventory inventory;
    inventory.hosts.reserve(slots_.size());
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        Slot& s = *slots_[i];
        Result<HostInventory> result = fail(ErrorCode::internal, "not collected");
        if (skipped[i]) {
            result = tl::unexpected(*skipped[i]);
        } else if (const auto stall = wait_alive(jobs[i]->result, *s.heartbeat, s.spec)) {
            result = fail(ErrorCode::provider,
                          "provider " + s.spec.name + ": " + *stall + "; no action this pass");
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
            const auto backoff = std::min<Seconds>(
                max_backoff_, Seconds{std::int64_t{1} << std::min(s.failures - 1, 20u)});
            s.retry_at = Clock::now() + backoff;
        }
        s.up = false;
        s.error = result.error().message;
        HostInventory failed;
        failed.provider = s.spec.name;
        failed.type = s.spec.type;
        failed.endpoint = s.spec.endpoint();
        failed.error = result.error();
        inventory.hosts.push_back(std::move(failed));
    }
    return inventory;
}

} // namespace snapgov::engine
