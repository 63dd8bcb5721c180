#!/usr/bin/env bash
# The libvirt provider's bulk collection, connection pool and deadlines against a real
# libvirtd (a private one: tests/integration/libvirtd.sh), on a small host: 48 diskless VMs x
# 4 snapshots, defined as metadata only (bench/gen_libvirt_host.py, the benchmark's shape).
#   - one connection and six give the same inventory and the same plan, and six really were
#     used (libvirt's client log counts the sockets opened);
#   - the current snapshot of each VM is the one libvirt names (virsh snapshot-current);
#   - a libvirtd that stops answering (SIGSTOP, by the PID this test started) is reported
#     down within the read timeout instead of hanging the pass; resumed (SIGCONT), the same
#     plan comes back.
# Usage: libvirt_scale_test.sh SNAPGOV_BINARY. Needs root (exit 77 without).
set -uo pipefail
snapgov=$(realpath "${1:?usage: libvirt_scale_test.sh SNAPGOV_BINARY}")
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
repo=$(cd "$here/../.." && pwd)

work=$(mktemp -d /tmp/snapgov-scale-test-XXXXXX)
stopped_pid=""
resume() { [[ -z $stopped_pid ]] || kill -CONT "$stopped_pid" 2>/dev/null || true; stopped_pid=""; }
trap 'resume; lib_cleanup' EXIT
"$here/libvirtd.sh" host-state > "$work/host-state"
lvroot=$("$here/libvirtd.sh" start) || exit 1
uri=$(cat "$lvroot/uri")
pid=$(cat "$lvroot/libvirtd.pid")
echo "private libvirtd: $uri (PID $pid)"

n=48
python3 "$repo/bench/gen_libvirt_host.py" "$n" 4 "$work/host"
virsh -q -c "$uri" < "$work/host/setup.virsh" > "$work/setup.log" 2>&1
check "the host is set up: $n VMs" \
  test "$(virsh -q -c "$uri" list --all --name | grep -c .)" -eq "$n"
check "no virsh error while setting up" bash -c "! grep -q '^error' '$work/setup.log'"

policy() { # policy MAX_CONNECTIONS [TIMEOUT]
  local timeouts=""
  [[ -z ${2:-} ]] || timeouts=", connect_timeout: $2, read_timeout: $2"
  cat <<YAML
providers: [{name: lab, type: libvirt, uri: "$uri", max_connections: $1$timeouts}]
policies:
  - {name: prod, mode: enforce, match: {labels: {tier: production}}, checkpoints: deny}
  - {name: dev, mode: enforce, match: {labels: {env: dev}}, max_age: 72h, max_count: 2}
evidence: {enabled: false}
state_dir: $work/state
YAML
}
policy 1 > "$work/one.yaml"
policy 6 > "$work/six.yaml"
policy 6 2s > "$work/tight.yaml"
now=2026-11-24T12:00:00Z

# sockets CONFIG: the number of libvirt connections `snapgov inventory` opened.
sockets() {
  rm -f "$work/client.log"
  LIBVIRT_LOG_FILTERS="1:rpc.netsocket" LIBVIRT_LOG_OUTPUTS="1:file:$work/client.log" \
    "$snapgov" inventory -c "$1" --format json > /dev/null 2>&1
  grep -c 'RPC_SOCKET_NEW' "$work/client.log"
}

"$snapgov" inventory -c "$work/one.yaml" --format json > "$work/inv-one.json" 2> "$work/err"
check "inventory over one connection" test $? -eq 0
"$snapgov" inventory -c "$work/six.yaml" --format json > "$work/inv-six.json" 2> "$work/err"
check "inventory over six connections" test $? -eq 0
same_inventory() {
  python3 - "$work/inv-one.json" "$work/inv-six.json" "$n" <<'PY'
import json, sys
def load(path):
    doc = json.load(open(path))
    doc.pop("now")  # the moment of each run
    for host in doc["providers"]:
        for vm in host["vms"]:
            for cp in vm["checkpoints"]:
                cp.pop("age_seconds")  # depends on the moment of each run
    return doc
one, six = load(sys.argv[1]), load(sys.argv[2])
vms = one["providers"][0]["vms"]
assert len(vms) == int(sys.argv[3]), len(vms)
assert sum(len(vm["checkpoints"]) for vm in vms) == 4 * len(vms)
assert one == six, "inventories differ"
PY
}
check "one and six connections: the same inventory, in the same order" same_inventory
check "one connection opens one socket" test "$(sockets "$work/one.yaml")" -eq 1
check "six connections open six sockets" test "$(sockets "$work/six.yaml")" -eq 6

current_ok() { # every VM has one current checkpoint, the one virsh names
  local vm expected got
  for vm in vm-00000 vm-00017 vm-00047; do
    expected=$(virsh -q -c "$uri" snapshot-current "$vm" --name)
    got=$(python3 - "$work/inv-six.json" "$vm" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
vm = next(v for v in doc["providers"][0]["vms"] if v["name"] == sys.argv[2])
print(",".join(cp["name"] for cp in vm["checkpoints"] if cp["current"]))
PY
)
    [[ -n $expected && $got == "$expected" ]] || { echo "$vm: current '$got', virsh '$expected'"; return 1; }
  done
}
check "the current checkpoint is the one libvirt names" current_ok

"$snapgov" plan -c "$work/one.yaml" --now "$now" --format json > "$work/plan-one.json"
"$snapgov" plan -c "$work/six.yaml" --now "$now" --format json > "$work/plan-six.json"
check "one and six connections: the same plan" cmp -s "$work/plan-one.json" "$work/plan-six.json"

# A libvirtd that stops answering: down within the timeouts (2 s), not a hang.
kill -STOP "$pid"
stopped_pid=$pid
start=$(date +%s)
timeout 120 "$snapgov" plan -c "$work/tight.yaml" --now "$now" --format json \
  > "$work/plan-stalled.json" 2> "$work/stalled.err"
rc=$?
took=$(($(date +%s) - start))
resume
check "a stopped libvirtd fails the pass (exit 2, got $rc)" test "$rc" -eq 2
check "... after the timeout, not a hang (took ${took} s)" test "$took" -le 20
check "... and says which timeout fired" \
  grep -qE 'provider lab: (not connected within 4s|no answer within 2s)' "$work/stalled.err"
# snapgov ends without library teardown while its call into the stopped libvirtd is still
# running (cli/main.cpp): its report must still be out whole.
check "... and its JSON report is complete, naming the provider's error" python3 -c '
import json, sys
report = json.load(open(sys.argv[1]))
assert any(e.startswith("provider lab: ") for e in report["errors"]), report["errors"]
' "$work/plan-stalled.json"
"$snapgov" plan -c "$work/six.yaml" --now "$now" --format json > "$work/plan-resumed.json"
check "resumed, the same plan comes back" cmp -s "$work/plan-one.json" "$work/plan-resumed.json"

summary
