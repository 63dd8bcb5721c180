#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/render/terminal.hpp"
#include "core/unique_fd.hpp"

using snapgov::UniqueFd;
using snapgov::cli::terminal_width;

namespace {

/// Sets or unsets COLUMNS for the scope, then puts back what was there.
class ColumnsEnv {
public:
    explicit ColumnsEnv(const char* value) {
        if (const char* old = std::getenv("COLUMNS")) {
            old_ = old;
        }
        set(value);
    }
    ColumnsEnv(const ColumnsEnv&) = delete;
    ColumnsEnv& operator=(const ColumnsEnv&) = delete;
    ~ColumnsEnv() { set(old_ ? old_->c_str() : nullptr); }

private:
    static void set(const char* value) {
        if (value != nullptr) {
            ::setenv("COLUMNS", value, 1);
        } else {
            ::unsetenv("COLUMNS");
        }
    }
    std::optional<std::string> old_;
};

} // namespace

TEST_CASE("a pipe, a file and a closed descriptor have no width limit", "[cli][terminal]") {
    const ColumnsEnv columns("77"); // ignored: not a terminal
    int ends[2];
    REQUIRE(::pipe(ends) == 0);
    const UniqueFd read_end(ends[0]);
    const UniqueFd write_end(ends[1]);
    CHECK(terminal_width(write_end.get()) == 0);
    CHECK(terminal_width(read_end.get()) == 0);

    const UniqueFd null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    REQUIRE(null.get() >= 0);
    CHECK(terminal_width(null.get()) == 0);

    CHECK(terminal_width(-1) == 0);
}

TEST_CASE("a terminal's width is its window size, or COLUMNS when that is a positive number",
          "[cli][terminal]") {
    const UniqueFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (master.get() < 0 || ::grantpt(master.get()) != 0 || ::unlockpt(master.get()) != 0) {
        WARN("no pseudo-terminal on this machine: not checked");
        return;
    }
    const char* name = ::ptsname(master.get());
    REQUIRE(name != nullptr);
    const UniqueFd tty(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    REQUIRE(tty.get() >= 0);

    winsize size{};
    size.ws_row = 40;
    size.ws_col = 123;
    REQUIRE(::ioctl(tty.get(), TIOCSWINSZ, &size) == 0);

    {
        const ColumnsEnv columns(nullptr);
        CHECK(terminal_width(tty.get()) == 123);
    }
    {
        const ColumnsEnv columns("77");
        CHECK(terminal_width(tty.get()) == 77);
    }
    for (const char* ignored : {"", "0", "-5", "80x", " 80", "abc", "99999999999999999999999"}) {
        INFO(ignored);
        const ColumnsEnv columns(ignored);
        CHECK(terminal_width(tty.get()) == 123);
    }
    {
        const ColumnsEnv columns(nullptr);
        size.ws_col = 0; // a terminal that does not know its size
        REQUIRE(::ioctl(tty.get(), TIOCSWINSZ, &size) == 0);
        CHECK(terminal_width(tty.get()) == 0);
    }
}
