#include "daemon/metrics_server.hpp"

#include <charconv>
#include <list>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "core/log.hpp"

namespace snapgov::daemon {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {
// After a failed accept (EMFILE, ENOBUFS...) the next try waits this long: trying at once
// would spin, and the pending clients wait in the listen backlog meanwhile.
constexpr auto kMetricsAcceptRetry = std::chrono::milliseconds(100);

class Session;
} // namespace

struct MetricsServer::Impl : std::enable_shared_from_this<MetricsServer::Impl> {
    Impl(asio::io_context& io, Render r, MetricsLimits l)
        : acceptor(io), retry_timer(io), render(std::move(r)), limits(l) {}

    tcp::acceptor acceptor;
    asio::steady_timer retry_timer;
    Render render;
    MetricsLimits limits;
    /// The open connections, each counted until it is closed.
    std::list<std::shared_ptr<Session>> sessions;
    bool closed = false;

    void accept();
    void make_room();
    void forget(const Session* session);
    void close_all();
};

namespace {

/// One client: reads one request, writes one response, closes. Every wait on the client has
/// a deadline.
class Session : public std::enable_shared_from_this<Session> {
public:
    enum class State { reading, writing, closed };

    Session(std::shared_ptr<MetricsServer::Impl> server, tcp::socket socket)
        : server_(std::move(server)), stream_(std::move(socket)),
          buffer_(server_->limits.max_request_header) {
        parser_.header_limit(static_cast<std::uint32_t>(server_->limits.max_request_header));
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    [[nodiscard]] State state() const { return state_; }
    /// When the session entered its current state.
    [[nodiscard]] SteadyClock::time_point since() const { return since_; }

    void run() {
        stream_.expires_after(server_->limits.read_timeout);
        http::async_read(stream_, buffer_, parser_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) {
                             self->on_request(ec);
                         });
    }

    /// Closes the socket and gives up the slot.
    void close() {
        if (state_ == State::closed) {
            return;
        }
        const auto keep = shared_from_this(); // the server's list may hold the last reference
        enter(State::closed);
        stream_.close();
        server_->forget(this);
    }

private:
    void enter(State state) {
        state_ = state;
        since_ = SteadyClock::now();
    }

    void on_request(beast::error_code ec) {
        if (state_ == State::closed) {
            return;
        }
        if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
            respond(http::status::request_header_fields_too_large,
                    "request header larger than " +
                        std::to_string(server_->limits.max_request_header) + " bytes\n");
            return;
        }
        if (ec == beast::error::timeout || ec == http::error::end_of_stream ||
            ec == asio::error::eof || ec == asio::error::operation_aborted ||
            ec == asio::error::connection_reset) {
            close();
            return;
        }
        if (ec) {
            // A body, a malformed request line or header: the message names the fault.
            respond(http::status::bad_request, "bad request: " + ec.message() + "\n");
            return;
        }
        const auto& request = parser_.get();
        if (request.method() != http::verb::get && request.method() != http::verb::head) {
            respond(http::status::method_not_allowed, "only GET /metrics\n");
        } else if (request.target() != "/metrics") {
            respond(http::status::not_found, "snapgov serves /metrics only\n");
        } else {
            respond(http::status::ok, server_->render());
        }
    }

    void respond(http::status status, std::string body) {
        const bool head = parser_.is_header_done() && parser_.get().method() == http::verb::head;
        response_.version(parser_.is_header_done() ? parser_.get().version() : 11);
        response_.result(status);
        response_.keep_alive(false);
        response_.set(http::field::server, "snapgov");
        if (status == http::status::method_not_allowed) {
            response_.set(http::field::allow, "GET, HEAD");
        }
        response_.set(http::field::content_type, status == http::status::ok
                                                     ? "text/plain; version=0.0.4; charset=utf-8"
                                                     : "text/plain; charset=utf-8");
        response_.body() = std::move(body);
        response_.prepare_payload();
        if (head) {
            response_.body().clear();
        }
        enter(State::writing);
        stream_.expires_after(server_->limits.write_timeout);
        http::async_write(
            stream_, response_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
                if (self->state_ == State::closed) {
                    return;
                }
                if (!ec) {
                    beast::error_code ignored;
                    self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                }
                self->close();
            });
    }

