#pragma once
/// The Hyper-V keys of a `providers:` entry: `endpoint`, `auth`, `tls`, `insecure_http`.

#include <memory>
#include <string>

#include "core/config_section.hpp"
#include "core/error.hpp"
#include "providers/provider_spec.hpp"

namespace snapgov::providers::hyperv {

/// TLS settings. Verification is on unless `insecure` is set.
struct TlsSettings {
    std::string ca_file;   ///< PEM bundle; empty: the system store
    bool insecure = false; ///< skip certificate verification (explicit opt-out only)
};

/// How the provider authenticates. Secrets stay in files; only paths are kept here.
struct AuthSettings {
    std::string method;          ///< `basic`, `certificate`, `kerberos` or `ntlm`
    std::string username;        ///< basic, ntlm (`DOMAIN\\user`)
    std::string password_file;   ///< a secret file (kSecretFile)
    std::string cert_file;       ///< client certificate (PEM), for `certificate`
    std::string key_file;        ///< its private key (PEM), a secret file (kSecretFile)
    std::string principal;       ///< kerberos: the client principal (`svc@REALM`)
    std::string keytab;          ///< kerberos: its keytab, a secret file; empty: the ccache
    std::string spn;             ///< kerberos, ntlm: the host's SPN; empty: `HTTP/<host>`
    bool channel_binding = true; ///< kerberos, ntlm: RFC 5929 tls-server-end-point
};

/// A Hyper-V provider's settings.
struct HypervSettings final : ProviderSettings {
    /// The WS-Management URL.
    [[nodiscard]] std::string endpoint() const override { return endpoint_url; }

    std::string endpoint_url; ///< the `endpoint:` key: `https://host:5986/wsman`
    AuthSettings auth;
    TlsSettings tls;
    bool insecure_http = false; ///< allow a plain http:// endpoint
};

/// Reads `endpoint`, `auth`, `tls` and `insecure_http` from a `providers:` entry (file paths
/// with `${CONFIG_DIR}` expanded) and checks them (see check_settings()), reporting problems
/// at their position in the file. An inline `auth: {password: ...}` is refused. Each file
/// named is checked (see check_file()): password_file, key_file and keytab as secrets
/// (kSecretFile), cert_file and tls.ca_file as certificates; none is read. nullptr when it reported
/// an error.
[[nodiscard]] std::shared_ptr<const HypervSettings> parse_settings(const ConfigSection& entry);

/// The settings of `spec`, if they are Hyper-V's and can work: an endpoint that parses, is
/// https:// unless insecure_http is set; auth method basic (username, password_file),
/// certificate (https://, cert_file, key_file), kerberos (https://; principal, needed with a
/// keytab) or ntlm (https://, username, password_file); timeouts longer than 0s. Otherwise a
/// `config` error naming `spec.origin` and the fix. Reads no file.
[[nodiscard]] Result<const HypervSettings*> check_settings(const ProviderSpec& spec);

} // namespace snapgov::providers::hyperv
