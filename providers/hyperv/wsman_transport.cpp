// The only translation unit of the Hyper-V provider that includes Boost.Asio and Beast.
#include "providers/hyperv/wsman_transport.hpp"

#include <cctype>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace snapgov::providers::hyperv {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

// WS-Management with certificate authentication names the mutual-TLS security profile in
// the Authorization header (DSP0226 annex C, as WinRM expects it).
constexpr const char* kMutualAuthProfile =
    "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual";
constexpr std::uint64_t kMaxReplyBytes = std::uint64_t{64} * 1024 * 1024;

// EVP_EncodeBlock takes an int length and returns the encoded length, or -1 on failure.
Result<std::string> base64(std::string_view in) {
    if (in.size() > static_cast<std::size_t>(std::numeric_limits<int>::max() / 4 * 3)) {
        return fail(ErrorCode::config, "credentials too long to encode");
    }
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(in.data()),
                                  static_cast<int>(in.size()));
    if (n < 0 || static_cast<std::size_t>(n) >= out.size()) {
        wipe_secret(out);
        return fail(ErrorCode::internal, "base64 encoding of the credentials failed in OpenSSL");
    }
    out.resize(static_cast<std::size_t>(n));
    return out;
}

// The token of a `WWW-Authenticate: Negotiate [token]` header (empty: none, or one that is
// not base64); nullopt for another scheme.
std::optional<std::string> negotiate_token(std::string_view header) {
    constexpr std::string_view kScheme = "Negotiate";
    if (header.size() < kScheme.size()) {
        return std::nullopt;
    }
    for (std::size_t i = 0; i < kScheme.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(header[i])) !=
            std::tolower(static_cast<unsigned char>(kScheme[i]))) {
            return std::nullopt;
        }
    }
    auto rest = header.substr(kScheme.size());
    if (!rest.empty() && rest.front() != ' ') {
        return std::nullopt; // another scheme that starts with the same letters
    }
    while (!rest.empty() && rest.front() == ' ') {
        rest.remove_prefix(1);
    }
    while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\r')) {
        rest.remove_suffix(1);
    }
    // A token that is not base64 counts as none: the host offered Negotiate, nothing more.
    if (rest.empty() || rest.size() % 4 != 0 || rest.size() > 64 * 1024) {
        return std::string();
    }
    std::string out(rest.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(rest.data()),
                                  static_cast<int>(rest.size()));
    if (n < 0) {
        return std::string();
    }
    // EVP_DecodeBlock counts the padding as zero bytes.
    std::size_t size = static_cast<std::size_t>(n);
    for (std::size_t i = rest.size(); i > 0 && rest[i - 1] == '=' && size > 0; --i) {
        --size;
    }
    out.resize(size);
    return out;
}

bool is_ip_literal(const std::string& host) {
    boost::system::error_code ec;
    (void)asio::ip::make_address(host, ec);
    return !ec;
}

// A reused keep-alive connection that the server closed while idle fails like this on
// the first read or write; the request never reached the server, so one retry on a fresh
// connection is safe.
bool stale_connection(const beast::error_code& ec) {
    return ec == http::error::end_of_stream || ec == asio::error::eof ||
           ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
           ec == ssl::error::stream_truncated;
}

} // namespace

void wipe_secret(std::string& secret) noexcept {
    // The buffer holds capacity() + 1 chars; short strings live inside the object.
    OPENSSL_cleanse(secret.data(), secret.capacity());
    secret.clear();
}

Result<EndpointUrl> parse_endpoint_url(const std::string& url) {
    EndpointUrl out;
    std::string_view rest(url);
    if (rest.rfind("https://", 0) == 0) {
        rest.remove_prefix(8);
        out.tls = true;
    } else if (rest.rfind("http://", 0) == 0) {
        rest.remove_prefix(7);
        out.tls = false;
    } else {
        return fail(ErrorCode::config,
                    "endpoint '" + url + "' must start with https:// (or http://)");
    }
    const auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    out.target = slash == std::string_view::npos ? "/wsman" : std::string(rest.substr(slash));
    if (authority.find('@') != std::string_view::npos) {
        return fail(ErrorCode::config, "endpoint must not contain user information; put the "
                                       "user name in auth.username and the password in "
                                       "auth.password_file");
    }
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            return fail(ErrorCode::config, "endpoint '" + url + "' has an unclosed '['");
        }
        out.host = std::string(authority.substr(1, close - 1));
        const auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                return fail(ErrorCode::config, "endpoint '" + url + "' is malformed");
            }
            port = after.substr(1);
        }
    } else {
        const auto colon = authority.rfind(':');
        out.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            port = authority.substr(colon + 1);
        }
    }
    if (out.host.empty()) {
        return fail(ErrorCode::config, "endpoint '" + url + "' has no host");
    }
    if (port.empty()) {
        out.port = out.tls ? "5986" : "5985";
    } else {
        for (const char c : port) {
            if (c < '0' || c > '9') {
                return fail(ErrorCode::config, "endpoint '" + url + "' has an invalid port");
            }
        }
        out.port = std::string(port);
    }
    return out;
}