    std::shared_ptr<MetricsServer::Impl> server_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    http::request_parser<http::empty_body> parser_;
    http::response<http::string_body> response_;
    State state_ = State::reading;
    SteadyClock::time_point since_ = SteadyClock::now();
};

/// Which session to close first for a new one: lower is first.
int eviction_rank(Session::State state) {
    switch (state) {
    case Session::State::writing: return 0;
    case Session::State::reading: return 1;
    case Session::State::closed: return 2;
    }
    return 2;
}

} // namespace

void MetricsServer::Impl::make_room() {
    if (sessions.size() < limits.max_connections) {
        return;
    }
    Session* victim = nullptr;
    for (const auto& s : sessions) {
        if (victim == nullptr || eviction_rank(s->state()) < eviction_rank(victim->state()) ||
            (eviction_rank(s->state()) == eviction_rank(victim->state()) &&
             s->since() < victim->since())) {
            victim = s.get();
        }
    }
    if (victim != nullptr) {
        log::debug("metrics: every slot was taken; closed the least active connection");
        victim->close();
    }
}

void MetricsServer::Impl::forget(const Session* session) {
    sessions.remove_if([session](const auto& s) { return s.get() == session; });
}

void MetricsServer::Impl::close_all() {
    auto open = sessions; // close() edits the list
    for (const auto& s : open) {
        s->close();
    }
}

void MetricsServer::Impl::accept() {
    acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
        if (self->closed || ec == asio::error::operation_aborted) {
            return;
        }
        if (ec) {
            log::debug("metrics: accept failed: " + ec.message());
            self->retry_timer.expires_after(kMetricsAcceptRetry);
            self->retry_timer.async_wait([self](boost::system::error_code wait_ec) {
                if (!wait_ec && !self->closed) {
                    self->accept();
                }
            });
            return;
        }
        self->make_room();
        auto session = std::make_shared<Session>(self, std::move(socket));
        self->sessions.push_back(session);
        session->run();
        self->accept();
    });
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(asio::io_context& io,
                                                            const std::string& listen,
                                                            Render render, MetricsLimits limits) {
    if (limits.max_connections == 0 || limits.max_request_header == 0) {
        return fail(ErrorCode::internal, "metrics limits must allow one client");
    }
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) {
        return fail(ErrorCode::config,
                    "metrics_listen '" + listen + "' must be HOST:PORT, e.g. 127.0.0.1:9464");
    }
    std::string host = listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    unsigned short port = 0;
    const std::string port_text = listen.substr(colon + 1);
    const auto [ptr, conv] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    if (ec || conv != std::errc{} || ptr != port_text.data() + port_text.size()) {
        return fail(ErrorCode::config, "metrics_listen '" + listen +
                                           "' must be an IP address and port, e.g. "
                                           "127.0.0.1:9464");
    }
    auto impl = std::make_shared<Impl>(io, std::move(render), limits);
    const tcp::endpoint endpoint(address, port);
    impl->acceptor.open(endpoint.protocol(), ec);
    if (!ec) {
        impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
        impl->acceptor.bind(endpoint, ec);
    }
    if (!ec) {
        impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        return fail(ErrorCode::io, "cannot serve metrics on " + listen + ": " + ec.message());
    }
    impl->accept();
    return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::MetricsServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
    impl_->closed = true;
    beast::error_code ec;
    impl_->acceptor.close(ec);
    impl_->retry_timer.cancel();
    impl_->close_all();
}

unsigned short MetricsServer::port() const {
    beast::error_code ec;
    return impl_->acceptor.local_endpoint(ec).port();
}

} // namespace snapgov::daemon
