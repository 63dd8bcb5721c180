#pragma once
/// HTTP(S) transport for WS-Management: POSTs one SOAP envelope and returns the reply.
/// The Boost.Beast/Asio implementation is hidden behind a pimpl, so this header is cheap to
/// include.

#include <memory>
#include <string>

#include "core/error.hpp"
#include "core/time.hpp"
#include "providers/hyperv/negotiator.hpp"

namespace snapgov::providers::hyperv {

/// How the transport authenticates. Credentials are held in memory only, never logged.
enum class AuthMethod { basic, certificate, negotiate };

/// The parts of an endpoint URL the transport needs.
struct EndpointUrl {
    bool tls = true;
    std::string host;   ///< without brackets for IPv6 literals
    std::string port;   ///< default 5986 (https) or 5985 (http)
    std::string target; ///< path, default `/wsman`
};

/// Parses `https://host[:port][/path]` or `http://...`. Refuses user information in the
/// URL (credentials belong in files), other schemes, and an empty host.
[[nodiscard]] Result<EndpointUrl> parse_endpoint_url(const std::string& url);

/// Overwrites a secret's bytes (its whole buffer, including what a move or a shorter
/// assignment left behind), then empties it.
void wipe_secret(std::string& secret) noexcept;

/// Everything the transport needs; built by the provider factory from the policy file.
struct TransportOptions {
    std::string endpoint; ///< the URL, for messages
    EndpointUrl url;
    std::string ca_file;       ///< PEM bundle; empty: the system store
    bool tls_insecure = false; ///< skip certificate and host name verification
    AuthMethod auth = AuthMethod::basic;
    std::string username;
    std::string password;        ///< secret: never put in an error or a log line
    std::string cert_file;       ///< client certificate (PEM), for certificate auth
    std::string key_file;        ///< its private key (PEM)
    NegotiateOptions negotiate;  ///< Kerberos or NTLM, for negotiate (its password: secret)
    bool channel_binding = true; ///< negotiate: bind to the server certificate (RFC 5929)
    Seconds connect_timeout{10}; ///< bound on resolve + connect + TLS handshake
    Seconds read_timeout{60};    ///< bound on sending a request and reading its reply
};

/// A reply: HTTP status and body.
struct HttpReply {
    unsigned status = 0;
    std::string content_type;
    std::string body;
};

/// Sends SOAP envelopes to one endpoint. An interface so tests and other transports
/// (e.g. a proxy) can stand in.
class WsmanTransport {
public:
    WsmanTransport() = default;
    virtual ~WsmanTransport() = default;
    WsmanTransport(const WsmanTransport&) = delete;
    WsmanTransport& operator=(const WsmanTransport&) = delete;

    /// POSTs `envelope` and returns the reply, whatever its status. Fails (`provider`) on
    /// connection, TLS and timeout errors; the message names the endpoint, never
    /// credentials.
    [[nodiscard]] virtual Result<HttpReply> post(const std::string& envelope) = 0;
};

/// The HTTP/1.1 transport over Boost.Beast: TLS with verification on by default (CA file
/// or system store, host name or IP checked, SNI sent for names), plain HTTP only when the
/// URL says so, Basic, client-certificate or Negotiate (Kerberos, NTLM; once per connection,
/// bound to the server certificate) authentication, connect and read deadlines, keep-alive
/// with one reconnect when the server closed an idle connection.
class HttpTransport final : public WsmanTransport {
public:
    /// Fails (`config`) when the TLS material cannot be loaded or a Negotiate name does not
    /// parse. The Basic password is turned into the Authorization header at once and wiped
    /// from `options`; an NTLM password moves into the transport's Negotiator.
    [[nodiscard]] static Result<std::unique_ptr<HttpTransport>> create(TransportOptions options);
    ~HttpTransport() override;

    [[nodiscard]] Result<HttpReply> post(const std::string& envelope) override;

private:
    struct Impl;
    explicit HttpTransport(std::unique_ptr<Impl> impl);
    /// create() past the credentials; may throw (Boost.Asio), create() catches. Takes
    /// `authorization` (a secret) by moving it into the transport once that exists.
    [[nodiscard]] static Result<std::unique_ptr<HttpTransport>> make(TransportOptions options,
                                                                     std::string& authorization);
    /// post() without the exception barrier: one exchange, and one retry on a fresh
    /// connection when a reused one turns out closed.
    [[nodiscard]] Result<HttpReply> post_with_retry(const std::string& envelope);
    std::unique_ptr<Impl> impl_;
};

} // namespace snapgov::providers::hyperv
