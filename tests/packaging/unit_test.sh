#!/usr/bin/env bash
# The systemd unit from packaging/ as systemd itself judges it: `systemd-analyze verify`
# (syntax, known settings, executables) and `systemd-analyze security --offline=true`, whose
# overall exposure must stay at or below 2.0. ExecStart= points at the built binary here;
# the package test checks the installed unit with the installed binary.
# Usage: unit_test.sh UNIT_FILE SNAPGOV_BINARY
set -euo pipefail
unit=$1 binary=$(readlink -f "$2")
command -v systemd-analyze >/dev/null || { echo "FAIL: systemd-analyze is missing"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s#/usr/bin/snapgov#$binary#g" "$unit" >"$work/snapgov.service"

failed=0
if systemd-analyze verify --man=no "$work/snapgov.service" >"$work/verify" 2>&1 && ! [[ -s $work/verify ]]; then
  echo "ok: systemd-analyze verify: no complaint"
else
  echo "FAIL: systemd-analyze verify:"; cat "$work/verify"; failed=1
fi
systemd-analyze security --offline=true "$work/snapgov.service" >"$work/security" 2>&1 || true
level=$(sed -n 's/.*Overall exposure level for snapgov.service: \([0-9.]*\).*/\1/p' "$work/security")
if [[ -n $level ]] && awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }'; then
  echo "ok: exposure $level (at most 2.0)"
else
  echo "FAIL: exposure ${level:-unknown} (at most 2.0 allowed)"; grep '✗' "$work/security" || cat "$work/security"
  failed=1
fi
# What the issue asks the unit to keep and to add, each by name.
for setting in Type=notify WatchdogSec= ExecReload= NoNewPrivileges=yes ProtectSystem=strict \
    ReadWritePaths= ProtectHome=yes PrivateTmp=yes PrivateDevices=yes ProtectKernelTunables=yes \
    ProtectKernelModules=yes ProtectKernelLogs=yes ProtectControlGroups=yes \
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" RestrictNamespaces=yes \
    LockPersonality=yes MemoryDenyWriteExecute=yes SystemCallFilter=@system-service \
    SystemCallArchitectures=native CapabilityBoundingSet= StateDirectory=snapgov \
    StateDirectoryMode=0700; do
  grep -q "^$setting" "$unit" || { echo "FAIL: the unit lacks $setting"; failed=1; }
done
[[ $failed -eq 0 ]] && echo "unit test: all checks passed"
exit $failed
