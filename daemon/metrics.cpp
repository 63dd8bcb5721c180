#include "daemon/metrics.hpp"

#include <cmath>
#include <cstdio>

namespace snapgov::daemon {
namespace {

// Escapes a label value per the exposition format: backslash, double quote, newline.
std::string escape(const std::string& value) {
    std::string out;
    for (const char c : value) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

std::string number(double v) {
    if (std::isinf(v)) {
        return v > 0 ? "+Inf" : "-Inf";
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.15g", v);
    return buf;
}

template <class Map>
void family(std::string& out, const std::string& name, const std::string& type,
            const std::string& help, const Map& series) {
    out += "# HELP " + name + " " + help + "\n";
    out += "# TYPE " + name + " " + type + "\n";
    for (const auto& [labels, value] : series) {
        out += name;
        if (!labels.empty()) {
            out += '{';
            bool first = true;
            for (const auto& [k, v] : labels) {
                out += (first ? "" : ",") + k + "=\"" + escape(v) + "\"";
                first = false;
            }
            out += '}';
        }
        out += " " + number(value) + "\n";
    }
}

} // namespace

Result<void> Metrics::on_pass_end(const engine::PassResult& pass) {
    const std::lock_guard lock(mutex_);
    const std::string scope(engine::to_string(pass.scope));
    const double duration_seconds = pass.duration.count();
    provider_up_.clear();
    for (const auto& h : pass.health) {
        provider_up_[{{"provider", h.name}, {"type", h.type}}] = h.up ? 1 : 0;
    }
    // Gauges describe the world as last seen by a full pass; a deny pass sees only part of
    // the policies and would make them flap.
    if (scope == "full") {
        checkpoints_.clear();
        for (const auto& host : pass.inventory.hosts) {
            double n = 0;
            for (const auto& vm : host.vms) {
                n += static_cast<double>(vm.checkpoints.size());
            }
            checkpoints_[{{"provider", host.provider}}] = n;
        }
        violations_.clear();
        for (const auto& policy_finding : pass.remaining().findings) {
            if (!policy_finding.exempt) {
                violations_[{{"policy", policy_finding.policy},
                             {"provider", policy_finding.provider}}] += 1;
            }
        }
    }
    for (const auto& r : pass.results) {
        actions_total_[{{"kind", std::string(policies::to_string(r.action.kind))},
                        {"outcome", std::string(to_string(r.outcome))}}] += 1;
    }
    const int code = pass.exit_code();
    passes_total_[{{"result", code == 0   ? "compliant"
                              : code == 1 ? "violations"
                                          : "error"},
                   {"scope", std::string(scope)}}] += 1;
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
        if (duration_seconds <= kBuckets[i]) {
            bucket_counts_[i] += 1;
        }
    }
    duration_sum_ += duration_seconds;
    duration_count_ += 1;
    last_pass_timestamp_ = static_cast<double>(pass.now.time_since_epoch().count());
    if (pass.mode == engine::PassMode::enforce) { // only an enforcing pass runs recovery
        dump_operations_unsettled_ = static_cast<double>(pass.unsettled.size());
    }
    return {};
}

std::string Metrics::render() const {
    const std::lock_guard lock(mutex_);
    std::string out;
    family(out, "snapgov_build_info", "gauge", "Build information.",
           std::map<Labels, double>{{{{"version", SNAPGOV_VERSION}}, 1}});
    family(out, "snapgov_provider_up", "gauge", "1 if the provider's last collection was complete.",
           provider_up_);
    family(out, "snapgov_checkpoints", "gauge",
           "Checkpoints seen by the last full pass, before its actions.", checkpoints_);
    family(out, "snapgov_violations", "gauge",
           "Violations (not exempt) remaining after the last full pass.", violations_);
    family(out, "snapgov_actions_total", "counter", "Actions by kind and outcome.", actions_total_);
    family(out, "snapgov_passes_total", "counter", "Reconcile passes by scope and result.",
           passes_total_);
    out += "# HELP snapgov_pass_duration_seconds Wall time of a reconcile pass.\n";
    out += "# TYPE snapgov_pass_duration_seconds histogram\n";
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
        out += "snapgov_pass_duration_seconds_bucket{le=\"" + number(kBuckets[i]) + "\"} " +
               number(bucket_counts_[i]) + "\n";
    }
    out += "snapgov_pass_duration_seconds_bucket{le=\"+Inf\"} " + number(duration_count_) + "\n";
    out += "snapgov_pass_duration_seconds_sum " + number(duration_sum_) + "\n";
    out += "snapgov_pass_duration_seconds_count " + number(duration_count_) + "\n";
    family(out, "snapgov_last_pass_timestamp_seconds", "gauge",
           "Unix time of the last finished pass.",
           std::map<Labels, double>{{{}, last_pass_timestamp_}});
    family(out, "snapgov_dump_operations_unsettled", "gauge",
           "Interrupted dump operations recovery could not settle (snapgov dump recover --list).",
           std::map<Labels, double>{{{}, dump_operations_unsettled_}});
    return out;
}

} // namespace snapgov::daemon
