#!/usr/bin/env bash
# Idle cost of `snapgov daemon` at default settings (interval 5m, deny_interval 10s) on the
# demo host (libvirt test driver): resident memory and wakeups (context switches of all its
# threads) over a window after start-up. Usage: bench/daemon_idle.sh [SNAPGOV] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
snapgov=$(realpath "${1:-build/snapgov}")
window=${2:-60}
work=$(mktemp -d /tmp/snapgov-idle-XXXXXX)
cp examples/host.xml "$work/host.xml"
cat > "$work/policy.yaml" <<YAML
providers: [{name: lab, type: libvirt, uri: "test://$work/host.xml"}]
policies:
  - {name: prod, mode: enforce, match: {labels: {tier: production}}, checkpoints: deny}
  - {name: dev, mode: audit, match: {names: ["dev-*"]}, max_age: 72h}
daemon: {control_socket: $work/control.sock}
YAML
"$snapgov" daemon -c "$work/policy.yaml" 2>"$work/log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
sleep 5 # first pass and start-up
switches() { cat /proc/$pid/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}'; }
threads() { ls /proc/$pid/task | wc -l; }
s0=$(switches)
sleep "$window"
s1=$(switches)
rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
awk -v w="$window" -v rss="$rss" -v hwm="$hwm" -v n="$(threads)" -v d="$((s1 - s0))" 'BEGIN {
  printf "daemon idle %ds: rss_mib=%.1f peak_rss_mib=%.1f threads=%d context_switches=%d wakeups_per_s=%.2f\n",
         w, rss / 1024, hwm / 1024, n, d, d / w }'
