// The only translation unit of the Hyper-V provider that includes the GSSAPI headers.
#include "providers/hyperv/negotiator.hpp"

#include <atomic>
#include <cstdint>
#include <utility>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5/krb5.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <unistd.h>

namespace snapgov::providers::hyperv {
namespace {

// gss-ntlmssp's mechanism, 1.3.6.1.4.1.311.2.2.10 (MS-NLMP).
gss_OID_desc kNtlmOid{10, const_cast<char*>("\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a")};

// Credentials good for less than this are acquired again before a connection uses them.
constexpr OM_uint32 kRefreshSeconds = 300;

struct NameDeleter {
    void operator()(gss_name_t name) const {
        OM_uint32 minor = 0;
        gss_release_name(&minor, &name);
    }
};
using Name = std::unique_ptr<std::remove_pointer_t<gss_name_t>, NameDeleter>;

struct CredDeleter {
    void operator()(gss_cred_id_t cred) const {
        OM_uint32 minor = 0;
        gss_release_cred(&minor, &cred);
    }
};
using Cred = std::unique_ptr<std::remove_pointer_t<gss_cred_id_t>, CredDeleter>;

struct ContextDeleter {
    void operator()(gss_ctx_id_t ctx) const {
        OM_uint32 minor = 0;
        gss_delete_sec_context(&minor, &ctx, GSS_C_NO_BUFFER);
    }
};
using Context = std::unique_ptr<std::remove_pointer_t<gss_ctx_id_t>, ContextDeleter>;

// A buffer GSSAPI allocated, released on scope exit.
struct OutBuffer {
    gss_buffer_desc buf{0, nullptr};
    OutBuffer() = default;
    ~OutBuffer() {
        OM_uint32 minor = 0;
        gss_release_buffer(&minor, &buf);
    }
    OutBuffer(const OutBuffer&) = delete;
    OutBuffer& operator=(const OutBuffer&) = delete;
    [[nodiscard]] std::string str() const {
        return buf.value == nullptr ? std::string()
                                    : std::string(static_cast<const char*>(buf.value), buf.length);
    }
};

gss_buffer_desc view(const std::string& s) {
    return gss_buffer_desc{s.size(), const_cast<char*>(s.data())};
}

// GSSAPI's own words for a status: all messages of its chain, joined.
std::string status_text(OM_uint32 code, int type, const gss_OID mech) {
    std::string out;
    OM_uint32 context = 0;
    for (int i = 0; i < 8; ++i) {
        OM_uint32 minor = 0;
        OutBuffer text;
        if (GSS_ERROR(gss_display_status(&minor, code, type, mech, &context, &text.buf))) {
            break;
        }
        if (!out.empty()) {
            out += "; ";
        }
        out += text.str();
        if (context == 0) {
            break;
        }
    }
    return out;
}

bool is(OM_uint32 minor, krb5_error_code code) {
    return static_cast<krb5_error_code>(minor) == code;
}

} // namespace

Result<std::string> tls_server_end_point(const std::string& der_certificate) {
    const auto* p = reinterpret_cast<const unsigned char*>(der_certificate.data());
    std::unique_ptr<X509, decltype(&X509_free)> cert(
        d2i_X509(nullptr, &p, static_cast<long>(der_certificate.size())), &X509_free);
    if (!cert) {
        return fail(ErrorCode::provider,
                    "cannot parse the host's certificate for the channel binding");
    }
    // RFC 5929 4.1: the hash of the certificate's signature algorithm, but SHA-256 for MD5
    // and SHA-1; with none (EdDSA signs the whole message) SHA-256 as well.
    int md_nid = NID_undef;
    int pk_nid = NID_undef;
    (void)OBJ_find_sigid_algs(X509_get_signature_nid(cert.get()), &md_nid, &pk_nid);
    const EVP_MD* md = nullptr;
    if (md_nid != NID_undef && md_nid != NID_md5 && md_nid != NID_sha1) {
        md = EVP_get_digestbynid(md_nid);
    }
    if (md == nullptr) {
        md = EVP_sha256();
    }
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (X509_digest(cert.get(), md, hash, &length) != 1) {
        return fail(ErrorCode::provider, "cannot hash the host's certificate for the channel "
                                         "binding");
    }
    return "tls-server-end-point:" + std::string(reinterpret_cast<const char*>(hash), length);
}

struct Negotiator::Impl {
    NegotiateOptions options;
    Name client; // null: the credential cache's default principal
    Name target;
    Cred cred;
    Context ctx;
    std::string ccache; // MEMORY:..., private to this negotiator, for keytab credentials
    std::string channel_binding;
    bool complete = false;

