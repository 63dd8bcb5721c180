#!/usr/bin/env python3
"""Writes a policy file with N policies (and N/10 exemptions) to stdout."""
import sys
n = int(sys.argv[1])
out = ["providers:", "  - name: lab", "    type: libvirt", "    uri: test:///default", "policies:"]
for i in range(n):
    out += [f"  - name: p{i}", "    mode: audit", f"    match: {{names: ['vm-{i}-*'], labels: {{env: dev}}}}", "    max_age: 72h", "    max_count: 3"]
out.append("exemptions:")
for i in range(0, n, 10):
    out += [f"  - policy: p{i}", f"    vm: vm-{i}-a", "    reason: CHG-1", "    expires: 2099-01-01T00:00:00Z"]
print("\n".join(out))
