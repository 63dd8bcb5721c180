#!/usr/bin/env bash
# The demo: installs what is missing (build tools and the age tool), builds snapgov, then runs
# its one-shot pass on the embedded libvirt test-driver host (examples/host.xml) with the
# demo policy (examples/policy.yaml): policy check, dump scan, plan, enforce --once, dump
# decrypt with age, then the daemon for one pass (status, metrics, SIGTERM).
# Set-up and build print one line each; their full output goes to build/logs/ and is shown
# only when they fail.
#
# The example's checkpoint times are written for 2026-11-24T12:00:00Z. The demo moves every
# time in its copies (checkpoint creation times, exemption expiries) by the time elapsed
# since then, so the picture is the same whenever it runs, on the real clock, with no --now:
# the daemon, which always uses the real clock, sees what enforce saw.
#
# Memory dumps: the host file names memory files under /var/lib/libvirt/qemu/snapshot/. So
# that the demo can show them being encrypted and wiped without touching that folder, it
# works on a copy of both example files in a temporary directory, with those paths pointing
# at small fake dumps there (the `LibvirtQemudSave` magic + random bytes), plus one orphan
# dump that no checkpoint references. examples/ itself is never modified.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
build_dir=${SNAPGOV_BUILD_DIR:-build}
logs=$build_dir/logs
mkdir -p "$logs"
step() { # step TITLE LOG COMMAND...: one line of progress; the full output only on failure
  local title=$1 log=$2; shift 2
  printf '%s ... ' "$title"
  if "$@" >"$log" 2>&1; then
    echo "done"
  else
    echo "FAILED"; tail -n 60 "$log"; echo "(full log: $log)"; exit 1
  fi
}
step "installing missing Debian packages (scripts/setup.sh --demo)" "$logs/setup.log" \
  scripts/setup.sh --demo
step "building snapgov (scripts/build.sh)" "$logs/build.log" \
  env SNAPGOV_BUILD_DIR="$build_dir" SNAPGOV_BUILD_TARGET=snapgov scripts/build.sh
bin=$(realpath "$build_dir/snapgov")

work=$(mktemp -d /tmp/snapgov-demo-XXXXXX)
trap 'rm -rf "$work"' EXIT
# Every time in the copies moves by the seconds elapsed since the moment the example was
# written for: creation times (epoch seconds) in the host file, expiries in the policy. Plus
# ten minutes, so that dev-build-01's `nightly`, written to be exactly max_age (72h) old,
# stays just inside it for the whole demo instead of crossing it while the demo runs.
shift=$(( $(date -u +%s) - $(date -u -d 2026-11-24T12:00:00Z +%s) + 600 ))
shift_time() { date -u -d "@$(( $(date -u -d "$1" +%s) + shift ))" +%Y-%m-%dT%H:%M:%SZ; }
fake_dump() { # fake_dump PATH KIB
  mkdir -p "$(dirname "$1")"
  { printf 'LibvirtQemudSave'; head -c "$(($2 * 1024))" /dev/urandom; } > "$1"
}
# Encrypt to a key made here with the age tool, so the demo can decrypt with it afterwards.
age-keygen -o "$work/demo-key.txt" 2>/dev/null
recipient=$(age-keygen -y "$work/demo-key.txt")
# The evidence ledger's Ed25519 signing key; the public half is what an auditor keeps.
"$bin" evidence keygen -o "$work/evidence.key" > "$work/evidence.pub" 2>/dev/null

# prepare DIR: the demo host in DIR: host.xml and policy.yaml (copies of examples/ with the
# times moved and memory paths in DIR/dumps), the fake dumps, and the state folder.
prepare() {
  local dir=$1 dumps=$1/dumps f t
  mkdir -p "$dir"
  sed "s#/var/lib/libvirt/qemu/snapshot/#$dumps/#g" "$repo/examples/host.xml" |
    awk -v d="$shift" '{
      if (match($0, /<creationTime>[0-9]+<\/creationTime>/)) {
        t = substr($0, RSTART + 14, RLENGTH - 29) + d
        $0 = substr($0, 1, RSTART - 1) "<creationTime>" t "</creationTime>" substr($0, RSTART + RLENGTH)
      }
      print }' > "$dir/host.xml"
  sed "s/age13egrqql3t9keweknlq2mv9rxx5wreatts5ra89fy2htpge47fc5qv0grau/$recipient/" \
    "$repo/examples/policy.yaml" > "$dir/policy.yaml"
  for t in $(grep -o 'expires: [0-9T:-]*Z' "$repo/examples/policy.yaml" | cut -d' ' -f2 | sort -u); do
    sed -i "s/expires: $t/expires: $(shift_time "$t")/" "$dir/policy.yaml"
  done
  # The journal of dump operations goes to the demo folder, not /var/lib/snapgov; so does
  # the evidence ledger, one for the whole demo (enforce's pass and the daemon's passes, one
  # hash chain), signed with a key made here.
  printf '\nstate_dir: "${CONFIG_DIR}/state"\nevidence:\n  path: %s\n  signing_key: %s\n' \
    "$work/evidence.db" "$work/evidence.key" >> "$dir/policy.yaml"
  for f in $(grep -o "file='$dumps/[^']*'" "$dir/host.xml" | sed "s/^file='//; s/'\$//"); do
    fake_dump "$f" 512
    touch -d "2 hours ago" "$f"  # written when its checkpoint was taken
  done
  fake_dump "$dumps/leftover/old-snapshot.mem" 256   # an orphan: no checkpoint references it
  touch -d '2 hours ago' "$dumps/leftover/old-snapshot.mem"  # not one being written right now
}
prepare "$work"
dumps=$work/dumps
debug_dump=$dumps/dev-mem-04/debug-session.mem
sha_before=$(sha256sum < "$debug_dump")

