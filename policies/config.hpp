#pragma once
/// A whole snapgov configuration (the policy file), validated and typed.

#include <cstddef>
#include <string>
#include <vector>

#include "core/time.hpp"
#include "policies/policy.hpp"
#include "providers/provider_spec.hpp"

namespace snapgov::policies {

/// What to do with memory dumps that no checkpoint references.
enum class OrphanAction { report, encrypt, wipe };

/// `memory_dumps:`: who may decrypt dumps, where orphans are looked for, what to do with them.
struct MemoryDumpsConfig {
    std::vector<std::string> recipients; ///< age X25519 recipients (`age1...`)
    std::vector<std::string> scan_paths;
    OrphanAction orphans = OrphanAction::report;
};

/// `safety:`.
struct SafetyConfig {
    std::size_t max_actions_per_run = 20; ///< blast-radius cap for one pass
};

/// `evidence:`: the ledger of every enforcing pass (docs/evidence.md).
struct EvidenceConfig {
    bool enabled = true;
    std::string path;        ///< SQLite file; the loader defaults it to <state_dir>/evidence.db
    std::string signing_key; ///< Ed25519 private key (PEM, a secret file); empty: unsigned heads
    Seconds heartbeat{3600}; ///< identical passes are summarised at most this often
    std::string host_id;     ///< the chain's key; the loader defaults it to the hostname
};

/// `daemon:`: timers, control socket and metrics of `snapgov daemon`.
struct DaemonConfig {
    Seconds interval{300};
    Seconds deny_interval{10};
    std::string control_socket = "/run/snapgov/control.sock";
    std::string control_group;
    std::string metrics_listen = "127.0.0.1:9464";
};

/// The whole policy file, as policies::load_config_file() returns it.
struct Config {
    std::string path;                               ///< the file it was read from
    std::vector<providers::ProviderSpec> providers; ///< settings parsed and checked
    std::vector<Policy> policies;
    std::vector<Exemption> exemptions;
    MemoryDumpsConfig memory_dumps;
    SafetyConfig safety;
    EvidenceConfig evidence;
    std::string state_dir = "/var/lib/snapgov";
    DaemonConfig daemon;
};

/// `report`, `encrypt`, `wipe`.
[[nodiscard]] std::string_view to_string(OrphanAction action) noexcept;

} // namespace snapgov::policies
