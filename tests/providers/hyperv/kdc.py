"""A throwaway MIT Kerberos realm for snapgov's tests: a real KDC (Debian krb5-kdc) in a
temporary folder, with its own KRB5_CONFIG and KRB5_KDC_PROFILE, listening on 127.0.0.1 on a
free port. Nothing under /etc is read or written: every tool runs with the environment
env() returns. The KDC is started by PID and stopped by that PID.

    with Realm(tmpdir) as realm:
        realm.add_principal("svc-snapgov", password="...")   # or randkey
        realm.keytab("HTTP/127.0.0.1", "/path/http.keytab")
        subprocess.run([...], env=realm.env())
"""

import os
import socket
import subprocess
import time

REALM = "SNAPGOV.TEST"
KDB5_UTIL = "/usr/sbin/kdb5_util"
KADMIN_LOCAL = "/usr/sbin/kadmin.local"
KRB5KDC = "/usr/sbin/krb5kdc"


def free_port():
    """A port free for both TCP and UDP on 127.0.0.1 (the KDC listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port for the KDC on 127.0.0.1")


class Realm:
    def __init__(self, folder, extra_libdefaults=""):
        self.dir = folder
        self.port = free_port()
        self.proc = None
        self.krb5_conf = os.path.join(folder, "krb5.conf")
        self.kdc_conf = os.path.join(folder, "kdc.conf")
        with open(self.krb5_conf, "w", encoding="utf-8") as f:
            # No DNS anywhere: host names are taken as written, realms from this file.
            f.write(f"""[libdefaults]
    default_realm = {REALM}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    kdc_timesync = 0
    ignore_acceptor_hostname = true
{extra_libdefaults}
[realms]
    {REALM} = {{
        kdc = 127.0.0.1:{self.port}
    }}
[domain_realm]
    127.0.0.1 = {REALM}
    localhost = {REALM}
""")
        with open(self.kdc_conf, "w", encoding="utf-8") as f:
            f.write(f"""[kdcdefaults]
    kdc_listen = 127.0.0.1:{self.port}
    kdc_tcp_listen = 127.0.0.1:{self.port}
[realms]
    {REALM} = {{
        database_name = {folder}/principal
        key_stash_file = {folder}/stash
        acl_file = {folder}/kadm5.acl
        max_life = 10h
        max_renewable_life = 1d
    }}
[logging]
    kdc = FILE:{folder}/kdc.log
""")

    def env(self, **extra):
        """The environment every Kerberos tool of this realm runs with (a copy of os.environ
        with the realm's files; the replay cache in the temporary folder, not /var/tmp)."""
        env = dict(os.environ)
        env.update({
            "KRB5_CONFIG": self.krb5_conf,
            "KRB5_KDC_PROFILE": self.kdc_conf,
            "KRB5RCACHEDIR": self.dir,
            "KRB5CCNAME": "FILE:" + os.path.join(self.dir, "default.ccache"),
            "KRB5_KTNAME": "FILE:" + os.path.join(self.dir, "default.keytab"),
            "KRB5_CLIENT_KTNAME": "FILE:" + os.path.join(self.dir, "default-client.keytab"),
        })
        env.update(extra)
        return env

    def _run(self, *args, stdin=None):
        r = subprocess.run(list(args), env=self.env(), input=stdin, capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("%s failed: %s" % (" ".join(args[:2]), r.stderr.strip()))
        return r.stdout

    def kadmin(self, query):
        return self._run(KADMIN_LOCAL, "-r", REALM, "-q", query)

    def start(self):
        self._run(KDB5_UTIL, "create", "-s", "-r", REALM, "-P", "master-key-of-a-test-realm")
        self.proc = subprocess.Popen([KRB5KDC, "-n", "-r", REALM], env=self.env(),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("krb5kdc exited with %d" % self.proc.returncode)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("krb5kdc did not listen on 127.0.0.1:%d within 10 s" % self.port)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *_):
        self.stop()

    def add_principal(self, name, password=None, options=""):
        # kadmin -q splits on spaces and keeps quotes: test passwords have neither.
        key = "-pw %s" % password if password is not None else "-randkey"
        self.kadmin("addprinc %s %s %s" % (options, key, name))

    def keytab(self, name, path):
        """Writes the keys of `name` to `path` (mode 0600). For a principal with a password
        this changes its keys (ktadd randomizes them) unless -norandkey is given: we keep
        them (-norandkey) so that the password goes on working too."""
        self.kadmin("ktadd -k %s -norandkey %s" % (path, name))
        os.chmod(path, 0o600)
        return path

    def kinit(self, principal, password, ccache, *flags):
        r = subprocess.run(["kinit", *flags, "-c", ccache, principal], env=self.env(),
                           input=password + "\n", capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("kinit failed: " + r.stderr.strip())
