#pragma once
/// Loading a configuration for a pass: the one function every command and the daemon call.

#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "policies/config.hpp"
#include "policies/config_loader.hpp"
#include "providers/registry.hpp"

namespace snapgov::engine {

/// A configuration ready to run passes with: immutable and shared, so a daemon reload never
/// changes a pass in flight.
struct LoadedConfig {
    std::shared_ptr<const policies::Config> config;
    std::vector<policies::Diagnostic> warnings;
    std::string sha256; ///< hex SHA-256 of the bytes the config was parsed from
};

/// Reads `path` once, hashes its bytes, parses, expands and validates them (every provider
/// section by its own provider, through `registry`; every `memory_dumps.recipients` entry as an
/// age X25519 recipient, at its position). On failure the `config` error's message
/// holds every diagnostic with its FILE:LINE:COL.
[[nodiscard]] Result<LoadedConfig> load_config(const std::string& path,
                                               const providers::ProviderRegistry& registry);

} // namespace snapgov::engine
