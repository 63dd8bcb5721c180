#!/usr/bin/env bash
# Builds the Debian package: dist/snapgov_<version>_amd64.deb (cpack -G DEB, dependencies from
# dpkg-shlibdeps). Installs missing build packages first, like the other scripts.
#   scripts/package.sh                 then: apt-get install ./dist/snapgov_*_amd64.deb
# The build goes to build-package/ (Release, no tests), so it never disturbs build/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --package
build_dir=${SNAPGOV_PACKAGE_BUILD_DIR:-build-package}
echo "package: building in $build_dir (log: $build_dir/build.log)"
mkdir -p "$build_dir"
if ! { cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DSNAPGOV_BUILD_TESTS=OFF &&
       cmake --build "$build_dir" -j"$(nproc 2>/dev/null || echo 2)"; } >"$build_dir/build.log" 2>&1; then
  tail -40 "$build_dir/build.log"
  echo "package: build failed; full log in $build_dir/build.log" >&2
  exit 1
fi
mkdir -p dist
(cd "$build_dir" && cpack -G DEB -B "$OLDPWD/dist" >cpack.log 2>&1) || {
  cat "$build_dir/cpack.log"; echo "package: cpack failed" >&2; exit 1; }
rm -rf dist/_CPack_Packages
deb=$(ls -t dist/snapgov_*_amd64.deb | head -1)
echo "package: $deb"
dpkg-deb -f "$deb" Package Version Depends
echo "install it with: apt-get install ./$deb"
