// `snapgov status`: asks the running daemon over its control socket.
#include <cstdint>
#include <iostream>
#include <optional>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "cli/commands/command.hpp"
#include "cli/control_client.hpp"
#include "core/text.hpp"
#include "policies/config.hpp"

namespace snapgov::cli {
namespace {

namespace json = boost::json;

/// Reads the daemon's reply without trusting it: every field is checked for presence and
/// type, so a malformed or hostile reply is an error message, never an exception.
class Reply {
public:
    explicit Reply(const json::object& o) : o_(o) {}

    [[nodiscard]] std::optional<std::string> str(std::string_view key) const {
        const auto* v = o_.if_contains(key);
        if (v == nullptr || !v->is_string()) {
            missing(key);
            return std::nullopt;
        }
        return std::string(v->get_string());
    }
    [[nodiscard]] std::optional<std::int64_t> num(std::string_view key) const {
        const auto* v = o_.if_contains(key);
        if (v != nullptr && v->is_int64()) {
            return v->get_int64();
        }
        if (v != nullptr && v->is_uint64() && v->get_uint64() <= INT64_MAX) {
            return static_cast<std::int64_t>(v->get_uint64());
        }
        missing(key);
        return std::nullopt;
    }
    [[nodiscard]] std::optional<bool> flag(std::string_view key) const {
        const auto* v = o_.if_contains(key);
        if (v == nullptr || !v->is_bool()) {
            missing(key);
            return std::nullopt;
        }
        return v->get_bool();
    }
    [[nodiscard]] const json::value* find(std::string_view key) const {
        return o_.if_contains(key);
    }
    /// The first field that was missing or of the wrong type, empty if none.
    [[nodiscard]] const std::string& problem() const { return problem_; }

private:
    void missing(std::string_view key) const {
        if (problem_.empty()) {
            problem_ = "missing or mistyped field '" + std::string(key) + "'";
        }
    }

    const json::object& o_;
    mutable std::string problem_;
};

/// The text form of a status reply, or nullopt (with `why`) when it is malformed.
/// One line for a pass object of the reply; false (and `why`) if it is malformed.
bool pass_text(const std::string& label, const json::value& value, std::string& out,
               std::string& why) {
    if (!value.is_object()) {
        why = "'" + label + "' is not an object";
        return false;
    }
    const Reply l(value.get_object());
    const auto time = l.str("time");
    const auto scope = l.str("scope");
    const auto vms = l.num("vms");
    const auto cps = l.num("checkpoints");
    const auto violations = l.num("violations");
    const auto done = l.num("actions_done");
    if (!time || !scope || !vms || !cps || !violations || !done) {
        why = label + ": " + l.problem();
        return false;
    }
    out += "  " + label + ": " + escape_text(*time) + " (" + escape_text(*scope) + "), " +
           std::to_string(*vms) + " VMs, " + std::to_string(*cps) + " checkpoints seen, " +
           std::to_string(*done) + " actions done, " + std::to_string(*violations) +
           " violations remain\n";
    return true;
}

std::optional<std::string> status_text(const json::object& s, std::string& why) {
    const Reply r(s);
    std::string out = "snapgov daemon: ";
    const auto ready = r.flag("ready");
    const auto config = r.str("config");
    const auto hash = r.str("config_hash");
    const auto passes = r.num("passes");
    const auto* providers = r.find("providers");
    const auto* last = r.find("last_pass");
    if (!ready || !config || !hash || !passes || providers == nullptr || !providers->is_array() ||
        last == nullptr) {
        why = r.problem().empty() ? "missing 'providers' or 'last_pass'" : r.problem();
        return std::nullopt;
    }
    out += *ready ? "ready" : "starting (no complete pass yet)";
    out +=
        ", policy " + escape_text(*config) + " (sha256 " + escape_text(hash->substr(0, 12)) + ")\n";
    for (const auto& p : providers->get_array()) {
        if (!p.is_object()) {
            why = "a provider entry is not an object";
            return std::nullopt;
        }
        const Reply pr(p.get_object());
        const auto name = pr.str("name");
        const auto type = pr.str("type");
        const auto up = pr.flag("up");
        if (!name || !type || !up) {
            why = "provider: " + pr.problem();
            return std::nullopt;
        }
        out += "  provider " + escape_text(*name) + " (" + escape_text(*type) +
               "): " + (*up ? "up" : "DOWN");
        if (const auto* e = pr.find("error"); e != nullptr && e->is_string()) {
            out += ": " + escape_text(e->get_string());
        }
        out += "\n";
    }
    // The last pass, then the last full pass when the last one was a fast deny pass: their
    // counts differ (a deny pass looks only at VMs under `checkpoints: deny`).
    if (last->is_null()) {
        out += "  no pass finished yet\n";
    } else if (!pass_text("last pass", *last, out, why)) {
        return std::nullopt;
    } else if (const auto* full = r.find("last_full_pass");
               full != nullptr && !full->is_null() && *full != *last &&
               !pass_text("last full pass", *full, out, why)) {
        return std::nullopt;
    }
    // Absent from an older daemon's reply: then nothing is said.
    if (const auto unsettled = r.find("dump_operations_unsettled") != nullptr
                                   ? r.num("dump_operations_unsettled")
                                   : std::nullopt;
        unsettled && *unsettled > 0) {
        const auto* cmd = r.find("settle");
        out += "  dump operations that need attention: " + std::to_string(*unsettled) + ": run " +
               (cmd != nullptr && cmd->is_string() ? escape_text(cmd->get_string())
                                                   : std::string("snapgov dump recover --list")) +
               "\n";
    }
    if (const auto* m = r.find("metrics"); m != nullptr && m->is_string()) {
        out += "  metrics: " + escape_text(m->get_string()) + "\n";
    }
    out += "  passes since start: " + std::to_string(*passes) + "\n";
    return out;
}

class StatusCommand final : public Command {
public:
    explicit StatusCommand(CLI::App& app) {
        cmd_ = app.add_subcommand(
            "status", "ask the running daemon over its control socket; exit code of its last pass");
        cmd_->add_option("-c,--config", config_, "policy file (to find the control socket)");
        cmd_->add_option("--socket", socket_, "control socket path")
            ->excludes(cmd_->get_option("--config"));
        add_format_option(*cmd_, format_);
    }

