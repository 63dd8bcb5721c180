#!/usr/bin/env python3
"""Writes a virsh batch that sets up N diskless 64 MiB QEMU VMs x M snapshots on a real
libvirtd, snapshots added as metadata only (`snapshot-create --redefine`), for benchmarks.

The same shape as gen_host.py (the test-driver host): half the VMs are labelled
tier=production, the rest env=dev; checkpoint ages spread from 1 h to 20 days in a parent
chain per VM; every third checkpoint holds external memory; the last one is current.
Usage: gen_libvirt_host.py N M DIR [NOW_EPOCH]   -> DIR/setup.virsh (+ DIR/xml/*.xml);
run it with `virsh -q -c URI < DIR/setup.virsh`.
"""
import os
import sys


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    n, m, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    now = int(sys.argv[4]) if len(sys.argv) > 4 else 1795521600  # 2026-11-24T12:00:00Z
    xml_dir = os.path.join(out, "xml")
    os.makedirs(xml_dir, exist_ok=True)
    with open(os.path.join(out, "setup.virsh"), "w") as batch:
        for i in range(n):
            name = f"vm-{i:05d}"
            uuid = f"b0000000-0000-4000-8000-{i:012d}"
            label = "<sg:tier>production</sg:tier>" if i % 2 == 0 else "<sg:env>dev</sg:env>"
            body = (f"<name>{name}</name><uuid>{uuid}</uuid>"
                    f"<memory unit='MiB'>64</memory><vcpu>1</vcpu>"
                    f"<os><type arch='x86_64' machine='pc'>hvm</type></os><devices/>")
            dom = os.path.join(xml_dir, f"{name}.xml")
            with open(dom, "w") as f:
                f.write(f"<domain type='qemu'>{body}<metadata><sg:labels "
                        f"xmlns:sg='urn:snapgov:labels'>{label}</sg:labels></metadata>"
                        f"</domain>\n")
            batch.write(f"define {dom}\n")
            parent = None
            for j in range(m):
                age = 3600 + (j * 20 * 86400) // max(m, 1)
                mem = (f"<memory snapshot='external' file='/dumps/{name}-s{j}.mem'/>"
                       if j % 3 == 0 else "<memory snapshot='no'/>")
                state = "running" if j % 3 == 0 else "shutoff"
                par = f"<parent><name>{parent}</name></parent>" if parent else ""
                snap = os.path.join(xml_dir, f"{name}-s{j}.xml")
                with open(snap, "w") as f:
                    f.write(f"<domainsnapshot><name>s{j}</name><state>{state}</state>{par}"
                            f"<creationTime>{now - age}</creationTime>{mem}"
                            f"<domain type='qemu'>{body}</domain></domainsnapshot>\n")
                current = " --current" if j == m - 1 else ""
                batch.write(f"snapshot-create {name} --xmlfile {snap} --redefine{current}\n")
                parent = f"s{j}"


if __name__ == "__main__":
    main()