    ~Impl() {
        OPENSSL_cleanse(options.password.data(), options.password.capacity());
        ctx.reset();
        cred.reset();
        // The memory cache outlives the credential handle (it is the process's until
        // destroyed): its tickets go with the provider, e.g. on a reload.
        if (!options.keytab.empty()) {
            krb5_context k = nullptr;
            if (krb5_init_context(&k) == 0) {
                krb5_ccache cache = nullptr;
                if (krb5_cc_resolve(k, ccache.c_str(), &cache) == 0) {
                    (void)krb5_cc_destroy(k, cache);
                }
                krb5_free_context(k);
            }
        }
    }
    Impl() = default;
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    [[nodiscard]] gss_OID mech() const {
        return options.mech == NegotiateMech::kerberos ? const_cast<gss_OID>(gss_mech_krb5)
                                                       : &kNtlmOid;
    }
    [[nodiscard]] const char* mech_name() const {
        return options.mech == NegotiateMech::kerberos ? "Kerberos" : "NTLM";
    }
    [[nodiscard]] std::string who() const {
        if (options.mech == NegotiateMech::ntlm) {
            return "'" + options.username + "'";
        }
        return options.principal.empty() ? std::string("the credential cache's principal")
                                         : "'" + options.principal + "'";
    }

    // The message for a failed GSSAPI call: the cause in an administrator's words where the
    // status says which, else GSSAPI's own text.
    [[nodiscard]] Error error(std::string_view doing, OM_uint32 major, OM_uint32 minor) const {
        const std::string spn = "'" + options.spn + "'";
        const std::string keytab = "auth.keytab '" + options.keytab + "'";
        std::string cause;
        if (options.mech == NegotiateMech::kerberos) {
            if (is(minor, KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN)) {
                cause = "unknown principal: the KDC knows no principal " + who() +
                        "; check auth.principal (spelling and realm)";
            } else if (is(minor, KRB5_KT_NOTFOUND) || is(minor, KRB5_KT_KVNONOTFOUND)) {
                cause = "wrong keytab: " + keytab + " holds no key for " + who() +
                        "; give the keytab made for that principal";
            } else if (is(minor, KRB5KDC_ERR_PREAUTH_FAILED) || is(minor, KRB5_PREAUTH_FAILED) ||
                       is(minor, KRB5KRB_AP_ERR_BAD_INTEGRITY)) {
                cause = "wrong key: the KDC refused the key of " + who() +
                        (options.keytab.empty() ? std::string() : " in " + keytab) +
                        " (the account's password or key version changed since the keytab "
                        "was made); make a new keytab";
            } else if (is(minor, KRB5KRB_AP_ERR_TKT_EXPIRED) ||
                       major == GSS_S_CREDENTIALS_EXPIRED || is(minor, KRB5KDC_ERR_NAME_EXP) ||
                       is(minor, KRB5KDC_ERR_KEY_EXP)) {
                cause = "expired ticket: the Kerberos credentials of " + who() +
                        " have expired; renew them (kinit), or give auth.keytab so snapgov "
                        "gets its own";
            } else if (is(minor, KRB5KRB_AP_ERR_TKT_NYV) || is(minor, KRB5KDC_ERR_CLIENT_NOTYET)) {
                cause = "ticket not yet valid: the Kerberos credentials of " + who() +
                        " start in the future (a postdated ticket, or a clock behind); get a "
                        "current ticket (kinit) and check the clock";
            } else if (is(minor, KRB5KRB_AP_ERR_SKEW)) {
                cause = "clock skew: this machine's clock differs from the KDC's or the host's "
                        "by more than Kerberos allows (5 minutes by default); synchronise the "
                        "clocks (NTP)";
            } else if (is(minor, KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN)) {
                cause = "wrong SPN: the KDC knows no service principal " + spn +
                        "; register it on the host's account (setspn -S " + options.spn +
                        " HOST) or set auth.spn to the one it has";
            } else if (is(minor, KRB5KRB_AP_ERR_MODIFIED) || is(minor, KRB5KRB_AP_ERR_BADMATCH)) {
                cause = "wrong SPN: the host could not read the ticket for " + spn +
                        " (the SPN belongs to another account, or the host's key changed); "
                        "check auth.spn and setspn -L on the host's account";
            } else if (is(minor, KRB5_KDC_UNREACH) || is(minor, KRB5_REALM_CANT_RESOLVE) ||
                       is(minor, KRB5_REALM_UNKNOWN)) {
                cause = "KDC unreachable: no KDC of the realm of " + who() +
                        " answered; check the realm's kdc entries in krb5.conf (or DNS SRV "
                        "records) and that port 88 is open";
            } else if (is(minor, KRB5KRB_ERR_GENERIC) && !channel_binding.empty()) {
                // What an MIT or Windows acceptor answers to bindings that differ from its own.
                cause = "the host refused the ticket for " + spn +
                        " with a generic error, which is how Kerberos reports that the channel "
                        "binding does not match: a proxy that ends TLS sits between, or the host "
                        "binds to another certificate than the one it presented";
            } else if (!options.keytab.empty() &&
                       (is(minor, KRB5_FCC_NOFILE) || is(minor, KRB5_CC_NOTFOUND) ||
                        major == GSS_S_NO_CRED)) {
                cause = "wrong keytab: " + keytab + " holds no key for " + who() +
                        "; give the keytab made for that principal (klist -k shows what it holds)";
            } else if (is(minor, KRB5_FCC_NOFILE) || is(minor, KRB5_CC_NOTFOUND) ||
                       (major == GSS_S_NO_CRED && options.keytab.empty())) {
                cause = "no credentials: the credential cache (KRB5CCNAME) holds no ticket" +
                        (options.principal.empty() ? std::string() : " for " + who()) +
                        "; run kinit, or give auth.keytab";
            }
        } else if (major == GSS_S_BAD_MECH || major == GSS_S_UNAVAILABLE) {
            cause = "NTLM is not available here: install the gss-ntlmssp package";
        }
        if (cause.empty()) {
            cause = status_text(major, GSS_C_GSS_CODE, GSS_C_NO_OID);
            const auto minor_text = status_text(minor, GSS_C_MECH_CODE, mech());
            if (!minor_text.empty()) {
                cause += " (" + minor_text + ")";
            }
        }
        return Error{ErrorCode::provider, std::string(mech_name()) + " authentication failed " +
                                              std::string(doing) + ": " + cause};
    }

