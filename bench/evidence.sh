#!/usr/bin/env bash
# The evidence ledger's costs (issue 10), on generated libvirt test-driver hosts:
#  1. `enforce --once --dry-run` at N VMs x 10 checkpoints with evidence off, on (a fresh
#     ledger each run: every record written) and on with an identical previous pass (no rows),
#     alternating runs so load drifts hit all alike;
#  2. ledger growth on the demo host: bytes per recorded pass and per heartbeat record;
#  3. exports of a ledger of about EXPORT_RECORDS records: wall time and peak RSS.
# Usage: bench/evidence.sh [SNAPGOV_BINARY]   (BENCH_SIZE=10000, REPEAT=3, EXPORT_RECORDS=1000000,
#        SECTIONS=123: which of the three parts to run)
set -euo pipefail
cd "$(dirname "$0")/.."
snapgov=$(realpath "${1:-build/snapgov}")
n=${BENCH_SIZE:-10000}
repeat=${REPEAT:-3}
export_records=${EXPORT_RECORDS:-1000000}
sections=${SECTIONS:-123}
now_epoch=1795521600
now=2026-11-24T12:00:00Z
work=$(mktemp -d /tmp/snapgov-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 bench/gen_host.py "$n" 10 "$work/host.xml" "$now_epoch"
policy() { # policy EVIDENCE_YAML [COMMENT]
  cat <<YAML
# ${2:-}
providers: [{name: bench, type: libvirt, uri: "test://$work/host.xml"}]
policies:
  - {name: prod, mode: enforce, match: {labels: {tier: production}}, checkpoints: deny}
  - {name: dev, mode: enforce, match: {labels: {env: dev}}, max_age: 72h, max_count: 5}
safety: {max_actions_per_run: 20}
state_dir: $work/state
evidence: $1
YAML
}
policy "{enabled: false}" > "$work/off.yaml"
policy "{path: $work/on.db, host_id: bench}" > "$work/on.yaml"
policy "{path: $work/same.db, host_id: bench}" > "$work/same.yaml"
"$snapgov" enforce --once --dry-run -c "$work/same.yaml" --now "$now" > /dev/null 2>&1 || true

if [[ $sections == *1* ]]; then
echo "## 1. enforce --once --dry-run at ${n}x10"
for _ in $(seq "$repeat"); do
  python3 bench/measure.py "evidence-off ${n}x10" -- \
    "$snapgov" enforce --once --dry-run -c "$work/off.yaml" --now "$now"
  rm -f "$work"/on.db*
  python3 bench/measure.py "evidence-on-fresh ${n}x10" -- \
    "$snapgov" enforce --once --dry-run -c "$work/on.yaml" --now "$now"
  python3 bench/measure.py "evidence-on-identical ${n}x10" -- \
    "$snapgov" enforce --once --dry-run -c "$work/same.yaml" --now "$now"
done
echo "# records per recorded pass: $(sqlite3 "$work/on.db" 'SELECT COUNT(*) FROM records')," \
     "ledger bytes: $(stat -c %s "$work/on.db")"
fi

if [[ $sections == *2* ]]; then
echo "## 2. growth on the demo host"
sed "s|\${CONFIG_DIR}|$PWD/examples|g" examples/policy.yaml > "$work/demo.yaml"
printf '\nstate_dir: %s/demo-state\nevidence: {heartbeat: 0s, host_id: demo}\n' "$work" >> "$work/demo.yaml"
db=$work/demo-state/evidence.db
"$snapgov" enforce --once --dry-run -c "$work/demo.yaml" --now "$now" > /dev/null 2>&1 || true
sqlite3 "$db" 'PRAGMA wal_checkpoint(TRUNCATE)' > /dev/null
pass_records=$(sqlite3 "$db" 'SELECT COUNT(*) FROM records')
pass_bytes=$(stat -c %s "$db")
for _ in $(seq 200); do
  "$snapgov" enforce --once --dry-run -c "$work/demo.yaml" --now "$now" > /dev/null 2>&1 || true
done
sqlite3 "$db" 'PRAGMA wal_checkpoint(TRUNCATE)' > /dev/null
hb_records=$(( $(sqlite3 "$db" 'SELECT COUNT(*) FROM records') - pass_records ))
hb_bytes=$(( $(stat -c %s "$db") - pass_bytes ))
echo "# one recorded demo pass: $pass_records records, file $pass_bytes bytes" \
     "(body bytes $(sqlite3 "$db" "SELECT SUM(length(body)) FROM records WHERE type!='heartbeat'"))"
echo "# $hb_records heartbeat records (200 identical passes, heartbeat 0s): +$hb_bytes bytes," \
     "$(( hb_bytes / hb_records )) bytes each"
fi

[[ $sections == *3* ]] || exit 0
echo "## 3. exports of about $export_records records"
# Each pass under a policy file that differs by a comment, so that none is summarised.
i=0
records() { [[ -f $1 ]] && sqlite3 "$1" 'SELECT COUNT(*) FROM records' || echo 0; }
while (( $(records "$work/big.db") < export_records )); do
  i=$((i + 1))
  policy "{path: $work/big.db, host_id: bench}" "pass $i" > "$work/big.yaml"
  "$snapgov" enforce --once --dry-run -c "$work/big.yaml" --now "$now" > /dev/null 2>&1 || true
done
echo "# ledger: $(sqlite3 "$work/big.db" 'SELECT COUNT(*) FROM records') records," \
     "$(stat -c %s "$work/big.db") bytes"
for format in json csv oscal; do
  python3 bench/measure.py "export-$format" -- \
    "$snapgov" evidence export -c "$work/big.yaml" --format "$format" -o "$work/export.$format"
  echo "# export.$format: $(stat -c %s "$work/export.$format") bytes"
done
python3 bench/measure.py "verify" -- "$snapgov" evidence verify -c "$work/big.yaml"
