#!/usr/bin/env bash
# Configures and builds snapgov into build/ (or $SNAPGOV_BUILD_DIR). Extra arguments go to
# the cmake configure step, e.g. scripts/build.sh -DSNAPGOV_BUILD_TESTS=OFF.
# SNAPGOV_BUILD_TARGET=snapgov builds only that target (the demo needs only the binary).
# Unity build (CMAKE_UNITY_BUILD=ON: each target's files compiled in batches, so the Boost,
# Catch and yaml-cpp headers are parsed once per batch, not once per file): the whole build
# with tests takes about half the time on 2 cores. -DCMAKE_UNITY_BUILD=OFF builds file by
# file (an edit then recompiles one file, not its batch).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${SNAPGOV_BUILD_DIR:-build}
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSNAPGOV_WERROR=ON -DCMAKE_UNITY_BUILD=ON "$@" >/dev/null
cmake --build "$build_dir" -j"$jobs" ${SNAPGOV_BUILD_TARGET:+--target "$SNAPGOV_BUILD_TARGET"}
