#include "daemon/cli.hpp"

#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "core/log.hpp"
#include "core/time.hpp"
#include "daemon/control_client.hpp"
#include "daemon/daemon.hpp"
#include "daemon/dump_cli.hpp"
#include "daemon/reconciler.hpp"
#include "daemon/report.hpp"
#include "policies/config_loader.hpp"
#include "providers/builtin.hpp"

#ifndef SNAPGOV_VERSION
#define SNAPGOV_VERSION "0.0.0"
#endif

namespace snapgov::daemon {
namespace {

constexpr int kCompliant = 0;
constexpr int kErrorExit = 2;

/// Options shared by the commands that read a policy file.
struct CommonOptions {
    std::string config;
    std::string format = "text";
    std::string now;
    bool once = false;
    bool dry_run = false;
};

void add_config_option(CLI::App& cmd, CommonOptions& o) {
    cmd.add_option("-c,--config", o.config, "policy file (YAML)")->required();
}

void add_format_option(CLI::App& cmd, CommonOptions& o) {
    cmd.add_option("--format", o.format, "output format")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
}

void add_now_option(CLI::App& cmd, CommonOptions& o) {
    cmd.add_option("--now", o.now,
                   "evaluate as if the time were this RFC 3339 instant (default: the clock)");
}

void print(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
}

/// Loads the policy file and checks every provider entry against the built-in registry.
/// Warnings go to stderr; on failure the error text is printed and nullopt returned.
std::optional<policies::LoadedConfig> load(const std::string& path,
                                           const providers::ProviderRegistry& registry) {
    auto loaded = policies::load_config_file(path, registry);
    if (!loaded) {
        std::cerr << loaded.error().message << "\n";
        return std::nullopt;
    }
    for (const auto& w : loaded->warnings) {
        std::cerr << w.format() << "\n";
    }
    bool ok = true;
    for (const auto& spec : loaded->config.providers) {
        if (auto valid = registry.validate(spec); !valid) {
            std::cerr << valid.error().message << "\n";
            ok = false;
        }
    }
    if (!ok) {
        return std::nullopt;
    }
    return std::move(*loaded);
}

std::optional<TimePoint> resolve_now(const std::string& text) {
    if (text.empty()) {
        return now_utc();
    }
    auto t = parse_rfc3339(text);
    if (!t) {
        std::cerr << "snapgov: --now: " << t.error().message << "\n";
        return std::nullopt;
    }
    return *t;
}

int cmd_policy_check(const std::string& file, const providers::ProviderRegistry& registry,
                     const std::string& now_text) {
    const auto now = resolve_now(now_text);
    if (!now) {
        return kErrorExit;
    }
    const auto loaded = load(file, registry);
    if (!loaded) {
        return kErrorExit;
    }
    const auto& c = loaded->config;
    std::size_t expired = 0;
    for (const auto& e : c.exemptions) {
        if (!e.active(*now)) {
            ++expired;
            std::cerr << e.origin << ": warning: exemption for VM '" << e.vm << "' (policy "
                      << e.policy << ") expired at " << format_rfc3339(e.expires)
                      << "; it is ignored. Remove it or renew it with a new justification\n";
        }
    }
    print(file + ": valid: " + std::to_string(c.providers.size()) + " providers, " +
          std::to_string(c.policies.size()) + " policies, " + std::to_string(c.exemptions.size()) +
          " exemptions (" + std::to_string(expired) + " expired), " +
          std::to_string(loaded->warnings.size() + expired) + " warnings\n");
    return kCompliant;
}

int cmd_inventory(const CommonOptions& o, const providers::ProviderRegistry& registry) {
    const auto now = resolve_now(o.now);
    const auto loaded = now ? load(o.config, registry) : std::nullopt;
    if (!loaded) {
        return kErrorExit;
    }
    Reconciler reconciler(loaded->config, registry);
    const Inventory inventory = reconciler.collect();
    print(o.format == "json" ? to_json_text(inventory_json(inventory, *now))
                             : inventory_text(inventory, *now));
    const bool failed = std::any_of(inventory.hosts.begin(), inventory.hosts.end(),
                                    [](const HostInventory& h) { return !h.complete; });
    for (const auto& h : inventory.hosts) {
        if (!h.complete && h.error) {
            log::error(h.error->message);
        }
    }
    return failed ? kErrorExit : kCompliant;
}

int cmd_plan(const CommonOptions& o, const providers::ProviderRegistry& registry) {
    const auto now = resolve_now(o.now);
    const auto loaded = now ? load(o.config, registry) : std::nullopt;
    if (!loaded) {
        return kErrorExit;
    }
    Reconciler reconciler(loaded->config, registry);
    const PassResult pass = reconciler.plan(*now);
    for (const auto& e : pass.provider_errors) {
        log::error(e.message);
    }
    print(o.format == "json" ? to_json_text(plan_json(pass)) : plan_text(pass, loaded->config));
    return pass.exit_code();
}

int cmd_enforce(const CommonOptions& o, const providers::ProviderRegistry& registry) {
    if (!o.once) {
        std::cerr << "snapgov enforce: add --once to run a single pass (for a cron job); for "
                     "continuous enforcement run 'snapgov daemon -c FILE'\n";
        return kErrorExit;
    }
    const auto now = resolve_now(o.now);
    const auto loaded = now ? load(o.config, registry) : std::nullopt;
    if (!loaded) {
        return kErrorExit;
    }
    Reconciler reconciler(loaded->config, registry);
    PassOptions pass_options;
    pass_options.dry_run = o.dry_run;
    const PassResult pass = reconciler.enforce(*now, pass_options);
    for (const auto& e : pass.provider_errors) {
        log::error(e.message);
    }
    print(o.format == "json" ? to_json_text(enforce_json(pass, o.dry_run))
                             : enforce_text(pass, loaded->config, o.dry_run));
    return pass.exit_code();
}

int cmd_daemon(const CommonOptions& o, const std::string& log_format) {
    if (log_format == "json") {
        log::set_format(log::Format::json);
    } else if (log_format == "text") {
        log::set_format(log::Format::text);
    } else if (log_format == "journal") {
        log::set_format(log::Format::journal);
    }
    return run_daemon(o.config);
}

std::string status_text(const boost::json::object& s) {
    std::string out = "snapgov daemon: ";
    out += s.at("ready").as_bool() ? "ready" : "starting (no complete pass yet)";
    out += ", policy " + std::string(s.at("config").as_string()) + " (sha256 " +
           std::string(s.at("config_hash").as_string()).substr(0, 12) + ")\n";
    for (const auto& p : s.at("providers").as_array()) {
        const auto& o = p.as_object();
        out += "  provider " + std::string(o.at("name").as_string()) + " (" +
               std::string(o.at("type").as_string()) +
               "): " + (o.at("up").as_bool() ? "up" : "DOWN");
        if (const auto* e = o.if_contains("error")) {
            out += ": " + std::string(e->as_string());
        }
        out += "\n";
    }
    const auto& last = s.at("last_pass");
    if (last.is_null()) {
        out += "  no pass finished yet\n";
    } else {
        const auto& l = last.as_object();
        out += "  last pass: " + std::string(l.at("time").as_string()) + " (" +
               std::string(l.at("scope").as_string()) + "), " +
               std::to_string(l.at("vms").to_number<std::int64_t>()) + " VMs, " +
               std::to_string(l.at("checkpoints").to_number<std::int64_t>()) + " checkpoints, " +
               std::to_string(l.at("violations").to_number<std::int64_t>()) + " violations, " +
               std::to_string(l.at("actions_done").to_number<std::int64_t>()) + " actions done\n";
    }
    if (const auto* m = s.if_contains("metrics")) {
        out += "  metrics: " + std::string(m->as_string()) + "\n";
    }
    out +=
        "  passes since start: " + std::to_string(s.at("passes").to_number<std::int64_t>()) + "\n";
    return out;
}

int cmd_status(const CommonOptions& o, std::string socket,
               const providers::ProviderRegistry& registry) {
    if (socket.empty()) {
        if (o.config.empty()) {
            socket = policies::DaemonConfig{}.control_socket;
        } else {
            const auto loaded = load(o.config, registry);
            if (!loaded) {
                return kErrorExit;
            }
            socket = loaded->config.daemon.control_socket;
        }
    }
    auto reply = control_request(socket, R"({"command":"status"})", std::chrono::seconds(10));
    if (!reply) {
        std::cerr << "snapgov status: " << reply.error().message << "\n";
        return kErrorExit;
    }
    boost::json::object status;
    try {
        status = boost::json::parse(*reply).as_object();
    } catch (const std::exception& e) {
        std::cerr << "snapgov status: malformed reply from the daemon: " << e.what() << "\n";
        return kErrorExit;
    }
    if (const auto* ok = status.if_contains("ok"); ok == nullptr || !ok->as_bool()) {
        const auto* err = status.if_contains("error");
        std::cerr << "snapgov status: "
                  << (err != nullptr ? std::string(err->as_string()) : "request failed") << "\n";
        return kErrorExit;
    }
    print(o.format == "json" ? *reply + "\n" : status_text(status));
    const auto& last = status.at("last_pass");
    return last.is_null()
               ? kErrorExit
               : static_cast<int>(last.as_object().at("exit_code").to_number<std::int64_t>());
}

} // namespace

int run_cli(int argc, char** argv) {
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

    CommonOptions opts;
    std::string check_file;

    auto* policy = app.add_subcommand("policy", "work with policy files");
    policy->require_subcommand(1);
    auto* check = policy->add_subcommand(
        "check", "validate a policy file without connecting anywhere; exit 0 valid, 2 invalid");
    check->add_option("FILE", check_file, "policy file (YAML)")->required();
    add_now_option(*check, opts);

    auto* inventory = app.add_subcommand(
        "inventory", "list hosts, VMs, labels and checkpoints with their age and memory state");
    add_config_option(*inventory, opts);
    add_format_option(*inventory, opts);
    add_now_option(*inventory, opts);

    auto* plan = app.add_subcommand(
        "plan", "show findings and the actions enforce would take; acts on nothing");
    add_config_option(*plan, opts);
    add_format_option(*plan, opts);
    add_now_option(*plan, opts);

    auto* enforce = app.add_subcommand(
        "enforce", "one enforcing pass (for cron): act, verify, report what remains");
    add_config_option(*enforce, opts);
    add_format_option(*enforce, opts);
    add_now_option(*enforce, opts);
    enforce->add_flag("--once", opts.once, "run a single pass and exit (required)");
    enforce->add_flag("--dry-run", opts.dry_run, "plan and report, but carry out nothing");

    std::string log_format = "auto";
    auto* daemon = app.add_subcommand(
        "daemon", "run continuously in the foreground (systemd Type=notify): periodic and "
                  "event-driven passes, control socket, metrics");
    add_config_option(*daemon, opts);
    daemon
        ->add_option("--log-format", log_format,
                     "log line format on stderr (auto: journal under systemd, else text)")
        ->check(CLI::IsMember({"auto", "text", "journal", "json"}))
        ->capture_default_str();

    std::string socket;
    auto* status = app.add_subcommand(
        "status", "ask the running daemon over its control socket; exit code of its last pass");
    status->add_option("-c,--config", opts.config, "policy file (to find the control socket)");
    status->add_option("--socket", socket, "control socket path")
        ->excludes(status->get_option("--config"));
    add_format_option(*status, opts);

    DumpCli dump(app);

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
        return kErrorExit;
    }

    log::set_level(log_level == "debug"     ? log::Level::debug
                   : log_level == "warning" ? log::Level::warning
                   : log_level == "error"   ? log::Level::error
                                            : log::Level::info);
    const auto builtin = providers::builtin_registry();
    if (!builtin) {
        std::cerr << "snapgov: " << builtin.error().message << "\n";
        return kErrorExit;
    }
    const providers::ProviderRegistry& registry = *builtin;
    if (*check) {
        return cmd_policy_check(check_file, registry, opts.now);
    }
    if (*inventory) {
        return cmd_inventory(opts, registry);
    }
    if (*plan) {
        return cmd_plan(opts, registry);
    }
    if (*enforce) {
        return cmd_enforce(opts, registry);
    }
    if (*daemon) {
        return cmd_daemon(opts, log_format);
    }
    if (*status) {
        return cmd_status(opts, socket, registry);
    }
    if (dump.selected()) {
        return dump.run(registry);
    }
    return kErrorExit;
}

} // namespace snapgov::daemon
