#include "core/time.hpp"

#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>

namespace snapgov {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;

// Largest value accepted for any duration: about 292 years, far from int64 overflow
// in seconds and safe to add to any realistic time point.
constexpr std::int64_t kMaxDurationSeconds = std::int64_t{10'000} * 365 * 86'400;

std::int64_t unit_seconds(char unit) {
    switch (unit) {
    case 's': return 1;
    case 'm': return 60;
    case 'h': return 3'600;
    case 'd': return 86'400;
    case 'w': return 604'800;
    default: return 0;
    }
}

// Reads exactly `width` decimal digits at `pos`, advancing it.
bool read_fixed(std::string_view s, std::size_t& pos, std::size_t width, int& out) {
    if (pos + width > s.size()) {
        return false;
    }
    int value = 0;
    for (std::size_t i = 0; i < width; ++i) {
        const char c = s[pos + i];
        if (c < '0' || c > '9') {
            return false;
        }
        value = value * 10 + (c - '0');
    }
    pos += width;
    out = value;
    return true;
}

bool expect(std::string_view s, std::size_t& pos, char c) {
    if (pos < s.size() && s[pos] == c) {
        ++pos;
        return true;
    }
    return false;
}

} // namespace

Result<Seconds> parse_duration(std::string_view text) {
    const std::string shown(text);
    if (text.empty()) {
        return fail(ErrorCode::config, "empty duration; expected e.g. 90s, 15m, 72h, 7d, 2w");
    }
    std::int64_t total = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::int64_t value = 0;
        const auto* begin = text.data() + pos;
        const auto* end = text.data() + text.size();
        auto [ptr, ec] = std::from_chars(begin, end, value);
        if (ec == std::errc::result_out_of_range) {
            return fail(ErrorCode::config, "duration '" + shown + "' is too large");
        }
        if (ec != std::errc{} || value < 0) {
            return fail(ErrorCode::config, "invalid duration '" + shown +
                                               "': expected a number followed by a unit "
                                               "(s, m, h, d, w), e.g. 72h");
        }
        pos = static_cast<std::size_t>(ptr - text.data());
        if (pos >= text.size()) {
            return fail(ErrorCode::config, "duration '" + shown +
                                               "' has no unit; add one of s, m, h, d, w "
                                               "(e.g. " +
                                               shown + "s)");
        }
        const std::int64_t unit = unit_seconds(text[pos]);
        if (std::isspace(static_cast<unsigned char>(text[pos])) != 0) {
            return fail(ErrorCode::config, "duration '" + shown +
                                               "' contains a space; write number and unit "
                                               "together, e.g. 3d or 1h30m");
        }
        if (unit == 0) {
            return fail(ErrorCode::config, "duration '" + shown + "' has unknown unit '" +
                                               std::string(1, text[pos]) +
                                               "'; use s, m, h, d or w");
        }
        ++pos;
        if (value > kMaxDurationSeconds / unit || total > kMaxDurationSeconds - value * unit) {
            return fail(ErrorCode::config, "duration '" + shown + "' is too large");
        }
        total += value * unit;
    }
    return Seconds{total};
}

std::string format_duration(Seconds d) {
    std::int64_t s = d.count();
    std::string out;
    if (s < 0) {
        out = "-";
        s = -s;
    }
    static constexpr struct {
        std::int64_t size;
        char unit;
    } kUnits[] = {{86'400, 'd'}, {3'600, 'h'}, {60, 'm'}, {1, 's'}};
    int shown = 0;
    for (const auto& u : kUnits) {
        if (s >= u.size && shown < 2) {
            out += std::to_string(s / u.size);
            out += u.unit;
            s %= u.size;
            ++shown;
        } else if (shown > 0) {
            // Only adjacent units: "3d4h", never "3d12s".
            shown = 2;
        }
    }
    if (shown == 0) {
        out += "0s";
    }
    return out;
}

Result<TimePoint> parse_rfc3339(std::string_view s) {
    const auto bad = [&](std::string_view why) {
        return fail(ErrorCode::config, "invalid RFC 3339 time '" + std::string(s) +
                                           "': " + std::string(why) +
                                           " (expected e.g. 2026-12-01T00:00:00Z)");
    };
    std::size_t pos = 0;
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    if (!read_fixed(s, pos, 4, year) || !expect(s, pos, '-') || !read_fixed(s, pos, 2, month) ||
        !expect(s, pos, '-') || !read_fixed(s, pos, 2, day)) {
        return bad("date must be YYYY-MM-DD");
    }
    if (pos >= s.size() || (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ')) {
        return bad("missing 'T' between date and time");
    }
    ++pos;
    if (!read_fixed(s, pos, 2, hour) || !expect(s, pos, ':') || !read_fixed(s, pos, 2, minute) ||
        !expect(s, pos, ':') || !read_fixed(s, pos, 2, second)) {
        return bad("time must be HH:MM:SS");
    }
    if (pos < s.size() && s[pos] == '.') {
        ++pos;
        const std::size_t digits = pos;
        while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])) != 0) {
            ++pos;
        }
        if (pos == digits) {
            return bad("empty fractional seconds");
        }
    }
    int offset_minutes = 0;
    if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
        ++pos;
    } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
        const int sign = s[pos] == '-' ? -1 : 1;
        ++pos;
        int oh = 0, om = 0;
        if (!read_fixed(s, pos, 2, oh) || !expect(s, pos, ':') || !read_fixed(s, pos, 2, om) ||
            oh > 23 || om > 59) {
            return bad("offset must be Z or +HH:MM / -HH:MM");
        }
        offset_minutes = sign * (oh * 60 + om);
    } else {
        return bad("missing time zone offset (Z or +HH:MM)");
    }
    if (pos != s.size()) {
        return bad("unexpected text after the offset");
    }
    const std::chrono::year_month_day ymd{std::chrono::year{year},
                                          std::chrono::month{static_cast<unsigned>(month)},
                                          std::chrono::day{static_cast<unsigned>(day)}};
    if (!ymd.ok()) {
        return bad("no such calendar date");
    }
    // 60 allows a leap second; it is folded into the next minute.
    if (hour > 23 || minute > 59 || second > 60) {
        return bad("hour, minute or second out of range");
    }
    const auto local = std::chrono::sys_days{ymd} + hours{hour} + minutes{minute} + Seconds{second};
    return TimePoint{local - minutes{offset_minutes}};
}

std::string format_rfc3339(TimePoint t) {
    const auto day_point = std::chrono::floor<days>(t);
    const std::chrono::year_month_day ymd{day_point};
    const std::chrono::hh_mm_ss hms{t - day_point};
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                  static_cast<int>(hms.seconds().count()));
    return buf;
}

TimePoint now_utc() {
    return std::chrono::floor<Seconds>(std::chrono::system_clock::now());
}

} // namespace snapgov
