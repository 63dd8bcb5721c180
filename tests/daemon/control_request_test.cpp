#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "daemon/control_request.hpp"

using snapgov::daemon::ControlCommand;
using snapgov::daemon::parse_control_request;

TEST_CASE("a control request names its command in a JSON object", "[daemon][control]") {
    CHECK(parse_control_request(R"({"command":"status"})") == ControlCommand::status);
    CHECK(parse_control_request(R"({"command":"run"})") == ControlCommand::run);
    CHECK(parse_control_request(R"( {"other": [1, {}], "command" : "plan"} )") ==
          ControlCommand::plan);
    CHECK(parse_control_request(R"({"command":"\u0073tatus"})") == ControlCommand::status);
}

TEST_CASE("anything else is an invalid control request", "[daemon][control]") {
    const std::vector<std::string> lines{"",
                                         "status",
                                         "{",
                                         R"({"command":"Status"})",
                                         R"({"command":"stop"})",
                                         R"({"command":1})",
                                         R"(["command","status"])",
                                         R"({"command":"status"} x)",
                                         R"({"command":"status")",
                                         std::string("{\"command\":\"status\0\"}", 21),
                                         R"({"command":"status","command":)"};
    for (const auto& line : lines) {
        CAPTURE(line);
        CHECK(parse_control_request(line) == ControlCommand::invalid);
    }
}
