#!/usr/bin/env python3
"""Fault injection on storage (issue 12): a full disk during `snapgov dump encrypt`, a full
disk under the evidence ledger, a read-only state directory. Each must end in a clear error
(exit 2, naming the cause) and lose nothing: the dump stays byte for byte, no `.partial` and no
journal is left, no action is taken when the ledger cannot be written (fail closed), the ledger
that exists still verifies; once the fault is gone, the same command succeeds.

The small file systems are tmpfs mounts made here, inside a private mount namespace that this
script enters first (`unshare --mount --propagation private`, so nothing is mounted on the
host and everything vanishes with the process). Needs root; exits 77 (skip) otherwise.

Usage: disk_faults_test.py SNAPGOV. Prints "N passed, N failed"; exit 0 only when all pass.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

RESULTS = {"passed": 0, "failed": 0}
TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"


def check(what, ok, detail=""):
    RESULTS["passed" if ok else "failed"] += 1
    print(("ok: " if ok else "FAILED: ") + what + ("" if ok else f" ({str(detail)[-2000:]})"),
          flush=True)
    return ok


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", path],
                   check=True)


def fill(path):
    """Writes PATH/filler until the file system is full; returns the bytes written."""
    written = 0
    block = b"\0" * (64 * 1024)
    try:
        with open(os.path.join(path, "filler"), "ab", buffering=0) as f:
            while True:
                written += f.write(block)
    except OSError:
        pass
    # Smaller writes take the last blocks.
    try:
        with open(os.path.join(path, "filler2"), "ab", buffering=0) as f:
            while True:
                written += f.write(b"\0" * 512)
    except OSError:
        pass
    return written


def fake_dump(path, size):
    with open(path, "wb") as f:
        f.write(b"LibvirtQemudSave")
        f.write(os.urandom(size - 16))
    old = time.time() - 7200
    os.utime(path, (old, old))
    return sha(path)


def leftovers(*dirs):
    found = []
    for d in dirs:
        for root, _, files in os.walk(d):
            found += [os.path.join(root, f) for f in files
                      if f.endswith((".partial", ".journal", ".journal.tmp"))]
    return found


class Env:
    def __init__(self, snapgov, work):
        self.snapgov = snapgov
        self.work = work
        self.key = os.path.join(work, "key.txt")
        run(["age-keygen", "-o", self.key])
        self.pub = run(["age-keygen", "-y", self.key]).stdout.strip()

    def decrypts_to(self, path, digest):
        p = subprocess.run(["age", "-d", "-i", self.key, path], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=120)
        return p.returncode == 0 and hashlib.sha256(p.stdout).hexdigest() == digest


def encrypt_full_disk(env):
    print("# full disk during dump encrypt")
    state = os.path.join(env.work, "state-enc")
    small = os.path.join(env.work, "small")
    mount_tmpfs(small, "3m")
    dump = os.path.join(small, "a.mem")
    digest = fake_dump(dump, 2 * 1024 * 1024)
    r = run([env.snapgov, "dump", "encrypt", "-r", env.pub, "--state-dir", state, dump])
    check("too little space: refused before writing, exit 2, naming the free space",
          r.returncode == 2 and "not enough free space" in r.stderr, r.stderr)
    check("... the dump is intact, no .age, no .partial, no journal",
          sha(dump) == digest and not os.path.exists(dump + ".age") and not leftovers(small, state),
          leftovers(small, state))

    # The space runs out while the ciphertext is written: another writer fills the file system
    # as soon as the .partial appears.
    big = os.path.join(env.work, "big")
    mount_tmpfs(big, "96m")
    dump = os.path.join(big, "b.mem")
    digest = fake_dump(dump, 40 * 1024 * 1024)
    hit = None
    for attempt in range(5):
        stop = threading.Event()

        def filler():
            while not stop.is_set():
                if os.path.exists(dump + ".age.partial"):
                    fill(big)
                    return
                time.sleep(0.0005)
        t = threading.Thread(target=filler)
        t.start()
        r = run([env.snapgov, "dump", "encrypt", "-r", env.pub, "--state-dir", state, dump])
        stop.set()
        t.join()
        for f in ("filler", "filler2"):
            if os.path.exists(os.path.join(big, f)):
                os.remove(os.path.join(big, f))
        if r.returncode != 0:
            hit = r
            break
        # It finished before the filler: back to the start and try again.
        print(f"attempt {attempt}: the encryption finished before the disk was full; again")
        subprocess.run(["age", "-d", "-i", env.key, "-o", dump, dump + ".age"], check=True)
        os.remove(dump + ".age")
    if not check("the disk filled up during the encryption (within 5 attempts)", hit is not None):
        return
    check("ENOSPC mid-write: exit 2, the error says the disk is full",
          hit.returncode == 2 and "No space left on device" in hit.stderr, hit.stderr)
    check("... the dump is intact, the partial ciphertext removed, no journal left",
          sha(dump) == digest and not os.path.exists(dump + ".age")
          and not leftovers(big, state), leftovers(big, state))
    lst = run([env.snapgov, "dump", "recover", "--list", "--state-dir", state])
    check("... dump recover --list finds nothing unsettled", lst.returncode == 0, lst.stdout)
    r = run([env.snapgov, "dump", "encrypt", "-r", env.pub, "--state-dir", state, dump])
    check("with the space back, the same command encrypts it; age restores it byte for byte",
          r.returncode == 0 and not os.path.exists(dump)
          and env.decrypts_to(dump + ".age", digest), r.stderr)


def write_host(path, dumps):
    """A deny VM with two checkpoints, and a dev VM whose checkpoint's memory is encrypted."""
    now = int(time.time())
    digests = {}
    dom = lambda n, u: (f"<domain type='test'><name>{n}</name><uuid>{u}</uuid>"
                        "<memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>")
    with open(path, "w") as f:
        f.write(f"<node><domain type='test' xmlns:test='{TEST_NS}'><name>prod-1</name>"
                "<uuid>d15c0000-0000-4000-8000-000000000001</uuid><metadata>"
                "<sg:labels xmlns:sg='urn:snapgov:labels'><sg:tier>production</sg:tier>"
                "</sg:labels></metadata><memory unit='MiB'>64</memory><os><type>hvm</type></os>")
        for s in ("s1", "s2"):
            f.write(f"<test:domainsnapshot><name>{s}</name><state>disk-snapshot</state>"
                    f"<creationTime>{now - 3600}</creationTime><memory snapshot='no'/>"
                    f"<active>0</active>"
                    f"{dom('prod-1', 'd15c0000-0000-4000-8000-000000000001')}"
                    "</test:domainsnapshot>")
        f.write(f"</domain><domain type='test' xmlns:test='{TEST_NS}'><name>dev-1</name>"
                "<uuid>d15c0000-0000-4000-8000-000000000002</uuid>"
                "<memory unit='MiB'>64</memory><os><type>hvm</type></os>")
        mem = os.path.join(dumps, "dev-1.mem")
        digests[mem] = fake_dump(mem, 1024 * 1024)
        f.write(f"<test:domainsnapshot><name>m1</name><state>running</state>"
                f"<creationTime>{now - 3600}</creationTime>"
                f"<memory snapshot='external' file='{mem}'/><active>1</active>"
                f"{dom('dev-1', 'd15c0000-0000-4000-8000-000000000002')}"
                "</test:domainsnapshot></domain></node>")
    return digests


