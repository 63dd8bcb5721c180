#!/usr/bin/env python3
"""`snapgov inventory`, `plan` and `enforce --once` with two providers at once: libvirt's
test driver and Hyper-V over WS-Management (tests/providers/hyperv/wsman_server.py on 127.0.0.1 with
a TLS certificate made here). Also: wrong credentials and a certificate from the wrong CA
give clear errors, exit 2 and no action on that provider.

Usage: two_providers_test.py SNAPGOV_BINARY. Prints "N passed, N failed".
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

SNAPGOV = os.path.abspath(sys.argv[1])
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
SERVER = os.path.join(ROOT, "tests", "providers", "hyperv", "wsman_server.py")
WORLD = os.path.join(ROOT, "tests", "providers", "hyperv", "data", "world.json")
NOW = "2026-11-24T12:00:00Z"
RESULTS = {"passed": 0, "failed": 0}


def check(what, ok, detail=""):
    RESULTS["passed" if ok else "failed"] += 1
    print(("ok: " if ok else "FAILED: ") + what + ("" if ok else f" ({str(detail)[:1500]})"),
          flush=True)


def make_cert(work, name):
    key, cert = os.path.join(work, name + ".key"), os.path.join(work, name + ".pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return key, cert


def secret(work, name, text):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return path


def policy(work, port, password_file, ca_file):
    path = os.path.join(work, "policy.yaml")
    with open(path, "w") as f:
        f.write(f"""providers:
  - name: lab
    type: libvirt
    uri: "test://{os.path.abspath(os.path.join(ROOT, 'examples', 'host.xml'))}"
  - name: hv01
    type: hyperv
    endpoint: https://127.0.0.1:{port}/wsman
    auth: {{method: basic, username: svc-snapgov, password_file: {password_file}}}
    tls: {{ca_file: {ca_file}}}
    read_timeout: 10s
policies:
  - name: no-checkpoints-in-production
    mode: enforce
    match: {{labels: {{tier: production}}}}
    checkpoints: deny
""")
    return path


def snapgov(*args):
    return subprocess.run([SNAPGOV, *args, "--now", NOW], capture_output=True, text=True,
                          timeout=120)


def main():
    work = tempfile.mkdtemp(prefix="snapgov-2p-")
    server = None
    try:
        key, cert = make_cert(work, "server")
        _, other_ca = make_cert(work, "other")
        password = secret(work, "hv.pass", "correct horse battery staple")
        wrong = secret(work, "wrong.pass", "hunter2-wrong")
        port_file = os.path.join(work, "port")
        server = subprocess.Popen([sys.executable, SERVER, "--world", WORLD, "--cert", cert,
                                   "--key", key, "--password-file", password, "--port-file",
                                   port_file, "--max-lifetime", "240"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        port = int(server.stdout.readline().strip())

        # Bad credentials and a wrong CA first: the world is still untouched.
        r = snapgov("enforce", "--once", "-c", policy(work, port, wrong, cert), "--format", "json")
        doc = json.loads(r.stdout)
        check("wrong credentials: exit 2, 'authentication failed', no password echoed",
              r.returncode == 2 and "authentication failed" in r.stderr
              and "hunter2" not in r.stderr + r.stdout, (r.returncode, r.stderr))
        hv_actions = [a for a in doc["actions"] if a["provider"] == "hv01"]
        check("wrong credentials: no action on hv01",
              all(a["outcome"] == "skipped" for a in hv_actions), hv_actions)
        r = snapgov("plan", "-c", policy(work, port, password, other_ca))
        check("a certificate from the wrong CA is refused with a TLS error, exit 2",
              r.returncode == 2 and ("certificate" in r.stderr.lower()
                                     or "tls" in r.stderr.lower()), r.stderr)

        conf = policy(work, port, password, cert)
        r = snapgov("inventory", "-c", conf, "--format", "json")
        inv = json.loads(r.stdout)
        providers = {p["name"]: p for p in inv["providers"]}
        check("inventory: both providers complete", r.returncode == 0 and
              all(p["complete"] for p in providers.values()), r.stderr)
        hv = {v["name"]: v for v in providers["hv01"]["vms"]}
        check("inventory: Hyper-V VMs with labels from Notes and the checkpoint setting",
              hv["prod-db-01"]["labels"].get("tier") == "production"
              and hv["prod-db-01"]["checkpoint_setting"] == "standard"
              and len(hv["prod-db-01"]["checkpoints"]) == 2, hv.get("prod-db-01"))

        r = snapgov("plan", "-c", conf, "--format", "json")
        plan = json.loads(r.stdout)
        kinds = {(a["provider"], a["kind"]) for a in plan["actions"]}
        check("plan: deny on Hyper-V disables checkpoints and deletes existing ones",
              ("hv01", "disable_checkpoints") in kinds and ("hv01", "delete_checkpoint") in kinds
              and ("lab", "delete_checkpoint") in kinds and r.returncode == 1, kinds)

        r = snapgov("enforce", "--once", "-c", conf, "--format", "json")
        result = json.loads(r.stdout)
        outcomes = {(a["provider"], a["kind"], a["checkpoint"]): a["outcome"]
                    for a in result["actions"]}
        check("enforce: every action on both providers done and verified",
              r.returncode == 0 and all(o == "done" for o in outcomes.values())
              and result["summary"]["remaining"] == 0, (r.returncode, outcomes, r.stderr))
        r = snapgov("inventory", "-c", conf, "--format", "json")
        inv = json.loads(r.stdout)
        hv = {v["name"]: v for p in inv["providers"] if p["name"] == "hv01" for v in p["vms"]}
        check("the Hyper-V server shows the effect: setting disabled, no checkpoints",
              hv["prod-db-01"]["checkpoint_setting"] == "disabled"
              and hv["prod-db-01"]["checkpoints"] == [], hv["prod-db-01"])
    finally:
        if server:
            server.stdin.close()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 0 if RESULTS["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
