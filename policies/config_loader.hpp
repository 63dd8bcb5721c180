#pragma once
/// Loading the policy file: the single place that reads, expands and validates a config.
/// Every problem is reported as `FILE:LINE:COL: error: message` (or `warning:`), with the
/// offending line quoted, and all problems of a file are reported at once. Unknown keys are
/// warnings; type errors, missing required keys and dangling references are errors. Each
/// provider entry's own keys are read and checked by its type's factory. Nothing here
/// connects to a hypervisor or reads a file the config names.

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

/// Reads and validates a policy file; `registry` knows the provider types and parses their
/// settings. On failure the `config` error's message holds every diagnostic (errors and
/// warnings), one per line, each error followed by the quoted source line. A config returned
/// needs no further check: every provider spec has passed its factory's validation.
[[nodiscard]] Result<LoadedConfig> load_config_file(const std::string& path,
                                                    const providers::ProviderRegistry& registry);

/// The same for YAML text; `name` stands for the file in messages and gives the folder that
/// `${CONFIG_DIR}` stands for.
[[nodiscard]] Result<LoadedConfig> load_config_string(std::string_view yaml,
                                                      const std::string& name,
                                                      const providers::ProviderRegistry& registry);

} // namespace snapgov::policies
