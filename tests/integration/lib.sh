# Shared by the bash integration tests: sourced, not run.
# Provides check(), summary(), and setup_vm NAME, which starts libvirtd if needed, creates a
# work folder ($work) and a running 64 MiB QEMU VM with a blank qcow2 disk, and cleans all of
# it up on exit (stopping libvirtd again if it was started here).

if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: needs root to start libvirtd and QEMU"
  exit 77
fi
lib_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
passed=0
failed=0

check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok: $what"
  else failed=$((failed + 1)); echo "FAILED: $what"; fi
}

summary() { # prints the closing line; the exit status says whether all passed
  echo "$passed passed, $failed failed"
  [[ $failed -eq 0 ]]
}

lib_cleanup() {
  virsh -q destroy "$vm" >/dev/null 2>&1 || true
  virsh -q undefine "$vm" --snapshots-metadata >/dev/null 2>&1 || true
  pkill -f "guest=$vm," || true  # a QEMU that libvirtd lost track of
  rm -rf "$work"
  if [[ $daemons == started ]]; then
    "$lib_here/libvirtd.sh" stop
  fi
}

setup_vm() { # setup_vm NAME
  vm=$1
  daemons=$("$lib_here/libvirtd.sh")
  work=$(mktemp -d "/tmp/$vm-XXXXXX")
  trap lib_cleanup EXIT
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
