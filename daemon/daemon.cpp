#include "daemon/daemon.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <system_error>
#include <thread>
#include <vector>

#include <malloc.h>
#include <openssl/evp.h>
#include <systemd/sd-daemon.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include "cli/render/report.hpp"
#include "core/log.hpp"
#include "daemon/control_request.hpp"
#include "daemon/control_server.hpp"
#include "daemon/metrics.hpp"
#include "daemon/metrics_server.hpp"
#include "engine/config.hpp"
#include "engine/engine.hpp"
#include "evidence/recorder.hpp"
#include "providers/registry.hpp"

namespace snapgov::daemon {
namespace asio = boost::asio;
namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;
using engine::Outcome;
using engine::PassResult;
using engine::PassScope;

namespace {

void notify(const std::string& state) {
    (void)sd_notify(0, state.c_str());
}

/// What the loop remembers of the last pass, for `status` and STATUS=.
struct LastPass {
    bool ran = false;
    TimePoint time{};
    std::string scope;
    int exit_code = 0;
    double duration_seconds = 0;
    std::size_t vms = 0;
    std::size_t checkpoints = 0;
    std::size_t violations = 0;
    std::size_t exempt = 0;
    std::size_t done = 0;
    std::size_t failed = 0;
    std::size_t skipped = 0;
    std::size_t unsettled = 0; ///< dump operations that need attention
    std::string unsettled_command;
};

} // namespace

/// The daemon's state, owned by the io_context's thread. Held by shared_ptr: a pass thread
/// keeps it alive, so a pass that outlives a forced shutdown never touches freed memory.
class Daemon : public std::enable_shared_from_this<Daemon> {
public:
    Daemon(std::string config_path, std::shared_ptr<const providers::ProviderRegistry> registry)
        : config_path_(std::move(config_path)), registry_(std::move(registry)),
          signals_(io_, SIGHUP, SIGTERM, SIGINT), full_timer_(io_), deny_timer_(io_),
          watchdog_timer_(io_), shutdown_timer_(io_) {}

    int run() {
        auto loaded = load();
        if (!loaded) {
            return 2;
        }
        install(std::move(*loaded));
        const auto& d = config_.config->daemon;
        auto self = shared_from_this();
        auto control =
            ControlServer::start(io_, d.control_socket, d.control_group,
                                 [self](const std::string& line, ControlServer::Reply reply) {
                                     self->on_request(line, std::move(reply));
                                 });
        if (!control) {
            log::error(control.error().message);
            return 2;
        }
        control_ = std::move(*control);
        if (!d.metrics_listen.empty()) {
            auto metrics = MetricsServer::start(io_, d.metrics_listen,
                                                [self] { return self->metrics_->render(); });
            if (!metrics) {
                log::error(metrics.error().message);
                return 2;
            }
            metrics_server_ = std::move(*metrics);
        }
        wait_for_signal();
        start_watchdog();
        log::info("daemon started: policy " + config_path_ + " (sha256 " +
                  config_hash_.substr(0, 12) + "), control socket " + d.control_socket +
                  (metrics_server_ ? ", metrics on port " + std::to_string(metrics_server_->port())
                                   : std::string()));
        request_pass(PassScope::full);
        schedule_full();
        schedule_deny();
        io_.run();
        log::info("daemon stopped");
        return 0;
    }

private:
    // --- configuration -----------------------------------------------------------------

    std::optional<engine::LoadedConfig> load() {
        auto loaded = engine::load_config(config_path_, *registry_);
        if (!loaded) {
            log::error(loaded.error().message);
            return std::nullopt;
        }
        for (const auto& w : loaded->warnings) {
            log::warning(w.format());
        }
        return std::move(*loaded);
    }

    void install(engine::LoadedConfig loaded) {
        // The new engine reconnects; the old one (its connections and its config) goes away
        // with its last user, here or in a pass thread, which keeps the config it started
        // with.
        config_ = std::move(loaded);
        config_hash_ = config_.sha256;
        auto engine = std::make_shared<engine::Engine>(
            config_.config, registry_,
            engine::EngineOptions{config_.config->daemon.interval, config_hash_});
        engine->add_observer(metrics_);
        engine->add_observer(evidence::make_recorder(config_.config));
        std::weak_ptr<Daemon> weak = weak_from_this();
        engine->set_event_sink([weak](const std::string& provider, const std::string& vm) {
            if (auto self = weak.lock()) {
                asio::post(self->io_, [self, provider, vm] {
                    log::debug("event from provider " + provider + " on VM " + vm);
                    self->request_pass(PassScope::full);
                });
            }
        });
        engine_ = std::move(engine);
        has_deny_ = std::any_of(config_.config->policies.begin(), config_.config->policies.end(),
                                [](const policies::Policy& p) { return p.deny; });
    }

