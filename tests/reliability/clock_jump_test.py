#!/usr/bin/env python3
"""Fault injection (issue 12): the wall clock jumps backwards and forwards while `snapgov
daemon` runs.

The jumps come from Debian's libfaketime (package `faketime`), preloaded into the daemon
only, with a timestamp file this test rewrites: FAKETIME_TIMESTAMP_FILE, re-read at each
call (FAKETIME_NO_CACHE=1), and FAKETIME_DONT_FAKE_MONOTONIC=1 so that, as with a real
`date -s`, only CLOCK_REALTIME jumps and the monotonic clock (the daemon's timers) does not.

The host (libvirt test driver) has a dev VM under `max_age: 7d` (enforce) with a checkpoint
10 days old (deleted in the first pass) and one 1 hour old (never to be deleted), and a
production VM under `checkpoints: deny`. The clock goes back 2 hours (the young checkpoint
is now "in the future": a `future_checkpoint` finding, nothing deleted because of it), then
forward 3 days (it is 3 days old: still kept), then back to now. Throughout:
  - the daemon keeps running passes at its deny interval: no stall after the backward jump,
    no burst of passes after the forward one;
  - it deletes only what the first pass deleted (the old checkpoint, the production ones);
  - its status answers, and the evidence ledger verifies at the end;
  - SIGTERM stops it with exit 0.
Usage: clock_jump_test.py SNAPGOV. Exits 77 without libfaketime. Prints "N passed, N failed".
"""
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

RESULTS = {"passed": 0, "failed": 0}
TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"


def check(what, ok, detail=""):
    RESULTS["passed" if ok else "failed"] += 1
    print(("ok: " if ok else "FAILED: ") + what + ("" if ok else f" ({str(detail)[-1500:]})"),
          flush=True)
    return ok


def request(path, line, timeout=10.0):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall((line + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return json.loads(data.decode())


def main():
    snapgov = os.path.abspath(sys.argv[1])
    libs = glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1")
    if not libs:
        print("SKIP: libfaketime is missing (Debian package faketime; scripts/setup.sh)")
        return 77
    work = tempfile.mkdtemp(prefix="snapgov-clock-")
    proc = None
    try:
        now = int(time.time())
        dom = lambda n, u: (f"<domain type='test'><name>{n}</name><uuid>{u}</uuid>"
                            "<memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>")
        snap = lambda name, created, vm, u: (
            f"<test:domainsnapshot><name>{name}</name><state>disk-snapshot</state>"
            f"<creationTime>{created}</creationTime><memory snapshot='no'/><active>0</active>"
            f"{dom(vm, u)}</test:domainsnapshot>")
        u1, u2 = "c10c0000-0000-4000-8000-000000000001", "c10c0000-0000-4000-8000-000000000002"
        host = os.path.join(work, "host.xml")
        with open(host, "w") as f:
            f.write(f"<node><domain type='test' xmlns:test='{TEST_NS}'><name>dev-a</name>"
                    f"<uuid>{u1}</uuid><memory unit='MiB'>64</memory><os><type>hvm</type></os>"
                    + snap("old", now - 10 * 86400, "dev-a", u1)
                    + snap("young", now - 3600, "dev-a", u1) + "</domain>"
                    f"<domain type='test' xmlns:test='{TEST_NS}'><name>prod-a</name>"
                    f"<uuid>{u2}</uuid><metadata><sg:labels xmlns:sg='urn:snapgov:labels'>"
                    "<sg:tier>production</sg:tier></sg:labels></metadata>"
                    "<memory unit='MiB'>64</memory><os><type>hvm</type></os>"
                    + snap("p1", now - 600, "prod-a", u2) + "</domain></node>")
        sock = os.path.join(work, "control.sock")
        policy = os.path.join(work, "policy.yaml")
        with open(policy, "w") as f:
            f.write(f"""providers:
  - {{name: lab, type: libvirt, uri: "test://{host}"}}
policies:
  - name: no-checkpoints-in-production
    mode: enforce
    match: {{labels: {{tier: production}}}}
    checkpoints: deny
  - name: dev-retention
    mode: enforce
    match: {{names: ["dev-*"]}}
    max_age: 7d
state_dir: {work}/state
daemon:
  interval: 2s
  deny_interval: 1s
  control_socket: {sock}
  metrics_listen: ""
""")
        stamp = os.path.join(work, "faketime")
        with open(stamp, "w") as f:
            f.write("+0\n")
        log = open(os.path.join(work, "daemon.log"), "w+")
        env = {**os.environ, "LD_PRELOAD": libs[0], "FAKETIME_TIMESTAMP_FILE": stamp,
               "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        proc = subprocess.Popen([snapgov, "daemon", "-c", policy, "--log-format", "text"],
                                stdout=subprocess.DEVNULL, stderr=log, env=env)

        def status():
            try:
                return request(sock, '{"command":"status"}')
            except (OSError, ValueError):
                return None

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (status() or {}).get("last_full_pass"):
            time.sleep(0.1)
        first = status()
        if not check("the daemon runs its first pass", first and first.get("last_full_pass"),
                     first):
            return 1

        def jump(offset, label, seconds=5.0):
            with open(stamp + ".tmp", "w") as f:
                f.write(offset + "\n")
            os.replace(stamp + ".tmp", stamp)
            before = status()
            time.sleep(seconds)
            after = status()
            alive = proc.poll() is None and before is not None and after is not None
            n = after["passes"] - before["passes"] if alive else -1
            # deny_interval 1s and interval 2s: between about 2 and 10 passes in 5 s.
            check(f"clock {label}: the daemon keeps passing at its pace ({n} passes in "
                  f"{seconds:.0f} s)", alive and 2 <= n <= 12, (before, after))
            return after

        after_back = jump("-2h", "2 hours back")
        check("clock 2 hours back: status shows the jumped time",
              after_back and after_back["last_pass"]["time"] < first["last_full_pass"]["time"],
              (after_back or {}).get("last_pass"))
        jump("+3d", "3 days forward")
        jump("+0", "back to now")
        log.seek(0)
        text = log.read()
        deleted = sorted(set(re.findall(r"delete_checkpoint lab/(\S+) @ (\S+):", text)))
        check("only the old checkpoint and the production one were ever deleted",
              deleted == [("dev-a", "old"), ("prod-a", "p1")], (deleted, text[-1500:]))
        full_back = (after_back or {}).get("last_full_pass") or {}
        check("the young checkpoint in the clock's future was a finding (not acted on)",
              full_back.get("violations", 0) >= 1 and full_back.get("actions_done") == 0,
              full_back)
        final = status() or {}
        check("back at now: no violation remains", (final.get("last_full_pass") or {}).get(
            "violations") == 0, final.get("last_full_pass"))
    finally:
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
            check("SIGTERM stops the daemon with exit 0", rc == 0, rc)
            ver = subprocess.run([snapgov, "evidence", "verify", "-c",
                                  os.path.join(work, "policy.yaml")], capture_output=True,
                                 text=True, timeout=60)
            check("the evidence ledger verifies after the jumps", ver.returncode == 0,
                  ver.stdout + ver.stderr)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 0 if RESULTS["failed"] == 0 and RESULTS["passed"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