struct HttpTransport::Impl {
    TransportOptions options;
    asio::io_context ioc;
    ssl::context tls{ssl::context::tls_client};
    tcp::resolver resolver{ioc};
    asio::steady_timer timer{ioc};
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
    beast::flat_buffer buffer;
    std::string authorization; // the Authorization header value; secret
    std::string host_header;
    std::unique_ptr<Negotiator> negotiator; // Negotiate authentication, else null
    bool authenticated = false;             // Negotiate: this connection is authenticated
    std::string binding;                    // its channel-binding data (RFC 5929)

    explicit Impl(TransportOptions o) : options(std::move(o)) {}

    ~Impl() {
        close();
        wipe_secret(authorization);
        wipe_secret(options.negotiate.password);
    }
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    [[nodiscard]] bool open() const { return plain.has_value() || secure.has_value(); }

    beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

    void close() {
        if (open()) {
            beast::error_code ignored;
            lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
            lowest().socket().close(ignored);
        }
        secure.reset();
        plain.reset();
        buffer.clear();
        authenticated = false;
        binding.clear();
    }

    // Runs one asynchronous operation with a deadline: on expiry the socket is closed,
    // which completes the operation with an error that is reported as a timeout.
    template <class Start> beast::error_code run(Seconds limit, Start&& start) {
        beast::error_code result = asio::error::would_block;
        bool expired = false;
        timer.expires_after(limit);
        timer.async_wait([&](const beast::error_code& ec) {
            if (ec) {
                return; // cancelled: the operation finished first
            }
            expired = true;
            resolver.cancel();
            if (open()) {
                beast::error_code ignored;
                lowest().socket().close(ignored);
            }
        });
        start([&](const beast::error_code& ec) {
            result = ec;
            timer.cancel();
        });
        ioc.restart();
        ioc.run();
        return expired ? beast::error_code(asio::error::timed_out) : result;
    }

    std::string timeout_text(Seconds limit, std::string_view what) const {
        return "timed out after " + std::to_string(limit.count()) + "s " + std::string(what) + " " +
               options.url.host + ":" + options.url.port;
    }

    Result<void> connect() {
        close();
        const auto& url = options.url;
        tcp::resolver::results_type endpoints;
        auto ec = run(options.connect_timeout, [&](auto done) {
            resolver.async_resolve(
                url.host, url.port,
                [&endpoints, done](const beast::error_code& e, tcp::resolver::results_type r) {
                    endpoints = std::move(r);
                    done(e);
                });
        });
        if (ec == asio::error::timed_out) {
            return fail(ErrorCode::provider, timeout_text(options.connect_timeout, "resolving"));
        }
        if (ec) {
            return fail(ErrorCode::provider, "cannot resolve " + url.host + ": " + ec.message());
        }
        if (url.tls) {
            secure.emplace(ioc, tls);
            if (auto ok = prepare_tls(); !ok) {
                close();
                return ok;
            }
        } else {
            plain.emplace(ioc);
        }
        ec = run(options.connect_timeout, [&](auto done) {
            lowest().async_connect(
                endpoints, [done](const beast::error_code& e, const tcp::endpoint&) { done(e); });
        });
        if (ec) {
            close();
            if (ec == asio::error::timed_out) {
                return fail(ErrorCode::provider,
                            timeout_text(options.connect_timeout, "connecting to"));
            }
            return fail(ErrorCode::provider,
                        "cannot connect to " + url.host + ":" + url.port + ": " + ec.message());
        }
        if (url.tls) {
            ec = run(options.connect_timeout, [&](auto done) {
                secure->async_handshake(ssl::stream_base::client,
                                        [done](const beast::error_code& e) { done(e); });
            });
            if (ec) {
                auto message = handshake_error(ec);
                close();
                return fail(ErrorCode::provider, std::move(message));
            }
            if (negotiator && options.channel_binding) {
                auto bound = server_end_point();
                if (!bound) {
                    close();
                    return tl::unexpected(bound.error());
                }
                binding = std::move(*bound);
            }
        }
        return {};
    }

