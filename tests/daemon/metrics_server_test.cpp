#include <catch2/catch.hpp>

#include <memory>
#include <vector>

#include "daemon/metrics_server.hpp"
#include "tests/daemon/socket_clients.hpp"

using namespace snapgov;
using namespace snapgov::daemon;
using namespace std::chrono_literals;
using snapgov::testing::Client;
using snapgov::testing::Loop;

namespace {

/// A metrics server on 127.0.0.1 (a free port) on a loop of its own.
struct MetricsFixture {
    explicit MetricsFixture(MetricsLimits limits) {
        server = loop.on_loop([&] {
            auto started = MetricsServer::start(
                loop.io(), "127.0.0.1:0", [] { return std::string("snapgov_up 1\n"); }, limits);
            REQUIRE(started);
            return std::move(*started);
        });
        port = server->port();
    }
    ~MetricsFixture() {
        loop.on_loop([&] {
            server.reset();
            return 0;
        });
    }
    MetricsFixture(const MetricsFixture&) = delete;
    MetricsFixture& operator=(const MetricsFixture&) = delete;

    /// A fresh client's response to `request`.
    [[nodiscard]] std::string get(const std::string& request) const {
        const auto c = Client::tcp(port);
        (void)c.send_all(request);
        return c.read_all(10s);
    }

    Loop loop;
    std::unique_ptr<MetricsServer> server;
    unsigned short port = 0;
};

MetricsLimits small_metrics_limits() {
    MetricsLimits limits;
    limits.max_connections = 3;
    limits.read_timeout = 2s;
    limits.write_timeout = 300ms;
    return limits;
}

const std::string kGet = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

} // namespace

TEST_CASE("metrics: idle connections in every slot do not lock a scraper out",
          "[daemon][metrics]") {
    MetricsFixture f(small_metrics_limits());
    std::vector<Client> idle;
    for (int i = 0; i < 6; ++i) {
        idle.push_back(Client::tcp(f.port));
    }
    const std::string response = f.get(kGet);
    CHECK_THAT(response, Catch::StartsWith("HTTP/1.1 200"));
    CHECK_THAT(response, Catch::Contains("snapgov_up 1"));
    // The oldest were closed to make room; all are gone after the read timeout.
    for (const auto& c : idle) {
        CHECK(c.closed_by_peer(10s));
    }
}

TEST_CASE("metrics: an idle connection is closed at the read timeout", "[daemon][metrics]") {
    auto limits = small_metrics_limits();
    limits.read_timeout = 300ms;
    MetricsFixture f(limits);
    const auto idle = Client::tcp(f.port);
    const auto partial = Client::tcp(f.port);
    REQUIRE(partial.send_all("GET /metr"));
    CHECK(idle.closed_by_peer(10s));
    CHECK(partial.closed_by_peer(10s));
}

TEST_CASE("metrics: an oversized header and a request body are refused", "[daemon][metrics]") {
    auto limits = small_metrics_limits();
    limits.max_request_header = 1024;
    MetricsFixture f(limits);
    CHECK_THAT(f.get("GET /metrics HTTP/1.1\r\nX-Pad: " + std::string(4096, 'a') + "\r\n\r\n"),
               Catch::StartsWith("HTTP/1.1 431"));
    CHECK_THAT(f.get("GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"),
               Catch::StartsWith("HTTP/1.1 400"));
    CHECK_THAT(f.get("GET /other HTTP/1.1\r\n\r\n"), Catch::StartsWith("HTTP/1.1 404"));
    CHECK_THAT(f.get("POST /metrics HTTP/1.1\r\n\r\n"), Catch::StartsWith("HTTP/1.1 405"));
    CHECK_THAT(f.get(kGet), Catch::StartsWith("HTTP/1.1 200"));
}
