#include <catch2/catch.hpp>

#include <string>

#include "core/text.hpp"

using namespace snapgov;
using namespace std::string_literals;

TEST_CASE("escape_text writes a newline in a name as \\n so it cannot start a line",
          "[core][text]") {
    CHECK(escape_text("vm1\nsnapgov: error: forged") == "vm1\\nsnapgov: error: forged");
    CHECK(escape_text("\n") == "\\n");
}

TEST_CASE("escape_text writes ESC as \\x1B so a name cannot colour or move the terminal",
          "[core][text]") {
    CHECK(escape_text("\x1b[31mred\x1b[0m") == "\\x1B[31mred\\x1B[0m");
    CHECK(escape_text("\x1b]0;title\x07") == "\\x1B]0;title\\x07");
}

TEST_CASE("escape_text writes CR and tab by name and the other C0 controls and DEL as \\xHH",
          "[core][text]") {
    CHECK(escape_text("ok\rFAILED") == "ok\\rFAILED");
    CHECK(escape_text("a\tb") == "a\\tb");
    CHECK(escape_text("\x01\x1f\x7f") == "\\x01\\x1F\\x7F");
    CHECK(escape_text("a\0b"s) == "a\\x00b");
}

TEST_CASE("escape_text writes C1 controls as \\u{...}", "[core][text]") {
    CHECK(escape_text("a\xc2\x85"
                      "b") == "a\\u{0085}b"); // NEL
    CHECK(escape_text("\xc2\x9b"
                      "31m") == "\\u{009B}31m"); // CSI
    CHECK(escape_text("\xc2\x80\xc2\x9f") == "\\u{0080}\\u{009F}");
}

TEST_CASE("escape_text writes a bidi override inside a name as \\u{202E}", "[core][text]") {
    // "invoice-" RLO "fdp.exe": shown right to left, it would read as "invoice-exe.pdf".
    CHECK(escape_text("invoice-\u202e"
                      "fdp.exe") == "invoice-\\u{202E}fdp.exe");
}

TEST_CASE("escape_text escapes every bidi and format control and the line separators",
          "[core][text]") {
    for (const char32_t c : {0x061C, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066,
                             0x2067, 0x2068, 0x2069, 0x2028, 0x2029}) {
        INFO(static_cast<unsigned>(c));
        CHECK(needs_escape(c));
    }
    CHECK(escape_text("\u2066x\u2069") == "\\u{2066}x\\u{2069}");
    CHECK(escape_text("a\u2028b") == "a\\u{2028}b");
    // Neighbours that are ordinary text stay.
    CHECK_FALSE(needs_escape(0x2030));
    CHECK_FALSE(needs_escape(0x200D)); // zero width joiner, inside emoji sequences
}

TEST_CASE("escape_text writes a lone 0xFF byte as \\xFF", "[core][text]") {
    CHECK(escape_text("vm\xff") == "vm\\xFF");
    CHECK(escape_text("\xfe\xff") == "\\xFE\\xFF");
}

TEST_CASE("escape_text writes each byte of a truncated UTF-8 sequence as \\xHH and keeps what "
          "follows",
          "[core][text]") {
    CHECK(escape_text("\xe2\x82") == "\\xE2\\x82"); // the euro sign, cut short
    CHECK(escape_text("\xe2\x82"
                      "A") == "\\xE2\\x82A");                // cut short by an ASCII letter
    CHECK(escape_text("\xf0\x9f\x98") == "\\xF0\\x9F\\x98"); // an emoji, cut short
    CHECK(escape_text("\x82\xac") == "\\x82\\xAC");          // continuation bytes alone
}

TEST_CASE("escape_text refuses overlong encodings, surrogates and values above U+10FFFF",
          "[core][text]") {
    CHECK(escape_text("\xc0\xaf") == "\\xC0\\xAF");                   // overlong '/'
    CHECK(escape_text("\xe0\x80\xaf") == "\\xE0\\x80\\xAF");          // overlong '/', 3 bytes
    CHECK(escape_text("\xc1\x8a") == "\\xC1\\x8A");                   // overlong 'J' (0x4A)
    CHECK(escape_text("\xed\xa0\x80") == "\\xED\\xA0\\x80");          // surrogate U+D800
    CHECK(escape_text("\xf4\x90\x80\x80") == "\\xF4\\x90\\x80\\x80"); // U+110000
    CHECK_FALSE(decode_utf8("\xc0\xaf").valid);
    CHECK(decode_utf8("\xc0\xaf").length == 1);
}

TEST_CASE("escape_text keeps valid UTF-8 text unchanged", "[core][text]") {
    for (const std::string s : {"web-01", "café-prod", "Ångström Ωmega", "数据库服务器", "서버",
                                "vm 😀 backup", "e\u0301", "C:\\ProgramData\\Hyper-V\\x.vmrs",
                                "\xf4\x8f\xbf\xbf" /* U+10FFFF, the last code point */}) {
        INFO(s);
        CHECK(escape_text(s) == s);
    }
}

TEST_CASE("escape_text keeps a backslash as it is (the escapes are for display)", "[core][text]") {
    CHECK(escape_text("a\\nb") == "a\\nb");
}

TEST_CASE("escape_text of an empty string is empty", "[core][text]") {
    CHECK(escape_text("").empty());
    CHECK(display_width("") == 0);
    CHECK(decode_utf8("").length == 0);
}

TEST_CASE("escape_text output is valid UTF-8 without controls, for every byte value",
          "[core][text]") {
    for (unsigned b = 0; b < 256; ++b) {
        const std::string in{'a', static_cast<char>(b), static_cast<char>(0xBF), 'z'};
        const std::string out = escape_text(in);
        INFO(b);
        for (std::string_view rest = out; !rest.empty();) {
            const Utf8Char ch = decode_utf8(rest);
            REQUIRE(ch.valid);
            REQUIRE_FALSE(needs_escape(ch.code_point));
            rest.remove_prefix(ch.length);
        }
    }
}

TEST_CASE("decode_utf8 reads one to four byte characters", "[core][text]") {
    CHECK(decode_utf8("A").code_point == U'A');
    CHECK(decode_utf8("é").code_point == 0xE9);
    CHECK(decode_utf8("é").length == 2);
    CHECK(decode_utf8("€").code_point == 0x20AC);
    CHECK(decode_utf8("€").length == 3);
    CHECK(decode_utf8("😀").code_point == 0x1F600);
    CHECK(decode_utf8("😀").length == 4);
}

TEST_CASE("display_width counts a column per character, two for wide, none for combining",
          "[core][text]") {
    CHECK(display_width("web-01") == 6);
    CHECK(display_width("café") == 4);       // precomposed é: 2 bytes, 1 column
    CHECK(display_width("cafe\u0301") == 4); // e + combining acute
    CHECK(display_width("数据库") == 6);     // CJK: 2 columns each
    CHECK(display_width("서버") == 4);       // Hangul syllables
    CHECK(display_width("ＡＢ") == 4);       // full-width forms
    CHECK(display_width("😀") == 2);
    CHECK(display_width("a\u200bb") == 2);  // zero width space
    CHECK(display_width("\\u{202E}") == 8); // an escape is as wide as it is written
    CHECK(display_width("a\xff") == 2);     // an invalid byte shows as one U+FFFD
}
