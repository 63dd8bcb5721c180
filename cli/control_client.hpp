#pragma once
/// The client side of the control socket, for `snapgov status`.

#include <chrono>
#include <string>

#include "core/error.hpp"

namespace snapgov::cli {

/// Sends one request line to the daemon's control socket and returns its one-line reply.
/// Fails (`io`) when nobody listens, access is refused, or no reply arrives within
/// `timeout`; the message names the socket and the likely fix.
[[nodiscard]] Result<std::string> control_request(const std::string& socket_path,
                                                  const std::string& request,
                                                  std::chrono::seconds timeout);

} // namespace snapgov::cli
