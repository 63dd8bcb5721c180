#pragma once
/// The control socket: a UNIX stream socket for line-delimited JSON requests, open to root,
/// to the daemon's own user and to members of one configured group (checked with
/// SO_PEERCRED on every connection; the socket file is mode 0660 as well).
///
/// Everything a client can make the daemon hold is bounded (ControlLimits): the number of
/// connections, the time to send a request line and its length, the time to take a reply
/// and its size. A client handles one request at a time: the next line is not read before
/// the reply to the last one is written, so a client that pipelines requests and never
/// reads holds one reply, and only until `write_timeout`. When every slot is taken, a new
/// client gets one by closing an old one (first one whose reply waits unread, then one idle
/// between requests, oldest first); root and the daemon's own user may also close one whose
/// request is being handled, and a few slots are theirs only, so a fresh `snapgov status`
/// from root is answered even while other clients hold every slot.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "core/error.hpp"

namespace boost::asio {
class io_context;
}

namespace snapgov::daemon {

/// What one control-socket client may hold; the defaults are the daemon's.
struct ControlLimits {
    /// Clients served at once (root, the daemon's user and control_group members).
    std::size_t max_connections = 32;
    /// Of those, slots only root and the daemon's own user may take.
    std::size_t reserved_for_privileged = 4;
    /// Refusals (a peer not allowed, no slot) being written at once; beyond, closed unanswered.
    std::size_t max_refusals = 8;
    /// Longest request line, newline excluded; a longer one gets an error and the connection
    /// is closed.
    std::size_t max_request = 64 * 1024;
    /// Largest reply buffered for a client; a larger one is replaced by an error reply.
    std::size_t max_reply = 16 * 1024 * 1024;
    /// Requests handed to the handler and not yet answered, the clients closed meanwhile
    /// included (their pass or plan still runs); a request beyond it gets a "busy" error.
    std::size_t max_requests_in_progress = 64;
    /// Time for a whole request line to arrive, idle time included; then the connection is
    /// closed.
    std::chrono::milliseconds read_timeout{15'000};
    /// Time for the client to take a whole reply; then the connection is closed.
    std::chrono::milliseconds write_timeout{5'000};
};

class ControlServer {
public:
    /// Delivers the reply to a request; call it exactly once, on the io_context's thread.
    /// Calling it after the client was closed (timeout, eviction, shutdown) does nothing.
    /// The request counts as in progress until every copy of it is gone; a copy may be
    /// destroyed on any thread.
    using Reply = std::function<void(std::string reply_line)>;
    /// Handles one request line (without the newline). May reply later (after a pass).
    using Handler = std::function<void(const std::string& request_line, Reply reply)>;

    /// Binds `path` (creating its folder, replacing a stale socket, refusing one a live
    /// process still answers on), sets mode 0660 and group `group` (empty: root's group).
    [[nodiscard]] static Result<std::unique_ptr<ControlServer>>
    start(boost::asio::io_context& io, const std::string& path, const std::string& group,
          Handler handler, ControlLimits limits = {});

    /// Stops accepting, closes open connections and removes the socket file.
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    /// Clients being served now (refusals in progress excluded). For tests and diagnostics.
    [[nodiscard]] std::size_t connections() const;

    struct Impl;

private:
    explicit ControlServer(std::shared_ptr<Impl> impl);
    std::shared_ptr<Impl> impl_;
};

} // namespace snapgov::daemon
