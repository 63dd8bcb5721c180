#!/usr/bin/env bash
# Installs the Debian packages snapgov needs to build, test and run its demo.
# Idempotent: packages already present are left alone; apt runs only when something is missing.
# Usage: scripts/setup.sh [--with-integration] [--package] [--demo]
#   --with-integration  also install libvirtd, QEMU, the age tool, the package test's tools
#                       and clang-14 for the sanitizer and fuzz builds (the full test suite)
#   --package           also install dpkg-dev (dpkg-shlibdeps, for scripts/package.sh)
#   --demo              also install the age tool (the demo decrypts with it)
set -euo pipefail

build_pkgs=(
  build-essential cmake pkg-config
  libboost1.81-dev libboost-json1.81-dev
  libssl-dev libyaml-cpp-dev libpugixml-dev libcli11-dev libexpected-dev
  libsqlite3-dev libsystemd-dev libvirt-dev catch2 zlib1g-dev libkrb5-dev
)
# Tools the tests talk to as real peers: virsh (test driver), the age CLI, python3 for test
# servers, node for the OSCAL schema validator; and what the package test uses:
# dpkg-shlibdeps (dpkg-dev), man, systemd-analyze. For Kerberos and NTLM (Negotiate): an MIT
# KDC and its tools, GSSAPI in Python for the test server, the NTLM mechanism for both sides,
# and faketime (a client whose clock is off;
# also the clock jumps of tests/reliability).
test_pkgs=(libvirt-clients age python3 openssl clang-format nodejs dpkg-dev man-db systemd
           bash-completion krb5-kdc krb5-admin-server krb5-user python3-gssapi
           python3-cryptography gss-ntlmssp faketime)
# The ASan/UBSan build and the fuzz targets (scripts/sanitize.sh, scripts/fuzz.sh): clang-14
# with its sanitizer and libFuzzer runtimes.
sanitizer_pkgs=(clang-14 libclang-rt-14-dev libfuzzer-14-dev)
integration_pkgs=(libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils inotify-tools)

want=("${build_pkgs[@]}")
with_integration=0
for arg in "$@"; do
  case $arg in
    --with-integration)
      with_integration=1
      want+=("${test_pkgs[@]}" "${sanitizer_pkgs[@]}" "${integration_pkgs[@]}")
      # Debian's nodejs comes without npm (a package of its own); NodeSource's includes it.
      command -v npm > /dev/null || want+=(npm)
      ;;
    --package) want+=(dpkg-dev) ;;
    --demo) want+=(age) ;;
    *) echo "setup: unknown option $arg (known: --with-integration, --package, --demo)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing packages: ${missing[*]}" >&2
    echo "setup: run as root, or install them with: apt-get install ${missing[*]}" >&2
    exit 2
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#want[@]} packages present" >&2
fi

# The OSCAL validator the tests run (ajv-cli, pinned by tests/oscal/package-lock.json).
if ((with_integration)); then
  oscal="$(dirname "$0")/../tests/oscal"
  if [[ ! -x "$oscal/node_modules/.bin/ajv" ]]; then
    echo "setup: installing the OSCAL validator (npm ci in tests/oscal)" >&2
    (cd "$oscal" && npm ci --prefer-offline --no-audit --no-fund)
  fi
fi
