#pragma once
/// Text that is safe to show a person: escaping of control, bidi and invalid bytes in names
/// that come from a hypervisor, and the display width of UTF-8 text for table layout.
///
/// The escaping scheme (`escape_text`) is a display form, not a reversible encoding; the JSON
/// outputs are the lossless form:
///
/// | input                                              | written as              |
/// | -------------------------------------------------- | ----------------------- |
/// | tab, newline, carriage return                      | `\t` `\n` `\r`          |
/// | other C0 controls (0x00-0x1F) and DEL (0x7F)       | `\xHH` (ESC is `\x1B`)  |
/// | C1 controls U+0080..U+009F (valid UTF-8)           | `\u{0085}`              |
/// | bidi and format controls: U+061C, U+200E, U+200F,  | `\u{202E}`              |
/// | U+202A..U+202E, U+2066..U+2069                     |                         |
/// | line and paragraph separators U+2028, U+2029       | `\u{2028}`              |
/// | a byte that does not start well-formed UTF-8       | `\xHH`, one per byte    |
/// | anything else (printable ASCII, accents, CJK, ...) | unchanged               |
///
/// Hex digits are upper case; `\u{...}` has at least four. `\xHH` below 0x80 is a control
/// character, at 0x80 or above an invalid byte, so the two never collide. A backslash is
/// not doubled: Windows paths (Hyper-V memory files) stay readable, at the price that a name
/// that really contains the two characters `\n` reads like an escaped newline. It still
/// cannot start a line, which is what the escaping is for.

#include <cstddef>
#include <string>
#include <string_view>

namespace snapgov {

/// One step of UTF-8 decoding: the character at the start of a string.
struct Utf8Char {
    /// The code point; 0 when `valid` is false.
    char32_t code_point = 0;
    /// Bytes consumed: 1 to 4 for a character, 1 for an invalid byte, 0 for an empty input.
    std::size_t length = 0;
    /// False when the first byte does not start a well-formed sequence (RFC 3629): a stray
    /// continuation byte, an overlong form (0xC0 0xAF), a surrogate, a value above U+10FFFF,
    /// or a sequence cut short. Only that one byte is consumed then.
    bool valid = false;
};

/// Decodes the UTF-8 character at the start of `s`. Never reads past `s`; never fails.
[[nodiscard]] Utf8Char decode_utf8(std::string_view s) noexcept;

/// True for the code points `escape_text` writes as escapes: C0 controls, DEL, C1 controls,
/// the bidi and format controls and the line and paragraph separators of the table above.
[[nodiscard]] bool needs_escape(char32_t code_point) noexcept;

/// Returns `s` with every control character, bidi control and invalid byte written as a
/// visible escape (the scheme above); the result is valid UTF-8 without controls, so it
/// can neither start a new line nor reorder the text around it on a terminal.
[[nodiscard]] std::string escape_text(std::string_view s);

/// The number of terminal columns `utf8` takes, an approximation of wcwidth(3) that needs
/// no locale: 1 per code point; 2 for East Asian wide and full-width characters (CJK,
/// Hangul, full-width forms, the common emoji blocks); 0 for combining marks (the common
/// combining blocks, not every script's), zero-width characters and the characters
/// `needs_escape` names; 1 for an invalid byte (a terminal shows U+FFFD). Meant for text
/// that went through `escape_text`.
[[nodiscard]] std::size_t display_width(std::string_view utf8) noexcept;

} // namespace snapgov
