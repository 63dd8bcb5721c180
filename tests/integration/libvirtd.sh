#!/usr/bin/env bash
# Starts libvirtd and virtlogd for the integration tests when they are not running, the way
# DESIGN.md describes for a root shell without systemd. Idempotent. Prints "started" when it
# started the daemons (so the caller can stop them), "running" when they already ran.
set -euo pipefail

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
pgrep -x virtlogd >/dev/null || virtlogd -d
pgrep -x libvirtd >/dev/null || libvirtd -d
for _ in $(seq 1 50); do
  if virsh -c qemu:///system version >/dev/null 2>&1; then
    echo started
    exit 0
  fi
  sleep 0.2
done
echo "libvirtd did not answer within 10 s" >&2
exit 1
