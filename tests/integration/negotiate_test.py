#!/usr/bin/python3
"""Hyper-V with domain accounts, end to end with real parts: a throwaway MIT KDC
(tests/providers/hyperv/kdc.py) and the WS-Management test server accepting HTTP Negotiate
through python3-gssapi (tests/providers/hyperv/negotiate.py), over TLS with channel bindings
checked as WinRM does with CbtHardeningLevel=Strict. snapgov is run as a user runs it.

Covered: Kerberos with a keytab (inventory, plan, enforce --once), with a credential cache,
NTLM with a password (gss-ntlmssp on both sides), channel binding off on both sides, the
daemon across ticket lifetimes (tickets renewed from the keytab, or by another tool in the
credential cache); and
each failure: unknown principal, wrong keytab, stale key, wrong NTLM password, expired and
not-yet-valid tickets, clock skew (snapgov under faketime), wrong SPN, KDC unreachable, a
host that rejects the mechanism, a channel-binding mismatch, binding turned off against a
strict host. Each failure exits 2, names the provider, carries no secret and takes no
action (the server saw no request it authorized). Config: http:// is refused at load with
FILE:LINE:COL, and a keytab that others can read.

Usage: negotiate_test.py SNAPGOV_BINARY. Prints "N passed, N failed"; exits 77 (skipped)
when the Kerberos tools or python3-gssapi are missing. Must run under /usr/bin/python3,
Debian's (python3-gssapi).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HYPERV = os.path.join(HERE, "..", "providers", "hyperv")
sys.path.insert(0, HYPERV)
import kdc  # noqa: E402

SNAPGOV = os.path.abspath(sys.argv[1])
SERVER = os.path.join(HYPERV, "wsman_server.py")
WORLD = os.path.join(HYPERV, "data", "world.json")
NOW = "2026-11-24T12:00:00Z"
RESULTS = {"passed": 0, "failed": 0}
SVC = "svc-snapgov@" + kdc.REALM
SVC_PASSWORD = "Svc-pw-4-kinit"
NTLM_USER = "SNAPGOV\\svc-ntlm"
NTLM_PASSWORD = "Ntlm-pw-9-secret"
SECRETS = [SVC_PASSWORD, NTLM_PASSWORD, "Wrong-ntlm-pw-7"]


def check(what, ok, detail=""):
    RESULTS["passed" if ok else "failed"] += 1
    print(("ok: " if ok else "FAILED: ") + what + ("" if ok else f" ({str(detail)[:1500]})"),
          flush=True)


class Server:
    """wsman_server.py with --negotiate, its request log, stopped by its PID."""

    def __init__(self, work, name, env, *extra, cert="server"):
        self.log_path = os.path.join(work, name + ".log")
        self.err_path = os.path.join(work, name + ".err")
        with open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(
                ["/usr/bin/python3", SERVER, "--world", WORLD, "--cert", f"{work}/{cert}.pem",
                 "--key", f"{work}/{cert}.key", "--negotiate", "--log", self.log_path,
                 "--max-lifetime", "240", *extra],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            raise RuntimeError("wsman_server.py did not start: " + open(self.err_path).read())
        self.port = int(line)
        self.mark = 0

    def new_lines(self):
        """The log lines written since the last call."""
        text = open(self.log_path).read() if os.path.exists(self.log_path) else ""
        out, self.mark = text[self.mark:], len(text)
        return out

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def make_cert(work, name, *key):
    subprocess.run(["openssl", "req", "-x509", "-newkey", *key, "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", f"{work}/{name}.key", "-out", f"{work}/{name}.pem"],
                   check=True, capture_output=True)


def write_policy(work, name, port, auth, endpoint=None, ca="server"):
    path = os.path.join(work, name + ".yaml")
    with open(path, "w") as f:
        f.write(f"""providers:
  - name: hv01
    type: hyperv
    endpoint: {endpoint or f"https://127.0.0.1:{port}/wsman"}
    auth: {auth}
    tls: {{ca_file: {work}/{ca}.pem}}
    connect_timeout: 5s
    read_timeout: 10s
policies:
  - name: no-checkpoints-in-production
    mode: enforce
    match: {{labels: {{tier: production}}}}
    checkpoints: deny
