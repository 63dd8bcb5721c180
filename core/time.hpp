#pragma once
/// Time points and durations as snapgov uses them: whole seconds, UTC.

#include <chrono>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace snapgov {

/// A UTC instant with one-second resolution (libvirt and CIM both give seconds or finer).
using TimePoint = std::chrono::sys_seconds;
using Seconds = std::chrono::seconds;

/// Parses a duration such as `90s`, `15m`, `72h`, `7d`, `2w`, or a sum such as `1h30m`.
/// Units: s, m, h, d (24 h), w (7 d). Fails on an empty string, a missing unit, a negative
/// or overflowing value.
[[nodiscard]] Result<Seconds> parse_duration(std::string_view text);

/// `to - from`, saturated at the limits of Seconds instead of overflowing: a time point
/// read from a provider can be anything a 64-bit count of seconds holds.
[[nodiscard]] Seconds elapsed(TimePoint from, TimePoint to) noexcept;

/// Formats a duration compactly, largest units first, at most two units: `3d4h`, `45m`,
/// `0s`. Negative durations get a leading `-`.
[[nodiscard]] std::string format_duration(Seconds d);

/// Parses an RFC 3339 timestamp: `2026-12-01T00:00:00Z`, `2026-12-01T01:00:00+01:00`,
/// fractional seconds (truncated), `t`/`z` and a space separator accepted. Validates the
/// calendar date and the ranges of every field.
[[nodiscard]] Result<TimePoint> parse_rfc3339(std::string_view text);

/// Formats as RFC 3339 in UTC with a `Z` suffix: `2026-12-01T00:00:00Z`. A time outside
/// the years 0000-9999, which RFC 3339 cannot write, is shown as `@SECONDS` since the Unix
/// epoch (`@-9223372036854775807`).
[[nodiscard]] std::string format_rfc3339(TimePoint t);

/// The current time, truncated to seconds. The only clock read in snapgov's libraries;
/// the evaluator never calls it (it takes `now` as an argument).
[[nodiscard]] TimePoint now_utc();

} // namespace snapgov
