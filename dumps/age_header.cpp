#include "dumps/age_header.hpp"

#include "dumps/age_encoding.hpp"

namespace snapgov::dumps {
namespace {

tl::unexpected<Error> header_error(const std::string& why) {
    return fail(ErrorCode::crypto, "invalid age header: " + why);
}

bool is_base64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

} // namespace

Result<AgeHeader> parse_age_header(std::string_view text) {
    if (text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----")) {
        return fail(ErrorCode::unsupported, "ASCII-armored age files are not supported; decrypt "
                                            "with 'age -d' or convert to binary first");
    }
    if (!text.starts_with(kAgeVersionLine)) {
        const std::string_view first = text.substr(0, text.find('\n'));
        if (first.find('\r') != std::string_view::npos) {
            return header_error("CRLF line endings (the header must use LF only)");
        }
        if (text.starts_with("age-encryption.org/")) {
            return fail(ErrorCode::unsupported, "unsupported age format version (only v1)");
        }
        return header_error("not an age file (missing 'age-encryption.org/v1' line)");
    }
    AgeHeader header;
    std::size_t pos = kAgeVersionLine.size();
    auto next_line = [&](std::string_view& line) -> bool {
        const std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos)
            return false;
        line = text.substr(pos, end - pos);
        pos = end + 1;
        return true;
    };
    std::string_view line;
    if (!next_line(line))
        return header_error("truncated header");
    while (line.starts_with("->")) {
        if (!line.starts_with("-> "))
            return header_error("stanza line without arguments");
        AgeStanza stanza;
        std::vector<std::string> parts;
        std::string_view rest = line.substr(3);
        for (;;) {
            const std::size_t sp = rest.find(' ');
            std::string_view arg = rest.substr(0, sp);
            if (arg.empty())
                return header_error("empty stanza argument");
            for (char c : arg) {
                if (c < 0x21 || c > 0x7e)
                    return header_error("invalid character in stanza");
            }
            parts.emplace_back(arg);
            if (sp == std::string_view::npos)
                break;
            rest = rest.substr(sp + 1);
        }
        stanza.type = parts.front();
        stanza.args.assign(parts.begin() + 1, parts.end());
        std::string body_text;
        for (;;) {
            if (!next_line(line))
                return header_error("stanza body not terminated");
            if (line.size() > 64)
                return header_error("stanza body line longer than 64 columns");
            for (char c : line) {
                if (!is_base64_char(c))
                    return header_error("invalid character in stanza body");
            }
            body_text += line;
            if (line.size() < 64)
                break;
        }
        auto body = base64_decode_raw(body_text);
        if (!body)
            return header_error("stanza body is not canonical base64");
        stanza.body = std::move(*body);
        header.stanzas.push_back(std::move(stanza));
        if (!next_line(line))
            return header_error("truncated header (no MAC line)");
    }
    if (header.stanzas.empty())
        return header_error("no recipient stanza");
    if (!line.starts_with("--- ") || line.size() != 4 + 43) {
        return header_error("malformed MAC line");
    }
    const std::string_view mac_text = line.substr(4);
    auto mac = base64_decode_raw(mac_text);
    if (!mac || mac->size() != 32)
        return header_error("MAC is not canonical base64");
    if (pos != text.size())
        return header_error("data after the MAC line");
    std::copy(mac->begin(), mac->end(), header.mac.begin());
    // The MAC covers everything up to and including "---" (not the space after it).
    header.mac_input = std::string(text.substr(0, pos - line.size() - 1 + 3));
    return header;
}

std::string serialize_age_header_prefix(const std::vector<AgeStanza>& stanzas) {
    std::string out(kAgeVersionLine);
    for (const auto& s : stanzas) {
        out += "-> " + s.type;
        for (const auto& a : s.args)
            out += " " + a;
        out += "\n";
        const std::string body = base64_encode_raw(s.body);
        std::size_t i = 0;
        // Full 64-column lines, then a final shorter (possibly empty) line.
        for (; i + 64 <= body.size(); i += 64)
            out += body.substr(i, 64) + "\n";
        out += body.substr(i) + "\n";
    }
    out += "---";
    return out;
}

} // namespace snapgov::dumps