state_dir: {work}/state
""")
    return path


def snapgov(env, *args, prefix=()):
    return subprocess.run([*prefix, SNAPGOV, *args, "--now", NOW], capture_output=True,
                          text=True, timeout=120, env=env)


def main():
    for tool in (kdc.KRB5KDC, kdc.KDB5_UTIL, kdc.KADMIN_LOCAL, "/usr/bin/kinit",
                 "/usr/bin/faketime"):
        if not os.path.exists(tool):
            print(f"skipped: {tool} is missing (Debian krb5-kdc, krb5-admin-server, krb5-user, "
                  "faketime)")
            return 77
    try:
        import gssapi  # noqa: F401
    except ImportError:
        print("skipped: python3-gssapi is missing")
        return 77
    work = tempfile.mkdtemp(prefix="snapgov-negotiate-")
    realm = None
    servers = []
    try:
        started = time.monotonic()
        realm = kdc.Realm(work).start()
        kdc_seconds = time.monotonic() - started
        realm.add_principal(SVC, password=SVC_PASSWORD, options="+requires_preauth")
        realm.add_principal("gone@" + kdc.REALM, options="+requires_preauth")
        realm.add_principal("other@" + kdc.REALM, options="+requires_preauth")
        realm.add_principal("stale@" + kdc.REALM, options="+requires_preauth")
        realm.add_principal("HTTP/127.0.0.1")
        realm.keytab("HTTP/127.0.0.1", work + "/http.keytab")
        svc_keytab = realm.keytab(SVC, work + "/svc.keytab")
        gone_keytab = realm.keytab("gone", work + "/gone.keytab")
        realm.kadmin("delprinc -force gone")
        other_keytab = realm.keytab("other", work + "/other.keytab")
        stale_keytab = realm.keytab("stale", work + "/stale.keytab")
        realm.kadmin("cpw -randkey stale")  # the keytab now holds the old key
        realm_seconds = time.monotonic() - started
        print(f"KDC listening after {kdc_seconds:.3f} s; realm, principals and keytabs ready "
              f"after {realm_seconds:.3f} s", flush=True)

        make_cert(work, "server", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")
        # Signed with SHA-384: RFC 5929 then binds with SHA-384, on both sides.
        make_cert(work, "sha384", "ec", "-pkeyopt", "ec_paramgen_curve:secp384r1", "-sha384")
        ntlm_users = work + "/ntlm-users"
        with open(ntlm_users, "w") as f:
            f.write(f"SNAPGOV:svc-ntlm:{NTLM_PASSWORD}\n")
        for name, text in (("ntlm.pass", NTLM_PASSWORD), ("wrong.pass", "Wrong-ntlm-pw-7")):
            with open(os.path.join(work, name), "w") as f:
                f.write(text + "\n")
            os.chmod(os.path.join(work, name), 0o600)
        server_env = realm.env(KRB5_KTNAME="FILE:" + work + "/http.keytab",
                               NTLM_USER_FILE=ntlm_users)
        # snapgov's own environment: the realm's krb5.conf, no keytab of the server's.
        client_env = realm.env(KRB5CCNAME="FILE:" + work + "/client.ccache")

        strict = Server(work, "strict", server_env)
        servers.append(strict)
        kerberos_only = Server(work, "kerberos-only", server_env, "--negotiate-mechs", "kerberos")
        servers.append(kerberos_only)
        ntlm_only = Server(work, "ntlm-only", server_env, "--negotiate-mechs", "ntlm")
        servers.append(ntlm_only)
        wrong_cbt = Server(work, "wrong-cbt", server_env, "--negotiate-cbt", "wrong")
        servers.append(wrong_cbt)
        no_cbt = Server(work, "no-cbt", server_env, "--negotiate-cbt", "off")
        servers.append(no_cbt)
        sha384 = Server(work, "sha384", server_env, cert="sha384")
        servers.append(sha384)

        keytab_auth = f"{{method: kerberos, principal: {SVC}, keytab: {svc_keytab}}}"

        # --- Kerberos with a keytab: inventory, plan, enforce --once -----------------------
        conf = write_policy(work, "keytab", strict.port, keytab_auth)
        t = time.monotonic()
        r = snapgov(client_env, "inventory", "-c", conf, "--format", "json")
        inventory_seconds = time.monotonic() - t
        log = strict.new_lines()
        ok = r.returncode == 0
        vms = {v["name"]: v for p in json.loads(r.stdout)["providers"] for v in p["vms"]} \
            if ok else {}
        check("kerberos keytab: inventory complete, the host saw svc-snapgov authenticated "
              "with Kerberos and a channel binding", ok and len(vms["prod-db-01"]["checkpoints"])
              == 2 and f"NEGOTIATE-OK 1.2.840.113554.1.2.2 {SVC}" in log
              and "NEGOTIATE-REFUSED" not in log, (r.returncode, r.stderr, log))
        check("kerberos keytab: one authentication per connection (later requests ride on it)",
              log.count("NEGOTIATE-OK") == log.count("CONNECT") and log.count("Enumerate") >= 3,
              log)
        print(f"inventory over Kerberos took {inventory_seconds:.3f} s", flush=True)
        r = snapgov(client_env, "plan", "-c", conf, "--format", "json")
        plan = json.loads(r.stdout) if r.stdout else {}
        kinds = sorted(a["kind"] for a in plan.get("actions", []))
        check("kerberos keytab: plan finds the production checkpoints and disables them",
              r.returncode == 1 and kinds == ["delete_checkpoint", "delete_checkpoint",
                                              "disable_checkpoints"], (r.returncode, kinds,
                                                                       r.stderr))
        strict.new_lines()

        # --- failures: exit 2, provider named, no secret, nothing done ---------------------
        def failure(what, server, auth, expect, env=client_env, prefix=(), endpoint=None):
            conf = write_policy(work, "fail", server.port, auth, endpoint)
            r = snapgov(env, "enforce", "--once", "-c", conf, "--format", "json",
                        prefix=prefix)
            log = server.new_lines()
            text = r.stdout + r.stderr
            check(f"{what}: exit 2, names hv01, says '{expect}', no secret, no action",
                  r.returncode == 2 and "hv01" in r.stderr and expect in r.stderr
                  and not any(s in text for s in SECRETS)
                  and "Enumerate" not in log and "Invoke" not in log
                  and "NEGOTIATE-OK" not in log, (r.returncode, r.stderr, log))
            errors = [line for line in r.stderr.splitlines() if "error: provider hv01" in line]
            print("    " + (errors[0] if errors else "(no error line)"), flush=True)

        failure("unknown principal", strict,
                f"{{method: kerberos, principal: gone@{kdc.REALM}, keytab: {gone_keytab}}}",
                "unknown principal")
        failure("wrong keytab", strict,
                f"{{method: kerberos, principal: {SVC}, keytab: {other_keytab}}}",
                "wrong keytab")
        failure("stale keytab (the account's key changed)", strict,
                f"{{method: kerberos, principal: stale@{kdc.REALM}, keytab: {stale_keytab}}}",
                "wrong key")
        failure("wrong SPN", strict, keytab_auth[:-1] + ", spn: HTTP/nosuch.example}",
                "wrong SPN")
        dead = os.path.join(work, "dead-krb5.conf")
        with open(realm.krb5_conf) as f, open(dead, "w") as g:
            g.write(f.read().replace(f"127.0.0.1:{realm.port}", f"127.0.0.1:{kdc.free_port()}"))
        failure("KDC unreachable", strict, keytab_auth, "KDC unreachable",
                env=dict(client_env, KRB5_CONFIG=dead))
        failure("clock skew (snapgov's clock 1 h ahead)", strict, keytab_auth, "clock skew",
                prefix=("faketime", "-f", "+1h"))
        failure("channel-binding mismatch", wrong_cbt, keytab_auth,
                "channel binding does not match")
        failure("channel binding off against a strict host", strict,
                keytab_auth[:-1] + ", channel_binding: false}", "requires a channel binding")
        failure("a host that refuses NTLM", kerberos_only,
                f"{{method: ntlm, username: '{NTLM_USER}', password_file: {work}/ntlm.pass}}",
                "rejects the mechanism")
        failure("a host that takes NTLM only", ntlm_only, keytab_auth, "rejects the mechanism")
        failure("wrong NTLM password", strict,
                f"{{method: ntlm, username: '{NTLM_USER}', password_file: {work}/wrong.pass}}",
                "refused the NTLM credentials")

        # Credential caches: expired, not yet valid, then a good one.
        ccache_env = dict(client_env, KRB5CCNAME="FILE:" + work + "/cc-expired")
        realm.kinit(SVC, SVC_PASSWORD, work + "/cc-expired", "-l", "1s")
        time.sleep(2.1)
        failure("expired ticket in the credential cache", strict,
                f"{{method: kerberos, principal: {SVC}}}", "expired ticket", env=ccache_env)
        ccache_env = dict(client_env, KRB5CCNAME="FILE:" + work + "/cc-postdated")
        realm.kinit(SVC, SVC_PASSWORD, work + "/cc-postdated", "-s", "1h")
        failure("not-yet-valid (postdated) ticket", strict, f"{{method: kerberos}}",
                "not yet valid", env=ccache_env)
        failure("no credential cache", strict, "{method: kerberos}", "no credentials",
                env=dict(client_env, KRB5CCNAME="FILE:" + work + "/cc-none"))

        # --- Kerberos with the environment's credential cache, NTLM, binding off ------------
        realm.kinit(SVC, SVC_PASSWORD, work + "/cc-good")
        env = dict(client_env, KRB5CCNAME="FILE:" + work + "/cc-good")
        r = snapgov(env, "inventory", "-c",
                    write_policy(work, "ccache", strict.port, "{method: kerberos}"))
        log = strict.new_lines()
        check("kerberos from the credential cache (KRB5CCNAME, no principal given): inventory",
              r.returncode == 0 and f"NEGOTIATE-OK 1.2.840.113554.1.2.2 {SVC}" in log,
              (r.returncode, r.stderr, log))
        ntlm_auth = f"{{method: ntlm, username: '{NTLM_USER}', password_file: {work}/ntlm.pass}}"
        r = snapgov(client_env, "inventory", "-c",
                    write_policy(work, "ntlm", strict.port, ntlm_auth))
        log = strict.new_lines()
        check("ntlm with a password (gss-ntlmssp both sides, channel bound): inventory",
              r.returncode == 0 and "NEGOTIATE-OK 1.3.6.1.4.1.311.2.2.10" in log
              and not any(s in r.stdout + r.stderr for s in SECRETS),
              (r.returncode, r.stderr, log))
        r = snapgov(client_env, "inventory", "-c",
                    write_policy(work, "nocbt", no_cbt.port,
                                 keytab_auth[:-1] + ", channel_binding: false}"))
        check("channel_binding: false works with a host that binds nothing",
              r.returncode == 0 and "NEGOTIATE-OK" in no_cbt.new_lines(), r.stderr)
        r = snapgov(client_env, "inventory", "-c",
                    write_policy(work, "sha384", sha384.port, keytab_auth, ca="sha384"))
        check("a certificate signed with SHA-384: both sides bind with SHA-384 and agree",
              r.returncode == 0 and "NEGOTIATE-OK" in sha384.new_lines(), r.stderr)

        # --- the daemon across ticket lifetimes ---------------------------------------------
        # Tickets of svc-short last 2 s; the host closes every connection after one reply,
        # so each request authenticates anew. For 5 s of deny passes every second, each must
        # authenticate, with tickets the daemon renews from the keytab as they expire.
        realm.add_principal("svc-short@" + kdc.REALM, options="+requires_preauth -maxlife 2s")
        short_keytab = realm.keytab("svc-short", work + "/short.keytab")
        renewing = Server(work, "renewing", server_env, "--drop-idle")
        servers.append(renewing)
        # And from a credential cache that another tool renews (as k5start does): kinit
        # every second into the cache the daemon's KRB5CCNAME names.
        renewing_cc = Server(work, "renewing-cc", server_env, "--drop-idle")
        servers.append(renewing_cc)
        short_cc = work + "/cc-short"
        realm.kinit("svc-short@" + kdc.REALM, "", short_cc, "-k", "-t", short_keytab)
        conf = write_policy(work, "daemon", renewing.port,
                            f"{{method: kerberos, principal: svc-short@{kdc.REALM}, "
                            f"keytab: {short_keytab}}}")
        with open(conf) as f:
            text = f.read().replace("mode: enforce", "mode: audit")
        with open(conf, "w") as f:
            f.write(text + f"daemon: {{interval: 1h, deny_interval: 1s, control_socket: "
                           f"{work}/control.sock, metrics_listen: ''}}\n")
        with open(os.path.join(work, "kdc.log")) as f:
            issued_before = f.read().count("ISSUE: authtime")
        conf_cc = conf.replace("daemon.yaml", "daemon-cc.yaml")
        with open(conf_cc, "w") as f:
            f.write(text.replace(f"{{method: kerberos, principal: svc-short@{kdc.REALM}, "
                                 f"keytab: {short_keytab}}}", "{method: kerberos}")
                    .replace(f":{renewing.port}/", f":{renewing_cc.port}/")
                    + f"daemon: {{interval: 1h, deny_interval: 1s, control_socket: "
                      f"{work}/control-cc.sock, metrics_listen: ''}}\n")
        daemons = []
        for name, path, env in (("daemon", conf, client_env),
                                ("daemon-cc", conf_cc, dict(client_env,
                                                            KRB5CCNAME="FILE:" + short_cc))):
            with open(f"{work}/{name}.err", "w") as err:
                daemons.append(subprocess.Popen([SNAPGOV, "daemon", "-c", path], env=env,
                                                stdin=subprocess.DEVNULL,
                                                stdout=subprocess.DEVNULL, stderr=err))
        codes = []
        try:
            for _ in range(5):
                time.sleep(1)
                realm.kinit("svc-short@" + kdc.REALM, "", short_cc, "-k", "-t", short_keytab)
        finally:
            for daemon in daemons:
                daemon.terminate()
                try:
                    codes.append(daemon.wait(30))
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    codes.append(daemon.wait())
        code = codes[0]
        log = renewing.new_lines()
        with open(os.path.join(work, "kdc.log")) as f:
            kdc_log = f.read()
        as_reqs = [line for line in kdc_log.splitlines()
                   if "AS_REQ" in line and "ISSUE" in line and "svc-short@" in line]
        with open(work + "/daemon.err") as f:
            daemon_err = f.read()
        check("daemon: 5 s of passes with 2 s tickets, every connection authenticated, "
              "tickets renewed from the keytab",
              code == 0 and log.count("NEGOTIATE-OK") >= 4 and "NEGOTIATE-FAIL" not in log
              and "authentication failed" not in daemon_err and len(as_reqs) >= 2,
              (code, log.count("NEGOTIATE-OK"), len(as_reqs), daemon_err[-1500:]))
        log_cc = renewing_cc.new_lines()
        with open(work + "/daemon-cc.err") as f:
            daemon_cc_err = f.read()
        check("daemon: 5 s of passes from a credential cache renewed by another tool every "
              "second (2 s tickets), every connection authenticated",
              codes[1] == 0 and log_cc.count("NEGOTIATE-OK") >= 4
              and "NEGOTIATE-FAIL" not in log_cc and "authentication failed" not in daemon_cc_err,
              (codes[1], log_cc.count("NEGOTIATE-OK"), daemon_cc_err[-1500:]))
        print(f"daemon: {log.count('NEGOTIATE-OK')} authenticated connections, "
              f"{len(as_reqs)} tickets from the keytab in 5 s "
              f"({kdc_log.count('ISSUE: authtime') - issued_before} issued in all)", flush=True)

        # --- configuration refused at load -------------------------------------------------
        conf = write_policy(work, "http", strict.port, keytab_auth,
                            endpoint=f"http://127.0.0.1:{strict.port}/wsman")
        with open(conf) as f:
            text = f.read().replace("    auth:", "    insecure_http: true\n    auth:")
        with open(conf, "w") as f:
            f.write(text)
        r = subprocess.run([SNAPGOV, "policy", "check", conf], capture_output=True, text=True,
                           timeout=60)
        check("kerberos over http:// is refused at load, with FILE:LINE:COL",
              r.returncode == 2 and f"{conf}:4:" in r.stderr and "https://" in r.stderr,
              r.stderr)
        os.chmod(svc_keytab, 0o644)
        r = subprocess.run([SNAPGOV, "policy", "check",
                            write_policy(work, "mode", strict.port, keytab_auth)],
                           capture_output=True, text=True, timeout=60)
        os.chmod(svc_keytab, 0o600)
        check("a keytab that group or others can read is refused like any secret",
              r.returncode == 2 and "chmod 600" in r.stderr, r.stderr)

        # --- enforce --once last: it changes the server's world ----------------------------
        conf = write_policy(work, "keytab", strict.port, keytab_auth)
        r = snapgov(client_env, "enforce", "--once", "-c", conf, "--format", "json")
        result = json.loads(r.stdout) if r.stdout else {}
        outcomes = sorted((a["kind"], a["outcome"]) for a in result.get("actions", []))
        check("kerberos keytab: enforce --once deletes and disables, verified",
              r.returncode == 0 and outcomes == [("delete_checkpoint", "done"),
                                                 ("delete_checkpoint", "done"),
                                                 ("disable_checkpoints", "done")],
              (r.returncode, outcomes, r.stderr))
    finally:
        for server in servers:
            server.stop()
        if realm is not None:
            realm.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 0 if RESULTS["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
