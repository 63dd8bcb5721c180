#include "dumps/age_encoding.hpp"

#include <array>
#include <cctype>

namespace snapgov::dumps {
namespace {

constexpr std::string_view kB64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kBech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

int b64_value(char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

std::uint32_t bech32_polymod(const std::vector<std::uint8_t>& values) {
    constexpr std::array<std::uint32_t, 5> gen = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd,
                                                  0x2a1462b3};
    std::uint32_t chk = 1;
    for (std::uint8_t v : values) {
        const std::uint32_t top = chk >> 25;
        chk = ((chk & 0x1ffffff) << 5) ^ v;
        for (std::size_t i = 0; i < 5; ++i) {
            if ((top >> i) & 1)
                chk ^= gen[i];
        }
    }
    return chk;
}

std::vector<std::uint8_t> hrp_expand(std::string_view hrp) {
    std::vector<std::uint8_t> out;
    out.reserve(hrp.size() * 2 + 1);
    for (char c : hrp)
        out.push_back(static_cast<std::uint8_t>(static_cast<unsigned char>(c) >> 5));
    out.push_back(0);
    for (char c : hrp)
        out.push_back(static_cast<std::uint8_t>(static_cast<unsigned char>(c) & 31));
    return out;
}

// Regroups bits; `pad` adds zero bits at the end (encoding), otherwise leftover bits must be
// fewer than `from` and zero (strict decoding).
std::optional<std::vector<std::uint8_t>> convert_bits(const std::vector<std::uint8_t>& in,
                                                      unsigned from, unsigned to, bool pad) {
    std::uint32_t acc = 0;
    unsigned bits = 0;
    const std::uint32_t maxv = (1u << to) - 1;
    std::vector<std::uint8_t> out;
    for (std::uint8_t v : in) {
        if ((v >> from) != 0)
            return std::nullopt;
        acc = (acc << from) | v;
        bits += from;
        while (bits >= to) {
            bits -= to;
            out.push_back(static_cast<std::uint8_t>((acc >> bits) & maxv));
        }
    }
    if (pad) {
        if (bits > 0)
            out.push_back(static_cast<std::uint8_t>((acc << (to - bits)) & maxv));
    } else if (bits >= from || ((acc << (to - bits)) & maxv) != 0) {
        return std::nullopt;
    }
    return out;
}

} // namespace

std::string hex_encode(std::span<const std::uint8_t> data) {
    static constexpr std::string_view kDigits = "0123456789abcdef";
    std::string out;
    out.reserve(data.size() * 2);
    for (const auto b : data) {
        out += kDigits[b >> 4];
        out += kDigits[b & 15];
    }
    return out;
}

std::string base64_encode_raw(const std::vector<std::uint8_t>& data) {
    std::string out;
    out.reserve((data.size() * 4 + 2) / 3);
    std::size_t i = 0;
    for (; i + 3 <= data.size(); i += 3) {
        const std::uint32_t v =
            (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) | data[i + 2];
        out += kB64[(v >> 18) & 63];
        out += kB64[(v >> 12) & 63];
        out += kB64[(v >> 6) & 63];
        out += kB64[v & 63];
    }
    const std::size_t rest = data.size() - i;
    if (rest == 1) {
        const std::uint32_t v = std::uint32_t{data[i]} << 16;
        out += kB64[(v >> 18) & 63];
        out += kB64[(v >> 12) & 63];
    } else if (rest == 2) {
        const std::uint32_t v = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8);
        out += kB64[(v >> 18) & 63];
        out += kB64[(v >> 12) & 63];
        out += kB64[(v >> 6) & 63];
    }
    return out;
}

std::optional<std::vector<std::uint8_t>> base64_decode_raw(std::string_view text) {
    if (text.size() % 4 == 1)
        return std::nullopt;
    std::vector<std::uint8_t> out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t acc = 0;
    unsigned bits = 0;
    for (char c : text) {
        const int v = b64_value(c);
        if (v < 0)
            return std::nullopt; // also rejects '=' padding
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
        }
    }
    // Canonical encodings leave only zero bits behind.
    if ((acc & ((1u << bits) - 1)) != 0)
        return std::nullopt;
    return out;
}

std::string bech32_encode(std::string_view hrp, const std::vector<std::uint8_t>& data) {
    std::string lower_hrp;
    for (char c : hrp)
        lower_hrp += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    // Cannot fail: 8-bit input always fits `from` = 8, and padding accepts any leftover.
    std::vector<std::uint8_t> values = *convert_bits(data, 8, 5, true);
    std::vector<std::uint8_t> chk_in = hrp_expand(lower_hrp);
    chk_in.insert(chk_in.end(), values.begin(), values.end());
    chk_in.insert(chk_in.end(), 6, 0);
    const std::uint32_t mod = bech32_polymod(chk_in) ^ 1;
    std::string out = lower_hrp + "1";
    for (std::uint8_t v : values)
        out += kBech32Charset[v];
    for (int i = 0; i < 6; ++i)
        out += kBech32Charset[(mod >> (5 * (5 - i))) & 31];
    return out;
}

std::optional<Bech32Data> bech32_decode(std::string_view text) {
    bool has_lower = false;
    bool has_upper = false;
    for (char c : text) {
        if (c < 33 || c > 126)
            return std::nullopt;
        if (c >= 'a' && c <= 'z')
            has_lower = true;
        if (c >= 'A' && c <= 'Z')
            has_upper = true;
    }
    if (has_lower && has_upper)
        return std::nullopt;
    std::string lower;
    for (char c : text)
        lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::size_t sep = lower.rfind('1');
    if (sep == std::string::npos || sep == 0 || sep + 7 > lower.size())
        return std::nullopt;
    Bech32Data out;
    out.hrp = lower.substr(0, sep);
    std::vector<std::uint8_t> values;
    for (std::size_t i = sep + 1; i < lower.size(); ++i) {
        const std::size_t pos = kBech32Charset.find(lower[i]);
        if (pos == std::string_view::npos)
            return std::nullopt;
        values.push_back(static_cast<std::uint8_t>(pos));
    }
    std::vector<std::uint8_t> chk_in = hrp_expand(out.hrp);
    chk_in.insert(chk_in.end(), values.begin(), values.end());
    if (bech32_polymod(chk_in) != 1)
        return std::nullopt;
    values.resize(values.size() - 6);
    auto bytes = convert_bits(values, 5, 8, false);
    if (!bytes)
        return std::nullopt;
    out.data = std::move(*bytes);
    return out;
}

} // namespace snapgov::dumps
