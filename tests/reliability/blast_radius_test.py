#!/usr/bin/env python3
"""Blast radius (issue 12): 1,000 violating checkpoints and `max_actions_per_run: 20` give
exactly 20 actions in one pass, in `snapgov enforce --once` and in the daemon's first pass;
the other 980 checkpoints, their memory dumps and every checkpoint outside the policy are
left alone.

The host is a libvirt test-driver file written here: 50 VMs labelled tier=production (under
`checkpoints: deny`) with 20 checkpoints each, every fifth holding an external memory dump
that exists on disk (a fake `LibvirtQemudSave` file), plus 5 dev VMs no policy acts on. With
`orphans: wipe`, a deleted checkpoint's memory file becomes a follow-up `wipe_orphan`, which
counts under the same cap: the pass must stop at 20 actions in all, follow-ups included.

Usage: blast_radius_test.py SNAPGOV. Prints "N passed, N failed"; exit 0 only when all pass.
Every wait is bounded; the daemon started here is stopped here (by its PID).
"""
import hashlib
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
import urllib.request

SNAPGOV = os.path.abspath(sys.argv[1])
RESULTS = {"passed": 0, "failed": 0}
PROD_VMS, PER_VM, DEV_VMS, CAP = 50, 20, 5, 20
TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"


def check(what, ok, detail=""):
    RESULTS["passed" if ok else "failed"] += 1
    print(("ok: " if ok else "FAILED: ") + what + ("" if ok else f" ({str(detail)[:2000]})"),
          flush=True)
    return ok


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_host(path, dumps, now):
    """The host file; returns ({(vm, checkpoint)} under deny, {(vm, checkpoint)} of dev VMs,
    {dump path: sha256})."""
    prod, dev, files = set(), set(), {}
    os.makedirs(dumps, exist_ok=True)
    old = now - 7200
    with open(path, "w") as f:
        f.write("<node>\n")
        for i in range(PROD_VMS + DEV_VMS):
            is_prod = i < PROD_VMS
            name = f"prod-{i:03d}" if is_prod else f"dev-{i:03d}"
            uuid = f"b1a57000-0000-4000-8000-{i:012d}"
            label = "<sg:tier>production</sg:tier>" if is_prod else "<sg:env>dev</sg:env>"
            dom = (f"<domain type='test'><name>{name}</name><uuid>{uuid}</uuid>"
                   "<memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>")
            f.write(f"<domain type='test' xmlns:test='{TEST_NS}'><name>{name}</name>"
                    f"<uuid>{uuid}</uuid><metadata><sg:labels xmlns:sg='urn:snapgov:labels'>"
                    f"{label}</sg:labels></metadata><memory unit='MiB'>64</memory>"
                    "<os><type>hvm</type></os>\n")
            parent = None
            count = PER_VM if is_prod else 3
            for j in range(count):
                snap = f"s{j:02d}"
                if j % 5 == 0:
                    mem_path = os.path.join(dumps, f"{name}-{snap}.mem")
                    with open(mem_path, "wb") as m:
                        m.write(b"LibvirtQemudSave" + os.urandom(4096))
                    os.utime(mem_path, (old, old))  # not one being written right now
                    files[mem_path] = sha(mem_path)
                    mem, state = f"<memory snapshot='external' file='{mem_path}'/>", "running"
                else:
                    mem, state = "<memory snapshot='no'/>", "disk-snapshot"
                par = f"<parent><name>{parent}</name></parent>" if parent else ""
                active = 1 if j == count - 1 else 0
                f.write(f"<test:domainsnapshot><name>{snap}</name><state>{state}</state>{par}"
                        f"<creationTime>{now - 86400 + j}</creationTime>{mem}"
                        f"<active>{active}</active>{dom}</test:domainsnapshot>\n")
                (prod if is_prod else dev).add((name, snap))
                parent = snap
            f.write("</domain>\n")
        f.write("</node>\n")
    return prod, dev, files


def write_policy(path, host, dumps, state, extra=""):
    with open(path, "w") as f:
        f.write(f"""providers:
  - {{name: lab, type: libvirt, uri: "test://{host}"}}
policies:
  - name: no-checkpoints-in-production
    mode: enforce
    match: {{labels: {{tier: production}}}}
    checkpoints: deny
memory_dumps:
  recipients: ["age13egrqql3t9keweknlq2mv9rxx5wreatts5ra89fy2htpge47fc5qv0grau"]
  scan_paths: ["{dumps}"]
  orphans: wipe
safety:
  max_actions_per_run: {CAP}
state_dir: {state}
{extra}""")


