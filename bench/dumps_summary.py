#!/usr/bin/env python3
"""Reads the output of bench/dumps.sh on stdin; prints a Markdown table of medians and the
ratios against the targets: issue 3 (encrypt wall <= 1.1x cp+sync, CPU <= 0.5x age's,
RSS <= 64 MiB; wipe wall <= 1.1x dd) and issue 14 (encrypt wall <= 2.0x cp+sync, CPU <= 1.5x
age's). Runs of only one command (bench/dumps.sh with ONLY=...) check only its targets."""
import re
import statistics
import sys
from collections import defaultdict

runs = defaultdict(list)
for line in sys.stdin:
    m = re.match(r"(\S+) (\S+) wall_s=([\d.]+) user_s=([\d.]+) sys_s=([\d.]+) maxrss_mib=([\d.]+) rc=(-?\d+)", line)
    if not m:
        continue
    tool, kind = m.group(1), m.group(2)
    if int(m.group(7)) != 0:
        sys.exit(f"{tool} {kind} failed: {line.strip()}")
    runs[(tool, kind)].append(tuple(float(m.group(i)) for i in (3, 4, 5, 6)))

def med(tool, kind, i):
    return statistics.median(r[i] for r in runs[(tool, kind)])

print("| run | file | wall s | user s | sys s | CPU s | peak RSS MiB | n |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for (tool, kind), rs in runs.items():
    w, u, s, r = (med(tool, kind, i) for i in range(4))
    print(f"| {tool} | {kind} | {w:.2f} | {u:.2f} | {s:.2f} | {u + s:.2f} | {r:.1f} | {len(rs)} |")
print()
print("| target | file | measured | target | met |")
print("| --- | --- | ---: | ---: | --- |")
for kind in sorted({k for _, k in runs}):
    cpu = lambda t: med(t, kind, 1) + med(t, kind, 2)
    checks = []
    if runs[("encrypt-snapgov", kind)]:
        wall = med("encrypt-snapgov", kind, 0) / med("encrypt-floor-cp+sync", kind, 0)
        cpu_ratio = cpu("encrypt-snapgov") / cpu("encrypt-age")
        checks += [
            ("encrypt wall / cp+sync wall (issue 3)", wall, 1.1),
            ("encrypt CPU / age CPU (issue 3)", cpu_ratio, 0.5),
            ("encrypt wall / cp+sync wall (issue 14)", wall, 2.0),
            ("encrypt CPU / age CPU (issue 14)", cpu_ratio, 1.5),
            ("encrypt peak RSS MiB", med("encrypt-snapgov", kind, 3), 64),
        ]
    if runs[("wipe-snapgov", kind)]:
        checks.append(("wipe wall / dd wall", med("wipe-snapgov", kind, 0) / med("wipe-dd-floor", kind, 0), 1.1))
    for name, value, target in checks:
        print(f"| {name} | {kind} | {value:.2f} | <= {target} | {'yes' if value <= target else 'NO'} |")
