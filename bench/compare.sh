#!/usr/bin/env bash
# Compares two snapgov binaries on the `bench/run.sh` workload, alternating runs so that load
# drifts hit both alike: `snapgov plan` at N VMs x 10 checkpoints on a generated test-driver
# host, wall time and peak RSS per run (bench/measure.py).
# Usage: bench/compare.sh BEFORE_BINARY AFTER_BINARY   (BENCH_SIZE=10000, REPEAT=3)
set -euo pipefail
cd "$(dirname "$0")/.."
before=$(realpath "$1")
after=$(realpath "$2")
n=${BENCH_SIZE:-10000}
repeat=${REPEAT:-3}
now_epoch=1795521600
now=2026-11-24T12:00:00Z
work=$(mktemp -d /tmp/snapgov-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

python3 bench/gen_host.py "$n" 10 "$work/host.xml" "$now_epoch"
cat > "$work/policy.yaml" <<YAML
providers: [{name: bench, type: libvirt, uri: "test://$work/host.xml"}]
policies:
  - {name: prod, mode: enforce, match: {labels: {tier: production}}, checkpoints: deny}
  - {name: dev, mode: enforce, match: {labels: {env: dev}}, max_age: 72h, max_count: 5}
safety: {max_actions_per_run: 20}
YAML
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, libvirt $(pkg-config --modversion libvirt)"
# The same plan from both, or the comparison means nothing.
"$before" plan -c "$work/policy.yaml" --now "$now" --format json > "$work/before.json" || true
"$after" plan -c "$work/policy.yaml" --now "$now" --format json > "$work/after.json" || true
python3 - "$work/before.json" "$work/after.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["findings"] == b["findings"] and a["actions"] == b["actions"], "plans differ"
print(f"# same plan: {len(a['findings'])} findings, {len(a['actions'])} actions")
PY
for _ in $(seq "$repeat"); do
  python3 bench/measure.py "before ${n}x10" -- "$before" plan -c "$work/policy.yaml" --now "$now" --format json
  python3 bench/measure.py "after ${n}x10" -- "$after" plan -c "$work/policy.yaml" --now "$now" --format json
done
