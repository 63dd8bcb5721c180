"""HTTP Negotiate (RFC 4559) for wsman_server.py, the side a WinRM host plays: GSSAPI
through Python's gssapi bindings (Debian python3-gssapi; MIT krb5, and NTLM through the
gss-ntlmssp mechanism), with channel bindings checked as WinRM does with
CbtHardeningLevel=Strict.

- The acceptor takes the mechanism's token as sent (a Kerberos AP-REQ, NTLM messages, or
  SPNEGO) with the process's default acceptor credentials: the keytab KRB5_KTNAME names,
  and for NTLM the user file NTLM_USER_FILE names (lines DOMAIN:USER:PASSWORD).
- Authentication is per connection: once a context is established, later requests on the
  same connection need no Authorization header.
- Channel bindings (RFC 5929 tls-server-end-point, computed here from the server's own
  certificate as the RFC says): "strict" refuses a context the client did not bind,
  "off" passes none, "wrong" binds to another value (a channel-binding mismatch, as behind a
  proxy that ends TLS).
- --negotiate-mechs limits the mechanisms accepted (a host that refuses NTLM).

gssapi is imported only when Negotiate is turned on, so the server runs without it otherwise.
"""

import base64
import hashlib
import ssl

# OIDs of the mechanisms --negotiate-mechs names.
MECHS = {"kerberos": "1.2.840.113554.1.2.2", "ntlm": "1.3.6.1.4.1.311.2.2.10"}


def add_arguments(ap):
    ap.add_argument("--negotiate", action="store_true",
                    help="accept HTTP Negotiate (Kerberos, NTLM) instead of Basic")
    ap.add_argument("--negotiate-cbt", choices=["strict", "off", "wrong"], default="strict",
                    help="channel bindings: required (default), not used, or mismatched")
    ap.add_argument("--negotiate-mechs", default="kerberos,ntlm",
                    help="mechanisms accepted, comma-separated (kerberos, ntlm)")
    ap.add_argument("--negotiate-allow", action="append", default=[],
                    help="client names allowed (default: any authenticated one)")


def end_point_hash(cert_file):
    """RFC 5929 4.1: the certificate's hash with its signature's hash algorithm, SHA-256
    for MD5 and SHA-1 (and for signatures without one)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    with open(cert_file, "rb") as f:
        pem = f.read()
    cert = x509.load_pem_x509_certificate(pem)
    algo = cert.signature_hash_algorithm
    der = ssl.PEM_cert_to_DER_cert(pem.decode())
    if algo is None or isinstance(algo, (hashes.MD5, hashes.SHA1)):
        return hashlib.sha256(der).digest()
    return hashlib.new(algo.name, der).digest()


def token_mech(token):
    """The mechanism of a first token: NTLM's messages start with their signature, the
    others with the GSS-API framing of RFC 2743 3.1 (0x60, length, the mechanism's OID).
    None for SPNEGO and for what does not parse."""
    import gssapi

    if token.startswith(b"NTLMSSP\0"):
        return gssapi.OID.from_int_seq(MECHS["ntlm"])
    if len(token) < 2 or token[0] != 0x60:
        return None
    i = 2 if token[1] < 0x80 else 2 + (token[1] & 0x7F)
    if i + 2 > len(token) or token[i] != 0x06:
        return None
    oid = gssapi.OID(elements=token[i + 2:i + 2 + token[i + 1]])
    return None if oid.dotted_form == "1.3.6.1.5.5.2" else oid


class Negotiate:
    def __init__(self, args):
        import gssapi
        import gssapi.raw

        self.gssapi = gssapi
        self.args = args
        self.bindings = None
        if args.negotiate_cbt != "off":
            data = b"tls-server-end-point:" + end_point_hash(args.cert)
            if args.negotiate_cbt == "wrong":
                data = b"tls-server-end-point:" + hashlib.sha256(b"another certificate").digest()
            self.bindings = gssapi.raw.ChannelBindings(application_data=data)
        self.mechs = {gssapi.OID.from_int_seq(MECHS[m])
                      for m in args.negotiate_mechs.split(",") if m}
        self.creds = gssapi.Credentials(usage="accept")

    def challenge(self):
        return [("WWW-Authenticate", "Negotiate")]

    def authorize(self, handler):
        """True when the request on `handler`'s connection is authenticated; sets
        handler.auth_headers to the headers the reply must carry (a token to go on with,
        or the final one)."""
        handler.auth_headers = []
        header = handler.headers.get("Authorization", "")
        if not header.lower().startswith("negotiate "):
            if getattr(handler, "negotiated", None):
                return True
            handler.auth_headers = self.challenge()
            return False
        try:
            token = base64.b64decode(header[10:].strip(), validate=True)
        except ValueError:
            handler.auth_headers = self.challenge()
            return False
        log = handler.server.app.log
        ctx = getattr(handler, "negotiate_ctx", None)
        if ctx is None or ctx.complete:
            mech = token_mech(token)
            if mech is not None and mech not in self.mechs:
                log("NEGOTIATE-REFUSED mechanism %s" % mech.dotted_form)
                handler.auth_headers = self.challenge()
                return False
            ctx = self.gssapi.SecurityContext(usage="accept", creds=self.creds,
                                              channel_bindings=self.bindings)
            handler.negotiate_ctx = ctx
            handler.negotiated = None
        out = None
        try:
            # On failure step() returns the error token (a KRB-ERROR), and the error is
            # raised by the next use of the context.
            out = ctx.step(token)
            complete = ctx.complete
        except self.gssapi.exceptions.GSSError as e:
            handler.negotiate_ctx = None
            log("NEGOTIATE-FAIL %s" % e.gen_message().replace("\n", " "))
            out = getattr(e, "token", None) or out
            handler.auth_headers = [("WWW-Authenticate", "Negotiate" + (
                " " + base64.b64encode(out).decode() if out else ""))]
            return False
        if out:
            handler.auth_headers = [("WWW-Authenticate",
                                     "Negotiate " + base64.b64encode(out).decode())]
        if not complete:
            return False
        handler.negotiate_ctx = None
        if self.bindings is not None and \
                self.gssapi.RequirementFlag.channel_bound not in ctx.actual_flags:
            log("NEGOTIATE-REFUSED no channel binding")
            handler.auth_headers = self.challenge()
            return False
        name = str(ctx.initiator_name)
        if self.args.negotiate_allow and name not in self.args.negotiate_allow:
            log("NEGOTIATE-REFUSED %s is not allowed" % name)
            handler.auth_headers = self.challenge()
            return False
        log("NEGOTIATE-OK %s %s" % (ctx.mech.dotted_form, name))
        handler.negotiated = name
        return True
