#include "dumps/age_crypto.hpp"

#include <algorithm>
#include <limits>
#include <mutex>
#include <string>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

namespace snapgov::dumps::detail {
namespace {

struct KdfFree {
    void operator()(EVP_KDF* p) const noexcept { EVP_KDF_free(p); }
};
struct KdfCtxFree {
    void operator()(EVP_KDF_CTX* p) const noexcept { EVP_KDF_CTX_free(p); }
};
struct MacFree {
    void operator()(EVP_MAC* p) const noexcept { EVP_MAC_free(p); }
};
struct MacCtxFree {
    void operator()(EVP_MAC_CTX* p) const noexcept { EVP_MAC_CTX_free(p); }
};
struct CipherFree {
    void operator()(EVP_CIPHER* p) const noexcept { EVP_CIPHER_free(p); }
};

// Fetched once: an implicit fetch on every chunk costs a global lock in OpenSSL 3.
const EVP_CIPHER* chacha_cipher() {
    static const std::unique_ptr<EVP_CIPHER, CipherFree> cipher(
        EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr));
    return cipher.get();
}

PkeyPtr x25519_key(const Key32& secret) {
    return PkeyPtr(
        EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, secret.data(), secret.size()));
}

} // namespace

void secure_zero(std::span<std::uint8_t> data) noexcept {
    OPENSSL_cleanse(data.data(), data.size());
}

Result<void> random_bytes(std::span<std::uint8_t> out) {
    if (out.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
        return fail(ErrorCode::internal, "random_bytes asked for more than INT_MAX bytes");
    if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
        return fail(ErrorCode::crypto, "the OpenSSL random generator failed");
    }
    return {};
}

Result<Key32> x25519_public(const Key32& secret) {
    PkeyPtr key = x25519_key(secret);
    Key32 pub{};
    std::size_t len = pub.size();
    if (!key || EVP_PKEY_get_raw_public_key(key.get(), pub.data(), &len) != 1 || len != 32) {
        return fail(ErrorCode::crypto, "cannot compute an X25519 public key");
    }
    return pub;
}

Result<Key32> x25519_shared(const Key32& secret, const Key32& peer_public) {
    PkeyPtr key = x25519_key(secret);
    PkeyPtr peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer_public.data(),
                                             peer_public.size()));
    if (!key || !peer)
        return fail(ErrorCode::crypto, "invalid X25519 key");
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    Key32 out{};
    std::size_t len = out.size();
    // OpenSSL itself refuses an all-zero result; the explicit check below keeps the age
    // requirement visible and independent of the library version.
    if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
        EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1 ||
        EVP_PKEY_derive(ctx.get(), out.data(), &len) != 1 || len != 32) {
        return fail(ErrorCode::crypto, "X25519 key agreement failed (low-order share)");
    }
    std::uint8_t acc = 0;
    for (auto b : out)
        acc = static_cast<std::uint8_t>(acc | b);
    if (acc == 0)
        return fail(ErrorCode::crypto, "X25519 shared secret is all zero");
    return out;
}

Result<Key32> hkdf_sha256(std::span<const std::uint8_t> ikm, std::span<const std::uint8_t> salt,
                          std::string_view info) {
    static const std::unique_ptr<EVP_KDF, KdfFree> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
    std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> ctx(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr);
    if (!ctx)
        return fail(ErrorCode::crypto, "HKDF is not available in this OpenSSL");
    char digest[] = "SHA256";
    // OSSL_PARAM wants non-const pointers; OpenSSL only reads them.
    std::uint8_t empty = 0;
    auto* salt_ptr = salt.empty() ? &empty : const_cast<std::uint8_t*>(salt.data());
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(ikm.data()),
                                          ikm.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt_ptr, salt.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()),
                                          info.size()),
        OSSL_PARAM_construct_end(),
    };
    Key32 out{};
    if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
        return fail(ErrorCode::crypto, "HKDF-SHA-256 derivation failed");
    }
    return out;
}

