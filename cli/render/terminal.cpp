#include "cli/render/terminal.hpp"

#include <charconv>
#include <cstdlib>
#include <string_view>
#include <system_error>

#include <sys/ioctl.h>
#include <unistd.h>

namespace snapgov::cli {
namespace {

/// A positive decimal number, or 0.
std::size_t parse_columns(const char* text) {
    if (text == nullptr) {
        return 0;
    }
    const std::string_view s(text);
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc{} || end != s.data() + s.size()) {
        return 0;
    }
    return value;
}

} // namespace

std::size_t terminal_width(int fd) noexcept {
    if (isatty(fd) != 1) {
        return 0;
    }
    if (const std::size_t columns = parse_columns(std::getenv("COLUMNS")); columns > 0) {
        return columns;
    }
    winsize size{};
    if (ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
        return size.ws_col;
    }
    return 0;
}

} // namespace snapgov::cli
