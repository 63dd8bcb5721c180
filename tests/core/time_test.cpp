#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>

#include "core/time.hpp"

using namespace snapgov;
using std::chrono::seconds;

TEST_CASE("durations parse in every unit and as sums", "[core][duration]") {
    CHECK(parse_duration("90s").value() == seconds{90});
    CHECK(parse_duration("15m").value() == seconds{900});
    CHECK(parse_duration("72h").value() == seconds{72 * 3600});
    CHECK(parse_duration("7d").value() == seconds{7 * 86400});
    CHECK(parse_duration("2w").value() == seconds{14 * 86400});
    CHECK(parse_duration("1h30m").value() == seconds{5400});
    CHECK(parse_duration("0s").value() == seconds{0});
}

TEST_CASE("bad durations are refused with a message that names the fix", "[core][duration]") {
    for (const char* bad :
         {"", "72", "h", "3x", "-5m", "1.5h", "5 m", "99999999999999999999s", "100000000w"}) {
        INFO(bad);
        const auto r = parse_duration(bad);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == ErrorCode::config);
    }
    CHECK_THAT(parse_duration("72").error().message, Catch::Contains("no unit"));
    CHECK_THAT(parse_duration("3x").error().message, Catch::Contains("unknown unit 'x'"));
}

TEST_CASE("durations format compactly with adjacent units", "[core][duration]") {
    CHECK(format_duration(seconds{0}) == "0s");
    CHECK(format_duration(seconds{59}) == "59s");
    CHECK(format_duration(seconds{3600 * 72}) == "3d");
    CHECK(format_duration(seconds{86400 * 3 + 3600 * 4 + 59}) == "3d4h");
    CHECK(format_duration(seconds{86400 + 30}) == "1d");
    CHECK(format_duration(seconds{-90}) == "-1m30s");
}

TEST_CASE("RFC 3339 timestamps parse with offsets and fractions", "[core][time]") {
    const auto utc = parse_rfc3339("2026-12-01T00:00:00Z").value();
    CHECK(utc.time_since_epoch().count() == 1796083200);
    CHECK(parse_rfc3339("2026-12-01T01:00:00+01:00").value() == utc);
    CHECK(parse_rfc3339("2026-11-30T19:30:00-04:30").value() == utc);
    CHECK(parse_rfc3339("2026-12-01t00:00:00.999z").value() == utc);
    CHECK(parse_rfc3339("2024-02-29T12:00:00Z").has_value());
    CHECK(format_rfc3339(utc) == "2026-12-01T00:00:00Z");
    CHECK(format_rfc3339(parse_rfc3339("1999-12-31T23:59:59Z").value()) == "1999-12-31T23:59:59Z");
}

TEST_CASE("invalid RFC 3339 timestamps are refused", "[core][time]") {
    for (const char* bad :
         {"2026-12-01", "2026-12-01T00:00:00", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
          "2026-12-01T24:00:00Z", "2026-12-01T00:00:00+1", "2026-12-01T00:00:00Zjunk",
          "26-12-01T00:00:00Z", "2026-12-01T00:00:00."}) {
        INFO(bad);
        CHECK_FALSE(parse_rfc3339(bad).has_value());
    }
}

TEST_CASE("elapsed time saturates instead of overflowing", "[core][time]") {
    using Limits = std::numeric_limits<std::int64_t>;
    const TimePoint now = parse_rfc3339("2026-12-01T00:00:00Z").value();
    const TimePoint lowest{seconds{Limits::min()}};
    const TimePoint highest{seconds{Limits::max()}};
    CHECK(elapsed(now - seconds{90}, now) == seconds{90});
    CHECK(elapsed(now, now - seconds{90}) == seconds{-90});
    CHECK(elapsed(lowest, now) == seconds::max());
    CHECK(elapsed(highest, lowest) == seconds::min());
    CHECK(elapsed(lowest, highest) == seconds::max());
}

TEST_CASE("times and durations outside the calendar format without overflow", "[core][time]") {
    using Limits = std::numeric_limits<std::int64_t>;
    CHECK(format_rfc3339(TimePoint{seconds{Limits::min()}}) == "@-9223372036854775808");
    CHECK(format_rfc3339(TimePoint{seconds{253'402'300'799}}) == "9999-12-31T23:59:59Z");
    CHECK(format_rfc3339(TimePoint{seconds{253'402'300'800}}) == "@253402300800");
    CHECK(format_rfc3339(TimePoint{seconds{-62'167'219'200}}) == "0000-01-01T00:00:00Z");
    CHECK(format_duration(seconds::min()) == "-106751991167300d15h");
    CHECK(format_duration(seconds::max()) == "106751991167300d15h");
}
