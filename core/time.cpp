#include "core/time.hpp"

#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>

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

// Reads a timestamp left to right; every read advances only when it succeeds.
class Cursor {
public:
    explicit Cursor(std::string_view text) : text_(text) {}

    // Exactly `width` decimal digits (width <= 4, so the value fits an int).
    std::optional<int> digits(std::size_t width) {
        if (pos_ + width > text_.size()) {
            return std::nullopt;
        }
        int value = 0;
        for (std::size_t i = 0; i < width; ++i) {
            const char c = text_[pos_ + i];
            if (c < '0' || c > '9') {
                return std::nullopt;
            }
            value = value * 10 + (c - '0');
        }
        pos_ += width;
        return value;
    }
    // Consumes `c` if it comes next.
    bool skip(char c) {
        if (pos_ < text_.size() && text_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    // Consumes the next character if it is one of `set`.
    std::optional<char> skip_any(std::string_view set) {
        if (pos_ < text_.size() && set.find(text_[pos_]) != std::string_view::npos) {
            return text_[pos_++];
        }
        return std::nullopt;
    }
    // Consumes decimal digits; returns how many.
    std::size_t skip_digits() {
        const std::size_t start = pos_;
        while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_])) != 0) {
            ++pos_;
        }
        return pos_ - start;
    }
    [[nodiscard]] bool at_end() const { return pos_ == text_.size(); }

private:
    std::string_view text_;
    std::size_t pos_ = 0;
};

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

Seconds elapsed(TimePoint from, TimePoint to) noexcept {
    const std::int64_t a = to.time_since_epoch().count();
    const std::int64_t b = from.time_since_epoch().count();
    std::int64_t out = 0;
    if (__builtin_sub_overflow(a, b, &out)) {
        return b < 0 ? Seconds::max() : Seconds::min();
    }
    return Seconds{out};
}

std::string format_duration(Seconds d) {
    // Unsigned, so that the most negative count has a magnitude too.
    const std::int64_t count = d.count();
    std::uint64_t s = count < 0 ? std::uint64_t{0} - static_cast<std::uint64_t>(count)
                                : static_cast<std::uint64_t>(count);
    std::string out;
    if (count < 0) {
        out = "-";
    }
    static constexpr struct {
        std::uint64_t size;
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
    Cursor in(s);
    const auto year = in.digits(4);
    const auto month = year && in.skip('-') ? in.digits(2) : std::nullopt;
    const auto day = month && in.skip('-') ? in.digits(2) : std::nullopt;
    if (!day) {
        return bad("date must be YYYY-MM-DD");
    }
    if (!in.skip_any("Tt ")) {
        return bad("missing 'T' between date and time");
    }
    const auto hour = in.digits(2);
    const auto minute = hour && in.skip(':') ? in.digits(2) : std::nullopt;
    const auto second = minute && in.skip(':') ? in.digits(2) : std::nullopt;
    if (!second) {
        return bad("time must be HH:MM:SS");
    }
    if (in.skip('.') && in.skip_digits() == 0) {
        return bad("empty fractional seconds");
    }
    int offset_minutes = 0;
    if (in.skip_any("Zz")) {
        // UTC
    } else if (const auto sign = in.skip_any("+-")) {
        const auto oh = in.digits(2);
        const auto om = oh && in.skip(':') ? in.digits(2) : std::nullopt;
        if (!om || *oh > 23 || *om > 59) {
            return bad("offset must be Z or +HH:MM / -HH:MM");
        }
        offset_minutes = (*sign == '-' ? -1 : 1) * (*oh * 60 + *om);
    } else {
        return bad("missing time zone offset (Z or +HH:MM)");
    }
    if (!in.at_end()) {
        return bad("unexpected text after the offset");
    }
    const std::chrono::year_month_day ymd{std::chrono::year{*year},
                                          std::chrono::month{static_cast<unsigned>(*month)},
                                          std::chrono::day{static_cast<unsigned>(*day)}};
    if (!ymd.ok()) {
        return bad("no such calendar date");
    }
    // 60 allows a leap second; it is folded into the next minute.
    if (*hour > 23 || *minute > 59 || *second > 60) {
        return bad("hour, minute or second out of range");
    }
    const auto local =
        std::chrono::sys_days{ymd} + hours{*hour} + minutes{*minute} + Seconds{*second};
    return TimePoint{local - minutes{offset_minutes}};
}

std::string format_rfc3339(TimePoint t) {
    // 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z; outside, the calendar types would
    // overflow (and RFC 3339 has no form).
    constexpr std::int64_t kFirst = -62'167'219'200;
    constexpr std::int64_t kLast = 253'402'300'799;
    const std::int64_t seconds = t.time_since_epoch().count();
    if (seconds < kFirst || seconds > kLast) {
        return "@" + std::to_string(seconds);
    }
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
