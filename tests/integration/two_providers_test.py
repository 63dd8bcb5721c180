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
import xml.etree.ElementTree as ET

SNAPGOV = os.path.abspath(sys.argv[1])
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
SERVER = os.path.join(ROOT, "tests", "providers", "hyperv", "wsman_server.py")
WORLD = os.path.join(ROOT, "tests", "providers", "hyperv", "data", "world.json")
HOST = os.path.join(ROOT, "examples", "host.xml")
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
    uri: "test://{os.path.abspath(HOST)}"
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
state_dir: {work}/state
""")
    return path


def expected_actions():
    """What the deny policy must do, read from the fixtures: on hv01 (world.json) each
    production VM gets its checkpoint setting disabled (unless it is already: 2 = Disabled)
    and each of its checkpoints deleted; on lab (examples/host.xml) each checkpoint of a
    production domain is deleted. Tuples of (provider, kind, vm, checkpoint)."""
    hv = set()
    with open(WORLD) as f:
        for vm in json.load(f)["vms"]:
            if "snapgov:tier=production" not in [n.strip() for n in vm.get("notes", [])]:
                continue
            if vm.get("user_snapshot_type", 5) != 2:
                hv.add(("hv01", "disable_checkpoints", vm["name"], ""))
            hv |= {("hv01", "delete_checkpoint", vm["name"], c["name"])
                   for c in vm.get("checkpoints", [])}
    ns = {"sg": "urn:snapgov:labels", "test": "http://libvirt.org/schemas/domain/test/1.0"}
    lab = set()
    for dom in ET.parse(HOST).getroot().findall("domain"):
        if dom.findtext("metadata/sg:labels/sg:tier", namespaces=ns) != "production":
            continue
        lab |= {("lab", "delete_checkpoint", dom.findtext("name"), snap.findtext("name"))
                for snap in dom.findall("test:domainsnapshot", ns)}
    # Sanity: the fixtures do give both providers work (else every check below is moot).
    assert len(hv) == 3 and len(lab) == 5, (hv, lab)
    return hv, lab


def action_keys(actions):
    return {(a["provider"], a["kind"], a["vm"], a["checkpoint"]) for a in actions}


def snapgov(*args):
    return subprocess.run([SNAPGOV, *args, "--now", NOW], capture_output=True, text=True,
                          timeout=120)


def main():
    expected_hv, expected_lab = expected_actions()
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
        # The enforce went on with lab (its deletions all done), while hv01, whose inventory
        # could not be read, got no action carried out: none planned, or only skipped ones.
        hv_actions = [a for a in doc["actions"] if a["provider"] == "hv01"]
        lab_actions = [a for a in doc["actions"] if a["provider"] == "lab"]
        check("wrong credentials: lab's deletions done, no action carried out on hv01",
              action_keys(lab_actions) == expected_lab
              and all(a["outcome"] == "done" for a in lab_actions)
              and all(a["outcome"] == "skipped" for a in hv_actions)
              and any("hv01" in e and "authentication failed" in e for e in doc["errors"]),
              (hv_actions, lab_actions, doc.get("errors")))
        r = snapgov("plan", "-c", policy(work, port, password, other_ca))
        check("a certificate from the wrong CA is refused with a TLS error, exit 2",
              r.returncode == 2 and ("certificate" in r.stderr.lower()
                                     or "tls" in r.stderr.lower()), r.stderr)

        conf = policy(work, port, password, cert)
        r = snapgov("inventory", "-c", conf, "--format", "json")
        inv = json.loads(r.stdout)
        providers = {p["name"]: p for p in inv["providers"]}
        check("inventory: both providers complete", r.returncode == 0 and
              set(providers) == {"lab", "hv01"} and
              all(p["complete"] for p in providers.values()), (set(providers), r.stderr))
        hv = {v["name"]: v for v in providers["hv01"]["vms"]}
        check("inventory: Hyper-V VMs with labels from Notes and the checkpoint setting",
              hv["prod-db-01"]["labels"].get("tier") == "production"
              and hv["prod-db-01"]["checkpoint_setting"] == "standard"
              and len(hv["prod-db-01"]["checkpoints"]) == 2, hv.get("prod-db-01"))

        r = snapgov("plan", "-c", conf, "--format", "json")
        plan = json.loads(r.stdout)
        check("plan: deny on Hyper-V disables checkpoints and deletes existing ones, and on "
              "libvirt deletes them: exactly the fixtures' production checkpoints",
              action_keys(plan["actions"]) == expected_hv | expected_lab
              and len(plan["actions"]) == len(expected_hv | expected_lab) and r.returncode == 1,
              sorted(action_keys(plan["actions"])))

        r = snapgov("enforce", "--once", "-c", conf, "--format", "json")
        result = json.loads(r.stdout)
        outcomes = {(a["provider"], a["kind"], a["vm"], a["checkpoint"]): a["outcome"]
                    for a in result["actions"]}
        check("enforce: every expected action on both providers done and verified",
              r.returncode == 0 and set(outcomes) == expected_hv | expected_lab
              and len(result["actions"]) == len(outcomes)
              and all(o == "done" for o in outcomes.values())
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
