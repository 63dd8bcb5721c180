#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer, in a second build folder
# (build-asan, or $SNAPGOV_ASAN_DIR) built with clang-14. The same build holds the libFuzzer
# targets (fuzz/), so scripts/fuzz.sh runs them from here: one instrumented build serves both.
#
# Usage: scripts/sanitize.sh [--build-only] [CTEST_ARGS...]
#
# Every test runs except (each with its reason):
#   - packaging: and style: tests, which check the Debian package, man pages, completion and
#     formatting, not snapgov's code (the package test builds its own gcc release package);
#   - the [slow] multi-GiB age round trip (label slow): 2 GiB through ASan takes minutes and
#     exercises the same code as the small round trips (see docs/reliability.md);
#   - layout: tests, which check the include layering by gcc's wording of a missing header
#     (clang words it otherwise); they test the source tree, not the code, and the main run
#     has them;
#   - the reliability tests (label reliability: crash and fault loops that drive the same
#     binaries from outside, 80 s in the main run and several minutes under ASan), to keep CI
#     under 25 minutes; `scripts/sanitize.sh -L reliability` runs them under the sanitizers;
# Any sanitizer report fails the test it happens in: halt_on_error, no UBSan recovery.
# SNAPGOV_SANITIZE=thread (with SNAPGOV_ASAN_DIR=build-tsan) builds under ThreadSanitizer
# instead; see docs/reliability.md for what that gives here.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${SNAPGOV_ASAN_DIR:-build-asan}
sanitize=${SNAPGOV_SANITIZE:-address,undefined}
build_only=0
if [[ ${1:-} == --build-only ]]; then
  build_only=1
  shift
fi
jobs=$(nproc 2>/dev/null || echo 2)
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
fuzz=ON
[[ $sanitize == *thread* ]] && fuzz=OFF # libFuzzer does not combine with TSan
# A unity build as scripts/build.sh. OSS-Fuzz's flags: -O1 and line tables only (full debug info of the Boost.Beast code costs
# minutes per file under instrumentation); assertions stay on.
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Sanitize -DSNAPGOV_WERROR=ON \
  -DCMAKE_CXX_FLAGS_SANITIZE="-O1 -gline-tables-only" -DCMAKE_C_FLAGS_SANITIZE="-O1 -gline-tables-only" \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 "${launcher[@]}" \
  -DSNAPGOV_BUILD_TESTS=ON -DSNAPGOV_SANITIZE="$sanitize" -DSNAPGOV_FUZZ=$fuzz \
  -DCMAKE_UNITY_BUILD=ON >/dev/null
cmake --build "$dir" -j"$jobs"
((build_only)) && exit 0

supp=$PWD/scripts/sanitizers
# Tests that measure memory (RSS) skip that check under a sanitizer (its allocator keeps
# freed memory); they read this.
export SNAPGOV_SANITIZER=$sanitize
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:suppressions=$supp/asan.supp${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
host_state() { find /var/lib/snapgov -printf '%p %s %T@\n' 2>/dev/null | sort || true; }
before=$(host_state)
status=0
exclude_labels=packaging\|slow\|reliability
[[ " $* " == *" -L "* ]] && exclude_labels=packaging\|slow # asked for a label: run it
(cd "$dir" && ctest --output-on-failure --timeout 900 -j"$jobs" -LE "$exclude_labels" \
  -E '^(packaging|style|layout):' "$@") || status=$?
if [[ $(host_state) != "$before" ]]; then
  echo "sanitize.sh: a test changed the host's /var/lib/snapgov" >&2
  status=1
fi
exit $status