    // RFC 5929 tls-server-end-point of the certificate the server presented.
    Result<std::string> server_end_point() {
        std::unique_ptr<X509, decltype(&X509_free)> cert(
            SSL_get1_peer_certificate(secure->native_handle()), &X509_free);
        const int size = cert ? i2d_X509(cert.get(), nullptr) : -1;
        if (size <= 0) {
            return fail(ErrorCode::provider, "the host presented no certificate to bind to");
        }
        std::string der(static_cast<std::size_t>(size), '\0');
        auto* p = reinterpret_cast<unsigned char*>(der.data());
        if (i2d_X509(cert.get(), &p) != size) {
            return fail(ErrorCode::provider, "cannot encode the host's certificate");
        }
        return tls_server_end_point(der);
    }

    Result<void> prepare_tls() {
        SSL* handle = secure->native_handle();
        const bool ip = is_ip_literal(options.url.host);
        if (!options.tls_insecure) {
            // OpenSSL checks the name during the handshake, so a mismatch fails it with
            // an X509 verify result we can report.
            X509_VERIFY_PARAM* param = SSL_get0_param(handle);
            const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, options.url.host.c_str())
                              : X509_VERIFY_PARAM_set1_host(param, options.url.host.c_str(),
                                                            options.url.host.size());
            if (ok != 1) {
                return fail(ErrorCode::provider,
                            "cannot set the expected TLS peer name '" + options.url.host + "'");
            }
        }
        // SNI carries host names only (RFC 6066 forbids IP literals).
        if (!ip && SSL_set_tlsext_host_name(handle, options.url.host.c_str()) != 1) {
            return fail(ErrorCode::provider, "cannot set TLS server name indication");
        }
        return {};
    }

    std::string handshake_error(const beast::error_code& ec) {
        if (ec == asio::error::timed_out) {
            return timeout_text(options.connect_timeout, "in the TLS handshake with");
        }
        std::string message = "TLS handshake with " + options.url.host + ":" + options.url.port +
                              " failed: " + ec.message();
        const long verify = SSL_get_verify_result(secure->native_handle());
        if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
            message += ": the certificate is not issued for '" + options.url.host +
                       "' (use a host name or address listed in its subjectAltName)";
        } else if (verify != X509_V_OK) {
            message += std::string(": certificate not trusted: ") +
                       X509_verify_cert_error_string(verify) +
                       " (set tls.ca_file to the CA that issued the host's certificate)";
        }
        return message;
    }

    // Why an exchange failed: the Beast error and what was under way ("sending a request
    // to", "waiting for a reply from"), so post() can retry a stale connection and name the
    // phase in its message; or an authentication error, final.
    struct ExchangeFailure {
        beast::error_code ec;
        std::string_view phase;
        std::optional<Error> error;
        /// Some of the reply had arrived: the server took the request (and may have carried
        /// it out), so it is never sent again.
        bool answered = false;
    };
    using Response = http::response<http::string_body>;

    static HttpReply to_reply(Response& response) {
        HttpReply reply;
        reply.status = response.result_int();
        reply.content_type = std::string(response[http::field::content_type]);
        reply.body = std::move(response.body());
        return reply;
    }

    static tl::unexpected<ExchangeFailure> auth_failure(Error error) {
        return tl::unexpected(ExchangeFailure{{}, {}, std::move(error)});
    }

    // Sends one request and reads its reply on the open connection.
    tl::expected<HttpReply, ExchangeFailure> exchange(const std::string& envelope) {
        if (!negotiator) {
            auto response = send(envelope, authorization);
            if (!response) {
                return tl::unexpected(response.error());
            }
            return to_reply(*response);
        }
        if (authenticated) {
            // Negotiate authenticates the connection, not each request.
            auto response = send(envelope, {});
            if (!response) {
                return tl::unexpected(response.error());
            }
            if (response->result_int() != 401) {
                return to_reply(*response);
            }
            // The host no longer knows this connection: authenticate it again.
            authenticated = false;
            if (!open()) {
                return tl::unexpected(
                    ExchangeFailure{http::error::end_of_stream, "authenticating again with", {}});
            }
        }
        return negotiate(envelope);
    }

    // RFC 4559: the envelope goes with each token until the host accepts one (NTLM takes
    // two); the host's last token completes mutual authentication (a Kerberos AP-REP).
    tl::expected<HttpReply, ExchangeFailure> negotiate(const std::string& envelope) {
        auto first = negotiator->begin(binding);
        if (!first) {
            return auth_failure(first.error());
        }
        std::string token = std::move(*first);
        constexpr int kMaxLegs = 6;
        for (int leg = 1; leg <= kMaxLegs; ++leg) {
            auto header = base64(token);
            if (!header) {
                return auth_failure(header.error());
            }
            auto response = send(envelope, "Negotiate " + *header);
            if (!response) {
                return tl::unexpected(response.error());
            }
            bool offered = false;
            std::optional<std::string> host_token;
            const auto [first_field, end_field] =
                response->equal_range(http::field::www_authenticate);
            for (auto field = first_field; field != end_field; ++field) {
                if (auto t = negotiate_token(field->value())) {
                    offered = true;
                    if (!t->empty()) {
                        host_token = std::move(*t);
                    }
                }
            }
            if (response->result_int() != 401) {
                if (host_token && !negotiator->complete()) {
                    if (auto done = negotiator->step(*host_token); !done) {
                        return auth_failure(done.error().with_context(
                            "the host's answer fails mutual authentication"));
                    }
                }
                // A host that sends no final token leaves mutual authentication to TLS,
                // which has verified its certificate already.
                authenticated = true;
                return to_reply(*response);
            }
            if (!host_token || negotiator->complete() || !response->keep_alive()) {
                return auth_failure(negotiator->refused(leg, offered, !binding.empty()));
            }
            auto next = negotiator->step(*host_token);
            if (!next) {
                return auth_failure(next.error());
            }
            if (next->token.empty()) {
                return auth_failure(negotiator->refused(leg, offered, !binding.empty()));
            }
            token = std::move(next->token);
        }
        return auth_failure(Error{ErrorCode::provider, std::string(negotiator->mech_name()) +
                                                           " authentication did not end after " +
                                                           std::to_string(kMaxLegs) +
                                                           " exchanges with the host"});
    }

    // Sends one request (with `auth` as its Authorization header unless empty) and reads
    // its reply; closes the connection when the reply says so.
    tl::expected<Response, ExchangeFailure> send(const std::string& envelope,
                                                 const std::string& auth) {
        http::request<http::string_body> request{http::verb::post, options.url.target, 11};
        request.set(http::field::host, host_header);
        request.set(http::field::user_agent, "snapgov");
        request.set(http::field::content_type, "application/soap+xml;charset=UTF-8");
        if (!auth.empty()) {
            request.set(http::field::authorization, auth);
        }
        request.keep_alive(true);
        request.body() = envelope;
        request.prepare_payload();

        auto ec = run(options.read_timeout, [&](auto done) {
            auto handler = [done](const beast::error_code& e, std::size_t) { done(e); };
            if (secure) {
                http::async_write(*secure, request, handler);
            } else {
                http::async_write(*plain, request, handler);
            }
        });
        if (ec) {
            return tl::unexpected(ExchangeFailure{ec, "sending a request to", {}});
        }
        http::response_parser<http::string_body> parser;
        parser.body_limit(kMaxReplyBytes);
        ec = run(options.read_timeout, [&](auto done) {
            auto handler = [done](const beast::error_code& e, std::size_t) { done(e); };
            if (secure) {
                http::async_read(*secure, buffer, parser, handler);
            } else {
                http::async_read(*plain, buffer, parser, handler);
            }
        });
        if (ec) {
            return tl::unexpected(
                ExchangeFailure{ec, "waiting for a reply from", {}, parser.got_some()});
        }
        auto response = parser.release();
        if (!response.keep_alive()) {
            close();
        }
        return response;
    }
};

