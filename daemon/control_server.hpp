#pragma once
/// The control socket: a UNIX stream socket for line-delimited JSON requests, open to root,
/// to the daemon's own user and to members of one configured group (checked with
/// SO_PEERCRED on every connection; the socket file is mode 0660 as well).

#include <functional>
#include <memory>
#include <string>

#include "core/error.hpp"

namespace boost::asio {
class io_context;
}

namespace snapgov::daemon {

class ControlServer {
public:
    /// Delivers the reply to a request; call it exactly once, on the io_context's thread.
    using Reply = std::function<void(std::string reply_line)>;
    /// Handles one request line (without the newline). May reply later (after a pass).
    using Handler = std::function<void(const std::string& request_line, Reply reply)>;

    /// Binds `path` (creating its folder, replacing a stale socket, refusing one a live
    /// process still answers on), sets mode 0660 and group `group` (empty: root's group).
    [[nodiscard]] static Result<std::unique_ptr<ControlServer>> start(boost::asio::io_context& io,
                                                                      const std::string& path,
                                                                      const std::string& group,
                                                                      Handler handler);

    /// Stops accepting, closes open connections and removes the socket file.
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    struct Impl;

private:
    explicit ControlServer(std::shared_ptr<Impl> impl);
    std::shared_ptr<Impl> impl_;
};

} // namespace snapgov::daemon
