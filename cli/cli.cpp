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

// CLI11 says only "A subcommand is required" for `snapgov foo`: name the word it did not
// know and the commands it could have been. Returns false when the error is another one.
bool explain_missing_command(const CLI::App& app, int argc, char** argv) {
    const CLI::App* parent = &app;
    std::vector<std::string> chain; // the commands chosen so far: `policy`
    for (;;) {
        const auto chosen = parent->get_subcommands();
        if (chosen.empty()) {
            break;
        }
        parent = chosen.front();
        chain.push_back(parent->get_name());
    }
    if (parent->get_require_subcommand_min() == 0) {
        return false;
    }
    // The first word that is neither an option, an option's value nor a chosen command.
    std::string unknown;
    std::size_t matched = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string word = argv[i];
        if (word == "--log-level") {
            ++i;
            continue;
        }
        if (word.empty() || word.front() == '-') {
            continue;
        }
        if (matched < chain.size() && word == chain[matched]) {
            ++matched;
            continue;
        }
        unknown = word;
        break;
    }
    std::string names;
    for (const auto* command : parent->get_subcommands({})) {
        if (command->get_name() == unknown) {
            return false; // a known command: the error is about something else
        }
        names += (names.empty() ? "" : ", ") + command->get_name();
    }
    std::string prefix = "snapgov";
    for (const auto& name : chain) {
        prefix += " " + name;
    }
    std::cerr << prefix << ": "
              << (unknown.empty() ? std::string("a command is required")
                                  : "unknown command '" + unknown + "'")
              << "; the commands are: " << names << " (see " << prefix << " --help)\n";
    return true;
}

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
#ifdef SNAPGOV_WITH_LIBVIRT
    commands.push_back(make_checkpoint_command(app));
#endif
    commands.push_back(make_evidence_command(app));

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        if (!explain_missing_command(app, argc, argv)) {
            (void)app.exit(e);
        }
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
