#pragma once
/// What the text output needs to know about the terminal it writes to.

#include <cstddef>

namespace snapgov::cli {

/// The width to lay text out for on `fd`, in columns; 0 means no limit.
///
/// 0 when `fd` is not a terminal (a pipe, a file, a closed descriptor): scripts and logs get
/// the full text. On a terminal: `COLUMNS` when it is set to a positive decimal number (as
/// systemd and git do, so a user can ask for a width), else the window size the terminal
/// reports (TIOCGWINSZ), else 0. A `COLUMNS` that is not a positive number is ignored; it is
/// never honoured when `fd` is not a terminal. Never fails.
[[nodiscard]] std::size_t terminal_width(int fd) noexcept;

} // namespace snapgov::cli
