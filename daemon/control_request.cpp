#include "daemon/control_request.hpp"

#include <exception>

#include <boost/json.hpp>

namespace snapgov::daemon {

ControlCommand parse_control_request(std::string_view line) noexcept {
    namespace json = boost::json;
    try {
        boost::system::error_code ec;
        const auto value = json::parse(line, ec);
        if (ec) {
            return ControlCommand::invalid;
        }
        const auto* obj = value.if_object();
        if (obj == nullptr) {
            return ControlCommand::invalid;
        }
        const auto* c = obj->if_contains("command");
        if (c == nullptr || !c->is_string()) {
            return ControlCommand::invalid;
        }
        const std::string_view command = c->get_string();
        if (command == "status") {
            return ControlCommand::status;
        }
        if (command == "run") {
            return ControlCommand::run;
        }
        if (command == "plan") {
            return ControlCommand::plan;
        }
    } catch (const std::exception&) {
        // Out of memory for a huge document: the line is refused like any malformed one.
    }
    return ControlCommand::invalid;
}

} // namespace snapgov::daemon
