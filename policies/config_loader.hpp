#pragma once
/// Loading the policy file: the single place that reads, expands and validates a config.
/// Every problem is reported as `FILE:LINE:COL: error: message` (or `warning:`), with the
/// offending line quoted, and all problems of a file are reported at once. Unknown keys are
/// warnings; type errors, missing required keys and dangling references are errors. Each
/// provider entry's own keys are read and checked by its type's factory. Nothing here
/// connects to a hypervisor; files the config names are checked (core/checked_file.hpp:
/// there, a regular file, readable, bounded; secrets owned by root or this user, mode 0600)
/// but not read.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config_file.hpp"
#include "core/error.hpp"
#include "policies/config.hpp"
#include "providers/registry.hpp"

namespace snapgov::policies {

/// One problem found in a file (see core/config_file.hpp).
using Diagnostic = snapgov::Diagnostic;

/// A configuration that passed validation, with the warnings found on the way.
struct LoadedConfig {
    Config config;
    std::vector<Diagnostic> warnings;
};

/// Checks of values that need a layer above policies/ (which may not include dumps/), handed
/// in by the caller. Each returns what is wrong with the value, or "" when nothing is; the
/// loader reports it at the value's position. A check left empty is not made.
struct LoadChecks {
    /// One entry of `memory_dumps.recipients` (engine::load_config parses it as an age
    /// X25519 recipient). Without it only the `age1` prefix is checked.
    std::function<std::string(const std::string&)> recipient;
};

/// Reads and validates a policy file; `registry` knows the provider types and parses their
/// settings. On failure the `config` error's message holds every diagnostic (errors and
/// warnings), one per line, each error followed by the quoted source line. A config returned
/// needs no further check: every provider spec has passed its factory's validation.
[[nodiscard]] Result<LoadedConfig> load_config_file(const std::string& path,
                                                    const providers::ProviderRegistry& registry,
                                                    const LoadChecks& checks = {});

/// The same for YAML text; `name` stands for the file in messages and gives the folder that
/// `${CONFIG_DIR}` stands for.
[[nodiscard]] Result<LoadedConfig> load_config_string(std::string_view yaml,
                                                      const std::string& name,
                                                      const providers::ProviderRegistry& registry,
                                                      const LoadChecks& checks = {});

} // namespace snapgov::policies
