#!/usr/bin/env bash
# Benchmarks `snapgov plan` against the serial floor on a real libvirtd (issue 15).
#
# For each size N, starts a private libvirtd (tests/integration/libvirtd.sh: its own mount
# namespace, config and socket; the host's libvirtd and /etc are left alone), defines N
# diskless 64 MiB QEMU VMs x 10 snapshots (metadata only: `virsh snapshot-create --redefine`,
# bench/gen_libvirt_host.py), then:
#   - checks that `snapgov plan --format json` gives the same plan with max_connections 1 and
#     the default, and (with BEFORE_SNAPGOV) the same plan as that binary;
#   - counts the libvirt RPCs each client sends (one extra run each, with libvirt's client
#     debug log on: calls of the remote program, keepalives left out);
#   - times the floor (bench/libvirt_floor.c: list domains; per domain labels metadata and
#     snapshot list; per snapshot XML; serial, one connection), the same floor spread over
#     PARALLEL_FLOOR connections (default 4: the best any client can do by overlapping
#     those calls on this machine) and `snapgov plan` (and
#     BEFORE_SNAPGOV), alternating, REPEAT times each, with the load average before each run
#     and, after each run, the CPU time the private libvirtd spent serving it;
#   - at the largest size, runs `snapgov plan` with connect_timeout 2s + read_timeout 2s: a
#     collection that takes longer than 4 s must not be cut off while libvirtd answers.
# Then stops that libvirtd by its PID and removes everything it set up.
#
# Usage: bench/libvirt_scale.sh [SNAPGOV [BEFORE_SNAPGOV]]   (default: build/snapgov)
# LIBVIRT_SCALE_SIZES="1000 5000" (VMs, 10 snapshots each), REPEAT=3, PARALLEL_FLOOR=4,
# BENCH_CONNECTIONS="" (more max_connections values to time). Needs root; exits 77
# without it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: needs root to start a private libvirtd"
  exit 77
fi
snapgov=$(realpath "${1:-build/snapgov}")
before=""
[[ -z ${2:-} ]] || before=$(realpath "$2")
sizes=${LIBVIRT_SCALE_SIZES:-"1000 5000"}
repeat=${REPEAT:-3}
parallel=${PARALLEL_FLOOR:-4}
now_epoch=1795521600
now=2026-11-24T12:00:00Z
work=$(mktemp -d /tmp/snapgov-lvscale-XXXXXX)
lvroot=""
stop_libvirtd() {
  local root=$lvroot
  lvroot=""
  [[ -z $root ]] || tests/integration/libvirtd.sh stop "$root"
}
trap 'stop_libvirtd || true; rm -rf "$work"' EXIT

cc -O2 -pthread -o "$work/floor" bench/libvirt_floor.c $(pkg-config --cflags --libs libvirt)

policy() { # policy URI MAX_CONNECTIONS [TIMEOUT]
  local timeouts=""
  [[ -z ${3:-} ]] || timeouts=", connect_timeout: $3, read_timeout: $3"
  local connections=""
  [[ -z $2 ]] || connections=", max_connections: $2"
  cat <<YAML
providers: [{name: bench, type: libvirt, uri: "$1"$connections$timeouts}]
policies:
  - {name: prod, mode: enforce, match: {labels: {tier: production}}, checkpoints: deny}
  - {name: dev, mode: enforce, match: {labels: {env: dev}}, max_age: 72h, max_count: 5}
safety: {max_actions_per_run: 20}
evidence: {enabled: false}
state_dir: $work/state
YAML
}

load() { cut -d' ' -f1-3 /proc/loadavg; }

# timed LABEL COMMAND...: bench/measure.py's line for COMMAND, followed by the CPU time
# (user + sys, all threads) the private libvirtd spent while it ran: the other half of the
# work, which the clients' own figures leave out.
timed() {
  local pid ticks_before ticks_after line
  pid=$(cat "$lvroot/libvirtd.pid")
  ticks_before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  line=$(python3 bench/measure.py "$@")
  ticks_after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  echo "$line libvirtd_cpu_s=$(python3 -c "print(f'{($ticks_after - $ticks_before) / $(getconf CLK_TCK):.2f}')")"
}

# rpcs LABEL COMMAND...: runs COMMAND once with libvirt's client RPC log on and prints the
# number of calls it sent to libvirtd (remote program 0x20008086; keepalives are another
# program), by procedure number.
rpcs() {
  local label=$1 log="$work/rpc.log"
  shift
  rm -f "$log"
  LIBVIRT_LOG_FILTERS="1:rpc.netclient" LIBVIRT_LOG_OUTPUTS="1:file:$log" \
    "$@" >/dev/null 2>&1 || true
  python3 - "$label" "$log" <<'PY'
import collections, re, sys
label, log = sys.argv[1:3]
procs = collections.Counter()
for line in open(log, errors="replace"):
    m = re.search(r"RPC_CLIENT_MSG_TX_QUEUE: .* prog=536903814 vers=\d+ proc=(\d+) type=0 ", line)
    if m:
        procs[int(m.group(1))] += 1
top = ", ".join(f"proc {p}: {c}" for p, c in procs.most_common(6))
print(f"{label} rpcs={sum(procs.values())} ({top})", flush=True)
PY
}

