#!/usr/bin/env python3
"""Fault injection (issue 12): libvirtd killed (SIGKILL, by the PID it recorded) in the middle
of an `snapgov enforce --once` pass that is deleting checkpoints on a real libvirtd + QEMU.

A private libvirtd (tests/integration/libvirtd.sh: its own mount namespace, config and
socket) holds two shut-off QEMU VMs with internal checkpoints: `prod` (under `checkpoints:
deny`, one checkpoint exempt) and `dev` (no policy). The pass is killed under once a few
deletions are seen. Then:
  - enforce ends on its own (no hang) with exit 2 and an error naming the provider;
  - no checkpoint outside the plan is gone (the exempt one, all of dev's);
  - the evidence ledger verifies;
  - libvirtd is started again (libvirtd.sh restart) and the same command completes: exit 0,
    every planned checkpoint gone, the others still there.
Needs root, libvirtd and QEMU; exits 77 (skip) otherwise. Everything started here is stopped
here, by PID. Usage: libvirtd_kill_test.py SNAPGOV. Prints "N passed, N failed".
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LIBVIRTD_SH = os.path.join(HERE, "..", "integration", "libvirtd.sh")
RESULTS = {"passed": 0, "failed": 0}
N = 24  # checkpoints of prod


def check(what, ok, detail=""):
    RESULTS["passed" if ok else "failed"] += 1
    print(("ok: " if ok else "FAILED: ") + what + ("" if ok else f" ({str(detail)[-1500:]})"),
          flush=True)
    return ok


def run(cmd, timeout=180, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def main():
    snapgov = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0 or not shutil.which("libvirtd") or not shutil.which("qemu-img"):
        print("SKIP: needs root, libvirtd and QEMU")
        return 77
    work = tempfile.mkdtemp(prefix="snapgov-lvkill-")
    host_state = os.path.join(work, "host-state")
    with open(host_state, "w") as f:
        f.write(run([LIBVIRTD_SH, "host-state"]).stdout)
    root = None
    try:
        r = run([LIBVIRTD_SH, "start"])
        if not check("a private libvirtd starts", r.returncode == 0, r.stderr):
            return 1
        root = r.stdout.strip().splitlines()[-1]
        uri = open(os.path.join(root, "uri")).read().strip()

        def virsh(*args):
            out = run(["virsh", "-q", "-c", uri, *args])
            if out.returncode != 0:
                raise RuntimeError(f"virsh {args}: {out.stderr}")
            return out.stdout

        def snapshots(vm):
            return set(virsh("snapshot-list", vm, "--name").split())

        for vm in ("prod", "dev"):
            disk = os.path.join(work, f"{vm}.qcow2")
            run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "16M"])
            xml = os.path.join(work, f"{vm}.xml")
            with open(xml, "w") as f:
                f.write(f"""<domain type='qemu'><name>{vm}</name><memory unit='MiB'>64</memory>
<metadata><sg:labels xmlns:sg='urn:snapgov:labels'><sg:tier>{'production' if vm == 'prod' else 'dev'}</sg:tier></sg:labels></metadata>
<vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{disk}'/>
<target dev='vda' bus='virtio'/></disk></devices></domain>""")
            virsh("define", xml)
            for i in range(N if vm == "prod" else 3):
                virsh("snapshot-create-as", vm, f"s{i:02d}")
        prod0, dev0 = snapshots("prod"), snapshots("dev")
        check(f"prod has {N} checkpoints, dev 3", len(prod0) == N and len(dev0) == 3,
              (prod0, dev0))
        policy = os.path.join(work, "policy.yaml")
        with open(policy, "w") as f:
            f.write(f"""providers:
  - {{name: qemu, type: libvirt, uri: '{uri}'}}
policies:
  - name: no-checkpoints-in-production
    mode: enforce
    match: {{labels: {{tier: production}}}}
    checkpoints: deny
exemptions:
  - {{policy: no-checkpoints-in-production, vm: prod, checkpoint: s05, reason: kept,
     expires: 2099-01-01T00:00:00Z}}
safety: {{max_actions_per_run: 100}}
state_dir: {work}/state
""")
        planned = prod0 - {"s05"}
        proc = subprocess.Popen([snapgov, "enforce", "--once", "-c", policy],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Kill libvirtd once the pass has deleted a few (seen through a second connection).
        pid = int(open(os.path.join(root, "libvirtd.pid")).read().strip())
        deadline = time.monotonic() + 60
        killed_after = None
        while time.monotonic() < deadline and proc.poll() is None:
            left = snapshots("prod")
            if len(prod0 - left) >= 3:
                os.kill(pid, signal.SIGKILL)
                killed_after = len(prod0 - left)
                break
            time.sleep(0.05)
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            check("enforce ends by itself once libvirtd is gone", False)
        if not check("libvirtd was killed in the middle of the pass",
                     killed_after is not None and killed_after < len(planned),
                     (killed_after, proc.returncode, err[-800:])):
            return 1
        print(f"libvirtd (PID {pid}) killed after {killed_after} deletions were seen")
        check("enforce exits 2 with an error naming the provider",
              proc.returncode == 2 and "qemu" in err, (proc.returncode, err[-1200:]))
        ver = run([snapgov, "evidence", "verify", "-c", policy])
        check("the evidence ledger verifies", ver.returncode == 0, ver.stdout + ver.stderr)
        r = run([LIBVIRTD_SH, "restart", root])
        if not check("libvirtd starts again", r.returncode == 0, r.stderr):
            return 1
        after_kill = snapshots("prod")
        check("no checkpoint outside the plan is gone: the exempt one, all of dev's",
              "s05" in after_kill and snapshots("dev") == dev0, (after_kill, snapshots("dev")))
        check("the checkpoints gone are all in the plan", prod0 - after_kill <= planned)
        again = run([snapgov, "enforce", "--once", "-c", policy])
        check("the same command completes: exit 0", again.returncode == 0,
              again.stdout[-800:] + again.stderr[-800:])
        check("every planned checkpoint is gone, the others are still there",
              snapshots("prod") == {"s05"} and snapshots("dev") == dev0,
              (snapshots("prod"), snapshots("dev")))
        ver = run([snapgov, "evidence", "verify", "-c", policy])
        check("the evidence ledger verifies after the rerun", ver.returncode == 0, ver.stdout)
    finally:
        if root:
            check("the private libvirtd and virtlogd were stopped by their PIDs",
                  run([LIBVIRTD_SH, "stop", root]).returncode == 0)
            check("the host's libvirtd state and /etc/libvirt were left alone",
                  run([LIBVIRTD_SH, "host-check", host_state]).returncode == 0)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 0 if RESULTS["failed"] == 0 and RESULTS["passed"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
