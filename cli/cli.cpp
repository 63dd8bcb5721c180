#include "cli/cli.hpp"

#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands/command.hpp"
#include "core/log.hpp"
#include "providers/builtin.hpp"

#ifndef SNAPGOV_VERSION
#define SNAPGOV_VERSION "0.0.0"
#endif

namespace snapgov::cli {
namespace {

int run(int argc, char** argv) {
    CLI::App app{"snapgov: governs virtual-machine checkpoints (snapshots): finds them through "
                 "hypervisor providers, enforces YAML policies, and records what it did.\n"
                 "Exit codes: 0 compliant, 1 violations found or remaining, 2 usage, "
                 "configuration or runtime error."};
    app.set_version_flag("--version", std::string("snapgov ") + SNAPGOV_VERSION);
    app.require_subcommand(1);
    app.fallthrough(); // global options may follow the subcommand
    std::string log_level = "info";
    app.add_option("--log-level", log_level, "lowest log level printed to stderr")
        ->check(CLI::IsMember({"debug", "info", "warning", "error"}))
        ->capture_default_str();

    // One line per command, in the order `--help` lists them.
    std::vector<std::unique_ptr<Command>> commands;
    commands.push_back(make_policy_command(app));
    commands.push_back(make_inventory_command(app));
    commands.push_back(make_plan_command(app));
    commands.push_back(make_enforce_command(app));
    commands.push_back(make_daemon_command(app));
    commands.push_back(make_status_command(app));
    commands.push_back(make_dump_command(app));

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        (void)app.exit(e);
        return kError;
    }

    log::set_level(log_level == "debug"     ? log::Level::debug
                   : log_level == "warning" ? log::Level::warning
                   : log_level == "error"   ? log::Level::error
                                            : log::Level::info);
    auto registry = providers::builtin_registry();
    if (!registry) {
        std::cerr << "snapgov: " << registry.error().message << "\n";
        return kError;
    }
    const Context context{
        std::make_shared<const providers::ProviderRegistry>(std::move(*registry))};
    for (const auto& command : commands) {
        if (command->selected()) {
            return command->run(context);
        }
    }
    return kError;
}

} // namespace

int run_cli(int argc, char** argv) noexcept {
    // Modules return errors as values; anything thrown past them is a bug, reported as a
    // runtime error rather than an abort.
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "snapgov: internal error: " << e.what() << "\n";
    } catch (...) {
        std::cerr << "snapgov: internal error\n";
    }
    return kError;
}

} // namespace snapgov::cli
