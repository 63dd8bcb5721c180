# shellcheck shell=bash
# Shared by the bash integration tests: sourced, not run.
# Provides check(), summary(), and setup_vm NAME, which starts a private libvirtd (see
# libvirtd.sh: its own namespace, config, sockets; nothing under /etc is touched), points
# virsh at it ($uri, exported as LIBVIRT_DEFAULT_URI), creates a work folder ($work) and a
# running 64 MiB QEMU VM with a blank qcow2 disk. summary() stops all of it by the PIDs
# recorded at start and checks the host was left alone: the libvirtd/virtlogd processes that
# ran before still run, /etc/libvirt is unchanged. An early exit stops it all too.
# A test that defines the function libvirtd_env gets its output (NAME=VALUE words, e.g. an
# LD_PRELOAD shim; $work exists by then) in the private libvirtd's environment.

if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: needs root to start libvirtd and QEMU"
  exit 77
fi
lib_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
passed=0
failed=0
lvroot=""
work=""

check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok: $what"
  else failed=$((failed + 1)); echo "FAILED: $what"; fi
}

lib_stop() { # stops the private libvirtd, virtlogd and QEMU by their PIDs; idempotent
  local root=$lvroot
  lvroot=""
  [[ -z $root ]] || { "$lib_here/libvirtd.sh" stop "$root" && [[ ! -e $root ]]; }
}

lib_cleanup() {
  lib_stop || true
  [[ -z $work ]] || rm -rf "$work"
}

summary() { # stops everything, checks the host, prints the closing line; exit status: all ok
  check "the private libvirtd, virtlogd and QEMU were stopped by their PIDs" lib_stop
  check "the libvirtd/virtlogd that ran before the test still run; /etc/libvirt unchanged" \
    "$lib_here/libvirtd.sh" host-check "$work/host-state"
  echo "$passed passed, $failed failed"
  [[ $failed -eq 0 ]]
}

setup_vm() { # setup_vm NAME
  vm=$1
  work=$(mktemp -d "/tmp/$vm-XXXXXX")
  trap lib_cleanup EXIT
  "$lib_here/libvirtd.sh" host-state > "$work/host-state"
  local env=""
  if declare -F libvirtd_env >/dev/null; then env=$(libvirtd_env); fi
  lvroot=$(SNAPGOV_LIBVIRTD_ENV=$env "$lib_here/libvirtd.sh" start)
  uri=$(cat "$lvroot/uri")
  export LIBVIRT_DEFAULT_URI=$uri
  echo "private libvirtd: $uri (PID $(cat "$lvroot/libvirtd.pid"))"
  qemu-img create -q -f qcow2 "$work/disk.qcow2" 64M
  cat > "$work/vm.xml" <<XML
<domain type='qemu'>
  <name>$vm</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$work/disk.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
XML
  virsh -q define "$work/vm.xml" >/dev/null
  virsh -q start "$vm" >/dev/null
}
