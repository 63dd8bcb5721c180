#pragma once
/// The engine's providers: one instance per configured provider, connected lazily on first
/// use and kept between passes (the libvirt test driver's state lives in its connection).

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/inventory.hpp"
#include "core/time.hpp"
#include "engine/pass.hpp"
#include "providers/registry.hpp"

namespace snapgov::engine {

/// Collects every configured provider concurrently, each on a thread of its own, for as long
/// as it shows signs of life (see providers::Heartbeat): connected within its
/// `connect_timeout`, then an answer at least every `read_timeout`, however long the whole
/// collection takes. A provider that fails is retried with exponential
/// backoff (1 s doubling, at most `max_backoff`). A call that stalls is
/// abandoned, not joined: its thread owns what it uses (the provider instance, the registry,
/// the event sink), so it may safely outlive the pool. Not thread-safe: one pass at a time.
class ProviderPool {
public:
    /// `registry` is shared with collection threads, which may outlive the pool. Providers are
    /// created for `use` (a provider created for collections only does not watch).
    ProviderPool(std::vector<providers::ProviderSpec> specs,
                 std::shared_ptr<const providers::ProviderRegistry> registry, Seconds max_backoff,
                 providers::ProviderUse use = {});
    ~ProviderPool();
    ProviderPool(const ProviderPool&) = delete;
    ProviderPool& operator=(const ProviderPool&) = delete;

    /// Called (on a provider's thread) with provider and VM names when a provider reports a
    /// VM event. Set before the first collection: providers subscribe when they connect.
    using EventSink = std::function<void(const std::string& provider, const std::string& vm)>;
    void set_event_sink(EventSink sink) { event_sink_ = std::move(sink); }

    /// Collects every provider, in config order. A provider that fails, times out or is
    /// backing off is present with `complete = false` and its error; the others are
    /// unaffected.
    [[nodiscard]] Inventory collect(const providers::CollectScope& scope = {});

    /// The connected provider named `name`, or nullptr (unknown, not connected, or a call of
    /// an earlier collection still running on it).
    [[nodiscard]] providers::Provider* provider(std::string_view name) const;

    /// Health of every provider after the last collection, in config order.
    [[nodiscard]] std::vector<ProviderHealth> health() const;

    /// Collection threads of this process still running. Once every pool is gone, these are
    /// calls a collection gave up on (a provider that stopped answering): they cannot be
    /// joined, and a normal exit would tear the libraries they are inside (libvirt, libkrb5)
    /// down under them, so the process then ends without that teardown (cli/main.cpp).
    [[nodiscard]] static int running_calls();

private:
    struct Slot;

    std::shared_ptr<const providers::ProviderRegistry> registry_;
    Seconds max_backoff_;
    providers::ProviderUse use_;
    EventSink event_sink_;
    std::vector<std::unique_ptr<Slot>> slots_;
};

} // namespace snapgov::engine