plan_json() { # plan_json BINARY POLICY OUT
  "$1" plan -c "$2" --now "$now" --format json > "$3" 2> "$3.err" || true
}

same_plan() { # same_plan A.json B.json WHAT
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["findings"] == b["findings"] and a["actions"] == b["actions"], sys.argv[3] + ": plans differ"
assert a["summary"] == b["summary"], sys.argv[3] + ": summaries differ"
print(f"# same plan ({sys.argv[3]}): {len(a['findings'])} findings, {len(a['actions'])} actions, "
      f"summary {a['summary']}")
PY
}

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, libvirt $(pkg-config --modversion libvirt)," \
  "load $(load)"
largest=$(tr ' ' '\n' <<< "$sizes" | sort -n | tail -1)
for n in $sizes; do
  lvroot=$(tests/integration/libvirtd.sh start)
  uri=$(cat "$lvroot/uri")
  echo "# libvirtd PID $(cat "$lvroot/libvirtd.pid"), $uri"
  python3 bench/gen_libvirt_host.py "$n" 10 "$work/host-$n" "$now_epoch"
  start=$(date +%s.%N)
  virsh -q -c "$uri" < "$work/host-$n/setup.virsh" > "$work/setup.log" 2>&1
  if grep -q '^error' "$work/setup.log"; then
    grep -m5 '^error' "$work/setup.log" >&2
    exit 1
  fi
  defined=$(virsh -q -c "$uri" list --all --name | grep -c .)
  [[ $defined -eq $n ]] || { echo "defined $defined domains, expected $n" >&2; exit 1; }
  echo "# set up ${n}x10 in $(python3 -c "import time; print(f'{time.time() - $start:.0f}')") s"
  rm -rf "$work/host-$n"
  policy "$uri" "" > "$work/policy.yaml"
  policy "$uri" 1 > "$work/policy-1.yaml"

  plan_json "$snapgov" "$work/policy.yaml" "$work/after.json"
  plan_json "$snapgov" "$work/policy-1.yaml" "$work/after-1.json"
  same_plan "$work/after-1.json" "$work/after.json" "max_connections 1 and default, ${n}x10"
  if [[ -n $before ]]; then
    plan_json "$before" "$work/policy-1.yaml" "$work/before.json"
    same_plan "$work/before.json" "$work/after.json" "before and after, ${n}x10"
  fi

  rpcs "floor ${n}x10" "$work/floor" "$uri"
  rpcs "snapgov-plan ${n}x10" "$snapgov" plan -c "$work/policy.yaml" --now "$now" --format json
  [[ -z $before ]] || rpcs "before-plan ${n}x10" "$before" plan -c "$work/policy.yaml" \
    --now "$now" --format json

  for _ in $(seq "$repeat"); do
    echo "# load $(load)"
    timed "floor ${n}x10" -- "$work/floor" "$uri"
    timed "floor-over-$parallel ${n}x10" -- "$work/floor" "$uri" "$parallel"
    timed "snapgov-plan ${n}x10" -- \
      "$snapgov" plan -c "$work/policy.yaml" --now "$now" --format json
    [[ -z $before ]] || timed "before-plan ${n}x10" -- \
      "$before" plan -c "$work/policy.yaml" --now "$now" --format json
  done
  for c in ${BENCH_CONNECTIONS:-}; do # optional: the same run at other max_connections
    policy "$uri" "$c" > "$work/policy-c.yaml"
    for _ in $(seq "$repeat"); do
      timed "snapgov-plan ${n}x10 max_connections=$c" -- \
        "$snapgov" plan -c "$work/policy-c.yaml" --now "$now" --format json
    done
  done

  if [[ $n -eq $largest ]]; then
    policy "$uri" "" 2s > "$work/policy-tight.yaml"
    for bin in "$snapgov" $before; do
      start=$(date +%s.%N)
      rc=0
      "$bin" plan -c "$work/policy-tight.yaml" --now "$now" --format json \
        > "$work/tight.json" 2> "$work/tight.err" || rc=$?
      took=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
      fired=$(grep -c 'no answer within\|not connected within' "$work/tight.err" || true)
      echo "tight-deadline ${n}x10 $([[ $bin == "$snapgov" ]] && echo snapgov || echo before)" \
        "(connect_timeout 2s, read_timeout 2s): wall_s=$took rc=$rc deadline_fired=$fired"
    done
  fi
  stop_libvirtd
done
