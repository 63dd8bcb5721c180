#!/usr/bin/env bash
# Benchmarks `snapgov plan` against the floor (a C program making only the libvirt calls)
# and a virsh shell script, on generated libvirt test-driver hosts.
# Usage: bench/run.sh [SNAPGOV_BINARY]   (default: build/snapgov)
# Sizes: BENCH_SIZES="1000 10000" (VMs, 10 checkpoints each), BENCH_SHELL_VMS=200, REPEAT=3;
# BENCH_SKIP_SHELL=1 skips the (slow: about 15 min) virsh shell baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
snapgov=$(realpath "${1:-build/snapgov}")
sizes=${BENCH_SIZES:-"1000 10000"}
shell_vms=${BENCH_SHELL_VMS:-200}
repeat=${REPEAT:-3}
now_epoch=1795521600
now=2026-11-24T12:00:00Z
work=$(mktemp -d /tmp/snapgov-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

cc -O2 -o "$work/floor" bench/floor.c $(pkg-config --cflags --libs libvirt)

policy() { # policy HOST_XML
  cat <<YAML
providers: [{name: bench, type: libvirt, uri: "test://$1"}]
policies:
  - {name: prod, mode: enforce, match: {labels: {tier: production}}, checkpoints: deny}
  - {name: dev, mode: enforce, match: {labels: {env: dev}}, max_age: 72h, max_count: 5}
safety: {max_actions_per_run: 20}
YAML
}

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, libvirt $(pkg-config --modversion libvirt)"
for n in $sizes; do
  python3 bench/gen_host.py "$n" 10 "$work/host-$n.xml" "$now_epoch"
  policy "$work/host-$n.xml" > "$work/policy-$n.yaml"
  for _ in $(seq "$repeat"); do
    python3 bench/measure.py "floor ${n}x10" -- "$work/floor" "test://$work/host-$n.xml"
    python3 bench/measure.py "snapgov-plan ${n}x10" -- \
      "$snapgov" plan -c "$work/policy-$n.yaml" --now "$now" --format json
  done
done

if [[ -n "${BENCH_SKIP_SHELL:-}" ]]; then
  exit 0
fi
python3 bench/gen_host.py "$shell_vms" 10 "$work/host-shell.xml" "$now_epoch"
policy "$work/host-shell.xml" > "$work/policy-shell.yaml"
python3 bench/measure.py "shell ${shell_vms}x10" -- \
  bash bench/shell_baseline.sh "test://$work/host-shell.xml" 259200 "$now_epoch"
for _ in $(seq "$repeat"); do
  python3 bench/measure.py "snapgov-plan ${shell_vms}x10" -- \
    "$snapgov" plan -c "$work/policy-shell.yaml" --now "$now" --format json
done
