#pragma once
/// A minimal HTTP/1.1 server (Boost.Beast) that answers `GET /metrics` with the Prometheus
/// text exposition. One request per connection, bounded read time and connection count.

#include <functional>
#include <memory>
#include <string>

#include "core/error.hpp"

namespace boost::asio {
class io_context;
}

namespace snapgov::daemon {

class MetricsServer {
public:
    /// Produces the exposition text; called on the io_context's thread for each scrape.
    using Render = std::function<std::string()>;

    /// Listens on `listen` (`HOST:PORT`, e.g. `127.0.0.1:9464`; port 0 picks a free one).
    [[nodiscard]] static Result<std::unique_ptr<MetricsServer>>
    start(boost::asio::io_context& io, const std::string& listen, Render render);

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
