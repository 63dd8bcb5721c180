#include "core/text.hpp"

#include <algorithm>

namespace snapgov {
namespace {

struct Range {
    char32_t first;
    char32_t last;
};

bool in(const Range* begin, const Range* end, char32_t c) {
    // The tables are sorted and disjoint: find the first range that ends at or after c.
    const Range* r = std::lower_bound(
        begin, end, c, [](const Range& range, char32_t v) { return range.last < v; });
    return r != end && r->first <= c;
}

template <std::size_t N> bool in(const Range (&table)[N], char32_t c) {
    return in(table, table + N, c);
}

template <std::size_t N> constexpr bool sorted_and_disjoint(const Range (&table)[N]) {
    for (std::size_t i = 0; i < N; ++i) {
        if (table[i].first > table[i].last || (i > 0 && table[i - 1].last >= table[i].first)) {
            return false;
        }
    }
    return true;
}

// Written out as escapes besides C0, DEL and C1: the bidi embeddings, overrides, isolates
// and marks, which reorder what a person reads, and the separators some viewers break on.
constexpr Range kEscaped[] = {
    {0x061C, 0x061C}, // ARABIC LETTER MARK
    {0x200E, 0x200F}, // LEFT-TO-RIGHT MARK, RIGHT-TO-LEFT MARK
    {0x2028, 0x2029}, // LINE SEPARATOR, PARAGRAPH SEPARATOR
    {0x202A, 0x202E}, // LRE, RLE, PDF, LRO, RLO
    {0x2066, 0x2069}, // LRI, RLI, FSI, PDI
};

// Width 0: the common combining blocks and the zero-width characters.
constexpr Range kZeroWidth[] = {
    {0x0300, 0x036F},   // combining diacritical marks
    {0x0483, 0x0489},   // Cyrillic
    {0x0591, 0x05BD},   // Hebrew points
    {0x0610, 0x061A},   // Arabic
    {0x064B, 0x065F},   // Arabic vowel marks
    {0x0670, 0x0670},   // Arabic superscript alef
    {0x1AB0, 0x1AFF},   // combining diacritical marks extended
    {0x1DC0, 0x1DFF},   // combining diacritical marks supplement
    {0x200B, 0x200D},   // zero width space, non-joiner, joiner
    {0x2060, 0x2064},   // word joiner and invisible operators
    {0x20D0, 0x20FF},   // combining marks for symbols
    {0x302A, 0x302F},   // CJK tone marks
    {0x3099, 0x309A},   // kana voicing marks
    {0xFE00, 0xFE0F},   // variation selectors
    {0xFE20, 0xFE2F},   // combining half marks
    {0xFEFF, 0xFEFF},   // zero width no-break space (BOM)
    {0xE0100, 0xE01EF}, // variation selectors supplement
};

// Width 2: East Asian wide and full-width, after Markus Kuhn's wcwidth, plus the emoji blocks
// that terminals draw two columns wide.
constexpr Range kWide[] = {
    {0x1100, 0x115F},   // Hangul Jamo initial consonants
    {0x2329, 0x232A},   // angle brackets
    {0x2E80, 0x303E},   // CJK radicals .. CJK symbols and punctuation
    {0x3040, 0xA4CF},   // kana .. CJK unified ideographs .. Yi
    {0xAC00, 0xD7A3},   // Hangul syllables
    {0xF900, 0xFAFF},   // CJK compatibility ideographs
    {0xFE10, 0xFE19},   // vertical forms
    {0xFE30, 0xFE6F},   // CJK compatibility forms, small forms
    {0xFF00, 0xFF60},   // full-width forms
    {0xFFE0, 0xFFE6},   // full-width signs
    {0x1F300, 0x1F64F}, // pictographs, emoticons
    {0x1F680, 0x1F6FF}, // transport and map symbols
    {0x1F900, 0x1F9FF}, // supplemental symbols and pictographs
    {0x20000, 0x2FFFD}, // CJK extension B and later
    {0x30000, 0x3FFFD}, // CJK extension G and later
};

static_assert(sorted_and_disjoint(kEscaped) && sorted_and_disjoint(kZeroWidth) &&
              sorted_and_disjoint(kWide));

bool continuation(unsigned char b) {
    return (b & 0xC0) == 0x80;
}

/// Appends `value` in upper-case hex, at least `digits` digits.
void append_hex(std::string& out, char32_t value, int digits) {
    constexpr std::string_view kHex = "0123456789ABCDEF";
    int shift = 4 * (digits - 1);
    while (shift < 28 && (value >> (shift + 4)) != 0) {
        shift += 4;
    }
    for (; shift >= 0; shift -= 4) {
        out += kHex[(value >> shift) & 0xFu];
    }
}

std::size_t column_count(const Utf8Char& ch) noexcept {
    if (!ch.valid) {
        return 1; // a terminal shows U+FFFD
    }
    if (needs_escape(ch.code_point) || in(kZeroWidth, ch.code_point)) {
        return 0;
    }
    return in(kWide, ch.code_point) ? 2 : 1;
}

} // namespace

Utf8Char decode_utf8(std::string_view s) noexcept {
    if (s.empty()) {
        return {};
    }
    const auto b0 = static_cast<unsigned char>(s[0]);
    if (b0 < 0x80) {
        return {b0, 1, true};
    }
    // Lead byte: sequence length and the range the second byte must fall in, which is what
    // rules out overlong forms (E0, F0), surrogates (ED) and values above U+10FFFF (F4).
    std::size_t length = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xBF;
    char32_t cp = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        length = 2;
        cp = b0 & 0x1Fu;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        length = 3;
        cp = b0 & 0x0Fu;
        low = b0 == 0xE0 ? 0xA0 : 0x80;
        high = b0 == 0xED ? 0x9F : 0xBF;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        length = 4;
        cp = b0 & 0x07u;
        low = b0 == 0xF0 ? 0x90 : 0x80;
        high = b0 == 0xF4 ? 0x8F : 0xBF;
    } else {
        return {0, 1, false}; // a continuation byte, C0, C1 (overlong) or F5..FF
    }
    if (s.size() < length) {
        return {0, 1, false};
    }
    const auto b1 = static_cast<unsigned char>(s[1]);
    if (b1 < low || b1 > high) {
        return {0, 1, false};
    }
    cp = (cp << 6) | (b1 & 0x3Fu);
    for (std::size_t i = 2; i < length; ++i) {
        const auto b = static_cast<unsigned char>(s[i]);
        if (!continuation(b)) {
            return {0, 1, false};
        }
        cp = (cp << 6) | (b & 0x3Fu);
    }
    return {cp, length, true};
}

