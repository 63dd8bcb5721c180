#pragma once
/// A provider's configuration as read from the policy file: plain values, validated by the
/// policy loader (syntax) and by the provider's factory (meaning).

#include <string>

#include "core/time.hpp"

namespace snapgov {

/// TLS settings of a network provider. Verification is on unless `insecure` is set.
struct TlsSpec {
    std::string ca_file;   ///< PEM bundle; empty: the system store
    bool insecure = false; ///< skip certificate verification (explicit opt-out only)
};

/// How a network provider authenticates. Secrets stay in files; only paths are kept here.
struct AuthSpec {
    std::string method; ///< `basic` or `certificate`
    std::string username;
    std::string password_file; ///< refused when readable by group or others
    std::string cert_file;     ///< client certificate (PEM), for `certificate`
    std::string key_file;      ///< its private key (PEM), refused when readable by others
};

/// One entry of `providers:` in the policy file.
struct ProviderSpec {
    std::string name;     ///< unique within a config
    std::string type;     ///< `libvirt`, `hyperv`
    std::string uri;      ///< libvirt connection URI
    std::string endpoint; ///< hyperv WS-Management URL
    AuthSpec auth;
    TlsSpec tls;
    bool insecure_http = false; ///< allow plain http:// endpoints
    Seconds connect_timeout{10};
    Seconds read_timeout{60};
    std::string origin; ///< `FILE:LINE:COL` of the entry, for error messages
};

} // namespace snapgov
