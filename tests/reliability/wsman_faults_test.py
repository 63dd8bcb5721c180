#!/usr/bin/env python3
"""Fault injection on the Hyper-V provider (issue 12): the WS-Management test server
(tests/providers/hyperv/wsman_server.py, TLS on 127.0.0.1, certificate made here) answers
with HTTP 500s, malformed XML, truncated bodies, stalls, and replies lost after the request
was carried out (faults.py: `--fault STEP:KIND[:N]`), at each step of collect and of each
action of `snapgov enforce --once` with a `checkpoints: deny` policy.

The steps are those a clean run makes, read from the server's request log. For each step and
kind, the fault hits the first matching request only (the host then recovers), and:
  - the run ends in a clear error (exit 2, naming the provider) or carries on after a retry
    (exit 0/1 with every planned action done); it never hangs (bounded by a timeout) nor
    crashes;
  - nothing is lost: every checkpoint the plan does not delete is still on the server after
    the run (snapgov inventory, the fault spent), and no action is reported `done` whose
    effect is not there;
  - a fault during collection leaves that provider without any action (fail closed).

Usage: wsman_faults_test.py SNAPGOV [--kinds K,K] [--steps PATTERN] [--stall-steps P,P].
Prints "N passed, N failed"; exit 0 only when all pass. Every server started here is stopped
here.
"""
import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SERVER = os.path.join(ROOT, "tests", "providers", "hyperv", "wsman_server.py")
WORLD = os.path.join(ROOT, "tests", "providers", "hyperv", "data", "world.json")
NOW = "2026-11-24T12:00:00Z"
READ_TIMEOUT = 2  # seconds; a stall lasts longer
RESULTS = {"passed": 0, "failed": 0}
KINDS = ["500", "malformed", "truncated", "stall", "lost"]


LOCK = threading.Lock()


def check(what, ok, detail=""):
    with LOCK:
        RESULTS["passed" if ok else "failed"] += 1
        print(("ok: " if ok else "FAILED: ") + what + ("" if ok else f" ({str(detail)[-1800:]})"),
              flush=True)
    return ok


class Server:
    def __init__(self, work, faults=("none:500",)):
        self.log = os.path.join(work, f"server-{time.monotonic_ns()}.log")
        args = [sys.executable, SERVER, "--world", WORLD, "--cert", CERT[1], "--key", CERT[0],
                "--password-file", PASSWORD, "--log", self.log, "--max-lifetime", "120",
                "--fault-stall", str(READ_TIMEOUT * 3), "--job-polls", "1", "--page-size", "2"]
        for f in faults:
            args += ["--fault", f]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.port = int(self.proc.stdout.readline())

    def requests(self):
        with open(self.log) as f:
            return [l.split() for l in f.read().splitlines()]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def write_policy(work, port):
    path = os.path.join(work, f"policy-{port}.yaml")
    with open(path, "w") as f:
        f.write(f"""providers:
  - name: hv01
    type: hyperv
    endpoint: https://127.0.0.1:{port}/wsman
    auth: {{method: basic, username: svc-snapgov, password_file: {PASSWORD}}}
    tls: {{ca_file: {CERT[1]}}}
    connect_timeout: 2s
    read_timeout: {READ_TIMEOUT}s
policies:
  - name: no-checkpoints-in-production
    mode: enforce
    match: {{labels: {{tier: production}}}}
    checkpoints: deny
state_dir: {work}/state-{port}
""")
    return path


def snapgov(*args, timeout=120):
    return subprocess.run([SNAPGOV, *args, "--now", NOW], capture_output=True, text=True,
                          timeout=timeout)


def checkpoints(policy):
    """{(vm, checkpoint)} on the server now, or None when inventory fails."""
    r = snapgov("inventory", "-c", policy, "--format", "json")
    if r.returncode != 0:
        return None
    doc = json.loads(r.stdout)
    found = set()

    def walk(node, vm=None):
        if isinstance(node, dict):
            if "checkpoints" in node and "name" in node:
                vm = node["name"]
            if vm is not None and "created" in node and "name" in node and "checkpoints" not in node:
                found.add((vm, node["name"]))
            for v in node.values():
                walk(v, vm)
        elif isinstance(node, list):
            for v in node:
                walk(v, vm)
    walk(doc)
    return found


def step_names(requests):
    """ACTION:CLASS of each request of a run, in order (faults.step_of's names)."""
    return [parts[1] for parts in requests if parts[:1] == ["STEP"] and len(parts) == 2]


