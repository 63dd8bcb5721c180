#pragma once
/// The control socket's request language: one JSON object per line, `{"command": "..."}`.
/// Kept apart from the socket and the daemon so the parser can be tested and fuzzed on strings.

#include <string_view>

namespace snapgov::daemon {

/// What a control-socket client asks for.
enum class ControlCommand {
    status,  ///< the daemon's state, answered at once
    run,     ///< a full pass now, answered when it ends
    plan,    ///< a plan of the current inventory, answered when it is made
    invalid, ///< not JSON, not an object, no string `command`, or an unknown command
};

/// Parses one request line (without its newline). Never throws: anything but a JSON object
/// whose `command` member is one of the known strings is `invalid`; other members are ignored.
[[nodiscard]] ControlCommand parse_control_request(std::string_view line) noexcept;

} // namespace snapgov::daemon