bool needs_escape(char32_t c) noexcept {
    return c < 0x20 || (c >= 0x7F && c <= 0x9F) || in(kEscaped, c);
}

std::string escape_text(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    while (!s.empty()) {
        const Utf8Char ch = decode_utf8(s);
        if (!ch.valid) {
            out += "\\x";
            append_hex(out, static_cast<unsigned char>(s[0]), 2);
        } else if (!needs_escape(ch.code_point)) {
            out.append(s.substr(0, ch.length));
        } else if (ch.code_point == '\n') {
            out += "\\n";
        } else if (ch.code_point == '\r') {
            out += "\\r";
        } else if (ch.code_point == '\t') {
            out += "\\t";
        } else if (ch.code_point < 0x80) {
            out += "\\x";
            append_hex(out, ch.code_point, 2);
        } else {
            out += "\\u{";
            append_hex(out, ch.code_point, 4);
            out += '}';
        }
        s.remove_prefix(ch.length);
    }
    return out;
}

std::size_t display_width(std::string_view utf8) noexcept {
    std::size_t width = 0;
    while (!utf8.empty()) {
        const Utf8Char ch = decode_utf8(utf8);
        width += column_count(ch);
        utf8.remove_prefix(ch.length);
    }
    return width;
}

} // namespace snapgov
