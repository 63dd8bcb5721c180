#!/usr/bin/env bash
# Integration test of `snapgov checkpoint create|revert` against a real libvirtd with QEMU
# (a 64 MiB VM): the memory of a checkpoint goes through a FIFO into NAME.mem.age, and never
# exists in plaintext on disk.
#   1. create c1 while inotify watches the snapshot folder and a poller reads the first bytes
#      of every regular file there: no save-image magic is ever seen, only the .age remains;
#      `age -d` gives a save image (magic LibvirtQemudSave) of the size snapgov reported,
#      whose embedded XML is the VM's; `snapgov plan` finds it compliant (memory_state: encrypt).
#   2. SIGKILL snapgov mid-stream (c2): libvirt fails the checkpoint, the VM runs on, no
#      plaintext anywhere; a re-run removes the leftovers and succeeds.
#   2b. a stalled capture times out: libvirt's job is aborted, the VM runs, nothing stays.
#   2d. SIGKILL snapgov between libvirt's two opens (c3; libvirtd's own open held by the shim):
#       the FIFO is removed for snapgov, libvirt's open fails at once, the VM runs.
#   2c. --disk-only: no memory, nothing in the folder.
#   3. revert c1: refused while the VM runs; with --force the VM runs again from c1's memory,
#      on a fresh overlay of c1's disk.
# Usage: libvirt_qemu_checkpoint_test.sh SNAPGOV STOP_SHIM
# STOP_SHIM: tests/cli/kill_at_step.c built (LD_PRELOAD), which holds snapgov mid-stream.
set -euo pipefail
snapgov=$1
stop_shim=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
for tool in age age-keygen qemu-img virsh inotifywait; do
  command -v "$tool" >/dev/null || { echo "FAILED: $tool is missing (scripts/setup.sh --with-integration)"; exit 1; }
done
# libvirtd runs with the shim too: section 2d holds its second open of a memory path.
libvirtd_env() { echo "LD_PRELOAD=$stop_shim SNAPGOV_TEST_HOLD_REOPEN=$work/hold"; }
setup_vm snapgov-itc-$$
mkdir -p "$work/hold"
snap=$work/snap
mkdir -p "$snap"
age-keygen -o "$work/key.txt" 2>/dev/null
pub=$(age-keygen -y "$work/key.txt")
cat > "$work/c.yaml" <<YAML
providers:
  - {name: qemu, type: libvirt, uri: '$uri'}
policies:
  - {name: memory, mode: enforce, match: {names: ["$vm"]}, memory_state: encrypt}
memory_dumps:
  recipients: ["$pub"]
  scan_paths: ["$snap"]
state_dir: $work/state
evidence: {enabled: false}
YAML

watchers=()
stop_watchers() {
  local p
  for p in "${watchers[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  watchers=()
}
trap 'stop_watchers; lib_cleanup' EXIT

# Every name created or moved into the folder, and (polled every few ms) any regular file
# whose first bytes are a save-image magic. FIFOs are never read: that would steal data.
inotifywait -m -q -e create,moved_to --format '%e %f' "$snap" > "$work/events" 2> "$work/inotify.err" &
watchers+=($!)
( while :; do
    find "$snap" -type f -print0 2>/dev/null | while IFS= read -r -d '' f; do
      if head -c 16 "$f" 2>/dev/null | grep -q LibvirtQemud; then echo "$f" >> "$work/magic-seen"; fi
    done
    sleep 0.005
  done ) &
watchers+=($!)
sleep 0.5 # inotifywait -q prints nothing when ready; its watch is set within this

# --- 1. create ----------------------------------------------------------------------------
t0=$(date +%s.%N)
set +e
"$snapgov" checkpoint create -c "$work/c.yaml" "$vm" c1 --dir "$snap" --description "before" \
  > "$work/c1.out" 2> "$work/c1.err"; c1_rc=$?
set -e
t1=$(date +%s.%N)
sleep 0.2
stop_watchers
cat "$work/c1.out" "$work/c1.err"
echo "create took $(echo "$t1 - $t0" | bc) s"
check "checkpoint create exits 0 and prints sizes and the ciphertext SHA-256" \
  bash -c "[[ $c1_rc == 0 ]] && grep -Eq 'c1.mem.age, [0-9]+ bytes, sha256 [0-9a-f]{64}' '$work/c1.out'"
