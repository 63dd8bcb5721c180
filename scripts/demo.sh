#!/usr/bin/env bash
# The demo: installs what is missing, builds snapgov, then runs its one-shot pass on the
# embedded libvirt test-driver host (examples/host.xml) with the demo policy
# (examples/policy.yaml): policy check, plan, then enforce --once.
# The example's checkpoint times are fixed, so the demo pins the clock with --now.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
SNAPGOV_BUILD_DIR=${SNAPGOV_BUILD_DIR:-build} scripts/build.sh -DSNAPGOV_BUILD_TESTS=OFF
bin=${SNAPGOV_BUILD_DIR:-build}/daemon/snapgov
now=2026-11-24T12:00:00Z

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

run policy check examples/policy.yaml --now "$now"
run plan -c examples/policy.yaml --now "$now"
run enforce --once -c examples/policy.yaml --now "$now"
echo
echo "Demo done. The test driver keeps its state in memory: examples/host.xml is unchanged."
