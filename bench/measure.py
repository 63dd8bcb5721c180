#!/usr/bin/env python3
"""Runs a command, then prints its wall time and peak RSS (of the child, via wait4).
Usage: measure.py LABEL -- COMMAND...  Output: LABEL wall_s=... maxrss_mib=... rc=..."""
import os
import subprocess
import sys
import time

label = sys.argv[1]
cmd = sys.argv[sys.argv.index("--") + 1:]
start = time.monotonic()
proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
wall = time.monotonic() - start
rc = os.waitstatus_to_exitcode(status)
print(f"{label} wall_s={wall:.2f} user_s={usage.ru_utime:.2f} sys_s={usage.ru_stime:.2f} "
      f"maxrss_mib={usage.ru_maxrss / 1024:.1f} rc={rc}", flush=True)