    void reload() {
        notify("RELOADING=1\nSTATUS=reloading " + config_path_);
        log::info("SIGHUP: reloading " + config_path_);
        auto loaded = load();
        if (!loaded) {
            log::error("reload failed; the previous policy (sha256 " + config_hash_.substr(0, 12) +
                       ") stays in force");
            notify("READY=1\nSTATUS=reload failed; previous policy in force");
            return;
        }
        const auto& old = config_.config->daemon;
        const auto& now = loaded->config->daemon;
        if (old.control_socket != now.control_socket || old.control_group != now.control_group ||
            old.metrics_listen != now.metrics_listen) {
            log::warning("daemon.control_socket, control_group and metrics_listen take effect "
                         "at the next restart");
        }
        if (in_flight_) {
            pending_config_ = std::move(loaded);
        } else {
            apply(std::move(*loaded));
        }
    }

    void apply(engine::LoadedConfig loaded) {
        install(std::move(loaded));
        log::info("policy reloaded (sha256 " + config_hash_.substr(0, 12) + ")");
        notify("READY=1\nSTATUS=policy reloaded");
        schedule_full();
        schedule_deny();
        request_pass(PassScope::full);
    }

    // --- scheduling --------------------------------------------------------------------

    void schedule_full() {
        const auto interval = config_.config->daemon.interval;
        // +-10 % jitter so many daemons started together do not hit shared hosts in step.
        std::uniform_real_distribution<double> jitter(0.9, 1.1);
        const auto delay = std::chrono::duration_cast<SteadyClock::duration>(
            std::chrono::duration<double>(static_cast<double>(interval.count()) * jitter(rng_)));
        full_timer_.expires_after(delay);
        full_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec && !self->stopping_) {
                self->request_pass(PassScope::full);
                self->schedule_full();
            }
        });
    }

    void schedule_deny() {
        deny_timer_.cancel();
        if (!has_deny_) {
            return;
        }
        deny_timer_.expires_after(config_.config->daemon.deny_interval);
        deny_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec && !self->stopping_) {
                self->request_pass(PassScope::deny);
                self->schedule_deny();
            }
        });
    }

    void request_pass(PassScope scope, std::function<void(const PassResult&)> waiter = {}) {
        if (waiter) {
            waiters_.push_back(std::move(waiter));
        }
        if (stopping_) {
            return;
        }
        if (in_flight_) {
            (scope == PassScope::full ? want_full_ : want_deny_) = true;
            return;
        }
        start_pass(scope);
    }

    void start_pass(PassScope scope) {
        in_flight_ = true;
        want_full_ = want_full_ && scope != PassScope::full;
        want_deny_ = want_deny_ && scope != PassScope::deny;
        auto self = shared_from_this();
        // The thread owns what it uses: the daemon and the engine (with its config) stay
        // alive until it is done, whatever a reload or a shutdown does meanwhile.
        auto pass = [self, engine = engine_, scope] {
            engine::PassOptions options;
            options.scope = scope;
            options.cancel = &self->cancel_;
            auto result = std::make_shared<PassResult>(engine->enforce(now_utc(), options));
            asio::post(self->io_, [self, result] { self->on_pass_done(*result); });
        };
        try {
            std::thread(std::move(pass)).detach();
        } catch (const std::system_error& e) {
            // No thread, no pass: the timers ask again later.
            in_flight_ = false;
            log::error(std::string("cannot start a pass thread: ") + e.what());
        }
    }

    void on_pass_done(const PassResult& pass) {
        in_flight_ = false;
        // A pass allocates and frees a whole inventory on another thread; hand the freed
        // pages back so an idle daemon stays small.
        (void)malloc_trim(0);
        const PassScope scope = pass.scope;
        if (pass.unsettled.size() != last_.unsettled) { // once per change, not every pass
            for (const auto& u : pass.unsettled) {
                log::warning(u);
            }
        }
        record(pass);
        health_ = pass.health;
        for (const auto& e : pass.errors) {
            log::error(e.message);
        }
        for (const auto& r : pass.results) {
            if (r.outcome == Outcome::done) {
                log::info(std::string(policies::to_string(r.action.kind)) + " " +
                          policies::where(r.action) + ": " + r.action.reason);
            } else if (r.outcome == Outcome::failed || r.outcome == Outcome::not_verified) {
                log::error(std::string(policies::to_string(r.action.kind)) + " " +
                           policies::where(r.action) + ": " + r.detail);
            }
        }
        const std::string summary = status_line();
        if (!last_.ran || last_.exit_code != 2 || scope == PassScope::full) {
            log::debug(std::string(engine::to_string(scope)) + " pass: " + summary);
        }
        // READY=1 after the first pass, whatever the providers' health: a host that is down
        // is reported (status, metrics, log, STATUS=) and retried, never a start failure.
        if (!ready_sent_) {
            ready_sent_ = true;
            notify("READY=1\nSTATUS=" + summary);
            log::info("ready: " + summary);
        } else {
            notify("STATUS=" + summary);
        }
        auto waiters = std::move(waiters_);
        waiters_.clear();
        for (auto& w : waiters) {
            w(pass);
        }
        if (stopping_) {
            io_.stop();
            return;
        }
        if (pending_config_) {
            auto pending = std::move(*pending_config_);
            pending_config_.reset();
            apply(std::move(pending));
            return;
        }
        if (want_full_) {
            start_pass(PassScope::full);
        } else if (want_deny_) {
            start_pass(PassScope::deny);
        }
    }

    void record(const PassResult& pass) {
        LastPass l;
        l.ran = true;
        l.time = pass.now;
        l.scope = engine::to_string(pass.scope);
        l.exit_code = pass.exit_code();
        l.duration_seconds = pass.duration.count();
        l.vms = pass.plan.vms;
        l.checkpoints = pass.plan.checkpoints;
        l.violations = pass.remaining().violations();
        l.exempt = pass.remaining().exempt();
        l.unsettled = pass.unsettled.size();
        l.unsettled_command = pass.unsettled_command;
        for (const auto& r : pass.results) {
            if (r.outcome == Outcome::done) {
                ++l.done;
            } else if (r.outcome == Outcome::failed || r.outcome == Outcome::not_verified) {
                ++l.failed;
            } else {
                ++l.skipped;
            }
        }
        last_ = l;
        if (pass.scope == PassScope::full) {
            last_full_ = l;
        }
        ++passes_;
    }

    std::string status_line() const {
        std::size_t down = 0;
        for (const auto& h : health_) {
            down += h.up ? 0 : 1;
        }
        return std::to_string(last_.vms) + " VMs, " + std::to_string(last_.checkpoints) +
               " checkpoints seen, " + std::to_string(last_.violations) + " violations remain, " +
               std::to_string(last_.done) + " actions done in the last " + last_.scope + " pass" +
               (down > 0 ? ", " + std::to_string(down) + " provider(s) down" : "") +
               (last_.unsettled > 0
                    ? ", " + std::to_string(last_.unsettled) +
                          " dump operation(s) need attention (" + last_.unsettled_command + ")"
                    : "");
    }

    // --- control requests --------------------------------------------------------------

    json::object status_json() const {
        json::object o;
        o["ok"] = true;
        o["config"] = config_path_;
        o["config_hash"] = config_hash_;
        o["ready"] = ready_sent_;
        if (metrics_server_) {
            // The bound port: `metrics_listen` may ask for port 0 (any free port).
            const auto& listen = config_.config->daemon.metrics_listen;
            o["metrics"] = "http://" + listen.substr(0, listen.rfind(':')) + ":" +
                           std::to_string(metrics_server_->port()) + "/metrics";
        }
        o["passes"] = passes_;
        o["pass_in_flight"] = in_flight_;
        json::array providers;
        for (const auto& h : health_) {
            json::object p{
                {"name", h.name}, {"type", h.type}, {"up", h.up}, {"failures", h.failures}};
            if (!h.error.empty()) {
                p["error"] = h.error;
            }
            providers.push_back(std::move(p));
        }
        o["providers"] = std::move(providers);
        // The last pass, and the last full one: a deny pass looks only at VMs under
        // `checkpoints: deny` and comes every few seconds, so its counts differ from the
        // full pass's (which the metrics report).
        o["last_pass"] = pass_json(last_);
        o["last_full_pass"] = pass_json(last_full_);
        // Known from the last pass's crash recovery (every enforcing pass runs it).
        o["dump_operations_unsettled"] = last_.unsettled;
        if (last_.unsettled > 0) {
            o["settle"] = last_.unsettled_command;
        }
        return o;
    }

    static json::value pass_json(const LastPass& l) {
        if (!l.ran) {
            return nullptr;
        }
        return json::object{{"time", format_rfc3339(l.time)},
                            {"scope", l.scope},
                            {"exit_code", l.exit_code},
                            {"duration_seconds", l.duration_seconds},
                            {"vms", l.vms},
                            {"checkpoints", l.checkpoints},
                            {"violations", l.violations},
                            {"exempt", l.exempt},
                            {"actions_done", l.done},
                            {"actions_failed", l.failed},
                            {"actions_skipped", l.skipped},
                            {"dump_operations_unsettled", l.unsettled}};
    }

    void on_request(const std::string& line, ControlServer::Reply reply) {
        switch (parse_control_request(line)) {
        case ControlCommand::status: reply(json::serialize(status_json())); return;
        case ControlCommand::run:
            request_pass(PassScope::full, [reply](const PassResult& pass) {
                auto o = cli::enforce_json(pass).as_object();
                o["ok"] = true;
                reply(json::serialize(o));
            });
            return;
        case ControlCommand::plan: {
            // A plan reads the inventory again; it runs on its own thread like a pass, with
            // an engine of its own so it never races the pass in flight.
            auto self = shared_from_this();
            auto plan = [self, config = config_.config, registry = registry_, reply] {
                engine::Engine planner(config, registry);
                auto doc = cli::plan_json(planner.plan(now_utc())).as_object();
                doc["ok"] = true;
                auto text = std::make_shared<std::string>(json::serialize(doc));
                asio::post(self->io_, [reply, text] { reply(*text); });
            };
            try {
                std::thread(std::move(plan)).detach();
            } catch (const std::system_error&) {
                reply(R"({"ok":false,"error":"cannot start a thread for the plan"})");
            }
            return;
        }
        case ControlCommand::invalid:
            reply(R"({"ok":false,"error":"unknown or malformed request; send one JSON object )"
                  R"(per line: {\"command\":\"status\"}, {\"command\":\"run\"} or )"
                  R"({\"command\":\"plan\"}"})");
            return;
        }
    }

    // --- signals and systemd -----------------------------------------------------------

    void wait_for_signal() {
        signals_.async_wait([self = shared_from_this()](boost::system::error_code ec, int sig) {
            if (ec) {
                return;
            }
            if (sig == SIGHUP) {
                self->reload();
                self->wait_for_signal();
                return;
            }
            self->shutdown(sig);
        });
    }

    void shutdown(int sig) {
        log::info(std::string(sig == SIGINT ? "SIGINT" : "SIGTERM") +
                  ": stopping; the action in flight finishes, no new one starts");
        notify("STOPPING=1");
        stopping_ = true;
        cancel_ = true;
        full_timer_.cancel();
        deny_timer_.cancel();
        watchdog_timer_.cancel();
        control_.reset();
        metrics_server_.reset();
        signals_.cancel();
        if (!in_flight_) {
            io_.stop();
            return;
        }
        shutdown_timer_.expires_after(kShutdownGrace);
        shutdown_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec) {
                log::warning("a provider call did not return within the shutdown grace "
                             "period; exiting anyway");
                self->io_.stop();
            }
        });
    }

    void start_watchdog() {
        std::uint64_t usec = 0;
        if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) {
            return;
        }
        watchdog_period_ = std::chrono::microseconds(usec / 2);
        ping_watchdog();
    }

    void ping_watchdog() {
        notify("WATCHDOG=1");
        watchdog_timer_.expires_after(watchdog_period_);
        watchdog_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec) {
                self->ping_watchdog();
            }
        });
    }

    std::string config_path_;
    std::shared_ptr<const providers::ProviderRegistry> registry_;
    asio::io_context io_;
    asio::signal_set signals_;
    asio::steady_timer full_timer_;
    asio::steady_timer deny_timer_;
    asio::steady_timer watchdog_timer_;
    asio::steady_timer shutdown_timer_;
    std::chrono::microseconds watchdog_period_{0};
    std::mt19937 rng_{std::random_device{}()};

    engine::LoadedConfig config_;
    std::optional<engine::LoadedConfig> pending_config_;
    std::shared_ptr<engine::Engine> engine_;
    std::string config_hash_;
    bool has_deny_ = false;

    bool in_flight_ = false;
    bool want_full_ = false;
    bool want_deny_ = false;
    bool stopping_ = false;
    bool ready_sent_ = false;
    std::atomic<bool> cancel_{false};
    std::vector<std::function<void(const PassResult&)>> waiters_;

    LastPass last_;
    LastPass last_full_;
    std::size_t passes_ = 0;
    std::vector<engine::ProviderHealth> health_;
    std::shared_ptr<Metrics> metrics_ = std::make_shared<Metrics>();
    std::unique_ptr<ControlServer> control_;
    std::unique_ptr<MetricsServer> metrics_server_;
};

int run_daemon(const std::string& config_path,
               std::shared_ptr<const providers::ProviderRegistry> registry) {
    auto daemon = std::make_shared<Daemon>(config_path, std::move(registry));
    return daemon->run();
}

} // namespace snapgov::daemon
