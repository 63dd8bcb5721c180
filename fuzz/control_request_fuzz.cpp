// Fuzz target: the control socket's request parser, fed line by line as the server frames
// a client's bytes (split at LF, a trailing CR dropped).
#include <cstddef>
#include <cstdint>

#include "daemon/control_request.hpp"
#include "fuzz/fuzz_input.hpp"

using namespace snapgov;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    for (auto line : fuzz::split(fuzz::as_text(data, size), "\n")) {
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        switch (daemon::parse_control_request(line)) {
        case daemon::ControlCommand::status:
        case daemon::ControlCommand::run:
        case daemon::ControlCommand::plan:
            // A known command needs the word in the line.
            if (line.find("command") == std::string_view::npos &&
                line.find("\\u") == std::string_view::npos) {
                __builtin_trap();
            }
            break;
        case daemon::ControlCommand::invalid: break;
        }
    }
    return 0;
}
