#pragma once
/// Ed25519 keys for signing the ledger's chain heads (OpenSSL EVP). The private key lives in a
/// PEM file the same rule as every secret guards (core/checked_file.hpp: owned by root or this
/// user, mode 0600); snapgov never logs or prints it.

#include <memory>
#include <string>
#include <string_view>

#include "core/error.hpp"

struct evp_pkey_st;

namespace snapgov::evidence {

/// An Ed25519 key pair, or a public key only. Owns its EVP_PKEY. Movable, not copyable.
class SigningKey {
public:
    /// A new random key pair.
    [[nodiscard]] static Result<SigningKey> generate();
    /// The private key in `path` (PEM, PKCS#8), after the secret-file checks. An error names
    /// the file and the fix; it never contains key material.
    [[nodiscard]] static Result<SigningKey> load_private(const std::string& path);
    /// A public key in `path` (PEM, SubjectPublicKeyInfo, as `evidence keygen` prints it).
    [[nodiscard]] static Result<SigningKey> load_public(const std::string& path);
    /// A public key from its 32 raw bytes given as 64 hex digits.
    [[nodiscard]] static Result<SigningKey> from_public_hex(std::string_view hex);

    /// Writes the private key to `path` as PEM, created with mode 0600; refuses an existing
    /// file.
    [[nodiscard]] Result<void> write_private(const std::string& path) const;
    /// The public key as PEM text.
    [[nodiscard]] Result<std::string> public_pem() const;
    /// The public key's 32 raw bytes as hex.
    [[nodiscard]] Result<std::string> public_hex() const;
    /// Hex of the 64-byte Ed25519 signature of `message` (needs the private key).
    [[nodiscard]] Result<std::string> sign(std::string_view message) const;
    /// Whether `signature_hex` is a valid signature of `message` by this key.
    [[nodiscard]] bool verify(std::string_view message, std::string_view signature_hex) const;

private:
    struct Free {
        void operator()(evp_pkey_st* key) const noexcept;
    };
    explicit SigningKey(evp_pkey_st* key) : key_(key) {}
    std::unique_ptr<evp_pkey_st, Free> key_;
};

} // namespace snapgov::evidence
