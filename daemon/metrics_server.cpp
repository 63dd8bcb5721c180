#include "daemon/metrics_server.hpp"

#include <atomic>
#include <charconv>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace snapgov::daemon {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kRequestTimeout = std::chrono::seconds(10);
constexpr int kMaxConnections = 16;
} // namespace

struct MetricsServer::Impl : std::enable_shared_from_this<MetricsServer::Impl> {
    Impl(asio::io_context& io, Render r) : acceptor(io), render(std::move(r)) {}

    tcp::acceptor acceptor;
    Render render;
    std::atomic<int> connections{0};
    bool closed = false;

    void accept();
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(std::shared_ptr<MetricsServer::Impl> server, tcp::socket socket)
        : server_(std::move(server)), stream_(std::move(socket)) {
        ++server_->connections;
    }
    ~Session() { --server_->connections; }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    void run() {
        stream_.expires_after(kRequestTimeout);
        http::async_read(stream_, buffer_, request_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) {
                             if (!ec) {
                                 self->respond();
                             }
                         });
    }

private:
    void respond() {
        auto response = std::make_shared<http::response<http::string_body>>();
        response->version(request_.version());
        response->keep_alive(false);
        response->set(http::field::server, "snapgov");
        if (request_.method() != http::verb::get && request_.method() != http::verb::head) {
            response->result(http::status::method_not_allowed);
            response->set(http::field::allow, "GET, HEAD");
            response->body() = "only GET /metrics\n";
        } else if (request_.target() != "/metrics") {
            response->result(http::status::not_found);
            response->body() = "snapgov serves /metrics only\n";
        } else {
            response->result(http::status::ok);
            response->set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
            response->body() = server_->render();
        }
        response->prepare_payload();
        if (request_.method() == http::verb::head) {
            response->body().clear();
        }
        stream_.expires_after(kRequestTimeout);
        http::async_write(stream_, *response,
                          [self = shared_from_this(), response](beast::error_code, std::size_t) {
                              beast::error_code ignored;
                              self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                          });
    }

    std::shared_ptr<MetricsServer::Impl> server_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_{8192};
    http::request<http::string_body> request_;
};

} // namespace

void MetricsServer::Impl::accept() {
    acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
        if (self->closed || ec == asio::error::operation_aborted) {
            return;
        }
        if (!ec && self->connections < kMaxConnections) {
            std::make_shared<Session>(self, std::move(socket))->run();
        }
        self->accept();
    });
}

Result<std::unique_ptr<MetricsServer>>
MetricsServer::start(asio::io_context& io, const std::string& listen, Render render) {
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
    auto impl = std::make_shared<Impl>(io, std::move(render));
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
}

unsigned short MetricsServer::port() const {
    beast::error_code ec;
    return impl_->acceptor.local_endpoint(ec).port();
}

} // namespace snapgov::daemon