def wait_for(predicate, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


def request(path, line, timeout=60.0):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall((line + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        return json.loads(data.decode())


def dumps_changed(files):
    return sorted(p for p, h in files.items() if not os.path.exists(p) or sha(p) != h)


def ledger_actions(policy):
    """(kind, vm, checkpoint, outcome) of each action in the evidence ledger's JSON export."""
    out = subprocess.run([SNAPGOV, "evidence", "export", "-c", policy, "--format", "json"],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        return None, out.stderr
    return out.stdout, ""


def enforce_part(work, now):
    print("# enforce --once")
    host, dumps, state = (os.path.join(work, n) for n in ("host.xml", "dumps", "state"))
    prod, dev, files = write_host(host, dumps, now)
    policy = os.path.join(work, "policy.yaml")
    write_policy(policy, host, dumps, state)
    check(f"the host has {PROD_VMS * PER_VM} checkpoints under deny and 205 dumps",
          len(prod) == 1000 and len(files) == 205, (len(prod), len(files)))
    t0 = time.monotonic()
    out = subprocess.run([SNAPGOV, "enforce", "--once", "-c", policy, "--format", "json"],
                         capture_output=True, text=True, timeout=600)
    took = time.monotonic() - t0
    print(f"enforce --once took {took:.1f} s, exit {out.returncode}")
    try:
        doc = json.loads(out.stdout)
    except ValueError:
        check("enforce --once printed JSON", False, out.stdout[-500:] + out.stderr[-2000:])
        return
    check("enforce exits 1: violations remain after the capped pass", out.returncode == 1,
          out.returncode)
    acts = doc["actions"]
    done = [a for a in acts if a["outcome"] == "done"]
    over = [a for a in acts if a["outcome"] == "skipped"]
    other = [a for a in acts if a["outcome"] not in ("done", "skipped")]
    check("exactly 20 actions done, none failed, not verified or dry-run",
          len(done) == CAP and not other, (len(done), other[:3]))
    check("every action beyond the 20 is skipped by the blast-radius cap",
          len(over) >= 1000 - CAP and all("max_actions_per_run" in a["detail"] for a in over),
          [a for a in over if "max_actions_per_run" not in a["detail"]][:3])
    deleted = {(a["vm"], a["checkpoint"]) for a in done if a["kind"] == "delete_checkpoint"}
    wiped = [a for a in done if a["kind"] == "wipe_orphan"]
    check("the 20 done actions are deletions of production checkpoints (each once) plus "
          "follow-up wipes of their memory files",
          deleted <= prod and len(deleted) + len(wiped) == CAP, (len(deleted), len(wiped)))
    remaining = {(f["vm"], f["checkpoint"]) for f in doc["remaining"]
                 if f["policy"] == "no-checkpoints-in-production"}
    check("after verification (a new collection), the other 980 checkpoints are still there "
          "and still violations", remaining == prod - deleted and len(remaining) == 1000 - len(deleted),
          (len(remaining), len(prod - deleted)))
    orphans = {f.get("path", "") for f in doc["remaining"] if f["rule"] == "orphan_dump"}
    deleted_memory = {f"{vm}-{cp}.mem" for vm, cp in deleted if int(cp[1:]) % 5 == 0}
    check("the memory files of the deleted checkpoints remain as orphan findings (their "
          "wipes are over the cap)", {os.path.basename(o) for o in orphans} == deleted_memory,
          (orphans, deleted_memory))
    check("the summary: 1000 violations, 20 done, 980 skipped, the rest remaining",
          doc["summary"]["violations"] == 1000 and doc["summary"]["done"] == CAP
          and doc["summary"]["skipped"] == 1000 - CAP
          and doc["summary"]["remaining"] == 1000 - len(deleted) + len(orphans), doc["summary"])
    changed = dumps_changed(files)
    wiped_paths = sorted(a.get("path") or a["checkpoint"] for a in wiped)
    check("no memory dump was touched but those of the wipe actions done",
          len(changed) == len(wiped), (changed[:5], wiped_paths[:5]))
    check("the memory dumps of the 980 remaining checkpoints are byte for byte unchanged",
          all(not any(f"{vm}-{cp}.mem" in p for p in changed) for vm, cp in remaining))
    # The dev VMs are in the inventory the pass saw, untouched (no action names them).
    check("no action names a checkpoint outside the policy (the dev VMs)",
          not any(a["vm"].startswith("dev-") for a in acts), [a for a in acts if a["vm"].startswith("dev-")][:3])
    text, err = ledger_actions(policy)
    if check("the evidence ledger exports", text is not None, err):
        ledger = json.loads(text)
        # The ledger export's action records with their outcome.
        flat = json.dumps(ledger)
        n_done = len(re.findall(r'"outcome": "done"', flat))
        check("the evidence ledger records exactly 20 actions done", n_done == CAP,
              (n_done, flat[:800]))
    ver = subprocess.run([SNAPGOV, "evidence", "verify", "-c", policy], capture_output=True,
                         text=True, timeout=120)
    check("the evidence ledger verifies", ver.returncode == 0, ver.stdout + ver.stderr)


def daemon_part(work, now):
    print("# daemon: the first pass")
    host, dumps, state = (os.path.join(work, n) for n in ("host.xml", "dumps", "state"))
    prod, dev, files = write_host(host, dumps, now)
    sock = os.path.join(work, "control.sock")
    policy = os.path.join(work, "policy.yaml")
    # Long intervals: only the first pass runs while the test looks.
    write_policy(policy, host, dumps, state,
                 f"daemon:\n  interval: 1h\n  deny_interval: 1h\n  control_socket: {sock}\n"
                 "  metrics_listen: 127.0.0.1:0\n")
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([SNAPGOV, "daemon", "-c", policy, "--log-format", "text"],
                            stdout=subprocess.DEVNULL, stderr=log)
    try:
        def first_pass():
            try:
                s = request(sock, '{"command":"status"}', timeout=5)
            except OSError:
                return None
            return s if s.get("last_full_pass") else None
        status = wait_for(first_pass, 300, step=0.2)
        if not check("the daemon reports its first full pass", status is not None):
            return
        last = status["last_full_pass"]
        check("the first pass: 1015 checkpoints, exactly 20 actions done, 0 failed",
              status["passes"] == 1 and last["checkpoints"] == 1015
              and last["actions_done"] == CAP and last["actions_failed"] == 0, status)
        check("the first pass skipped the rest (at least 980) under the cap",
              last["actions_skipped"] >= 1000 - CAP, last)
        port = re.search(r":(\d+)/metrics", status.get("metrics", ""))
        text = ""
        if port:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/metrics",
                                          timeout=10).read().decode()
        done_total = sum(float(v) for v in re.findall(
            r'^snapgov_actions_total\{[^}]*outcome="done"[^}]*\} (\S+)$', text, re.M))
        check("/metrics counts exactly 20 actions done", done_total == CAP, text[:1500])
        log.seek(0)
        logged = log.read().decode(errors="replace")
        deleted = set(re.findall(r"delete_checkpoint lab/(\S+) @ (\S+): policy", logged))
        check("the log names at most 20 deletions, all of production checkpoints",
              0 < len(deleted) <= CAP and deleted <= prod, (len(deleted), logged[-1500:]))
        changed = dumps_changed(files)
        check("no memory dump was touched in the first pass (follow-up wipes are over the cap)",
              not changed, changed[:5])
        # A second pass on request, in the daemon's own connection (the test driver's state
        # lives in it): it finds exactly 20 checkpoints fewer, and takes the next 20.
        again = request(sock, '{"command":"run"}', timeout=300)
        status = request(sock, '{"command":"status"}')
        second = status["last_pass"]
        check("a second pass finds 995 checkpoints (the first deleted 20, nothing else)",
              status["passes"] == 2 and second["checkpoints"] == 1015 - CAP, (again, second))
        log.seek(0)
        logged = log.read().decode(errors="replace")
        both = re.findall(r"delete_checkpoint lab/(\S+) @ (\S+): policy", logged)
        check("the second pass again stopped at 20 actions, and no checkpoint was deleted twice",
              second["actions_done"] == CAP and len(set(both)) == len(both)
              and set(both) <= prod, (second, len(both), len(set(both))))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        check("the daemon stops on SIGTERM with exit 0", rc == 0, rc)


def main():
    work = tempfile.mkdtemp(prefix="snapgov-blast-")
    try:
        now = int(time.time())
        os.makedirs(os.path.join(work, "enforce"))
        os.makedirs(os.path.join(work, "daemon"))
        enforce_part(os.path.join(work, "enforce"), now)
        daemon_part(os.path.join(work, "daemon"), now)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    sys.exit(0 if RESULTS["failed"] == 0 and RESULTS["passed"] > 0 else 1)


if __name__ == "__main__":
    main()