    Result<void> acquire() {
        if (cred) {
            OM_uint32 minor = 0;
            OM_uint32 lifetime = 0;
            const OM_uint32 major =
                gss_inquire_cred(&minor, cred.get(), nullptr, &lifetime, nullptr, nullptr);
            if (!GSS_ERROR(major) && lifetime > kRefreshSeconds) {
                return {};
            }
            cred.reset();
        }
        gss_OID_set_desc mechs{1, mech()};
        gss_cred_id_t out = GSS_C_NO_CREDENTIAL;
        OM_uint32 minor = 0;
        OM_uint32 major = 0;
        if (options.mech == NegotiateMech::ntlm) {
            auto password = view(options.password);
            major =
                gss_acquire_cred_with_password(&minor, client.get(), &password, GSS_C_INDEFINITE,
                                               &mechs, GSS_C_INITIATE, &out, nullptr, nullptr);
        } else if (!options.keytab.empty()) {
            // The keytab's tickets go to a memory cache of our own: nothing is written to
            // disk, and no other program's cache is used or changed. GSSAPI gets a new
            // ticket from the keytab when the one there nears its end.
            gss_key_value_element_desc elements[] = {{"client_keytab", options.keytab.c_str()},
                                                     {"ccache", ccache.c_str()}};
            gss_key_value_set_desc store{2, elements};
            major = gss_acquire_cred_from(&minor, client.get(), GSS_C_INDEFINITE, &mechs,
                                          GSS_C_INITIATE, &store, &out, nullptr, nullptr);
        } else {
            major = gss_acquire_cred(&minor, client.get(), GSS_C_INDEFINITE, &mechs, GSS_C_INITIATE,
                                     &out, nullptr, nullptr);
        }
        if (GSS_ERROR(major)) {
            return tl::unexpected(error("acquiring credentials for " + who(), major, minor));
        }
        cred.reset(out);
        return {};
    }

