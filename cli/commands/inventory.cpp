// `snapgov inventory -c FILE`: hosts, VMs, labels and checkpoints.
#include <algorithm>
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/commands/command.hpp"
#include "cli/render/report.hpp"
#include "core/log.hpp"
#include "engine/engine.hpp"

namespace snapgov::cli {
namespace {

class InventoryCommand final : public Command {
public:
    explicit InventoryCommand(CLI::App& app) {
        cmd_ = app.add_subcommand(
            "inventory", "list hosts, VMs, labels and checkpoints with their age and memory state");
        options_.add_to(*cmd_);
    }

    [[nodiscard]] bool selected() const override { return cmd_->parsed(); }

    [[nodiscard]] int run(const Context& context) override {
        const auto run = prepare(options_, *context.registry);
        if (!run) {
            return kError;
        }
        engine::EngineOptions options;
        options.collect_only = true;
        engine::Engine engine(run->loaded.config, context.registry, options);
        const Inventory inventory = engine.collect();
        if (options_.json()) {
            write_json(stdout, inventory_json(inventory, run->now));
        } else {
            print(inventory_text(inventory, run->now, output_width()));
        }
        bool failed = false;
        for (const auto& h : inventory.hosts) {
            if (!h.complete) {
                failed = true;
                if (h.error) {
                    log::error(h.error->message);
                }
            }
        }
        return failed ? kError : kOk;
    }

private:
    CLI::App* cmd_ = nullptr;
    PassCommandOptions options_;
};

} // namespace

std::unique_ptr<Command> make_inventory_command(CLI::App& app) {
    return std::make_unique<InventoryCommand>(app);
}

} // namespace snapgov::cli
