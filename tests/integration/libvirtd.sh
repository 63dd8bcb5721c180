#!/usr/bin/env bash
# Starts or stops libvirtd and virtlogd for the integration tests, the way DESIGN.md
# describes for a root shell without systemd.
#   libvirtd.sh        start if not answering; prints "started" if it started them,
#                      "running" if they already answered. Idempotent.
#   libvirtd.sh stop   stop both and wait (at most 15 s) until they are gone.
set -euo pipefail

wait_gone() { # wait_gone NAME: bounded wait for a process to exit
  for _ in $(seq 1 75); do
    pgrep -x "$1" >/dev/null || return 0
    sleep 0.2
  done
  pkill -9 -x "$1" || true
  sleep 0.2
}

if [[ "${1:-}" == stop ]]; then
  pkill -x libvirtd || true
  wait_gone libvirtd
  pkill -x virtlogd || true
  wait_gone virtlogd
  exit 0
fi

if virsh -c qemu:///system version >/dev/null 2>&1; then
  echo running
  exit 0
fi
id libvirt-qemu >/dev/null 2>&1 || useradd --system --no-create-home libvirt-qemu
conf=/etc/libvirt/qemu.conf
for kv in 'user = "root"' 'group = "root"' 'swtpm_user = "root"' 'swtpm_group = "root"'; do
  key=${kv%% =*}
  grep -q "^${key} = " "$conf" 2>/dev/null || echo "$kv" >> "$conf"
done
mkdir -p /var/log/libvirt /var/run/libvirt
# A libvirtd that does not answer is on its way out (or hung): let it go first.
if pgrep -x libvirtd >/dev/null; then
  wait_gone libvirtd
fi
pgrep -x virtlogd >/dev/null || virtlogd -d
libvirtd -d
for _ in $(seq 1 75); do
  if virsh -c qemu:///system version >/dev/null 2>&1; then
    echo started
    exit 0
  fi
  sleep 0.2
done
echo "libvirtd did not answer within 15 s; see /var/log/libvirt" >&2
exit 1
