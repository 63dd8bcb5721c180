#!/usr/bin/env python3
"""Integration tests of `snapgov daemon`, run as a user (and systemd) would.

Part 1 uses libvirt's test driver: the systemd notify protocol (this test plays the
NOTIFY_SOCKET), the control socket (status, malformed and oversized requests, a silent
client, a peer of the wrong uid), /metrics, SIGHUP with a broken and a valid policy, and
SIGTERM. Part 2 uses a real libvirtd with QEMU: a checkpoint created on a `deny` VM is
removed, and a libvirtd killed under the daemon leads to no action, then a reconnect. That
libvirtd is a private one (libvirtd.sh: its own mount namespace, config and socket); the
host's libvirtd and /etc/libvirt are left alone, and checked to be.

Usage: daemon_test.py SNAPGOV_BINARY [--no-qemu]. Prints "N passed, N failed".
Every wait is bounded; every process started here is stopped here.
"""
import datetime
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
import xml.etree.ElementTree as ET

SNAPGOV = os.path.abspath(sys.argv[1])
HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "..", "examples")
RESULTS = {"passed": 0, "failed": 0}


def check(what, ok, detail=""):
    RESULTS["passed" if ok else "failed"] += 1
    print(("ok: " if ok else "FAILED: ") + what + ("" if ok else f" ({detail})"), flush=True)
    return ok