check "libvirt has checkpoint c1 naming $snap/c1.mem as its memory file" \
  bash -c "virsh snapshot-dumpxml '$vm' c1 | grep -q \"<memory snapshot='external' file='$snap/c1.mem'/>\""
check "inotify: only c1.mem (the FIFO) and c1.mem.age(.partial) were ever created in the folder" \
  bash -c "cat '$work/events'; [[ -s '$work/events' ]] && ! grep -Ev '^(CREATE|MOVED_TO) c1\.mem(\.age(\.partial)?)?$' '$work/events' && grep -q '^CREATE c1.mem$' '$work/events'"
check "no regular file with a save-image magic ever appeared in the folder" test ! -e "$work/magic-seen"
check "the folder holds c1.mem.age only (the FIFO is gone), mode 0600" \
  bash -c "[[ \$(ls -A '$snap') == c1.mem.age && \$(stat -c %a '$snap/c1.mem.age') == 600 ]]"
check "the VM is running" bash -c "[[ \$(virsh domstate '$vm') == running ]]"
age -d -i "$work/key.txt" -o "$work/c1.image" "$snap/c1.mem.age"
reported=$(grep -Eo 'memory [0-9]+ bytes' "$work/c1.out" | grep -Eo '[0-9]+')
check "age -d gives a final save image (magic LibvirtQemudSave) of the size snapgov reported" \
  bash -c "[[ \$(head -c 16 '$work/c1.image') == LibvirtQemudSave && \$(stat -c %s '$work/c1.image') == '$reported' ]]"
check "the image's header is libvirt's (version 2, uncompressed) and its XML is this VM's" \
  python3 -c "
import struct
d=open('$work/c1.image','rb').read()
magic,version,data_len,was_running,compressed=struct.unpack('<16s4I',d[:32])
assert version==2 and compressed==0 and was_running==1, (version,compressed,was_running)
assert b'<name>$vm</name>' in d[92:92+data_len]
"
rm -f "$work/c1.image"
set +e
"$snapgov" plan -c "$work/c.yaml" > "$work/plan.txt"; plan_rc=$?
set -e
check "snapgov plan finds c1 compliant under memory_state: encrypt (exit 0)" test "$plan_rc" -eq 0

# --- 2. SIGKILL mid-stream ----------------------------------------------------------------
# The stop shim (LD_PRELOAD) stops snapgov (SIGSTOP) right after its first read of data from
# the FIFO: the stream (about 0.8 MB) cannot pass the FIFO's 64 KiB while snapgov is stopped,
# so libvirt's I/O helper is blocked writing and a kill lands mid-stream, whatever the load.
# catch_helper SG FIFO: waits until snapgov (PID SG) has stopped itself, then prints the PID
# and command line of the process other than snapgov, its FIFO guard (a child of snapgov that
# holds the FIFO open in case snapgov dies) and libvirtd that has FIFO open (libvirt's I/O
# helper). Prints nothing if snapgov ended or never stopped within 60 s.
catch_helper() {
  local sg=$1 fifo=$2 pid="" _
  for _ in $(seq 1 600); do
    [[ -e /proc/$sg ]] || return 0
    [[ $(awk '{print $3}' "/proc/$sg/stat" 2>/dev/null) == T ]] && break
    sleep 0.1
  done
  for _ in $(seq 1 100); do
    for pid in $(find /proc/[0-9]*/fd -lname "$fifo" 2>/dev/null | cut -d/ -f3 | sort -u); do
      [[ $pid != "$sg" && $pid != $(cat "$lvroot/libvirtd.pid") ]] || continue
      [[ $(awk '{print $4}' "/proc/$pid/stat" 2>/dev/null) != "$sg" ]] || continue
      echo "$pid $(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null || true)"
      return 0
    done
    sleep 0.05
  done
}
fifo=$snap/c2.mem
LD_PRELOAD=$stop_shim SNAPGOV_TEST_STOP_AT_FIFO_READ=$fifo \
  "$snapgov" checkpoint create -c "$work/c.yaml" "$vm" c2 --dir "$snap" > "$work/c2.out" 2>&1 &
