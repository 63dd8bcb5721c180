#!/usr/bin/env bash
# Configures and builds snapgov into build/ (or $SNAPGOV_BUILD_DIR). Extra arguments go to
# the cmake configure step, e.g. scripts/build.sh -DSNAPGOV_BUILD_TESTS=OFF.
# SNAPGOV_BUILD_TARGET=snapgov builds only that target (the demo needs only the binary).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${SNAPGOV_BUILD_DIR:-build}
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSNAPGOV_WERROR=ON "$@" >/dev/null
cmake --build "$build_dir" -j"$jobs" ${SNAPGOV_BUILD_TARGET:+--target "$SNAPGOV_BUILD_TARGET"}
