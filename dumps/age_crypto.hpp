#pragma once
/// The cryptographic primitives the age format needs, each a thin RAII-safe call into
/// OpenSSL 3 EVP (X25519, HKDF-SHA-256, HMAC-SHA-256, ChaCha20-Poly1305, SHA-256, CSPRNG).
/// Internal to the dumps library: no primitive is implemented here, only wired.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

#include <openssl/evp.h>

#include "core/error.hpp"

namespace snapgov::dumps::detail {

/// A 32-byte key or digest.
using Key32 = std::array<std::uint8_t, 32>;
/// The 16-byte age file key.
using FileKey = std::array<std::uint8_t, 16>;

/// Deleters and owning pointers for the OpenSSL handles used here.
struct CipherCtxFree {
    void operator()(EVP_CIPHER_CTX* p) const noexcept { EVP_CIPHER_CTX_free(p); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
    void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
    void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

/// Size of one age payload chunk's plaintext, and of its Poly1305 tag.
inline constexpr std::size_t kChunkSize = 64 * 1024;
inline constexpr std::size_t kTagSize = 16;

/// Fills `out` from the OpenSSL CSPRNG.
[[nodiscard]] Result<void> random_bytes(std::span<std::uint8_t> out);

/// X25519 public key of a 32-byte secret scalar.
[[nodiscard]] Result<Key32> x25519_public(const Key32& secret);

/// X25519(secret, peer_public). Fails with ErrorCode::crypto when the result is all zero
/// (low-order peer point), which the age spec requires to abort.
[[nodiscard]] Result<Key32> x25519_shared(const Key32& secret, const Key32& peer_public);

/// HKDF-SHA-256 (extract with `salt`, expand with `info`) to 32 bytes.
[[nodiscard]] Result<Key32> hkdf_sha256(std::span<const std::uint8_t> ikm,
                                        std::span<const std::uint8_t> salt, std::string_view info);

/// HMAC-SHA-256 of `data` under `key`.
[[nodiscard]] Result<Key32> hmac_sha256(const Key32& key, std::span<const std::uint8_t> data);

/// Streaming SHA-256 (EVP_MD_CTX owned inside). Used to fingerprint files while they are
/// written so they can be verified by re-reading. Every step fails with ErrorCode::crypto
/// when OpenSSL does.
class Sha256 {
public:
    /// Starts a digest; fails when OpenSSL cannot allocate or initialise the context.
    [[nodiscard]] static Result<Sha256> create();
    /// Adds bytes to the digest.
    [[nodiscard]] Result<void> update(std::span<const std::uint8_t> data);
    /// Returns the digest; the object must not be updated afterwards.
    [[nodiscard]] Result<Key32> finish();

private:
    explicit Sha256(MdCtxPtr ctx) : ctx_(std::move(ctx)) {}
    MdCtxPtr ctx_;
};

/// What ChaChaPoly::open() found, once OpenSSL itself did its work.
enum class TagCheck {
    verified, ///< the tag authenticates the ciphertext: the plaintext may be used
    mismatch, ///< wrong key or nonce, or altered data: the plaintext must be discarded
};

/// ChaCha20-Poly1305 with a reusable context, one per thread (not thread-safe itself).
class ChaChaPoly {
public:
    /// Allocates the context; fails (crypto) when OpenSSL cannot, or lacks the cipher.
    [[nodiscard]] static Result<ChaChaPoly> create();
    /// Encrypts `plain` into `out` (plain.size() + 16 bytes, tag appended). Fails with
    /// ErrorCode::internal for sizes that do not fit, ErrorCode::crypto when OpenSSL fails.
    [[nodiscard]] Result<void> seal(const Key32& key, const std::array<std::uint8_t, 12>& nonce,
                                    std::span<const std::uint8_t> plain,
                                    std::span<std::uint8_t> out);
    /// Decrypts and authenticates `sealed` (ciphertext || tag) into `out`
    /// (sealed.size() - 16 bytes). A tag that does not verify is a result (mismatch), not an
    /// error; errors are sizes that do not fit (internal) and OpenSSL failures (crypto).
    [[nodiscard]] Result<TagCheck> open(const Key32& key, const std::array<std::uint8_t, 12>& nonce,
                                        std::span<const std::uint8_t> sealed,
                                        std::span<std::uint8_t> out);

private:
    explicit ChaChaPoly(CipherCtxPtr ctx) : ctx_(std::move(ctx)) {}
    CipherCtxPtr ctx_;
};

/// Overwrites `data` with zeros in a way the compiler keeps (for keys on the stack).
void secure_zero(std::span<std::uint8_t> data) noexcept;

} // namespace snapgov::dumps::detail