def wait_for(predicate, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(path, line, timeout=5.0):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        try:
            s.sendall(line if isinstance(line, bytes) else (line + "\n").encode())
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon may refuse and close before reading: its reply is still there
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data.decode()


class Notify:
    """Plays systemd's side of sd_notify: a datagram socket the daemon writes to."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.messages = []

    def drain(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except (socket.timeout, BlockingIOError):
                return

    def wait(self, needle, timeout):
        def seen():
            self.drain()
            return any(needle in m for m in self.messages)
        return wait_for(seen, timeout)


class Daemon:
    def __init__(self, config, env=None):
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([SNAPGOV, "daemon", "-c", config, "--log-level", "debug"],
                                     stdout=subprocess.DEVNULL, stderr=self.log,
                                     env={**os.environ, **(env or {})})

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


def production_checkpoints(host_xml):
    """(domain, checkpoint) of every checkpoint of a tier=production domain in a libvirt
    test-driver host file, and the number of all checkpoints in it."""
    ns = {"sg": "urn:snapgov:labels", "test": "http://libvirt.org/schemas/domain/test/1.0"}
    production, total = [], 0
    for dom in ET.parse(host_xml).getroot().findall("domain"):
        snaps = [s.findtext("name") for s in dom.findall("test:domainsnapshot", ns)]
        total += len(snaps)
        if dom.findtext("metadata/sg:labels/sg:tier", namespaces=ns) == "production":
            production += [(dom.findtext("name"), name) for name in snaps]
    return sorted(production), total


def write_policy(path, host_uri, sock, port, extra=""):
    with open(path, "w") as f:
        f.write(f"""providers:
  - {{name: lab, type: libvirt, uri: "{host_uri}"}}
policies:
  - name: no-checkpoints-in-production
    mode: enforce
    match: {{labels: {{tier: production}}}}
    checkpoints: deny
  - name: dev-retention
    mode: audit
    match: {{names: ["dev-*"]}}
    max_age: 72h
{extra}
state_dir: {os.path.dirname(path)}/state-{os.path.basename(path)}
daemon:
  interval: 1h
  deny_interval: 1s
  control_socket: {sock}
  metrics_listen: 127.0.0.1:{port}
""")


def part1(work):
    print("# part 1: test driver, notify protocol, control socket, metrics, signals")
    host = os.path.join(work, "host.xml")
    shutil.copy(os.path.join(EXAMPLES, "host.xml"), host)
    sock = os.path.join(work, "run", "control.sock")
    port = free_port()
    policy = os.path.join(work, "policy.yaml")
    write_policy(policy, "test://" + host, sock, port)
    notify = Notify(os.path.join(work, "notify.sock"))
    os.environ.pop("WATCHDOG_PID", None)
    daemon = Daemon(policy, {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"})
    try:
        check("READY=1 arrives after the first pass", notify.wait("READY=1", 20),
              daemon.stderr())
        check("STATUS= carries a one-line summary",
              any(re.search(r"STATUS=\d+ VMs, \d+ checkpoints", m) for m in notify.messages),
              notify.messages)
        check("WATCHDOG=1 pings when WATCHDOG_USEC is set", notify.wait("WATCHDOG=1", 3),
              notify.messages)
        mode = os.stat(sock).st_mode & 0o777
        check("control socket is mode 0660", mode == 0o660, oct(mode))

        status = json.loads(request(sock, '{"command":"status"}'))
        check("status answers with providers and the last pass",
              status["ok"] and status["providers"][0]["up"] and
              status["last_pass"] is not None, status)
        # The deny policy removed every production checkpoint in the first pass: READY's
        # status counts the deletions, the log names each, and a later deny pass (which
        # collects again) finds none left and no other checkpoint gone.
        production, total = production_checkpoints(host)
        ready = [m for m in notify.messages if "READY=1" in m]
        check("the first pass deleted one checkpoint per production checkpoint",
              len(production) == 5 and len(ready) == 1
              and f"{total} checkpoints" in ready[0]
              and f"{len(production)} actions done in the last full pass" in ready[0],
              (production, ready))
        deleted = sorted(re.findall(r"delete_checkpoint lab/(\S+) @ (\S+): policy "
                                    r"no-checkpoints-in-production", daemon.stderr()))
        check("the deletions are exactly the production checkpoints, each once",
              deleted == production, deleted)

        def later_deny_pass():
            last = json.loads(request(sock, '{"command":"status"}'))["last_pass"]
            return last if last and last["scope"] == "deny" else None
        deny = wait_for(later_deny_pass, 10, step=0.2)
        check("a later deny pass finds no production checkpoint left, all others still there",
              deny is not None and deny["exit_code"] == 0 and deny["violations"] == 0
              and deny["actions_done"] == 0 and deny["checkpoints"] == total - len(production),
              deny)
        out = subprocess.run([SNAPGOV, "status", "--socket", sock, "--format", "json"],
                             capture_output=True, text=True, timeout=10)
        doc = json.loads(out.stdout)
        check("snapgov status --format json is the daemon's reply", doc["ok"] is True, out)
        human = subprocess.run([SNAPGOV, "status", "--socket", sock], capture_output=True,
                               text=True, timeout=10)
        check("snapgov status prints a human summary",
              "provider lab (libvirt): up" in human.stdout, human.stdout + human.stderr)

        bad = json.loads(request(sock, "this is not json"))
        check("a malformed request gets an error reply", bad["ok"] is False, bad)
        big = json.loads(request(sock, b"x" * (70 * 1024) + b"\n"))
        check("an oversized request is refused", big["ok"] is False, big)
        silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        silent.connect(sock)
        t0 = time.monotonic()
        again = json.loads(request(sock, '{"command":"status"}'))
        check("a silent client does not block others",
              again["ok"] and time.monotonic() - t0 < 2, time.monotonic() - t0)
        silent.close()

        # SO_PEERCRED: open the file mode to everyone, then connect as nobody.
        os.chmod(sock, 0o666)
        pid = os.fork()
        if pid == 0:
            try:
                os.setgid(65534)
                os.setuid(65534)
                reply = json.loads(request(sock, '{"command":"status"}'))
                os._exit(0 if reply["ok"] is False and "permission" in reply["error"] else 1)
            except Exception as e:  # reported, then the child ends without cleanup handlers
                print(f"wrong-uid client: {e!r}", flush=True)
                os._exit(2)
        _, code = os.waitpid(pid, 0)
        os.chmod(sock, 0o660)
        check("a peer of the wrong uid is refused (SO_PEERCRED)",
              os.waitstatus_to_exitcode(code) == 0, code)

        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? '
                            r'[-+0-9.eEInfNa]+$')
        bad_lines = [l for l in text.splitlines() if l and not l.startswith("#")
                     and not sample.match(l)]
        check("/metrics parses as Prometheus text", not bad_lines and text, bad_lines[:3])
        check("/metrics reports the provider up",
              'snapgov_provider_up{provider="lab",type="libvirt"} 1' in text, text[:500])
        check("/metrics has the pass duration histogram",
              'snapgov_pass_duration_seconds_bucket{le="+Inf"}' in text)

        # SIGHUP with a broken file: logged with FILE:LINE:COL, old policy stays.
        old_hash = status["config_hash"]
        good = open(policy).read()
        with open(policy, "w") as f:
            f.write(good.replace("max_age: 72h", "max_age: soon"))
        notify.messages.clear()
        daemon.proc.send_signal(signal.SIGHUP)
        check("SIGHUP sends RELOADING=1", notify.wait("RELOADING=1", 5), notify.messages)
        logged = wait_for(lambda: re.search(re.escape(policy) + r":\d+:\d+: error: 'max_age'",
                                            daemon.stderr()), 5)
        check("a broken policy is logged with FILE:LINE:COL", logged, daemon.stderr()[-800:])
        still = json.loads(request(sock, '{"command":"status"}'))
        check("the daemon keeps running on the old policy",
              daemon.proc.poll() is None and still["config_hash"] == old_hash, still)

        with open(policy, "w") as f:
            f.write(good.replace("max_age: 72h", "max_age: 48h"))
        daemon.proc.send_signal(signal.SIGHUP)
        changed = wait_for(lambda: json.loads(request(sock, '{"command":"status"}'))
                           ["config_hash"] != old_hash, 5)
        check("SIGHUP with a valid policy switches to it", changed)

        plan = json.loads(request(sock, '{"command":"plan"}', timeout=20))
        check("the plan request answers with the plan contract",
              plan["ok"] and "findings" in plan and "summary" in plan, str(plan)[:300])

        t0 = time.monotonic()
        code = daemon.stop(signal.SIGTERM)
        check("SIGTERM exits 0 promptly", code == 0 and time.monotonic() - t0 < 5,
              (code, time.monotonic() - t0))
        check("the control socket is removed on exit", not os.path.exists(sock))
    finally:
        daemon.stop(signal.SIGKILL)


def part_down_at_start(work):
    print("# part: a provider that is down at start does not hold READY=1 back")
    host = os.path.join(work, "host-down.xml")
    shutil.copy(os.path.join(EXAMPLES, "host.xml"), host)
    sock = os.path.join(work, "run", "control-down.sock")
    port = free_port()
    policy = os.path.join(work, "policy-down.yaml")
    write_policy(policy, "test://" + host, sock, port)
    # A second provider whose libvirtd socket does not exist: down from the first pass on.
    missing = os.path.join(work, "no-libvirtd", "libvirt-sock")
    text = open(policy).read().replace(
        "providers:\n",
        f'providers:\n  - {{name: gone, type: libvirt, uri: "qemu+unix:///system?socket={missing}"}}\n',
        1)
    with open(policy, "w") as f:
        f.write(text)
    notify = Notify(os.path.join(work, "notify-down.sock"))
    daemon = Daemon(policy, {"NOTIFY_SOCKET": notify.path})
    try:
        check("READY=1 arrives although one provider is down", notify.wait("READY=1", 20),
              daemon.stderr()[-800:])
        ready = [m for m in notify.messages if "READY=1" in m]
        check("READY's STATUS= says a provider is down",
              len(ready) == 1 and "1 provider(s) down" in ready[0], ready)
        status = json.loads(request(sock, '{"command":"status"}'))
        up = {p["name"]: p["up"] for p in status["providers"]}
        check("status reports the down provider and the healthy one",
              up == {"gone": False, "lab": True}, status["providers"])
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        check("/metrics reports the provider down",
              'snapgov_provider_up{provider="gone",type="libvirt"} 0' in text, text[:600])
        check("the log names the down provider", "gone" in daemon.stderr(),
              daemon.stderr()[-800:])
        check("the daemon keeps running", daemon.proc.poll() is None)
        code = daemon.stop(signal.SIGTERM)
        check("SIGTERM exits 0", code == 0, code)
    finally:
        daemon.stop(signal.SIGKILL)
        notify.sock.close()


LIBVIRTD_SH = os.path.join(HERE, "libvirtd.sh")
PRIVATE = {"uri": None}  # the private libvirtd's URI, once started


def virsh(*args, check_rc=True):
    assert PRIVATE["uri"], "virsh before the private libvirtd started"
    return subprocess.run(["virsh", "-c", PRIVATE["uri"], "-q", *args], capture_output=True,
                          text=True, timeout=60, check=check_rc)


def alive(pid):
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def private_libvirtd_pid(root):
    """The PID of ROOT's libvirtd, if it runs in ROOT's namespace (never a reused PID)."""
    try:
        pid = int(open(os.path.join(root, "libvirtd.pid")).read().strip())
        ns = open(os.path.join(root, "mntns")).read().strip()
        same = os.readlink(f"/proc/{pid}/ns/mnt") == ns
        comm = open(f"/proc/{pid}/comm").read().strip()
    except (OSError, ValueError):
        return None
    return pid if same and comm == "libvirtd" and alive(pid) else None


def part2(work):
    print("# part 2: real libvirtd with QEMU")
    host_state = os.path.join(work, "host-state")
    with open(host_state, "w") as f:
        subprocess.run([LIBVIRTD_SH, "host-state"], stdout=f, timeout=60, check=True)
    root = subprocess.run([LIBVIRTD_SH, "start"], stdout=subprocess.PIPE, text=True,
                          timeout=120, check=True).stdout.strip().splitlines()[-1]
    PRIVATE["uri"] = open(os.path.join(root, "uri")).read().strip()
    print(f"private libvirtd: {PRIVATE['uri']} (PID {private_libvirtd_pid(root)})", flush=True)
    vm = f"snapgov-daemon-it-{os.getpid()}"
    disk = os.path.join(work, "disk.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "64M"], check=True)
    xml = os.path.join(work, "vm.xml")
    with open(xml, "w") as f:
        f.write(f"""<domain type='qemu'><name>{vm}</name><memory unit='MiB'>64</memory>
<vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{disk}'/>
<target dev='vda' bus='virtio'/></disk></devices></domain>""")
    daemon = None
    try:
        virsh("define", xml)
        virsh("start", vm)
        virsh("metadata", vm, "urn:snapgov:labels", "--key", "sg", "--set",
              "<labels><tier>production</tier></labels>")
        sock = os.path.join(work, "control2.sock")
        policy = os.path.join(work, "policy2.yaml")
        write_policy(policy, PRIVATE["uri"], sock, free_port())
        with open(policy) as f:
            text = f.read()
        with open(policy, "w") as f:
            f.write(text.replace("match: {labels: {tier: production}}",
                                 f"match: {{labels: {{tier: production}}, names: [\"{vm}\"]}}"))
        daemon = Daemon(policy)
        up = wait_for(lambda: os.path.exists(sock) and
                      json.loads(request(sock, '{"command":"status"}'))["last_pass"], 20)
        check("the daemon runs against the private libvirtd", up, daemon.stderr()[-500:])

        latencies = []
        for i in range(3):
            t0 = time.monotonic()
            virsh("snapshot-create-as", vm, f"s{i}", "--disk-only", "--diskspec",
                  f"vda,snapshot=external,file={work}/s{i}.qcow2")
            gone = wait_for(lambda: virsh("snapshot-list", vm, "--name").stdout.strip() == "", 10,
                            step=0.02)
            latencies.append(time.monotonic() - t0)
            check(f"a checkpoint created on a deny VM is removed (try {i + 1})", gone,
                  daemon.stderr()[-500:])
        print(f"deny latency seconds (deny_interval=1s): "
              f"{', '.join(f'{l:.2f}' for l in latencies)}")

        # libvirtd killed (-9, as in a crash) under the daemon: passes fail closed, then it
        # reconnects.
        passes_before = json.loads(request(sock, '{"command":"status"}'))["passes"]
        killed = private_libvirtd_pid(root)
        check("the private libvirtd runs under its recorded PID", killed, root)
        killed_at = time.time()
        if killed:
            os.kill(killed, signal.SIGKILL)
            killed_at = time.time()
            wait_for(lambda: not alive(killed), 10)
        down = wait_for(lambda: not json.loads(request(sock, '{"command":"status"}'))
                        ["providers"][0]["up"], 15)
        check("with libvirtd gone the provider is reported down", down, daemon.stderr()[-800:])

        # Fail closed: a pass that started with libvirtd gone reports an error (exit 2), not
        # a compliant world, and acts on nothing. (A pass that started before the kill may
        # have had an action accepted that it then could not verify: that one is not_verified,
        # which is right, but it is not the pass this check is about.) Pass times have
        # whole seconds, so the pass must start in a later second than the kill.
        def started_after_kill(last):
            started = datetime.datetime.strptime(last["time"], "%Y-%m-%dT%H:%M:%SZ")
            started = started.replace(tzinfo=datetime.timezone.utc).timestamp()
            return started >= int(killed_at) + 1

        def pass_while_down():
            s = json.loads(request(sock, '{"command":"status"}'))
            last = s["last_pass"]
            if (s["passes"] > passes_before and not s["providers"][0]["up"] and last
                    and started_after_kill(last)):
                return last
            return None
        closed = wait_for(pass_while_down, 15, step=0.2)
        check("a pass with libvirtd gone exits 2 and takes no action",
              closed is not None and closed["exit_code"] == 2 and closed["actions_done"] == 0
              and closed["actions_failed"] == 0, (closed, daemon.stderr()[-800:]))
        check("the daemon survives libvirtd's death", daemon.proc.poll() is None)
        subprocess.run([LIBVIRTD_SH, "restart", root], capture_output=True, timeout=120,
                       check=True)
        virsh("snapshot-create-as", vm, "after-restart", "--disk-only", "--diskspec",
              f"vda,snapshot=external,file={work}/after.qcow2")
        gone = wait_for(lambda: virsh("snapshot-list", vm, "--name").stdout.strip() == "", 40,
                        step=0.2)
        check("after libvirtd restarts the daemon reconnects and enforces again", gone,
              daemon.stderr()[-800:])
        check("SIGTERM exits 0", daemon.stop() == 0)
    finally:
        # Every step is attempted even if one fails or hangs: no VM may outlive the test.
        # The private libvirtd, virtlogd and the QEMU go with it, by their recorded PIDs.
        steps = [lambda: daemon and daemon.stop(signal.SIGKILL),
                 lambda: check("the private libvirtd, virtlogd and QEMU were stopped by PID",
                               subprocess.run([LIBVIRTD_SH, "stop", root], timeout=120)
                               .returncode == 0 and not os.path.exists(root)),
                 lambda: check("the libvirtd/virtlogd that ran before still run; "
                               "/etc/libvirt unchanged",
                               subprocess.run([LIBVIRTD_SH, "host-check", host_state],
                                              timeout=60).returncode == 0)]
        for step in steps:
            try:
                step()
            except Exception as e:  # reported, and the next step still runs
                print(f"cleanup: {e!r}", flush=True)


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root (SO_PEERCRED test, libvirtd)")
        return 77
    work = tempfile.mkdtemp(prefix="snapgov-daemon-")
    os.chmod(work, 0o755)
    os.makedirs(os.path.join(work, "run"), mode=0o755)
    try:
        part1(work)
        part_down_at_start(work)
        if "--no-qemu" not in sys.argv:
            part2(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 0 if RESULTS["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
