#pragma once
/// Loading the policy file. Every problem is reported as `FILE:LINE:COL: error: message`
/// (or `warning:`), with the offending line quoted, and all problems of a file are reported
/// at once. Unknown keys are warnings; type errors, missing required keys and dangling
/// references are errors. Nothing here connects to a hypervisor.

#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "policies/config.hpp"

namespace snapgov::policies {

/// One problem found in a file, with a 1-based position.
struct Diagnostic {
    enum class Severity { warning, error };
    Severity severity = Severity::error;
    std::string file;
    int line = 0;   ///< 1-based; 0 when the position is unknown
    int column = 0; ///< 1-based
    std::string message;

    /// `FILE:LINE:COL: error: message`.
    [[nodiscard]] std::string format() const;
};

/// A configuration that passed validation, with the warnings found on the way.
struct LoadedConfig {
    Config config;
    std::vector<Diagnostic> warnings;
};

/// Reads and validates a policy file. On failure the `config` error's message holds every
/// diagnostic (errors and warnings), one per line, each followed by the quoted source line.
[[nodiscard]] Result<LoadedConfig> load_config_file(const std::string& path);

/// The same for YAML text; `name` stands for the file in messages.
[[nodiscard]] Result<LoadedConfig> load_config_string(std::string_view yaml,
                                                      const std::string& name);

} // namespace snapgov::policies
