#!/usr/bin/env bash
# The whole test suite: installs what is missing (build tools, libvirtd, QEMU, age, the package
# test's tools, the OSCAL validator), builds with warnings as errors, then runs every test
# through CTest, including the integration tests against a real libvirtd with QEMU
# (tests/integration/) and the Debian package test (tests/packaging/).
#
# Then the same suite under ASan + UBSan (scripts/sanitize.sh, a second build folder, clang)
# and each fuzz target for 20 s from that build (scripts/fuzz.sh 20). SNAPGOV_SKIP_SANITIZE=1
# skips both (a quick local run); CI never sets it.
#
# Tests leave the host alone: afterwards the host's own state directory /var/lib/snapgov (the
# default `state_dir`, where a test's policy without one would write journals and evidence)
# must be as it was before; the suite fails otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each stage says how long it took (CI must stay under 25 minutes on 2 cores).
stage_start=$SECONDS
stage_done() {
  echo "test.sh: $1 took $((SECONDS - stage_start)) s (total $SECONDS s)"
  stage_start=$SECONDS
}
scripts/setup.sh --with-integration
stage_done "set-up"
# Line tables only (-g1), not full debug info: backtraces and gdb still name functions,
# files and lines, and the build takes less (the slowest file: 75 s with -g, 50 s with -g1).
SNAPGOV_BUILD_DIR=${SNAPGOV_BUILD_DIR:-build} scripts/build.sh -DSNAPGOV_BUILD_TESTS=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"
stage_done "the build"
host_state() { find /var/lib/snapgov -printf '%p %s %T@\n' 2>/dev/null | sort || true; }
before=$(host_state)
status=0
(cd "${SNAPGOV_BUILD_DIR:-build}" && ctest --output-on-failure --timeout 600 -j"$(nproc)" "$@") ||
  status=$?
stage_done "the test suite"
if [[ $(host_state) != "$before" ]]; then
  echo "test.sh: a test changed the host's /var/lib/snapgov (a policy without state_dir?):" >&2
  diff <(echo "$before") <(host_state) >&2 || true
  status=1
fi
if [[ ${SNAPGOV_SKIP_SANITIZE:-0} != 1 ]]; then
  scripts/sanitize.sh || status=1
  stage_done "the sanitizer build and suite"
  scripts/fuzz.sh 20 || status=1
  stage_done "the fuzzers"
fi
exit $status
