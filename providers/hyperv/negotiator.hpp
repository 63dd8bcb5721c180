#pragma once
/// HTTP `Negotiate` authentication (RFC 4559) through GSSAPI: Kerberos (MIT krb5) or NTLM
/// (the gss-ntlmssp mechanism), with RFC 5929 `tls-server-end-point` channel bindings. The
/// GSSAPI headers stay in negotiator.cpp.
///
/// The token sent is the mechanism's own (a Kerberos AP-REQ, NTLM messages), not wrapped in
/// SPNEGO: Windows' Negotiate package accepts it, the common Linux WinRM clients send it
/// (pywinrm's requests-kerberos and requests-ntlm), and it keeps the mechanism's status:
/// through MIT's SPNEGO a failure comes back with SPNEGO's own minor status (an unknown SPN
/// gave minor 100001 instead of KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN), which would leave every
/// error below unnamed. A host answers with the mechanism's token (a Kerberos AP-REP for
/// mutual authentication, an NTLM CHALLENGE).

#include <memory>
#include <string>

#include "core/error.hpp"

namespace snapgov::providers::hyperv {

/// The GSSAPI mechanism a Negotiate exchange uses.
enum class NegotiateMech { kerberos, ntlm };

/// What the negotiator needs. Only `password` is secret; the negotiator keeps it (NTLM
/// credentials are acquired again for each connection) and wipes it when destroyed.
struct NegotiateOptions {
    NegotiateMech mech = NegotiateMech::kerberos;
    std::string principal; ///< Kerberos client principal; empty: the credential cache's own
    std::string keytab;    ///< Kerberos client keytab; empty: the environment's credential cache
    std::string username;  ///< NTLM user, `DOMAIN\user` or `user@domain`
    std::string password;  ///< NTLM password (secret)
    std::string spn;       ///< the host's service principal, `HTTP/host` or `HTTP/host@REALM`
};

/// RFC 5929 `tls-server-end-point` channel-binding data for a server certificate given in
/// DER: `tls-server-end-point:` followed by the certificate's hash, made with the hash of its
/// signature algorithm, except SHA-256 where that is MD5 or SHA-1 or has none (EdDSA).
/// Fails (`provider`) when the certificate does not parse.
[[nodiscard]] Result<std::string> tls_server_end_point(const std::string& der_certificate);

/// One client's Negotiate state: credentials (acquired on first use and again before they
/// expire) and the security context of the connection being authenticated. Not thread-safe;
/// the transport owns one per endpoint. Every error names the cause and the fix and never
/// carries a secret.
class Negotiator {
public:
    /// Checks the names (principal, user, SPN) and keeps the options; contacts nothing.
    /// Fails (`config`) on a name GSSAPI cannot parse or a mechanism that is not installed.
    [[nodiscard]] static Result<std::unique_ptr<Negotiator>> create(NegotiateOptions options);
    ~Negotiator();
    Negotiator(const Negotiator&) = delete;
    Negotiator& operator=(const Negotiator&) = delete;

    /// Starts a new security context for a new connection, bound to `channel_binding`
    /// (tls_server_end_point() of the connection's server certificate; empty: no binding),
    /// acquiring credentials first when there are none or they expire within 5 minutes.
    /// Returns the first token to send. Fails (`provider`) with the reason: unknown
    /// principal, wrong keytab or password, expired or not-yet-valid ticket, clock skew,
    /// wrong SPN, KDC unreachable, ...
    [[nodiscard]] Result<std::string> begin(const std::string& channel_binding);

    /// One round of the exchange.
    struct Step {
        std::string token;     ///< to send next; empty when there is nothing more to send
        bool complete = false; ///< the context is established (mutual authentication done)
    };
    /// Feeds the host's token (from `WWW-Authenticate: Negotiate <token>`).
    [[nodiscard]] Result<Step> step(const std::string& host_token);

    /// Whether the current context is established.
    [[nodiscard]] bool complete() const;

    /// The error for a host that refused the exchange (HTTP 401 with no token to go on)
    /// after `legs` tokens were sent; `offered` is whether it offered Negotiate at all.
    [[nodiscard]] Error refused(int legs, bool offered, bool channel_binding) const;

    /// `Kerberos` or `NTLM`, for messages.
    [[nodiscard]] const char* mech_name() const;

private:
    struct Impl;
    explicit Negotiator(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace snapgov::providers::hyperv
