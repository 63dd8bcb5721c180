#pragma once
/// A minimal HTTP/1.1 server (Boost.Beast) that answers `GET /metrics` with the Prometheus
/// text exposition. One request per connection.
///
/// Everything a client can make it hold is bounded (MetricsLimits): the number of
/// connections, the time to send the request and its header size (a body is refused), and
/// the time to take the response. When every slot is taken, a new client gets one by closing
/// an old one (first one that has not taken its response, then the one waiting longest for
/// its request), so idle connections cannot lock a scraper out.

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

/// What one metrics client may hold; the defaults are the daemon's.
struct MetricsLimits {
    /// Connections open at once.
    std::size_t max_connections = 16;
    /// Largest request header (request line included); a larger one gets 431.
    std::size_t max_request_header = 8 * 1024;
    /// Time for the whole request to arrive, idle time included; then the connection is
    /// closed.
    std::chrono::milliseconds read_timeout{5'000};
    /// Time for the client to take the whole response; then the connection is closed.
    std::chrono::milliseconds write_timeout{5'000};
};

class MetricsServer {
public:
    /// Produces the exposition text; called on the io_context's thread for each scrape.
    using Render = std::function<std::string()>;

    /// Listens on `listen` (`HOST:PORT`, e.g. `127.0.0.1:9464`; port 0 picks a free one).
    [[nodiscard]] static Result<std::unique_ptr<MetricsServer>> start(boost::asio::io_context& io,
                                                                      const std::string& listen,
                                                                      Render render,
                                                                      MetricsLimits limits = {});

    /// Stops listening and closes open connections.
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    /// The port actually bound.
    [[nodiscard]] unsigned short port() const;

    struct Impl;

private:
    explicit MetricsServer(std::shared_ptr<Impl> impl);
    std::shared_ptr<Impl> impl_;
};

} // namespace snapgov::daemon
