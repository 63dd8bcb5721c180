// `snapgov plan -c FILE`: findings and the actions enforce would take; acts on nothing.
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
        add_config_option(*cmd_, config_);
        add_format_option(*cmd_, format_);
        add_now_option(*cmd_, now_);
    }

    [[nodiscard]] bool selected() const override { return cmd_->parsed(); }

    [[nodiscard]] int run(const Context& context) override {
        const auto now = resolve_now(now_);
        const auto loaded = now ? load(config_, *context.registry) : std::nullopt;
        if (!loaded) {
            return kError;
        }
        engine::Engine engine(loaded->config, context.registry, {.config_sha256 = loaded->sha256});
        const engine::PassResult pass = engine.plan(*now);
        for (const auto& e : pass.errors) {
            log::error(e.message);
        }
        print(format_ == "json" ? to_json_text(plan_json(pass))
                                : plan_text(pass, engine.config(), output_width()));
        return pass.exit_code();
    }

private:
    CLI::App* cmd_ = nullptr;
    std::string config_;
    std::string format_ = "text";
    std::string now_;
};

} // namespace

std::unique_ptr<Command> make_plan_command(CLI::App& app) {
    return std::make_unique<PlanCommand>(app);
}

} // namespace snapgov::cli
