// `snapgov daemon -c FILE`: the service, in the foreground.
#include <CLI/CLI.hpp>

#include "cli/commands/command.hpp"
#include "core/log.hpp"
#include "daemon/daemon.hpp"

namespace snapgov::cli {
namespace {

class DaemonCommand final : public Command {
public:
    explicit DaemonCommand(CLI::App& app) {
        cmd_ = app.add_subcommand(
            "daemon", "run continuously in the foreground (systemd Type=notify): periodic and "
                      "event-driven passes, control socket, metrics");
        add_config_option(*cmd_, config_);
        cmd_->add_option("--log-format", log_format_,
                         "log line format on stderr (auto: journal under systemd, else text)")
            ->check(CLI::IsMember({"auto", "text", "journal", "json"}))
            ->capture_default_str();
    }

    [[nodiscard]] bool selected() const override { return cmd_->parsed(); }

    [[nodiscard]] int run(const Context& context) override {
        if (log_format_ == "json") {
            log::set_format(log::Format::json);
        } else if (log_format_ == "text") {
            log::set_format(log::Format::text);
        } else if (log_format_ == "journal") {
            log::set_format(log::Format::journal);
        }
        return daemon::run_daemon(config_, context.registry);
    }

private:
    CLI::App* cmd_ = nullptr;
    std::string config_;
    std::string log_format_ = "auto";
};

} // namespace

std::unique_ptr<Command> make_daemon_command(CLI::App& app) {
    return std::make_unique<DaemonCommand>(app);
}

} // namespace snapgov::cli
