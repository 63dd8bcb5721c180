#include "core/log.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>

#include "core/text.hpp"

namespace snapgov::log {
namespace {

Format default_format() {
    return std::getenv("JOURNAL_STREAM") != nullptr ? Format::journal : Format::text;
}

std::atomic<int> g_level{static_cast<int>(Level::info)};
std::atomic<int> g_format{static_cast<int>(default_format())};
std::mutex g_mutex;

const char* name(Level level) {
    switch (level) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warning: return "warning";
    case Level::error: return "error";
    }
    return "info";
}

// syslog priorities, as sd-daemon.h defines SD_DEBUG..SD_ERR.
char priority(Level level) {
    switch (level) {
    case Level::debug: return '7';
    case Level::info: return '6';
    case Level::warning: return '4';
    case Level::error: return '3';
    }
    return '6';
}

// Everything a JSON reader needs escaped, and what a person reading the raw line on a
// terminal does: DEL, C1 and the bidi controls too (needs_escape). JSON cannot carry an
// invalid byte, so it becomes U+FFFD.
void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    while (!s.empty()) {
        const Utf8Char ch = decode_utf8(s);
        if (!ch.valid) {
            out += "\\ufffd";
        } else if (ch.code_point == '"') {
            out += "\\\"";
        } else if (ch.code_point == '\\') {
            out += "\\\\";
        } else if (ch.code_point == '\n') {
            out += "\\n";
        } else if (ch.code_point == '\r') {
            out += "\\r";
        } else if (ch.code_point == '\t') {
            out += "\\t";
        } else if (needs_escape(ch.code_point)) {
            // All of them are in the Basic Multilingual Plane: one \uXXXX each.
            constexpr std::string_view kHex = "0123456789abcdef";
            out += "\\u";
            for (int shift = 12; shift >= 0; shift -= 4) {
                out += kHex[(ch.code_point >> shift) & 0xFu];
            }
        } else {
            out.append(s.substr(0, ch.length));
        }
        s.remove_prefix(ch.length);
    }
    out += '"';
}

} // namespace

void set_level(Level level) {
    g_level.store(static_cast<int>(level));
}
bool enabled(Level level) {
    return static_cast<int>(level) >= g_level.load();
}
void set_format(Format format) {
    g_format.store(static_cast<int>(format));
}

std::optional<Level> parse_level(std::string_view text) {
    for (const Level l : {Level::debug, Level::info, Level::warning, Level::error}) {
        if (text == name(l)) {
            return l;
        }
    }
    return std::nullopt;
}

std::string format_line(Format format, Level level, std::string_view message) {
    std::string line;
    switch (format) {
    case Format::text:
        line = "snapgov: ";
        line += name(level);
        line += ": ";
        line += escape_text(message);
        break;
    case Format::journal:
        // journald reads one priority per line; the escaped message is a single line.
        line = '<';
        line += priority(level);
        line += '>';
        line += escape_text(message);
        break;
    case Format::json:
        line = "{\"level\":\"";
        line += name(level);
        line += "\",\"message\":";
        append_json_string(line, message);
        line += "}";
        break;
    }
    line += '\n';
    return line;
}

void write(Level level, std::string_view message) {
    if (static_cast<int>(level) < g_level.load()) {
        return;
    }
    const std::string line = format_line(static_cast<Format>(g_format.load()), level, message);
    const std::lock_guard lock(g_mutex);
    // Results deliberately ignored: stderr is the only place a logging failure could be
    // reported, and a closed pipe or a full disk must neither stop the caller nor throw out
    // of a destructor or an error path that logs. A write to a closed pipe also raises
    // SIGPIPE: its disposition is a process-wide choice, made by main, not here.
    (void)std::fwrite(line.data(), 1, line.size(), stderr);
    (void)std::fflush(stderr);
}

} // namespace snapgov::log
