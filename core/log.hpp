#pragma once
/// Leveled logging to stderr. Logs never carry secrets: callers log names and paths, never
/// passwords or key material.
///
/// Formats: `text` (`snapgov: warning: message`), `journal` (`<4>message`: the priority
/// prefix journald reads from a service's stderr; chosen automatically when JOURNAL_STREAM
/// is set) and `json` (one object per line: `{"level":"warning","message":"..."}`).
///
/// Every message is one line whatever it holds, since messages carry names that come from a
/// hypervisor: `text` and `journal` write control characters, bidi controls and invalid
/// UTF-8 as visible escapes (`escape_text` in core/text.hpp: a newline is `\n`, ESC `\x1B`);
/// `json` writes them as JSON escapes (`\n`, `\u001b`, `\u202e`: the same string to a JSON
/// reader) and an invalid UTF-8 byte as U+FFFD, so that the line stays valid JSON.

#include <optional>
#include <string>
#include <string_view>

namespace snapgov::log {

enum class Level { debug = 0, info = 1, warning = 2, error = 3 };
enum class Format { text, journal, json };

/// Sets the lowest level that is printed (default: info). Thread-safe.
void set_level(Level level);
/// Whether messages of `level` are printed at the current level.
[[nodiscard]] bool enabled(Level level);
/// Sets the line format (default: `journal` when JOURNAL_STREAM is set, else `text`).
void set_format(Format format);
/// Parses `debug|info|warning|error`; nullopt if unknown.
[[nodiscard]] std::optional<Level> parse_level(std::string_view text);

/// The line `write` prints for `message` in `format`, with its trailing newline.
[[nodiscard]] std::string format_line(Format format, Level level, std::string_view message);

/// Writes one line to stderr in the current format. Thread-safe; a line is never split.
void write(Level level, std::string_view message);

inline void debug(std::string_view m) {
    write(Level::debug, m);
}
inline void info(std::string_view m) {
    write(Level::info, m);
}
inline void warning(std::string_view m) {
    write(Level::warning, m);
}
inline void error(std::string_view m) {
    write(Level::error, m);
}

} // namespace snapgov::log
