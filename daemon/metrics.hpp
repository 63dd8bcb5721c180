#pragma once
/// The daemon's metrics in the Prometheus text exposition format (version 0.0.4). Label
/// cardinality is bounded by configuration: providers, policies, action kinds and outcomes,
/// never VM or checkpoint names.

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "engine/observer.hpp"

namespace snapgov::daemon {

/// An observer of the engine's passes that keeps the counters and gauges. Thread-safe: the
/// engine calls it on the pass's thread, the metrics endpoint renders on the loop's.
class Metrics final : public engine::PassObserver {
public:
    [[nodiscard]] std::string_view name() const override { return "metrics"; }

    /// Records one finished pass: counters grow, gauges take the pass's values (its scope,
    /// duration and provider health included).
    [[nodiscard]] Result<void> on_pass_end(const engine::PassResult& pass) override;

    /// The whole exposition, ending in a newline.
    [[nodiscard]] std::string render() const;

private:
    using Labels = std::vector<std::pair<std::string, std::string>>;

    mutable std::mutex mutex_;

    std::map<Labels, double> provider_up_;
    std::map<Labels, double> checkpoints_;
    std::map<Labels, double> violations_;
    std::map<Labels, double> actions_total_;
    std::map<Labels, double> passes_total_;
    std::vector<double> bucket_counts_ = std::vector<double>(kBuckets.size(), 0);
    double duration_sum_ = 0;
    double duration_count_ = 0;
    double last_pass_timestamp_ = 0;
    double dump_operations_unsettled_ = 0;

    static constexpr std::array<double, 9> kBuckets = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
};

} // namespace snapgov::daemon
