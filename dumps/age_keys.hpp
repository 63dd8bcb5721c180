#pragma once
/// age X25519 keys: recipients (`age1...`, public) and identities (`AGE-SECRET-KEY-1...`,
/// secret), their Bech32 text forms, and loading identity files written by `age-keygen`.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace snapgov::dumps {

/// An age X25519 recipient: the public key a file is encrypted to.
class X25519Recipient {
public:
    /// Parses `age1...` (Bech32, HRP `age`, 32-byte key). Fails with ErrorCode::usage and a
    /// message that shows the expected form; the text is not echoed back in full.
    [[nodiscard]] static Result<X25519Recipient> parse(std::string_view text);
    /// Wraps a raw 32-byte public key.
    explicit X25519Recipient(const std::array<std::uint8_t, 32>& key) : key_(key) {}

    /// The raw public key.
    [[nodiscard]] const std::array<std::uint8_t, 32>& key() const noexcept { return key_; }
    /// The `age1...` text form.
    [[nodiscard]] std::string to_string() const;

private:
    std::array<std::uint8_t, 32> key_;
};

/// An age X25519 identity: the secret key that unwraps files encrypted to its recipient.
/// The secret is wiped from memory when the object is destroyed; it never appears in logs or
/// error messages.
class X25519Identity {
public:
    /// Parses `AGE-SECRET-KEY-1...`. Fails with ErrorCode::usage without echoing the text.
    [[nodiscard]] static Result<X25519Identity> parse(std::string_view text);
    /// Creates a fresh identity from the CSPRNG.
    [[nodiscard]] static Result<X25519Identity> generate();

    X25519Identity(const X25519Identity&) = default;
    X25519Identity& operator=(const X25519Identity&) = default;
    ~X25519Identity();

    /// The raw secret scalar (handle with care).
    [[nodiscard]] const std::array<std::uint8_t, 32>& secret() const noexcept { return secret_; }
    /// The matching recipient.
    [[nodiscard]] const X25519Recipient& recipient() const noexcept { return recipient_; }
    /// The `AGE-SECRET-KEY-1...` text form (for writing identity files in tests and tools).
    [[nodiscard]] std::string to_string() const;

private:
    X25519Identity(const std::array<std::uint8_t, 32>& secret, const X25519Recipient& recipient)
        : secret_(secret), recipient_(recipient) {}
    std::array<std::uint8_t, 32> secret_;
    X25519Recipient recipient_;
};

/// Reads the X25519 identities of an identity file as `age-keygen` writes it (`#` comments,
/// blank lines, one `AGE-SECRET-KEY-1...` per line). Refuses (ErrorCode::config) a file that
/// group or others may read or write (mode & 077), naming the `chmod 600` fix; refuses
/// (ErrorCode::unsupported) post-quantum, plugin and armored keys; fails if no key is found.
[[nodiscard]] Result<std::vector<X25519Identity>> load_identity_file(const std::string& path);

} // namespace snapgov::dumps
