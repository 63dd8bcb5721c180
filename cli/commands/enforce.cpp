// `snapgov enforce -c FILE --once [--dry-run]`: one enforcing pass, for cron.
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands/command.hpp"
#include "cli/render/report.hpp"
#include "core/log.hpp"
#include "engine/engine.hpp"
#include "evidence/recorder.hpp"

namespace snapgov::cli {
namespace {

class EnforceCommand final : public Command {
public:
    explicit EnforceCommand(CLI::App& app) {
        cmd_ = app.add_subcommand(
            "enforce", "one enforcing pass (for cron): act, verify, report what remains");
        options_.add_to(*cmd_);
        cmd_->add_flag("--once", once_, "run a single pass and exit (required)");
        cmd_->add_flag("--dry-run", dry_run_, "plan and report, but carry out nothing");
    }

    [[nodiscard]] bool selected() const override { return cmd_->parsed(); }

    [[nodiscard]] int run(const Context& context) override {
        if (!once_) {
            std::cerr << "snapgov enforce: add --once to run a single pass (for a cron job); for "
                         "continuous enforcement run 'snapgov daemon -c FILE'\n";
            return kError;
        }
        const auto run = prepare(options_, *context.registry);
        if (!run) {
            return kError;
        }
        engine::Engine engine(run->loaded.config, context.registry,
                              {.config_sha256 = run->loaded.sha256});
        // Evidence of every pass (docs/evidence.md); it gates the actions: fail closed.
        engine.add_observer(evidence::make_recorder(run->loaded.config));
        engine::PassOptions options;
        options.dry_run = dry_run_;
        // The evidence ledger commits the pass's end while the report is written; a commit
        // that fails makes the exit code 2 like any error of the pass.
        options.settle_later = true;
        const engine::PassResult pass = engine.enforce(run->now, options);
        for (const auto& e : pass.errors) {
            log::error(e.message);
        }
        if (options_.json()) {
            write_json(stdout, enforce_json(pass));
        } else {
            print(enforce_text(pass, engine.config(), output_width()));
        }
        return engine.settle().empty() ? pass.exit_code() : kError;
    }

private:
    CLI::App* cmd_ = nullptr;
    PassCommandOptions options_;
    bool once_ = false;
    bool dry_run_ = false;
};

} // namespace

std::unique_ptr<Command> make_enforce_command(CLI::App& app) {
    return std::make_unique<EnforceCommand>(app);
}

} // namespace snapgov::cli
