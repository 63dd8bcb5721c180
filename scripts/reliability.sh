#!/usr/bin/env bash
# The long forms of the reliability harness in one command (docs/reliability.md; the results
# of a run go to bench/RESULTS.md by hand). About an hour on 2 cores with the default 600 s
# per fuzz target (the sum of the parts' times measured one by one, bench/RESULTS.md):
#   1. the crash injection loop, 200 SIGKILL trials (the demo host and a real libvirtd + QEMU);
#   2. the other reliability tests (faults, blast radius: their CTest form is their whole form);
#   3. the whole suite under ASan + UBSan, then the reliability tests under them too;
#   4. every fuzz target for SECONDS (default 600).
# Usage: scripts/reliability.sh [SECONDS]. Exits 1 if any part failed (each still runs).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
[[ $seconds =~ ^[0-9]+$ ]] || { echo "usage: scripts/reliability.sh [SECONDS per fuzz target]" >&2; exit 2; }
status=0
part() { echo "== reliability.sh: $1"; }
scripts/setup.sh --with-integration
scripts/build.sh -DSNAPGOV_BUILD_TESTS=ON
part "crash injection, 200 trials"
python3 tests/reliability/crash_test.py build/snapgov --trials 200 \
  --kill-helper build/tests/libsnapgov_test_kill_at_step.so || status=1
part "fault injection and blast radius"
(cd build && ctest --output-on-failure -L reliability -E 'crash injection') || status=1
part "the suite under ASan + UBSan"
scripts/sanitize.sh || status=1
part "the reliability tests under ASan + UBSan"
scripts/sanitize.sh -L reliability || status=1
part "every fuzz target for $seconds s"
scripts/fuzz.sh "$seconds" || status=1
echo "== reliability.sh: $([[ $status == 0 ]] && echo "all parts passed" || echo "a part failed (above)")"
exit $status
