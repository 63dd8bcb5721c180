#include <catch2/catch.hpp>

#include <unistd.h>

#include <memory>
#include <vector>

#include "daemon/control_server.hpp"
#include "tests/daemon/socket_clients.hpp"
#include "tests/support/support.hpp"

using namespace snapgov;
using namespace snapgov::daemon;
using namespace std::chrono_literals;
using snapgov::testing::Client;
using snapgov::testing::Loop;

namespace {

/// A control server on a loop of its own. "status" is answered at once with a reply of
/// `reply_size` bytes; "hold" is answered only when the test says so.
struct Fixture {
    explicit Fixture(ControlLimits limits, std::size_t reply_size = 1024) {
        path = dir.str("control.sock");
        server = loop.on_loop([&] {
            auto started = ControlServer::start(
                loop.io(), path, "",
                [this, reply_size](const std::string& line, ControlServer::Reply reply) {
                    if (line == "hold") {
                        held.push_back(std::move(reply));
                    } else {
                        reply(R"({"ok":true,"pad":")" + std::string(reply_size, 'x') + "\"}");
                    }
                },
                limits);
            REQUIRE(started);
            return std::move(*started);
        });
    }
    ~Fixture() {
        loop.on_loop([&] {
            server.reset();
            held.clear();
            return 0;
        });
    }
    Fixture(const Fixture&) = delete;
    Fixture& operator=(const Fixture&) = delete;

    [[nodiscard]] std::size_t connections() {
        return loop.on_loop([&] { return server->connections(); });
    }

    /// A fresh client's "status" and the reply it got.
    [[nodiscard]] std::string status() const {
        const auto c = Client::unix_stream(path);
        REQUIRE(c.send_all("status\n"));
        return c.read_line(10s);
    }

    snapgov::testing::TempDir dir{"snapgov-control"};
    std::string path;
    Loop loop;
    std::unique_ptr<ControlServer> server;
    std::vector<ControlServer::Reply> held; // the loop's thread only
};

ControlLimits small_limits() {
    ControlLimits limits;
    limits.max_connections = 4;
    limits.reserved_for_privileged = 1;
    limits.read_timeout = 2s;
    limits.write_timeout = 300ms;
    return limits;
}

} // namespace

TEST_CASE("control: clients that pipeline requests and never read are closed after the write "
          "timeout, and a fresh client is answered meanwhile",
          "[daemon][control]") {
    Fixture f(small_limits(), 4096);
    std::vector<Client> hostile;
    for (int i = 0; i < 6; ++i) {
        hostile.push_back(Client::unix_stream(f.path));
        CHECK(hostile.back().flood("status\n", 4 * 1024 * 1024) > 0);
    }
    const std::string reply = f.status();
    CHECK_THAT(reply, Catch::StartsWith(R"({"ok":true)"));
    for (const auto& c : hostile) {
        CHECK(c.closed_by_peer(10s));
    }
    CHECK(f.connections() == 0);
}

TEST_CASE("control: a client that holds one reply unread holds no more than that reply",
          "[daemon][control]") {
    // 64 KiB replies: the kernel's buffer takes a few, then the one the server holds waits.
    Fixture f(small_limits(), 64 * 1024);
    const auto c = Client::unix_stream(f.path);
    const std::size_t sent = c.flood("status\n", 64 * 1024 * 1024);
    // The server stopped reading once a reply was waiting: what went out is what the kernel
    // buffers hold plus the server's one bounded request buffer, not the whole flood.
    CHECK(sent < 8 * 1024 * 1024);
    CHECK(c.closed_by_peer(10s));
}

TEST_CASE("control: an idle client and one that trickles a request are closed at the read "
          "timeout",
          "[daemon][control]") {
    auto limits = small_limits();
    limits.read_timeout = 300ms;
    Fixture f(limits);
    const auto idle = Client::unix_stream(f.path);
    const auto slow = Client::unix_stream(f.path);
    bool slow_closed = false;
    for (int i = 0; i < 100 && !slow_closed; ++i) {
        slow_closed = !slow.send_all("s") || slow.closed_by_peer(50ms);
    }
    CHECK(slow_closed);
    CHECK(idle.closed_by_peer(10s));
    CHECK_THAT(f.status(), Catch::StartsWith(R"({"ok":true)"));
}