    [[nodiscard]] bool selected() const override { return cmd_->parsed(); }

    [[nodiscard]] int run(const Context& context) override {
        std::string socket = socket_;
        if (socket.empty()) {
            if (config_.empty()) {
                socket = policies::DaemonConfig{}.control_socket;
            } else {
                const auto loaded = load(config_, *context.registry);
                if (!loaded) {
                    return kError;
                }
                socket = loaded->config->daemon.control_socket;
            }
        }
        auto reply = control_request(socket, R"({"command":"status"})", std::chrono::seconds(10));
        if (!reply) {
            std::cerr << "snapgov status: " << reply.error().message << "\n";
            return kError;
        }
        boost::system::error_code ec;
        const json::value parsed = json::parse(*reply, ec);
        if (ec || !parsed.is_object()) {
            std::cerr << "snapgov status: malformed reply from the daemon at " << socket
                      << ": not a JSON object\n";
            return kError;
        }
        const json::object& status = parsed.get_object();
        const Reply r(status);
        if (const auto ok = r.flag("ok"); !ok || !*ok) {
            const auto* err = r.find("error");
            std::cerr << "snapgov status: "
                      << (err != nullptr && err->is_string() ? escape_text(err->get_string())
                                                             : std::string("request failed"))
                      << "\n";
            return kError;
        }
        std::string why;
        const auto text = status_text(status, why);
        if (!text) {
            std::cerr << "snapgov status: malformed reply from the daemon at " << socket << ": "
                      << why << "\n";
            return kError;
        }
        print(format_ == "json" ? *reply + "\n" : *text);
        const auto& last = *status.if_contains("last_pass");
        if (last.is_null()) {
            return kError;
        }
        const auto code = Reply(last.get_object()).num("exit_code");
        return code && *code >= 0 && *code <= 2 ? static_cast<int>(*code) : kError;
    }

private:
    CLI::App* cmd_ = nullptr;
    std::string config_;
    std::string socket_;
    std::string format_ = "text";
};

} // namespace

std::unique_ptr<Command> make_status_command(CLI::App& app) {
    return std::make_unique<StatusCommand>(app);
}

} // namespace snapgov::cli
