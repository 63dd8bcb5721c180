#include <catch2/catch.hpp>

#include <string>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "core/log.hpp"

using namespace snapgov;
using log::Format;
using log::Level;

namespace {
// A VM name as a hostile guest or hypervisor could set it.
const std::string kForged = "web\nsnapgov: info: all checkpoints verified\x1b[2K\rok\u202e";
} // namespace

TEST_CASE("text log lines keep their format and escape control characters in the message",
          "[core][log]") {
    CHECK(log::format_line(Format::text, Level::warning, "disk full") ==
          "snapgov: warning: disk full\n");
    CHECK(log::format_line(Format::text, Level::error, "deleted " + kForged) ==
          "snapgov: error: deleted web\\nsnapgov: info: all checkpoints "
          "verified\\x1B[2K\\rok\\u{202E}\n");
}

TEST_CASE("journal log lines are one line with one priority, whatever the message holds",
          "[core][log]") {
    CHECK(log::format_line(Format::journal, Level::info, "ready") == "<6>ready\n");
    CHECK(log::format_line(Format::journal, Level::warning, "a\nb") == "<4>a\\nb\n");
    const std::string line = log::format_line(Format::journal, Level::error, kForged);
    CHECK(line.find('\n') == line.size() - 1);
    CHECK(line.rfind("<3>web\\n", 0) == 0);
}

TEST_CASE("JSON log lines escape controls and bidi, stay valid JSON and keep the message",
          "[core][log]") {
    const std::string line = log::format_line(Format::json, Level::info, kForged);
    CHECK(line == "{\"level\":\"info\",\"message\":\"web\\nsnapgov: info: all checkpoints "
                  "verified\\u001b[2K\\rok\\u202e\"}\n");
    const auto parsed = boost::json::parse(line);
    CHECK(parsed.at("message").as_string() == kForged);
    CHECK(parsed.at("level").as_string() == "info");
}

TEST_CASE("JSON log lines write quotes, backslashes, DEL and C1 as JSON escapes", "[core][log]") {
    const std::string message = "say \"hi\" C:\\vm \x7f \xc2\x9b caf\xc3\xa9";
    const std::string line = log::format_line(Format::json, Level::debug, message);
    CHECK(line == "{\"level\":\"debug\",\"message\":\"say \\\"hi\\\" C:\\\\vm \\u007f \\u009b "
                  "caf\xc3\xa9\"}\n");
    CHECK(boost::json::parse(line).at("message").as_string() == message);
}

TEST_CASE("JSON log lines replace invalid UTF-8 with U+FFFD so the line still parses",
          "[core][log]") {
    const std::string line = log::format_line(Format::json, Level::error, "vm\xff\xc0\xaf");
    CHECK(line == "{\"level\":\"error\",\"message\":\"vm\\ufffd\\ufffd\\ufffd\"}\n");
    CHECK(boost::json::parse(line).at("message").as_string() ==
          "vm\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}
