#pragma once
/// Text encodings of the age format: unpadded canonical base64 (RFC 4648 without `=`) and
/// Bech32 (BIP 173 without the 90-character limit), as the age spec requires.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace snapgov::dumps {

/// Lower-case hexadecimal of `data` (digests in reports and journals).
[[nodiscard]] std::string hex_encode(std::span<const std::uint8_t> data);

/// Encodes `data` as standard base64 without padding.
[[nodiscard]] std::string base64_encode_raw(const std::vector<std::uint8_t>& data);

/// Decodes unpadded standard base64; returns nullopt for padding, characters outside the
/// alphabet, an impossible length, or a non-canonical encoding (non-zero trailing bits).
[[nodiscard]] std::optional<std::vector<std::uint8_t>> base64_decode_raw(std::string_view text);

/// A decoded Bech32 string.
struct Bech32Data {
    std::string hrp;                ///< human-readable part, lowercased
    std::vector<std::uint8_t> data; ///< payload as 8-bit bytes
};

/// Encodes 8-bit `data` under `hrp` (lowercase output; callers upper-case identities).
[[nodiscard]] std::string bech32_encode(std::string_view hrp,
                                        const std::vector<std::uint8_t>& data);

/// Decodes a Bech32 string (all lowercase or all uppercase), verifying the checksum and the
/// 5-to-8-bit padding. Returns nullopt on any defect.
[[nodiscard]] std::optional<Bech32Data> bech32_decode(std::string_view text);

} // namespace snapgov::dumps