HttpTransport::HttpTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpTransport::~HttpTransport() = default;

Result<std::unique_ptr<HttpTransport>> HttpTransport::create(TransportOptions options) {
    // Only the header value is kept; the password is wiped before the options are moved,
    // so no moved-from copy of it is left behind.
    std::string authorization;
    if (options.auth == AuthMethod::basic) {
        std::string plain_credentials = options.username + ":" + options.password;
        auto encoded = base64(plain_credentials);
        wipe_secret(plain_credentials);
        wipe_secret(options.password);
        if (!encoded) {
            return tl::unexpected(encoded.error());
        }
        authorization = "Basic " + *encoded;
        wipe_secret(*encoded);
    } else if (options.auth == AuthMethod::certificate) {
        authorization = kMutualAuthProfile;
    }
    wipe_secret(options.password);
    const std::string endpoint = options.endpoint;
    // Boost.Asio reports a failing SSL_CTX_new or io_context set-up by throwing; this is
    // the transport's edge, so it becomes an error here.
    try {
        return make(std::move(options), authorization);
    } catch (const std::exception& e) {
        wipe_secret(authorization); // unless Impl took it (its destructor wipes it then)
        return fail(ErrorCode::provider,
                    "cannot set up the HTTP transport to " + endpoint + ": " + e.what());
    }
}

