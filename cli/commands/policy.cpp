// `snapgov policy check FILE`: validates a policy file without connecting anywhere.
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands/command.hpp"
#include "core/log.hpp"

namespace snapgov::cli {
namespace {

class PolicyCommand final : public Command {
public:
    explicit PolicyCommand(CLI::App& app) {
        policy_ = app.add_subcommand("policy", "work with policy files");
        policy_->require_subcommand(1);
        check_ = policy_->add_subcommand(
            "check", "validate a policy file without connecting anywhere; exit 0 valid, 2 invalid");
        check_->add_option("FILE", file_, "policy file (YAML)")->required();
        add_now_option(*check_, now_);
    }

    [[nodiscard]] bool selected() const override { return check_->parsed(); }

    [[nodiscard]] int run(const Context& context) override {
        const auto now = resolve_now(now_);
        if (!now) {
            return kError;
        }
        const auto loaded = load(file_, *context.registry);
        if (!loaded) {
            return kError;
        }
        const auto& c = *loaded->config;
        std::size_t expired = 0;
        for (const auto& e : c.exemptions) {
            if (!e.active(*now)) {
                ++expired;
                if (!log::enabled(log::Level::warning)) {
                    continue; // counted below; printed unless --log-level hides warnings
                }
                std::cerr << e.origin << ": warning: exemption for VM '" << e.vm << "' (policy "
                          << e.policy << ") expired at " << format_rfc3339(e.expires)
                          << "; it is ignored. Remove it or renew it with a new justification\n";
            }
        }
        print(file_ + ": valid: " + std::to_string(c.providers.size()) + " providers, " +
              std::to_string(c.policies.size()) + " policies, " +
              std::to_string(c.exemptions.size()) + " exemptions (" + std::to_string(expired) +
              " expired), " + std::to_string(loaded->warnings.size() + expired) + " warnings\n");
        return kOk;
    }

private:
    CLI::App* policy_ = nullptr;
    CLI::App* check_ = nullptr;
    std::string file_;
    std::string now_;
};

} // namespace

std::unique_ptr<Command> make_policy_command(CLI::App& app) {
    return std::make_unique<PolicyCommand>(app);
}

} // namespace snapgov::cli