Result<Key32> hmac_sha256(const Key32& key, std::span<const std::uint8_t> data) {
    static const std::unique_ptr<EVP_MAC, MacFree> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
    std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(mac ? EVP_MAC_CTX_new(mac.get()) : nullptr);
    if (!ctx)
        return fail(ErrorCode::crypto, "HMAC is not available in this OpenSSL");
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    Key32 out{};
    std::size_t len = 0;
    if (EVP_MAC_init(ctx.get(), key.data(), key.size(), params) != 1 ||
        EVP_MAC_update(ctx.get(), data.data(), data.size()) != 1 ||
        EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) != 1 || len != out.size()) {
        return fail(ErrorCode::crypto, "HMAC-SHA-256 failed");
    }
    return out;
}

Result<Sha256> Sha256::create() {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
        return fail(ErrorCode::crypto, "cannot start a SHA-256 digest in OpenSSL");
    return Sha256(std::move(ctx));
}

Result<void> Sha256::update(std::span<const std::uint8_t> data) {
    if (EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1)
        return fail(ErrorCode::crypto, "SHA-256 update failed in OpenSSL");
    return {};
}

Result<Key32> Sha256::finish() {
    Key32 out{};
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), out.data(), &len) != 1 || len != out.size())
        return fail(ErrorCode::crypto, "SHA-256 finalisation failed in OpenSSL");
    return out;
}

Result<ChaChaPoly> ChaChaPoly::create() {
    if (chacha_cipher() == nullptr)
        return fail(ErrorCode::crypto, "ChaCha20-Poly1305 is not available in this OpenSSL");
    CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    if (!ctx)
        return fail(ErrorCode::crypto, "cannot allocate an OpenSSL cipher context");
    return ChaChaPoly(std::move(ctx));
}

Result<void> ChaChaPoly::seal(const Key32& key, const std::array<std::uint8_t, 12>& nonce,
                              std::span<const std::uint8_t> plain, std::span<std::uint8_t> out) {
    if (out.size() != plain.size() + kTagSize || plain.size() > std::numeric_limits<int>::max()) {
        return fail(ErrorCode::internal, "ChaCha20-Poly1305 seal called with mismatched sizes");
    }
    EVP_CIPHER_CTX* c = ctx_.get();
    int len = 0;
    int fin = 0;
    if (EVP_EncryptInit_ex2(c, chacha_cipher(), key.data(), nonce.data(), nullptr) != 1 ||
        (!plain.empty() && EVP_EncryptUpdate(c, out.data(), &len, plain.data(),
                                             static_cast<int>(plain.size())) != 1) ||
        EVP_EncryptFinal_ex(c, out.data() + len, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagSize),
                            out.data() + plain.size()) != 1) {
        return fail(ErrorCode::crypto, "ChaCha20-Poly1305 encryption failed in OpenSSL");
    }
    return {};
}

Result<TagCheck> ChaChaPoly::open(const Key32& key, const std::array<std::uint8_t, 12>& nonce,
                                  std::span<const std::uint8_t> sealed,
                                  std::span<std::uint8_t> out) {
    if (sealed.size() < kTagSize || out.size() != sealed.size() - kTagSize ||
        sealed.size() > std::numeric_limits<int>::max()) {
        return fail(ErrorCode::internal, "ChaCha20-Poly1305 open called with mismatched sizes");
    }
    EVP_CIPHER_CTX* c = ctx_.get();
    const std::size_t clen = sealed.size() - kTagSize;
    int len = 0;
    std::array<std::uint8_t, kTagSize> tag{};
    std::copy(sealed.begin() + static_cast<std::ptrdiff_t>(clen), sealed.end(), tag.begin());
    if (EVP_DecryptInit_ex2(c, chacha_cipher(), key.data(), nonce.data(), nullptr) != 1 ||
        (clen > 0 &&
         EVP_DecryptUpdate(c, out.data(), &len, sealed.data(), static_cast<int>(clen)) != 1) ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kTagSize), tag.data()) !=
            1) {
        return fail(ErrorCode::crypto, "ChaCha20-Poly1305 decryption failed in OpenSSL");
    }
    // For an AEAD cipher, DecryptFinal is where the tag is compared: its failure is the
    // authentication result, not a library error.
    int fin = 0;
    return EVP_DecryptFinal_ex(c, out.data() + len, &fin) == 1 ? TagCheck::verified
                                                               : TagCheck::mismatch;
}

} // namespace snapgov::dumps::detail