sg=$!
writer_cmd=$(catch_helper "$sg" "$fifo")
echo "writer of the FIFO: ${writer_cmd:-none}"
kill -KILL "$sg" 2>/dev/null || true; wait "$sg" 2>/dev/null || true
check "the kill landed mid-stream (libvirt's I/O helper had the FIFO open)" \
  grep -q libvirt_iohelper <<<"$writer_cmd"
for _ in $(seq 1 100); do
  [[ $(virsh domstate "$vm") == running ]] && ! virsh -q snapshot-list "$vm" --name | grep -qx c2 && break
  sleep 0.1
done
check "after the kill: the VM is running and libvirt has no checkpoint c2" \
  bash -c "[[ \$(virsh domstate '$vm') == running ]] && ! virsh -q snapshot-list '$vm' --name | grep -qx c2"
check "after the kill: no regular file starts with a save-image magic" \
  bash -c "! find '$snap' -type f -exec head -c 16 {} \; | grep -q LibvirtQemud"
ls -la "$snap"
set +e
"$snapgov" checkpoint create -c "$work/c.yaml" "$vm" c2 --dir "$snap" > "$work/c2b.out" 2>&1; c2_rc=$?
set -e
cat "$work/c2b.out"
check "a re-run removes the leftovers (said on stderr) and succeeds" \
  bash -c "[[ $c2_rc == 0 ]] && grep -q 'left by an interrupted earlier run' '$work/c2b.out'"
check "then the folder holds c1.mem.age and c2.mem.age only" \
  bash -c "[[ \$(ls -A '$snap' | tr '\n' ' ') == 'c1.mem.age c2.mem.age ' ]]"

# --- 2b. timeout -------------------------------------------------------------------------
# libvirt's I/O helper (a child of this test's private libvirtd) is stopped mid-stream, so
# the capture stalls: after --timeout snapgov aborts libvirt's job and keeps draining; the
# helper is let go once snapgov said so. Nothing may stay: no .age, no FIFO, no checkpoint.
fifo=$snap/t1.mem
t0=$(date +%s.%N)
LD_PRELOAD=$stop_shim SNAPGOV_TEST_STOP_AT_FIFO_READ=$fifo \
  "$snapgov" checkpoint create -c "$work/c.yaml" "$vm" t1 --dir "$snap" --timeout 2s > "$work/t1.out" 2>&1 &
sg=$!
helper=$(catch_helper "$sg" "$fifo")
echo "writer of the FIFO: ${helper:-none}"
helper=${helper%% *}
# The helper blocks on the full FIFO while snapgov is stopped: it is there to be stopped.
if [[ -n $helper ]]; then kill -STOP "$helper" 2>/dev/null || true; fi
kill -CONT "$sg" 2>/dev/null || true
for _ in $(seq 1 100); do grep -q 'aborting the memory capture: timeout' "$work/t1.out" && break; sleep 0.1; done
if [[ -n $helper ]]; then kill -CONT "$helper" 2>/dev/null || true; fi
set +e
wait "$sg"; t1_rc=$?
set -e
t1=$(date +%s.%N)
cat "$work/t1.out"
echo "the timed-out create took $(echo "$t1 - $t0" | bc) s"
check "a stalled capture times out: snapgov aborts libvirt's job and exits 2" \
  bash -c "[[ -n '$helper' && $t1_rc == 2 ]] && grep -q 'did not finish before the timeout' '$work/t1.out'"
check "after the timeout: the VM runs, no checkpoint t1, no t1 file in the folder" \
  bash -c "[[ \$(virsh domstate '$vm') == running ]] && ! virsh -q snapshot-list '$vm' --name | grep -qx t1 && [[ \$(ls -A '$snap' | tr '\n' ' ') == 'c1.mem.age c2.mem.age ' ]]"

