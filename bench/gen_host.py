#!/usr/bin/env python3
"""Writes a libvirt test-driver host file with N VMs x M checkpoints, for benchmarks.

Half the VMs are labelled tier=production, the rest env=dev; checkpoint ages spread from
1 h to 20 days, in a parent chain per VM, with every third checkpoint holding external
memory. Usage: gen_host.py N M OUT.xml [NOW_EPOCH]
"""
import sys


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    n, m, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    now = int(sys.argv[4]) if len(sys.argv) > 4 else 1795521600  # 2026-11-24T12:00:00Z
    with open(out, "w") as f:
        f.write("<node>\n")
        for i in range(n):
            name = f"vm-{i:05d}"
            uuid = f"b0000000-0000-4000-8000-{i:012d}"
            label = "<sg:tier>production</sg:tier>" if i % 2 == 0 else "<sg:env>dev</sg:env>"
            f.write(
                f"<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
                f"<name>{name}</name><uuid>{uuid}</uuid>"
                f"<metadata><sg:labels xmlns:sg='urn:snapgov:labels'>{label}</sg:labels></metadata>"
                f"<memory unit='MiB'>64</memory><os><type>hvm</type></os>\n")
            parent = None
            for j in range(m):
                age = 3600 + (j * 20 * 86400) // max(m, 1)
                mem = (f"<memory snapshot='external' file='/dumps/{name}-s{j}.mem'/>"
                       if j % 3 == 0 else "<memory snapshot='no'/>")
                state = "running" if j % 3 == 0 else "disk-snapshot"
                par = f"<parent><name>{parent}</name></parent>" if parent else ""
                active = 1 if j == m - 1 else 0
                f.write(
                    f"<test:domainsnapshot><name>s{j}</name><state>{state}</state>{par}"
                    f"<creationTime>{now - age}</creationTime>{mem}<active>{active}</active>"
                    f"<domain type='test'><name>{name}</name><uuid>{uuid}</uuid>"
                    f"<memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>"
                    f"</test:domainsnapshot>\n")
                parent = f"s{j}"
            f.write("</domain>\n")
        f.write("</node>\n")


if __name__ == "__main__":
    main()
