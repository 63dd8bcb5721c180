#pragma once
/// `snapgov daemon`: the reconcile pass of `enforce --once`, run continuously as a Linux
/// service.
///
/// One Boost.Asio io_context owns the timers, signals, the control socket and the metrics
/// listener. A pass runs on a thread of its own (provider calls block) and posts its result
/// back to the loop; the loop owns all state between passes. Scheduling: a full pass every
/// `daemon.interval` (+-10 % jitter), a fast pass over `checkpoints: deny` policies every
/// `daemon.deny_interval`, and a pass as soon as a provider reports a VM event; requests
/// that arrive during a pass are merged into one pass after it.
///
/// Signals: SIGHUP re-reads and validates the policy file (an invalid one is logged with
/// FILE:LINE:COL and the running policy stays); SIGTERM/SIGINT let the action in flight
/// finish, start no new one, and exit 0 (after at most `kShutdownGrace` if a provider call
/// hangs). systemd: READY=1 after the first pass, whatever the providers' health (one
/// that is down is reported and retried), STATUS= after each pass, WATCHDOG=1 when
/// WATCHDOG_USEC is set, RELOADING=1/READY=1 around reloads, STOPPING=1 on shutdown;
/// without systemd these are no-ops.

#include <chrono>
#include <memory>
#include <string>

#include "providers/registry.hpp"

namespace snapgov::daemon {

/// How long a shutdown waits for a pass in flight before exiting anyway.
inline constexpr std::chrono::seconds kShutdownGrace{30};

/// Runs the daemon in the foreground until SIGTERM/SIGINT. Returns the exit code: 0 after a
/// clean shutdown, 2 if it could not start (invalid policy file, socket in use...).
/// `registry` is shared with the passes' threads.
[[nodiscard]] int run_daemon(const std::string& config_path,
                             std::shared_ptr<const providers::ProviderRegistry> registry);

} // namespace snapgov::daemon