# --- 2d. SIGKILL between libvirt's two opens -----------------------------------------------
# The shim in libvirtd holds its second open of the memory path (for the final header, after
# the stream) until told to go; snapgov is killed in that window. snapgov's FIFO guard (a
# child that outlives it) must remove the FIFO, so that libvirt's open fails at once instead
# of waiting forever for a reader with the VM paused and the domain's job held.
touch "$work/hold/armed"
"$snapgov" checkpoint create -c "$work/c.yaml" "$vm" c3 --dir "$snap" > "$work/c3.out" 2>&1 &
sg=$!
for _ in $(seq 1 600); do [[ -e $work/hold/held ]] && break; sleep 0.1; done
check "libvirt's second open of c3.mem was held (the stream was written, snapgov runs)" \
  bash -c "[[ -e '$work/hold/held' ]] && kill -0 $sg"
kill -KILL "$sg" 2>/dev/null || true; wait "$sg" 2>/dev/null || true
for _ in $(seq 1 100); do [[ -e $snap/c3.mem ]] || break; sleep 0.1; done
check "after the kill: the FIFO c3.mem was removed on snapgov's behalf" test ! -e "$snap/c3.mem"
touch "$work/hold/go"
# Every virsh call is bounded: a libvirtd blocked in that open holds the domain's lock.
settled() {
  [[ $(timeout 5 virsh domstate "$vm") == running ]] &&
    timeout 5 virsh domjobinfo "$vm" | grep -q 'Job type: *None' &&
    ! timeout 5 virsh -q snapshot-list "$vm" --name | grep -qx c3
}
end=$((SECONDS + 30))
until settled || ((SECONDS >= end)); do sleep 0.1; done
check "then libvirt's open fails at once: no job left, the VM runs, no checkpoint c3" settled
if [[ -p $snap/c3.mem ]]; then # only when that failed: release libvirtd, for the clean-up
  timeout 5 cat "$snap/c3.mem" > /dev/null || true
  rm -f "$snap/c3.mem"
fi
check "after the kill: no regular file starts with a save-image magic" \
  bash -c "! find '$snap' -type f -exec head -c 16 {} \; | grep -q LibvirtQemud"
# What stays is the partial ciphertext, which the next create of c3 would remove.
ls -la "$snap"
rm -f "$snap/c3.mem.age.partial"

# --- 2c. disk-only ------------------------------------------------------------------------
set +e
"$snapgov" checkpoint create -c "$work/c.yaml" "$vm" d1 --disk-only > "$work/d1.out" 2>&1; d1_rc=$?
set -e
check "--disk-only takes a checkpoint without memory and writes nothing in the folder" \
  bash -c "[[ $d1_rc == 0 ]] && virsh snapshot-dumpxml '$vm' d1 | grep -q \"<memory snapshot='no'/>\" && [[ \$(ls -A '$snap' | tr '\n' ' ') == 'c1.mem.age c2.mem.age ' ]]"

# --- 3. revert ----------------------------------------------------------------------------
set +e
"$snapgov" checkpoint revert -c "$work/c.yaml" "$vm" c1 -i "$work/key.txt" > "$work/r0.out" 2>&1; r0_rc=$?
set -e
check "revert refuses while the VM runs (exit 2, names --force)" \
  bash -c "[[ $r0_rc == 2 ]] && grep -q -- --force '$work/r0.out'"
t0=$(date +%s.%N)
set +e
"$snapgov" checkpoint revert -c "$work/c.yaml" "$vm" c1 -i "$work/key.txt" --force > "$work/r1.out" 2>&1; r1_rc=$?
set -e
t1=$(date +%s.%N)
cat "$work/r1.out"
echo "revert took $(echo "$t1 - $t0" | bc) s"
check "revert --force exits 0 and the VM runs again" \
  bash -c "[[ $r1_rc == 0 && \$(virsh domstate '$vm') == running ]]"
check "the VM's disk is a fresh overlay backed by c1's disk (disk.qcow2)" \
  bash -c "src=\$(virsh -q domblklist '$vm' | awk '\$1==\"vda\"{print \$2}'); echo \"vda: \$src\"; [[ \$src != '$work/disk.qcow2' && \$src != '$work/disk.c1' ]] && qemu-img info -U \"\$src\" | grep -q 'backing file: $work/disk.qcow2'"
check "revert wrote no plaintext: the folder still holds the two .age files only" \
  bash -c "[[ \$(ls -A '$snap' | tr '\n' ' ') == 'c1.mem.age c2.mem.age ' ]]"

summary