run() {
  printf '\n$ snapgov %s\n' "$*"
  set +e
  "$bin" "$@"
  local rc=$?
  set -e
  case $rc in
    0) echo "(exit 0: compliant)";;
    1) echo "(exit 1: violations found or remaining)";;
    *) echo "(exit $rc: error)"; exit "$rc";;
  esac
}

cd "$work"
echo "demo folder: $work (copies of examples/host.xml and examples/policy.yaml, fake dumps)"
run policy check policy.yaml
run dump scan dumps
run plan -c policy.yaml
run enforce --once -c policy.yaml
echo "(deleting prod-web-01's pre-upgrade left its external memory file behind, as libvirt 9"
echo " does; with orphans: wipe, the same pass wiped it after the deletion was verified)"
printf '\n$ find dumps -type f | sort\n'
find dumps -type f | sort
# Any admin can decrypt what snapgov wrote with the standard age tool.
printf '\n$ age --decrypt -i demo-key.txt -o restored.mem %s.age\n' "${debug_dump#"$work"/}"
age --decrypt -i demo-key.txt -o restored.mem "$debug_dump.age"
if [[ $(sha256sum < restored.mem) == "$sha_before" ]]; then
  echo "restored.mem is byte for byte the dump that was encrypted"
else
  echo "restored.mem differs from the original dump" >&2
  exit 2
fi

# The daemon: the same pass, continuously, with its control socket and metrics. libvirt's
# test driver keeps its state in each connection, so the daemon's connection starts from
# host.xml again; so that its first pass meets what enforce met, dumps included, it runs on
# a fresh copy of the demo host in daemon/. It runs its first pass, answers `snapgov status`
# and serves /metrics, then stops on SIGTERM.
prepare "$work/daemon"
{ printf 'daemon:\n  interval: 5m\n  deny_interval: 10s\n'
  printf '  control_socket: %s/control.sock\n  metrics_listen: 127.0.0.1:0\n' "$work"
} >> daemon/policy.yaml
echo
echo "The daemon runs on a fresh copy of the demo host (daemon/): the test driver's state lives"
echo "in each connection, so its first full pass meets the checkpoints and dumps enforce met."
printf '\n$ snapgov daemon -c daemon/policy.yaml &\n'
"$bin" daemon -c daemon/policy.yaml --log-format text 2> daemon.log &
daemon_pid=$!
trap 'kill "$daemon_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  if "$bin" status --socket "$work/control.sock" --format json 2>/dev/null |
     grep -q '"last_full_pass":{'; then
    break
  fi
  sleep 0.2
done
run status --socket "$work/control.sock"
port=$("$bin" status --socket "$work/control.sock" --format json |
       sed -n 's|.*"metrics":"http://127.0.0.1:\([0-9]*\)/metrics".*|\1|p')
if [[ -n "$port" ]]; then
  printf '\n$ curl -s http://127.0.0.1:%s/metrics | grep -E "^snapgov_(provider_up|checkpoints|violations|actions_total)"\n' "$port"
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  sed '1,/^\r$/d' <&3 | grep -E '^snapgov_(provider_up|checkpoints|violations|actions_total)' || true
  exec 3<&-
fi
printf '\n$ kill -TERM %s   # the action in flight finishes, then exit 0\n' "$daemon_pid"
kill -TERM "$daemon_pid"
if wait "$daemon_pid"; then echo "(daemon exit 0)"; else echo "(daemon exit $?)"; exit 2; fi
echo "daemon log (stderr):"
sed 's/^/  /' daemon.log

# What an auditor runs: every pass above (enforce's and the daemon's) is in the ledger.
echo
echo "Every pass above is in the evidence ledger ($work/evidence.db): hash-chained, its head"
echo "signed at the end of each pass. What an auditor runs:"
run evidence verify -c policy.yaml --public-key evidence.pub
run evidence export -c policy.yaml --format oscal -o assessment-results.json
printf '\n$ head -c 400 assessment-results.json\n'
head -c 400 assessment-results.json; echo " ..."
echo
echo "Demo done. The test driver keeps its state in memory: examples/ is unchanged."
