#pragma once
/// `snapgov dump encrypt|decrypt|wipe|scan|recover`: the command-line face of dumps/.
/// Kept apart from cli.cpp so the policy commands and the dump commands evolve separately;
/// run_cli() registers them with two lines.

#include <memory>

namespace CLI {
class App;
}

namespace snapgov::providers {
class ProviderRegistry;
}

namespace snapgov::daemon {

/// The default journal directory of dump operations (DESIGN.md: `state_dir`).
inline constexpr const char* kDefaultStateDir = "/var/lib/snapgov";

/// Registers the `dump` subcommand and its subcommands on `app` (which must outlive this
/// object), and runs the one the user chose. Exit codes: 0 success (`scan`: no unreferenced
/// dump), 1 `scan` found unreferenced dumps, 2 usage or runtime error. Errors go to stderr
/// and name the file and the fix; no key material is ever printed.
class DumpCli {
public:
    explicit DumpCli(CLI::App& app);
    ~DumpCli();
    DumpCli(const DumpCli&) = delete;
    DumpCli& operator=(const DumpCli&) = delete;

    /// True when the parsed command line chose `dump ...`.
    [[nodiscard]] bool selected() const;
    /// Runs the chosen subcommand; `registry` serves `dump scan -c`.
    [[nodiscard]] int run(const providers::ProviderRegistry& registry);

private:
    struct Options;
    std::unique_ptr<Options> o_;
};

} // namespace snapgov::daemon
