#include "providers/hyperv/hyperv_settings.hpp"

#include <optional>
#include <vector>

#include "providers/hyperv/wsman_transport.hpp"

namespace snapgov::providers::hyperv {
namespace {

/// What is wrong with a Hyper-V setting: the key it is about (a dotted path such as
/// `auth.method`), and a message that follows `hyperv provider 'NAME'`.
struct Problem {
    std::string key;
    std::string message;
};

std::vector<Problem> problems_with(const HypervSettings& s) {
    std::vector<Problem> out;
    std::optional<EndpointUrl> url;
    const auto& auth = s.auth;
    const bool negotiate = auth.method == "kerberos" || auth.method == "ntlm";
    if (s.endpoint_url.empty()) {
        out.push_back({"endpoint", " needs 'endpoint' (e.g. https://hv01.example.org:5986/wsman)"});
    } else if (auto parsed = parse_endpoint_url(s.endpoint_url); !parsed) {
        out.push_back({"endpoint", ": " + parsed.error().message});
    } else {
        url = *parsed;
        if (!url->tls && negotiate) {
            out.push_back({"endpoint", ": auth method " + auth.method +
                                           " needs an https:// endpoint (its authentication is "
                                           "bound to the TLS channel; insecure_http does not "
                                           "apply)"});
        } else if (!url->tls && !s.insecure_http) {
            out.push_back({"endpoint", ": endpoint uses plain http, which exposes credentials; "
                                       "use https:// or set insecure_http: true"});
        }
    }
    if (auth.method == "basic") {
        if (auth.username.empty() || auth.password_file.empty()) {
            out.push_back({auth.username.empty() ? "auth.username" : "auth.password_file",
                           ": auth method basic needs auth.username and auth.password_file"});
        }
    } else if (auth.method == "certificate") {
        if (url && !url->tls) {
            out.push_back({"auth.method", ": auth method certificate needs an https:// endpoint"});
        }
        if (auth.cert_file.empty() || auth.key_file.empty()) {
            out.push_back({auth.cert_file.empty() ? "auth.cert_file" : "auth.key_file",
                           ": auth method certificate needs auth.cert_file and auth.key_file"});
        }
    } else if (negotiate) {
        if (auth.method == "kerberos" && !auth.keytab.empty() && auth.principal.empty()) {
            out.push_back({"auth.principal", ": auth method kerberos with auth.keytab needs "
                                             "auth.principal (e.g. svc-snapgov@EXAMPLE.ORG)"});
        }
        if (auth.method == "ntlm" && (auth.username.empty() || auth.password_file.empty())) {
            out.push_back({auth.username.empty() ? "auth.username" : "auth.password_file",
                           ": auth method ntlm needs auth.username and auth.password_file"});
        }
    } else {
        out.push_back({"auth.method", ": auth.method must be basic, certificate, kerberos or "
                                      "ntlm" +
                                          (auth.method.empty() ? std::string(" (missing)")
                                                               : " (got '" + auth.method + "')")});
    }
    return out;
}

} // namespace

std::shared_ptr<const HypervSettings> parse_settings(const ConfigSection& entry) {
    const auto errors = entry.file().error_count();
    entry.check_keys({"endpoint", "auth", "tls", "insecure_http"});
    auto settings = std::make_shared<HypervSettings>();
    settings->endpoint_url = entry.string("endpoint").value_or("");
    settings->insecure_http = entry.boolean("insecure_http").value_or(false);
    if (auto auth = entry.section("auth")) {
        auth->check_keys({"method", "username", "password_file", "cert_file", "key_file",
                          "principal", "keytab", "spn", "channel_binding"});
        settings->auth.method = auth->string("method").value_or("");
        settings->auth.username = auth->string("username").value_or("");
        // Files are checked now: one that cannot work is refused here, at its key, and not
        // when a pass first connects.
        settings->auth.password_file = auth->file_path("password_file", kSecretFile).value_or("");
        settings->auth.cert_file = auth->file_path("cert_file", kCertificateFile).value_or("");
        settings->auth.key_file = auth->file_path("key_file", kSecretFile).value_or("");
        settings->auth.principal = auth->string("principal").value_or("");
        settings->auth.keytab = auth->file_path("keytab", kSecretFile).value_or("");
        settings->auth.spn = auth->string("spn").value_or("");
        settings->auth.channel_binding = auth->boolean("channel_binding").value_or(true);
        if (auth->has("password")) {
            auth->error(auth->key_position("password"),
                        "passwords are not accepted inline; put it in a file readable only by "
                        "root and name it with 'password_file'");
        }
    }
    if (auto tls = entry.section("tls")) {
        tls->check_keys({"ca_file", "insecure"});
        settings->tls.ca_file = tls->file_path("ca_file", kCertificateFile).value_or("");
        settings->tls.insecure = tls->boolean("insecure").value_or(false);
    }
    // Values of the wrong type were reported already; checking their stand-ins would only
    // repeat those errors in other words.
    if (entry.file().error_count() == errors) {
        for (const auto& problem : problems_with(*settings)) {
            entry.error(problem.key, entry.what() + problem.message);
        }
    }
    if (entry.file().error_count() != errors) {
        return nullptr;
    }
    return settings;
}

Result<const HypervSettings*> check_settings(const ProviderSpec& spec) {
    const auto where = spec.origin + ": hyperv provider '" + spec.name + "'";
    const auto* settings = spec.settings_as<HypervSettings>();
    if (settings == nullptr) {
        return fail(ErrorCode::internal, where + " has no Hyper-V settings");
    }
    if (auto problems = problems_with(*settings); !problems.empty()) {
        return fail(ErrorCode::config, where + problems.front().message);
    }
    if (spec.connect_timeout.count() <= 0 || spec.read_timeout.count() <= 0) {
        return fail(ErrorCode::config, where + ": connect_timeout and read_timeout must be > 0");
    }
    return settings;
}

} // namespace snapgov::providers::hyperv
