#pragma once
/// What every `snapgov` command shares: the interface cli.cpp drives, and the helpers for
/// loading a policy file, reading `--now` and printing.

#include <memory>
#include <optional>
#include <string>

#include "core/time.hpp"
#include "engine/config.hpp"
#include "providers/registry.hpp"

namespace CLI {
class App;
}

namespace snapgov::cli {

/// Exit codes everywhere (docs/command-line.md).
inline constexpr int kOk = 0;         ///< compliant / success
inline constexpr int kViolations = 1; ///< violations found or remaining
inline constexpr int kError = 2;      ///< usage, configuration or runtime error

/// What a command may use when it runs.
struct Context {
    std::shared_ptr<const providers::ProviderRegistry> registry;
};

/// One subcommand of `snapgov`: it registers its options on construction, and runs when the
/// command line chose it. Adding a command is one file in cli/commands/ and one line in
/// cli.cpp.
class Command {
public:
    virtual ~Command() = default;
    /// True when the parsed command line chose this command.
    [[nodiscard]] virtual bool selected() const = 0;
    /// Runs it and returns the exit code. Prints results on stdout, errors on stderr.
    [[nodiscard]] virtual int run(const Context& context) = 0;
};

/// Writes `text` to stdout as it is.
void print(const std::string& text);

/// Loads the policy file with engine::load_config; prints the warnings, or the error, on
/// stderr. nullopt on failure.
[[nodiscard]] std::optional<engine::LoadedConfig> load(const std::string& path,
                                                       const providers::ProviderRegistry& registry);

/// `--now` parsed (the clock when empty); prints the error and returns nullopt when bad.
[[nodiscard]] std::optional<TimePoint> resolve_now(const std::string& text);

/// The options of the commands that run a pass (inventory, plan, enforce): `-c FILE`,
/// `--format text|json`, `--now RFC3339`.
struct PassCommandOptions {
    std::string config;
    std::string format = "text";
    std::string now;

    /// Registers the three options on `command`.
    void add_to(CLI::App& command);
    [[nodiscard]] bool json() const { return format == "json"; }
};

/// What such a command has once its options are read.
struct Prepared {
    engine::LoadedConfig loaded;
    TimePoint now{};
};

/// Reads `--now` and loads the policy file; prints what is wrong and returns nullopt.
[[nodiscard]] std::optional<Prepared> prepare(const PassCommandOptions& options,
                                              const providers::ProviderRegistry& registry);

/// `-c,--config FILE` (required).
void add_config_option(CLI::App& command, std::string& config);
/// `--format text|json`.
void add_format_option(CLI::App& command, std::string& format);
/// `--now RFC3339`.
void add_now_option(CLI::App& command, std::string& now);

/// The commands, one file each.
[[nodiscard]] std::unique_ptr<Command> make_policy_command(CLI::App& app);
[[nodiscard]] std::unique_ptr<Command> make_inventory_command(CLI::App& app);
[[nodiscard]] std::unique_ptr<Command> make_plan_command(CLI::App& app);
[[nodiscard]] std::unique_ptr<Command> make_enforce_command(CLI::App& app);
[[nodiscard]] std::unique_ptr<Command> make_daemon_command(CLI::App& app);
[[nodiscard]] std::unique_ptr<Command> make_status_command(CLI::App& app);
[[nodiscard]] std::unique_ptr<Command> make_dump_command(CLI::App& app);
[[nodiscard]] std::unique_ptr<Command> make_evidence_command(CLI::App& app);
#ifdef SNAPGOV_WITH_LIBVIRT
[[nodiscard]] std::unique_ptr<Command> make_checkpoint_command(CLI::App& app);
#endif

} // namespace snapgov::cli