def write_policy(path, host, state, evidence):
    with open(path, "w") as f:
        f.write(f"""providers:
  - {{name: lab, type: libvirt, uri: "test://{host}"}}
policies:
  - name: no-checkpoints-in-production
    mode: enforce
    match: {{labels: {{tier: production}}}}
    checkpoints: deny
  - name: dev-memory
    mode: enforce
    match: {{names: ["dev-*"]}}
    memory_state: encrypt
memory_dumps:
  recipients: ["{ENV.pub}"]
state_dir: {state}
evidence:
  path: {evidence}
""")


def enforce_case(env, name, evidence_dir, state_dir, make_fault, clear_fault, expect_in_error):
    """enforce --once with the ledger or the state on a faulty file system: a dry run first
    (the ledger exists), then the fault, then enforce must fail closed; then no fault."""
    d = os.path.join(env.work, name)
    dumps = os.path.join(d, "dumps")
    os.makedirs(dumps)
    host = os.path.join(d, "host.xml")
    digests = write_host(host, dumps)
    policy = os.path.join(d, "policy.yaml")
    evidence = os.path.join(evidence_dir, "evidence.db")
    write_policy(policy, host, state_dir, evidence)
    dry = run([env.snapgov, "enforce", "--once", "--dry-run", "-c", policy])
    check(f"{name}: a dry run records the pass in the ledger (exit 1: violations)",
          dry.returncode == 1 and os.path.exists(evidence), dry.stderr)
    make_fault()
    r = run([env.snapgov, "enforce", "--once", "-c", policy, "--format", "json"])
    check(f"{name}: enforce exits 2 with an error that names the cause",
          r.returncode == 2 and any(e in r.stderr for e in expect_in_error), r.stderr)
    try:
        doc = json.loads(r.stdout) if r.stdout.strip() else {"actions": []}
    except ValueError:
        doc = {"actions": []}
    done = [a for a in doc.get("actions", []) if a.get("outcome") == "done"]
    check(f"{name}: no action was taken (fail closed): the dump is intact and not encrypted",
          not done and all(sha(p) == h and not os.path.exists(p + ".age")
                           for p, h in digests.items()), (done, r.stdout[-500:]))
    check(f"{name}: no .partial or journal left", not leftovers(d, state_dir),
          leftovers(d, state_dir))
    clear_fault()
    v = run([env.snapgov, "evidence", "verify", "-c", policy])
    check(f"{name}: the ledger written before the fault still verifies", v.returncode == 0,
          v.stdout + v.stderr)
    r = run([env.snapgov, "enforce", "--once", "-c", policy])
    mem = next(iter(digests))
    check(f"{name}: with the fault gone, enforce acts (exit 0) and the dump is encrypted",
          r.returncode == 0 and not os.path.exists(mem)
          and env.decrypts_to(mem + ".age", digests[mem]), r.stdout + r.stderr)
    v = run([env.snapgov, "evidence", "verify", "-c", policy])
    check(f"{name}: the ledger verifies after that pass", v.returncode == 0, v.stdout + v.stderr)


