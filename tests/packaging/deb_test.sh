#!/usr/bin/env bash
# The Debian package as an admin meets it: built with cpack from the build tree, installed
# with `apt-get install ./snapgov_<version>_amd64.deb`, used, then purged, leaving nothing.
#
# Safe on a real host: everything runs in a private mount namespace where /etc, /usr and /var
# are overlays whose writes land in a tmpfs of that namespace (and /tmp, /run are private), so
# the host's package database and files never change. Checked at the end from outside.
#
# Usage: deb_test.sh BUILD_DIR        (needs root; exits 77 to skip without it)
set -euo pipefail
build=$(cd "$1" && pwd)
[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (mount namespace, apt-get)"; exit 77; }
for tool in unshare apt-get dpkg-shlibdeps systemd-analyze man; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (scripts/setup.sh installs it)"; exit 1; }
done

work=$(mktemp -d "$build/deb-test.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

echo "# building the package with cpack"
if ! cpack --config "$build/CPackConfig.cmake" -G DEB -B "$work/pkg" >"$work/cpack.log" 2>&1; then
  cat "$work/cpack.log"; echo "FAIL: cpack"; exit 1
fi
deb=$(ls "$work"/pkg/snapgov_*_amd64.deb)
echo "ok: cpack made $(basename "$deb")"

host_state() {
  { dpkg-query -W -f='${Status} ${Version}\n' snapgov 2>&1 || true
    ls -la /etc/snapgov /usr/bin/snapgov /lib/systemd/system/snapgov.service 2>&1 || true
    sha256sum /var/lib/dpkg/status; } | sed "s#$work#WORK#g"
}
host_state >"$work/host-before"

cat >"$work/inside.sh" <<'INSIDE'
set -euo pipefail
work=$1 deb=$2
# Everything this side writes lives in a tmpfs on /mnt (private to this namespace): the test's
# own folder may be under /tmp or /var, which are covered below.
[[ -d /mnt ]] || { echo "FAIL: /mnt is missing (a standard Debian folder)"; exit 1; }
mount -t tmpfs tmpfs /mnt
cp "$deb" /mnt/
deb=/mnt/$(basename "$deb") work=/mnt/deb-test
mkdir -p "$work"
for d in etc usr var; do
  mkdir -p "$work/ov/$d.up" "$work/ov/$d.work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$work/ov/$d.up,workdir=$work/ov/$d.work" "/$d"
done
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /run/lock

failed=0
check() { # check WHAT COMMAND...
  local what=$1; shift
  if "$@" >"$work/out" 2>&1; then echo "ok: $what"; else
    echo "FAIL: $what"; sed 's/^/    /' "$work/out" | tail -20; failed=1; fi
}
# Every file under /etc, /usr and /var that is not package-manager bookkeeping, a log or
# scratch space (/var/tmp).
snapshot() {
  find /etc /usr /var -xdev \( -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/cache \
    -o -path /var/log -o -path /var/tmp -o -path /etc/ld.so.cache \) -prune -o -print | sort
}
snapshot >"$work/files-before"

export DEBIAN_FRONTEND=noninteractive
check "apt-get install ./$(basename "$deb")" \
  apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 "$deb"
check "snapgov --version names the packaged version" \
  sh -c "snapgov --version | grep -F '$(dpkg-deb -f "$deb" Version)'"
check "snapgov policy check /etc/snapgov/snapgov.yaml" snapgov policy check /etc/snapgov/snapgov.yaml
check "/etc/snapgov/snapgov.yaml is a conffile" \
  sh -c "dpkg-query -W -f='\${Conffiles}' snapgov | grep -q '/etc/snapgov/snapgov.yaml'"
check "the default policy is audit-only" sh -c "! grep -Eq '^[[:space:]]*mode:[[:space:]]*enforce' /etc/snapgov/snapgov.yaml"
check "Depends comes from dpkg-shlibdeps (libvirt0, libssl3)" \
  sh -c "dpkg-query -W -f='\${Depends}' snapgov | grep -q libvirt0 && dpkg-query -W -f='\${Depends}' snapgov | grep -q libssl3"
for page in $(sed -n 's/^Documentation=//p' /lib/systemd/system/snapgov.service); do
  name=${page#man:}; section=${name##*(}; section=${section%)}; name=${name%(*}
  check "the unit's Documentation=$page is an installed man page" man -w "$section" "$name"
done
check "bash completion is installed" test -s /usr/share/bash-completion/completions/snapgov
check "systemd-analyze verify accepts the installed unit" \
  systemd-analyze verify --man=no /lib/systemd/system/snapgov.service
check "systemd-analyze security: exposure at most 2.0" sh -c '
  level=$(systemd-analyze security --offline=true /lib/systemd/system/snapgov.service 2>&1 |
          sed -n "s/.*Overall exposure level for snapgov.service: \([0-9.]*\).*/\1/p")
  echo "exposure: ${level:-none}"; [ -n "$level" ] && awk -v l="$level" "BEGIN{exit !(l <= 2.0)}"'
check "apt-get purge snapgov" apt-get purge -y -q -o Dpkg::Use-Pty=0 snapgov
check "dpkg no longer knows snapgov" sh -c '! dpkg-query -W -f="\${Status}" snapgov 2>/dev/null | grep -q "installed\|config-files"'
snapshot >"$work/files-after"
check "nothing is left under /etc, /usr or /var" diff "$work/files-before" "$work/files-after"

# A state directory that is not empty (evidence, dump journals) survives a purge, and the
# purge says so: purging a package must not destroy the only record of a dump operation.
check "install again" apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 "$deb"
mkdir -p /var/lib/snapgov && echo journal >/var/lib/snapgov/protect-1.journal
apt-get purge -y -q -o Dpkg::Use-Pty=0 snapgov >"$work/purge.log" 2>&1 || true
check "a purge keeps a non-empty state directory" test -s /var/lib/snapgov/protect-1.journal
check "and says so" grep -q "kept /var/lib/snapgov" "$work/purge.log"
exit $failed
INSIDE

status=0
unshare --mount --propagation private bash "$work/inside.sh" "$work" "$deb" || status=1

host_state >"$work/host-after"
if diff "$work/host-before" "$work/host-after"; then
  echo "ok: the host's package database and files are unchanged"
else
  echo "FAIL: the host changed"; status=1
fi
[[ $status -eq 0 ]] && echo "deb test: all checks passed" || echo "deb test: FAILED"
exit $status