Result<std::unique_ptr<HttpTransport>> HttpTransport::make(TransportOptions options,
                                                           std::string& authorization) {
    auto impl = std::make_unique<Impl>(std::move(options));
    impl->authorization = std::move(authorization);
    auto& o = impl->options;
    if (o.auth == AuthMethod::negotiate) {
        auto negotiator = Negotiator::create(std::move(o.negotiate));
        wipe_secret(o.negotiate.password); // what a move of a short string leaves behind
        if (!negotiator) {
            return tl::unexpected(negotiator.error());
        }
        impl->negotiator = std::move(*negotiator);
    }
    beast::error_code ec;
    impl->tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                              ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                              ssl::context::no_tlsv1_1,
                          ec);
    if (ec) {
        return fail(ErrorCode::config, "cannot restrict TLS to version 1.2 and later for " +
                                           o.endpoint + ": " + ec.message());
    }
    impl->tls.set_verify_mode(o.tls_insecure ? ssl::verify_none : ssl::verify_peer, ec);
    if (ec) {
        return fail(ErrorCode::config,
                    "cannot set the TLS verification mode for " + o.endpoint + ": " + ec.message());
    }
    if (!o.tls_insecure) {
        if (!o.ca_file.empty()) {
            impl->tls.load_verify_file(o.ca_file, ec);
            if (ec) {
                return fail(ErrorCode::config,
                            "cannot load tls.ca_file '" + o.ca_file + "': " + ec.message());
            }
        } else {
            impl->tls.set_default_verify_paths(ec);
            if (ec) {
                return fail(ErrorCode::config, "cannot load the system CA store: " + ec.message());
            }
        }
    }
    if (o.auth == AuthMethod::certificate) {
        impl->tls.use_certificate_chain_file(o.cert_file, ec);
        if (ec) {
            return fail(ErrorCode::config,
                        "cannot load auth.cert_file '" + o.cert_file + "': " + ec.message());
        }
        impl->tls.use_private_key_file(o.key_file, ssl::context::pem, ec);
        if (ec) {
            return fail(ErrorCode::config,
                        "cannot load auth.key_file '" + o.key_file + "': " + ec.message());
        }
    }
    const bool v6 = o.url.host.find(':') != std::string::npos;
    impl->host_header = (v6 ? "[" + o.url.host + "]" : o.url.host) + ":" + o.url.port;
    return std::unique_ptr<HttpTransport>(new HttpTransport(std::move(impl)));
}

Result<HttpReply> HttpTransport::post(const std::string& envelope) {
    // Boost.Asio and Beast throw on resource failures (SSL_new, a header over Beast's size
    // limit) and rethrow from handlers: none of that may leave the transport.
    try {
        return post_with_retry(envelope);
    } catch (const std::exception& e) {
        impl_->close();
        return fail(ErrorCode::provider, "HTTP exchange with " + impl_->options.url.host + ":" +
                                             impl_->options.url.port + " failed: " + e.what());
    }
}

Result<HttpReply> HttpTransport::post_with_retry(const std::string& envelope) {
    auto& impl = *impl_;
    for (int attempt = 0;; ++attempt) {
        const bool reused = impl.open();
        if (!reused) {
            if (auto ok = impl.connect(); !ok) {
                return tl::unexpected(ok.error());
            }
        }
        auto reply = impl.exchange(envelope);
        if (reply) {
            return std::move(*reply);
        }
        const auto& [ec, phase, error, answered] = reply.error();
        impl.close();
        if (error) {
            return tl::unexpected(*error);
        }
        // A reply cut short is not a stale connection: resending a WS-Enumeration Pull the
        // server already served would skip its items and pass an incomplete inventory off as
        // complete.
        if (reused && attempt == 0 && stale_connection(ec) && !answered) {
            continue;
        }
        if (ec == asio::error::timed_out) {
            return fail(ErrorCode::provider, impl.timeout_text(impl.options.read_timeout, phase));
        }
        return fail(ErrorCode::provider, "HTTP exchange failed while " + std::string(phase) + " " +
                                             impl.options.url.host + ":" + impl.options.url.port +
                                             ": " + ec.message());
    }
}

} // namespace snapgov::providers::hyperv