def ledger_full_disk(env):
    print("# full disk under the evidence ledger")
    fs_dir = os.path.join(env.work, "ledger-fs")
    mount_tmpfs(fs_dir, "2m")
    state = os.path.join(env.work, "ledger-state")

    def make():
        fill(fs_dir)

    def clear():
        for f in ("filler", "filler2"):
            os.remove(os.path.join(fs_dir, f))
    enforce_case(env, "ledger-full", fs_dir, state, make, clear,
                 ["full", "No space left", "disk"])


def readonly_state(env):
    print("# read-only state directory")
    ro = os.path.join(env.work, "ro-fs")
    mount_tmpfs(ro, "8m")
    state = os.path.join(ro, "state")
    os.makedirs(state, mode=0o700)
    subprocess.run(["mount", "-o", "remount,ro", ro], check=True)
    d = os.path.join(env.work, "ro-dump")
    os.makedirs(d)
    dump = os.path.join(d, "c.mem")
    digest = fake_dump(dump, 256 * 1024)
    r = run([env.snapgov, "dump", "encrypt", "-r", env.pub, "--state-dir", state, dump])
    check("dump encrypt with a read-only state dir: exit 2, 'Read-only file system'",
          r.returncode == 2 and "Read-only file system" in r.stderr, r.stderr)
    check("... the dump is intact, nothing written beside it",
          sha(dump) == digest and sorted(os.listdir(d)) == ["c.mem"], os.listdir(d))
    subprocess.run(["mount", "-o", "remount,rw", ro], check=True)

    # enforce: the state dir (journal and ledger) read-only after a dry run created the ledger.
    def make():
        subprocess.run(["mount", "-o", "remount,ro", ro], check=True)

    def clear():
        subprocess.run(["mount", "-o", "remount,rw", ro], check=True)
    enforce_case(env, "state-read-only", state, state, make, clear,
                 ["Read-only file system", "readonly", "read-only"])


def main():
    snapgov = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        print("SKIP: needs root and unshare for a private mount namespace")
        return 77
    if os.environ.get("SNAPGOV_FAULTS_NS") != "1":
        # Into a private mount namespace: the tmpfs mounts below stay in it.
        return subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable,
                               os.path.abspath(__file__), snapgov],
                              env={**os.environ, "SNAPGOV_FAULTS_NS": "1"}).returncode
    global ENV
    work = tempfile.mkdtemp(prefix="snapgov-diskfaults-")
    try:
        ENV = Env(snapgov, work)
        encrypt_full_disk(ENV)
        ledger_full_disk(ENV)
        readonly_state(ENV)
    finally:
        # The mounts go with the namespace; unmount first so that the folder can be removed.
        subprocess.run(f"grep -o ' {work}[^ ]*' /proc/self/mounts | sort -r | "
                       "xargs -r -n1 umount -l", shell=True)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 0 if RESULTS["failed"] == 0 and RESULTS["passed"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
