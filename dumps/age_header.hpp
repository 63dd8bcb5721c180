#pragma once
/// The textual header of an age v1 file: recipient stanzas and the header MAC. Parsing is
/// strict, as the spec requires (canonical base64, LF-only lines, 64-column bodies), so a
/// file has exactly one valid encoding.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace snapgov::dumps {

/// One recipient stanza: `-> type args...` and its decoded body.
struct AgeStanza {
    std::string type;               ///< first argument, e.g. "X25519"
    std::vector<std::string> args;  ///< remaining arguments
    std::vector<std::uint8_t> body; ///< decoded body
};

/// A parsed header.
struct AgeHeader {
    std::vector<AgeStanza> stanzas;
    std::string mac_input;              ///< header bytes up to and including "---" (MAC input)
    std::array<std::uint8_t, 32> mac{}; ///< the MAC as written in the file
};

/// The version line every v1 file starts with.
inline constexpr std::string_view kAgeVersionLine = "age-encryption.org/v1\n";

/// Parses `text`, which must be exactly one header ending with the MAC line's LF. Fails with
/// ErrorCode::crypto ("header failure") on any deviation from the v1 grammar, and with
/// ErrorCode::unsupported for another version or an ASCII-armored file.
[[nodiscard]] Result<AgeHeader> parse_age_header(std::string_view text);

/// Serializes stanzas to the header text up to and including "---" (the MAC input).
[[nodiscard]] std::string serialize_age_header_prefix(const std::vector<AgeStanza>& stanzas);

} // namespace snapgov::dumps
