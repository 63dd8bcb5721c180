// `snapgov plan -c FILE`: findings and the actions enforce would take; acts on nothing.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/commands/command.hpp"
#include "cli/render/report.hpp"
#include "core/log.hpp"
#include "engine/engine.hpp"

namespace snapgov::cli {
namespace {

class PlanCommand final : public Command {
public:
    explicit PlanCommand(CLI::App& app) {
        cmd_ = app.add_subcommand(
            "plan", "show findings and the actions enforce would take; acts on nothing");
        options_.add_to(*cmd_);
    }

    [[nodiscard]] bool selected() const override { return cmd_->parsed(); }

    [[nodiscard]] int run(const Context& context) override {
        const auto run = prepare(options_, *context.registry);
        if (!run) {
            return kError;
        }
        engine::Engine engine(run->loaded.config, context.registry,
                              {.config_sha256 = run->loaded.sha256, .collect_only = true});
        const engine::PassResult pass = engine.plan(run->now);
        for (const auto& e : pass.errors) {
            log::error(e.message);
        }
        if (options_.json()) {
            write_json(stdout, plan_json(pass));
        } else {
            print(plan_text(pass, engine.config(), output_width()));
        }
        return pass.exit_code();
    }

private:
    CLI::App* cmd_ = nullptr;
    PassCommandOptions options_;
};

} // namespace

std::unique_ptr<Command> make_plan_command(CLI::App& app) {
    return std::make_unique<PlanCommand>(app);
}

} // namespace snapgov::cli