    Result<std::string> init(const std::string* input) {
        gss_channel_bindings_struct bindings{};
        bindings.initiator_addrtype = GSS_C_AF_UNSPEC;
        bindings.acceptor_addrtype = GSS_C_AF_UNSPEC;
        bindings.application_data = view(channel_binding);
        gss_buffer_desc in = input != nullptr ? view(*input) : gss_buffer_desc{0, nullptr};
        OutBuffer out;
        OM_uint32 minor = 0;
        OM_uint32 flags = 0;
        gss_ctx_id_t handle = ctx.release();
        const OM_uint32 requested =
            options.mech == NegotiateMech::kerberos ? GSS_C_MUTUAL_FLAG : OM_uint32{0};
        const OM_uint32 major = gss_init_sec_context(
            &minor, cred.get(), &handle, target.get(), mech(), requested, GSS_C_INDEFINITE,
            channel_binding.empty() ? GSS_C_NO_CHANNEL_BINDINGS : &bindings,
            input != nullptr ? &in : GSS_C_NO_BUFFER, nullptr, &out.buf, &flags, nullptr);
        ctx.reset(handle);
        if (GSS_ERROR(major)) {
            ctx.reset();
            return tl::unexpected(error(
                input == nullptr ? "starting the exchange" : "on the host's answer", major, minor));
        }
        complete = major == GSS_S_COMPLETE;
        return out.str();
    }
};

Negotiator::Negotiator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Negotiator::~Negotiator() = default;

Result<std::unique_ptr<Negotiator>> Negotiator::create(NegotiateOptions options) {
    auto impl = std::make_unique<Impl>();
    impl->options = std::move(options);
    const auto& o = impl->options;
    static std::atomic<unsigned> counter{0};
    impl->ccache =
        "MEMORY:snapgov-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
    OM_uint32 minor = 0;
    const std::string& client = o.mech == NegotiateMech::ntlm ? o.username : o.principal;
    if (!client.empty()) {
        gss_name_t name = GSS_C_NO_NAME;
        auto buffer = view(client);
        const gss_OID type = o.mech == NegotiateMech::ntlm
                                 ? GSS_C_NT_USER_NAME
                                 : const_cast<gss_OID>(GSS_KRB5_NT_PRINCIPAL_NAME);
        if (GSS_ERROR(gss_import_name(&minor, &buffer, type, &name))) {
            return fail(ErrorCode::config, std::string("'") + client +
                                               "' is not a name GSSAPI accepts: " +
                                               status_text(minor, GSS_C_MECH_CODE, impl->mech()));
        }
        impl->client.reset(name);
    }
    // `HTTP/host` becomes the host-based service `HTTP@host`, so that the realm comes from
    // krb5.conf's domain_realm (or a referral), as for any service; a name with its realm
    // is taken as written.
    std::string target = o.spn;
    gss_OID type = const_cast<gss_OID>(GSS_KRB5_NT_PRINCIPAL_NAME);
    const auto slash = target.find('/');
    if (target.find('@') == std::string::npos && slash != std::string::npos &&
        target.find('/', slash + 1) == std::string::npos) {
        target[slash] = '@';
        type = GSS_C_NT_HOSTBASED_SERVICE;
    }
    gss_name_t name = GSS_C_NO_NAME;
    auto buffer = view(target);
    if (GSS_ERROR(gss_import_name(&minor, &buffer, type, &name))) {
        return fail(ErrorCode::config, "SPN '" + o.spn + "' is not a name GSSAPI accepts: " +
                                           status_text(minor, GSS_C_MECH_CODE, impl->mech()));
    }
    impl->target.reset(name);
    if (o.mech == NegotiateMech::ntlm) {
        // Is the mechanism installed? Listed by GSSAPI's mechanism configuration.
        gss_OID_set mechs = GSS_C_NO_OID_SET;
        int present = 0;
        if (!GSS_ERROR(gss_indicate_mechs(&minor, &mechs))) {
            (void)gss_test_oid_set_member(&minor, &kNtlmOid, mechs, &present);
            (void)gss_release_oid_set(&minor, &mechs);
        }
        if (present == 0) {
            return fail(ErrorCode::config, "auth method ntlm needs the NTLM mechanism for "
                                           "GSSAPI: install the gss-ntlmssp package");
        }
    }
    return std::unique_ptr<Negotiator>(new Negotiator(std::move(impl)));
}

Result<std::string> Negotiator::begin(const std::string& channel_binding) {
    impl_->ctx.reset();
    impl_->complete = false;
    impl_->channel_binding = channel_binding;
    if (auto ok = impl_->acquire(); !ok) {
        return tl::unexpected(ok.error());
    }
    auto token = impl_->init(nullptr);
    if (!token) {
        // Credentials that looked good may still have been refused (a keytab replaced, a
        // ticket revoked): the next connection acquires them afresh.
        impl_->cred.reset();
    }
    return token;
}

Result<Negotiator::Step> Negotiator::step(const std::string& host_token) {
    if (!impl_->ctx) {
        return fail(ErrorCode::provider, std::string(mech_name()) +
                                             " authentication: the host sent a token after the "
                                             "exchange ended");
    }
    auto token = impl_->init(&host_token);
    if (!token) {
        return tl::unexpected(token.error());
    }
    return Step{std::move(*token), impl_->complete};
}

bool Negotiator::complete() const {
    return impl_->complete;
}

const char* Negotiator::mech_name() const {
    return impl_->mech_name();
}

Error Negotiator::refused(int legs, bool offered, bool channel_binding) const {
    const std::string mech = mech_name();
    if (!offered) {
        return Error{ErrorCode::provider,
                     "the host rejects the mechanism: it does not offer Negotiate "
                     "authentication; enable it in WinRM (Set-Item "
                     "WSMan:\\localhost\\Service\\Auth\\" +
                         std::string(impl_->options.mech == NegotiateMech::kerberos ? "Kerberos"
                                                                                    : "Negotiate") +
                         " $true)"};
    }
    const std::string binding =
        channel_binding ? "the channel binding does not match (a proxy that ends TLS sits "
                          "between, or the host binds to another certificate than the one it "
                          "presented)"
                        : "the host requires a channel binding (CbtHardeningLevel=Strict) and "
                          "auth.channel_binding is false";
    if (impl_->options.mech == NegotiateMech::ntlm) {
        if (legs <= 1) {
            return Error{ErrorCode::provider,
                         "the host rejects the mechanism: it refused the NTLM negotiation; it "
                         "may accept Kerberos only (NTLM restricted by policy): use auth "
                         "method kerberos"};
        }
        return Error{ErrorCode::provider, "the host refused the NTLM credentials of " +
                                              impl_->who() +
                                              ": wrong user name or password "
                                              "(auth.username, auth.password_file), the account "
                                              "may not log on there, or " +
                                              binding};
    }
    return Error{ErrorCode::provider,
                 "the host refused the Kerberos ticket for '" + impl_->options.spn +
                     "' without saying why: it rejects the mechanism (Kerberos not enabled in "
                     "WinRM, or the host reached by an address or a name its SPNs do not "
                     "list), " +
                     binding + ", or the account may not log on there"};
}

} // namespace snapgov::providers::hyperv
