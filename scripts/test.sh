#!/usr/bin/env bash
# The whole test suite: installs what is missing (build tools, libvirtd, QEMU, age), builds
# with warnings as errors, then runs every test through CTest, including the integration
# tests against a real libvirtd with QEMU (tests/integration/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-integration
SNAPGOV_BUILD_DIR=${SNAPGOV_BUILD_DIR:-build} scripts/build.sh -DSNAPGOV_BUILD_TESTS=ON
cd "${SNAPGOV_BUILD_DIR:-build}"
ctest --output-on-failure --timeout 600 -j"$(nproc)" "$@"