TEST_CASE("control: every slot taken by requests being handled, a fresh client from root or "
          "the daemon's user is still answered",
          "[daemon][control]") {
    Fixture f(small_limits());
    std::vector<Client> holding;
    for (int i = 0; i < 4; ++i) {
        holding.push_back(Client::unix_stream(f.path));
        REQUIRE(holding.back().send_all("hold\n"));
    }
    // Wait until all four are being handled.
    for (int i = 0; i < 200 && f.loop.on_loop([&] { return f.held.size(); }) < 4; ++i) {
        std::this_thread::sleep_for(10ms);
    }
    REQUIRE(f.loop.on_loop([&] { return f.held.size(); }) == 4);
    CHECK_THAT(f.status(), Catch::StartsWith(R"({"ok":true)"));
    // One was closed to make room; a late reply to it is dropped, the others still arrive.
    f.loop.on_loop([&] {
        for (auto& reply : f.held) {
            reply(R"({"ok":true,"late":1})");
        }
        return 0;
    });
    int answered = 0;
    for (const auto& c : holding) {
        answered += c.read_line(5s).find("late") != std::string::npos ? 1 : 0;
    }
    CHECK(answered == 3);
}

TEST_CASE("control: too long a request line and too large a reply are refused",
          "[daemon][control]") {
    auto limits = small_limits();
    limits.max_request = 1024;
    limits.max_reply = 2048;
    SECTION("request") {
        Fixture f(limits);
        const auto c = Client::unix_stream(f.path);
        (void)c.send_all(std::string(4096, 'x') + "\n");
        const std::string reply = c.read_line(10s);
        CHECK_THAT(reply, Catch::Contains("request line longer than 1 KiB"));
        CHECK(c.closed_by_peer(10s));
    }
    SECTION("reply") {
        Fixture f(limits, 4096);
        const std::string reply = f.status();
        CHECK_THAT(reply, Catch::Contains("larger than the control socket's limit"));
        CHECK(reply.size() < 1024);
    }
}

TEST_CASE("control: the server closes its clients when it stops", "[daemon][control]") {
    Fixture f(small_limits());
    const auto idle = Client::unix_stream(f.path);
    const auto holding = Client::unix_stream(f.path);
    REQUIRE(holding.send_all("hold\n"));
    for (int i = 0; i < 200 && f.connections() < 2; ++i) {
        std::this_thread::sleep_for(10ms);
    }
    f.loop.on_loop([&] {
        f.server.reset();
        return 0;
    });
    CHECK(idle.closed_by_peer(5s));
    CHECK(holding.closed_by_peer(5s));
}

TEST_CASE("control: requests of closed clients still count as in progress, and beyond the "
          "limit a request gets a busy reply",
          "[daemon][control]") {
    auto limits = small_limits();
    limits.max_connections = 2;
    limits.reserved_for_privileged = 0;
    limits.max_requests_in_progress = 3;
    Fixture f(limits);
    const auto held_count = [&] { return f.loop.on_loop([&] { return f.held.size(); }); };
    const auto hold = [&](std::size_t expected) {
        auto c = Client::unix_stream(f.path);
        REQUIRE(c.send_all("hold\n"));
        for (int i = 0; i < 200 && held_count() < expected; ++i) {
            std::this_thread::sleep_for(10ms);
        }
        return c;
    };
    const auto a = hold(1);
    const auto b = hold(2);
    const auto c = hold(3); // closes a, whose request is still being handled
    CHECK(a.closed_by_peer(5s));
    REQUIRE(held_count() == 3);
    const auto d = Client::unix_stream(f.path); // closes b
    REQUIRE(d.send_all("hold\n"));
    CHECK_THAT(d.read_line(10s), Catch::Contains("busy"));
    CHECK(held_count() == 3);
}
