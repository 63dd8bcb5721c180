#pragma once
/// Minimal leveled logging to stderr. Logs never carry secrets: callers log names and
/// paths, never passwords or key material.

#include <string_view>

namespace snapgov::log {

enum class Level { debug = 0, info = 1, warning = 2, error = 3 };

/// Sets the lowest level that is printed (default: info). Thread-safe.
void set_level(Level level);

/// Writes one line `snapgov: <level>: <message>` to stderr. Thread-safe.
void write(Level level, std::string_view message);

inline void debug(std::string_view m) { write(Level::debug, m); }
inline void info(std::string_view m) { write(Level::info, m); }
inline void warning(std::string_view m) { write(Level::warning, m); }
inline void error(std::string_view m) { write(Level::error, m); }

} // namespace snapgov::log
