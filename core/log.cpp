#include "core/log.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>

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

void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    for (const char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out += c;
            }
        }
    }
    out += '"';
}

} // namespace

void set_level(Level level) {
    g_level.store(static_cast<int>(level));
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

void write(Level level, std::string_view message) {
    if (static_cast<int>(level) < g_level.load()) {
        return;
    }
    std::string line;
    switch (static_cast<Format>(g_format.load())) {
    case Format::text:
        line = "snapgov: ";
        line += name(level);
        line += ": ";
        line += message;
        break;
    case Format::journal:
        // journald reads one priority per line: repeat it on every line of the message.
        for (std::size_t start = 0; start <= message.size();) {
            const std::size_t end = std::min(message.find('\n', start), message.size());
            if (start > 0) {
                line += '\n';
            }
            line += '<';
            line += priority(level);
            line += '>';
            line += message.substr(start, end - start);
            start = end + 1;
        }
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
    const std::lock_guard lock(g_mutex);
    // Results deliberately ignored: stderr is the only place a logging failure could be
    // reported, and a closed pipe or a full disk must neither stop the caller nor throw out
    // of a destructor or an error path that logs. A write to a closed pipe also raises
    // SIGPIPE: its disposition is a process-wide choice, made by main, not here.
    (void)std::fwrite(line.data(), 1, line.size(), stderr);
    (void)std::fflush(stderr);
}

} // namespace snapgov::log
