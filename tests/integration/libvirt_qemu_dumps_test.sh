#!/usr/bin/env bash
# Integration test of the memory-dump actions against a real libvirtd with QEMU: a 64 MiB VM
# gets three checkpoints with external memory dumps (real QEMU save images).
#   A: memory_state: wipe   -> A.mem wiped, A redefined disk-only (memory snapshot='no'),
#                              its child B still under it, the current checkpoint unchanged
#   B: memory_state: encrypt -> B.mem.age, which the age tool decrypts to the original bytes
#   C: virsh snapshot-delete -> libvirt 9 leaves C.mem behind: `snapgov dump scan -c` finds
#                              it as an orphan, and `orphans: wipe` wipes it
# Usage: libvirt_qemu_dumps_test.sh SNAPGOV
set -euo pipefail
snapgov=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
for tool in age age-keygen qemu-img virsh; do
  command -v "$tool" >/dev/null || { echo "FAILED: $tool is missing (scripts/setup.sh --with-integration)"; exit 1; }
done
setup_vm snapgov-itd-$$
for s in A B C; do
  virsh -q snapshot-create-as "$vm" "$s" --description "RAM $s" \
    --memspec "file=$work/$s.mem,snapshot=external" \
    --diskspec "vda,snapshot=external,file=$work/$s.qcow2" >/dev/null
done
check "QEMU wrote real memory dumps" \
  bash -c "head -c 16 '$work/A.mem' | grep -q LibvirtQemudSave && head -c 16 '$work/B.mem' | grep -q LibvirtQemudSave"
virsh -q snapshot-delete "$vm" C >/dev/null
check "libvirt left C's memory dump behind after snapshot-delete" test -f "$work/C.mem"
current_before=$(virsh snapshot-current "$vm" --name)
sha_b=$(sha256sum < "$work/B.mem")
age-keygen -o "$work/key.txt" 2>/dev/null
pub=$(age-keygen -y "$work/key.txt")

policy() { # policy MEMORY_STATE ORPHANS EXEMPT_CHECKPOINT
  cat <<YAML
providers:
  - {name: qemu, type: libvirt, uri: '$uri'}
policies:
  - name: memory
    mode: enforce
    match: {names: ["$vm"]}
    memory_state: $1
exemptions:
  - {policy: memory, vm: $vm, checkpoint: "$3", reason: later, expires: 2099-01-01T00:00:00Z}
memory_dumps:
  recipients: ["$pub"]
  scan_paths: ["$work"]
  orphans: $2
state_dir: $work/state
YAML
}
policy wipe report B > "$work/wipe.yaml"
policy encrypt wipe A > "$work/encrypt.yaml"

# The orphan, as the scan command sees it.
set +e
"$snapgov" dump scan -c "$work/wipe.yaml" --format json > "$work/scan.json"; scan_rc=$?
"$snapgov" dump scan "$work" > "$work/scan-noc.txt"; scan_noc_rc=$?
set -e
check "dump scan -c exits 1 and lists only C.mem as orphan; A.mem, B.mem referenced" \
  python3 -c "
import json
d=json.load(open('$work/scan.json'))
assert $scan_rc==1, $scan_rc
st={x['path']:x['status'] for x in d['dumps']}
assert st=={'$work/A.mem':'referenced','$work/B.mem':'referenced','$work/C.mem':'orphan'}, st
"
check "dump scan without -c says it cannot tell (unreferenced-unknown), exit 1" \
  bash -c "[[ $scan_noc_rc == 1 ]] && grep -q unreferenced-unknown '$work/scan-noc.txt'"

# Pass 1: wipe A's memory (B is exempt); the orphan is only reported.
set +e
"$snapgov" enforce --once -c "$work/wipe.yaml" --format json > "$work/wipe.json"; wipe_rc=$?
set -e
check "enforce (wipe) did wipe_memory on A, verified; exit 1 (the reported orphan remains)" \
  python3 -c "
import json
d=json.load(open('$work/wipe.json'))
acts=[(a['kind'],a['checkpoint'],a['outcome']) for a in d['actions']]
assert acts==[('wipe_memory','A','done')], acts
assert 'verified' in d['actions'][0]['detail'], d['actions'][0]['detail']
assert [f['rule'] for f in d['remaining']]==['orphan_dump'], d['remaining']
assert $wipe_rc==1, $wipe_rc
"
check "A.mem is gone" test ! -e "$work/A.mem"
check "libvirt shows A disk-only: memory snapshot='no', state disk-snapshot" \
  bash -c "x=\$(virsh snapshot-dumpxml '$vm' A); grep -q \"<memory snapshot='no'/>\" <<<\"\$x\" && grep -q '<state>disk-snapshot</state>' <<<\"\$x\" && ! grep -q A.mem <<<\"\$x\""
check "B is still A's child and the current checkpoint is unchanged" \
  bash -c "[[ \$(virsh snapshot-parent '$vm' B) == A && \$(virsh snapshot-current '$vm' --name) == '$current_before' ]]"
check "no redefine journal is left in the state dir" \
  bash -c "! ls '$work/state'/libvirt-redefine-* >/dev/null 2>&1"

# Pass 2: encrypt B's memory; wipe the orphan. A dump modified in the last minutes may belong
# to a checkpoint being taken and is never touched, so C.mem is aged like a real leftover.
touch -d '1 hour ago' "$work/C.mem"
set +e
"$snapgov" enforce --once -c "$work/encrypt.yaml" > "$work/encrypt.txt"; enc_rc=$?
set -e
cat "$work/encrypt.txt"
check "enforce (encrypt + orphans: wipe) exits 0" test "$enc_rc" -eq 0
check "the output says how to restore B before a revert" \
  grep -q "snapgov dump decrypt -i IDENTITY_FILE $work/B.mem.age -o $work/B.mem" "$work/encrypt.txt"
check "B.mem is gone, B.mem.age exists" bash -c "[[ ! -e '$work/B.mem' && -f '$work/B.mem.age' ]]"
check "the age tool decrypts B.mem.age to the original bytes" \
  bash -c "[[ \$(age -d -i '$work/key.txt' '$work/B.mem.age' | sha256sum) == '$sha_b' ]]"
check "the orphan C.mem was wiped" test ! -e "$work/C.mem"
set +e
"$snapgov" plan -c "$work/encrypt.yaml" > "$work/plan-after.txt"; after_rc=$?
set -e
check "a new plan is compliant (the encrypted dump counts as protected)" test "$after_rc" -eq 0
check "the VM is still running" bash -c "[[ \$(virsh domstate '$vm') == running ]]"

summary
