#include "engine/config.hpp"

#include <openssl/evp.h>

#include "core/checked_file.hpp"
#include "dumps/age_keys.hpp"

namespace snapgov::engine {
namespace {

/// Policy files are small; anything larger is a mistake (a dump given as -c).
constexpr FileRule kPolicyFile{false, std::uintmax_t{16} << 20};

Result<std::string> sha256_hex(const std::string& data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
        return fail(ErrorCode::crypto, "SHA-256 of the policy file failed (OpenSSL)");
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned int i = 0; i < len; ++i) {
        out += kHex[digest[i] >> 4];
        out += kHex[digest[i] & 15];
    }
    return out;
}

} // namespace

Result<LoadedConfig> load_config(const std::string& path,
                                 const providers::ProviderRegistry& registry) {
    // The same checks as every file a config names: exists, regular, readable, bounded.
    auto bytes = read_checked_file(path, kPolicyFile);
    if (!bytes) {
        return tl::unexpected(bytes.error().with_context("policy file"));
    }
    policies::LoadChecks checks;
    checks.recipient = [](const std::string& text) {
        auto recipient = dumps::X25519Recipient::parse(text);
        return recipient ? std::string() : recipient.error().message;
    };
    auto parsed = policies::load_config_string(*bytes, path, registry, checks);
    if (!parsed) {
        return tl::unexpected(parsed.error());
    }
    auto hash = sha256_hex(*bytes);
    if (!hash) {
        return tl::unexpected(hash.error());
    }
    LoadedConfig out;
    out.config = std::make_shared<const policies::Config>(std::move(parsed->config));
    out.warnings = std::move(parsed->warnings);
    out.sha256 = std::move(*hash);
    return out;
}

} // namespace snapgov::engine