def main():
    global SNAPGOV, CERT, PASSWORD
    ap = argparse.ArgumentParser()
    ap.add_argument("snapgov")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--steps", default="*")
    ap.add_argument("--stall-steps", default="*",
                    help="comma-separated patterns: the steps a stall is tried on (each costs "
                         "the read timeout)")
    args = ap.parse_args()
    SNAPGOV = os.path.abspath(args.snapgov)
    work = tempfile.mkdtemp(prefix="snapgov-wsfaults-")
    try:
        key, cert = os.path.join(work, "srv.key"), os.path.join(work, "srv.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        CERT = (key, cert)
        PASSWORD = os.path.join(work, "hv.pass")
        with open(PASSWORD, "w") as f:
            f.write("s3cret-for-tests\n")
        os.chmod(PASSWORD, 0o600)

        # A clean run: the plan, the outcome, and the steps it takes.
        srv = Server(work)
        try:
            policy = write_policy(work, srv.port)
            before = checkpoints(policy)
            plan = json.loads(snapgov("plan", "-c", policy, "--format", "json").stdout)
            planned = {(a["kind"], a["vm"], a["checkpoint"]) for a in plan["actions"]}
            deleted = {(vm, cp) for kind, vm, cp in planned if kind == "delete_checkpoint"}
            open(srv.log, "w").close()
            clean = snapgov("enforce", "--once", "-c", policy, "--format", "json")
            steps = step_names(srv.requests())
            after = checkpoints(policy)
        finally:
            srv.stop()
        check("a clean run acts on every planned action and exits 0",
              clean.returncode == 0 and before and deleted and after == before - deleted,
              (clean.returncode, clean.stderr[-500:]))
        keep = before - deleted
        print(f"clean run: {len(steps)} requests, {len(set(steps))} distinct steps; the plan "
              f"deletes {len(deleted)} of {len(before)} checkpoints", flush=True)
        distinct = [s for s in dict.fromkeys(steps) if fnmatch.fnmatchcase(s, args.steps)]
        collect_steps = set()
        for s in steps:
            # Collection reads VMs and settings; the first service or job is an action's.
            if "Service" in s or "Job" in s or s.split(":")[0] not in ("Enumerate", "Pull",
                                                                        "Release", "Get"):
                break
            collect_steps.add(s)
        counts = {"faults": 0, "exit2": 0, "retried": 0}

        def one(step, kind):
            srv = Server(work, [f"{step}:{kind}:1"])
            what = f"{step} {kind}"
            try:
                policy = write_policy(work, srv.port)
                t0 = time.monotonic()
                try:
                    r = snapgov("enforce", "--once", "-c", policy, "--format", "json",
                                timeout=60)
                except subprocess.TimeoutExpired:
                    check(f"{what}: enforce ends within 60 s", False)
                    return
                took = time.monotonic() - t0
                injected = any(p[:1] == ["FAULT-INJECTED"] for p in srv.requests())
                if not injected:
                    print(f"skip: {what}: no request matched (the run took another path)")
                    return
                with LOCK:
                    counts["faults"] += 1
                    counts["exit2" if r.returncode == 2 else "retried"] += 1
                try:
                    doc = json.loads(r.stdout)
                except ValueError:
                    doc = {"actions": []}
                done = {(a["vm"], a["checkpoint"]) for a in doc.get("actions", [])
                        if a["kind"] == "delete_checkpoint" and a["outcome"] == "done"}
                now = checkpoints(policy)
                check(f"{what}: exit 2 naming hv01, or exit 0 after a retry ({took:.1f} s)",
                      (r.returncode == 2 and "hv01" in r.stderr)
                      or (r.returncode == 0 and now == keep), (r.returncode, r.stderr[-800:]))
                check(f"{what}: every checkpoint outside the plan is still there",
                      now is not None and keep <= now, (now, keep))
                check(f"{what}: no deletion reported done whose effect is missing",
                      now is not None and not (done & now), done & (now or set()))
                retried = [l for l in r.stderr.splitlines() if "retr" in l.lower()]
                if r.returncode != 2:
                    check(f"{what}: the run that carried on logged its retry", bool(retried),
                          r.stderr[-600:])
                if step in collect_steps and r.returncode == 2:
                    check(f"{what}: a fault while collecting: no action on hv01",
                          not done and now == before, (done, r.stderr[-400:]))
            finally:
                srv.stop()

        cases = [(step, kind) for step in distinct for kind in args.kinds.split(",")
                 if kind != "stall" or any(fnmatch.fnmatchcase(step, p)
                                           for p in args.stall_steps.split(","))]
        with ThreadPoolExecutor(max_workers=4) as pool:
            for f in [pool.submit(one, step, kind) for step, kind in cases]:
                f.result()
        print(f"{counts['faults']} faults injected: {counts['exit2']} ended in exit 2, "
              f"{counts['retried']} carried on after a retry", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 0 if RESULTS["failed"] == 0 and RESULTS["passed"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
