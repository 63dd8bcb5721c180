#!/usr/bin/env bash
# The demo: installs what is missing, builds snapgov, then runs its one-shot pass on the
# embedded libvirt test-driver host (examples/host.xml) with the demo policy
# (examples/policy.yaml): policy check, dump scan, plan, enforce --once, then the daemon
# for one pass (status, metrics, SIGTERM).
# The example's checkpoint times are fixed, so the demo pins the clock with --now.
#
# Memory dumps: the host file names memory files under /var/lib/libvirt/qemu/snapshot/. So
# that the demo can show them being encrypted and wiped without touching that folder, it
# works on a copy of both example files in a temporary directory, with those paths pointing
# at small fake dumps there (the `LibvirtQemudSave` magic + random bytes), plus one orphan
# dump that no checkpoint references. examples/ itself is never modified.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
SNAPGOV_BUILD_DIR=${SNAPGOV_BUILD_DIR:-build} scripts/build.sh -DSNAPGOV_BUILD_TESTS=OFF
bin=$(realpath "${SNAPGOV_BUILD_DIR:-build}/snapgov")
now=2026-11-24T12:00:00Z

work=$(mktemp -d /tmp/snapgov-demo-XXXXXX)
trap 'rm -rf "$work"' EXIT
dumps=$work/dumps
sed "s#/var/lib/libvirt/qemu/snapshot/#$dumps/#g" examples/host.xml > "$work/host.xml"
# The journal of dump operations goes to the demo folder, not /var/lib/snapgov.
{ cat examples/policy.yaml; printf '\nstate_dir: "${CONFIG_DIR}/state"\n'; } > "$work/policy.yaml"
fake_dump() { # fake_dump PATH KIB
  mkdir -p "$(dirname "$1")"
  { printf 'LibvirtQemudSave'; head -c "$(($2 * 1024))" /dev/urandom; } > "$1"
}
for f in $(grep -o "file='$dumps/[^']*'" "$work/host.xml" | sed "s/^file='//; s/'\$//"); do
  fake_dump "$f" 512
  touch -d "2 hours ago" "$f"  # written when its checkpoint was taken
done
fake_dump "$dumps/leftover/old-snapshot.mem" 256   # an orphan: no checkpoint references it
touch -d '2 hours ago' "$dumps/leftover/old-snapshot.mem"  # not one being written right now
# With the age tool at hand, encrypt to a key made here, so the demo can decrypt too.
if command -v age-keygen >/dev/null; then
  age-keygen -o "$work/demo-key.txt" 2>/dev/null
  sed -i "s/age13egrqql3t9keweknlq2mv9rxx5wreatts5ra89fy2htpge47fc5qv0grau/$(age-keygen -y "$work/demo-key.txt")/" \
    "$work/policy.yaml"
fi
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
run policy check policy.yaml --now "$now"
run dump scan dumps
run plan -c policy.yaml --now "$now"
run enforce --once -c policy.yaml --now "$now"
echo "(deleting prod-web-01's pre-upgrade left its external memory file behind, as libvirt 9"
echo " does; with orphans: wipe, the same pass wiped it after the deletion was verified)"
printf '\n$ find dumps -type f | sort\n'
find dumps -type f | sort
if [[ -f demo-key.txt ]]; then
  run dump decrypt -i demo-key.txt "$debug_dump.age" -o restored.mem
  if [[ $(sha256sum < restored.mem) == "$sha_before" ]]; then
    echo "restored.mem is byte for byte the dump that was encrypted"
  else
    echo "restored.mem differs from the original dump" >&2
    exit 2
  fi
else
  echo "(install the age package to see the encrypted dump decrypted again)"
fi

# The daemon: the same pass, continuously, with its control socket and metrics. It starts
# on the same copies (the test driver reads host.xml afresh), runs its first pass, answers
# `snapgov status` and serves /metrics, then stops on SIGTERM.
{ cat policy.yaml
  printf '\ndaemon:\n  interval: 5m\n  deny_interval: 10s\n'
  printf '  control_socket: %s/control.sock\n  metrics_listen: 127.0.0.1:0\n' "$work"
} > daemon.yaml
printf '\n$ snapgov daemon -c daemon.yaml &\n'
"$bin" daemon -c daemon.yaml --log-format text 2> daemon.log &
daemon_pid=$!
trap 'kill "$daemon_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  if "$bin" status --socket "$work/control.sock" --format json 2>/dev/null |
     grep -q '"last_pass":{'; then
    break
  fi
  sleep 0.2
done
run status --socket "$work/control.sock"
port=$("$bin" status --socket "$work/control.sock" --format json |
       sed -n 's|.*"metrics":"http://127.0.0.1:\([0-9]*\)/metrics".*|\1|p')
if [[ -n "$port" ]]; then
  printf '\n$ curl -s http://127.0.0.1:%s/metrics | grep -v "^#" | head -n 12\n' "$port"
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  sed '1,/^\r$/d' <&3 | grep -v '^#' | head -n 12 || true
  exec 3<&-
fi
printf '\n$ kill -TERM %s   # the action in flight finishes, then exit 0\n' "$daemon_pid"
kill -TERM "$daemon_pid"
if wait "$daemon_pid"; then echo "(daemon exit 0)"; else echo "(daemon exit $?)"; exit 2; fi
echo "daemon log (stderr):"
sed 's/^/  /' daemon.log
echo
echo "Demo done. The test driver keeps its state in memory: examples/ is unchanged."
