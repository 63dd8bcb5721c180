#include "daemon/control_server.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "core/log.hpp"

namespace snapgov::daemon {
namespace asio = boost::asio;
using Socket = asio::local::stream_protocol::socket;

namespace {

// A request line longer than this is refused; a client idle longer than this is dropped,
// so a slow or silent client cannot hold resources.
constexpr std::size_t kMaxLine = 64 * 1024;
constexpr auto kIdleTimeout = std::chrono::seconds(30);
constexpr int kMaxConnections = 32;

std::string error_reply(const std::string& message) {
    std::string escaped;
    for (const char c : message) {
        if (c == '"' || c == '\\') {
            escaped += '\\';
        }
        escaped += c;
    }
    return "{\"ok\":false,\"error\":\"" + escaped + "\"}";
}

} // namespace

struct ControlServer::Impl : std::enable_shared_from_this<ControlServer::Impl> {
    Impl(asio::io_context& io, std::string socket_path, gid_t allowed_gid, Handler h)
        : acceptor(io), path(std::move(socket_path)), gid(allowed_gid), handler(std::move(h)) {}

    asio::local::stream_protocol::acceptor acceptor;
    std::string path;
    gid_t gid;
    Handler handler;
    std::atomic<int> connections{0};
    bool closed = false;

    /// The peer (by SO_PEERCRED) if it may use the socket, else an error naming it.
    [[nodiscard]] Result<std::string> authorize(int fd) const {
        ucred cred{};
        socklen_t len = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
            return fail(ErrorCode::io, "unknown peer");
        }
        std::string who = "uid " + std::to_string(cred.uid) + " pid " + std::to_string(cred.pid);
        if (in_allowed_group(cred)) {
            return who;
        }
        return fail(ErrorCode::io, std::move(who));
    }

    [[nodiscard]] bool in_allowed_group(const ucred& cred) const {
        if (cred.uid == 0 || cred.uid == geteuid() || (gid != 0 && cred.gid == gid)) {
            return true;
        }
        if (gid == 0) {
            return false;
        }
        // Supplementary groups of the peer's user.
        const passwd* pw = getpwuid(cred.uid);
        if (pw == nullptr) {
            return false;
        }
        int count = 64;
        std::vector<gid_t> groups(static_cast<std::size_t>(count));
        if (getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &count) < 0) {
            groups.resize(static_cast<std::size_t>(count));
            if (getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &count) < 0) {
                return false;
            }
        }
        groups.resize(static_cast<std::size_t>(count));
        return std::find(groups.begin(), groups.end(), gid) != groups.end();
    }

    void accept() {
        acceptor.async_accept(
            [self = shared_from_this()](boost::system::error_code ec, Socket socket) {
                if (self->closed || ec == asio::error::operation_aborted) {
                    return;
                }
                if (!ec) {
                    self->on_connection(std::move(socket));
                }
                self->accept();
            });
    }

    void on_connection(Socket socket);
};

namespace {

/// One client: reads request lines, one at a time, until EOF, idle timeout or an error.
class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(std::shared_ptr<ControlServer::Impl> server, Socket socket)
        : server_(std::move(server)), socket_(std::move(socket)), timer_(socket_.get_executor()),
          buffer_(kMaxLine) {
        ++server_->connections;
    }
    ~Connection() { --server_->connections; }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void refuse(const std::string& why) { write(error_reply(why), /*then_read=*/false); }

    void read() {
        timer_.expires_after(kIdleTimeout);
        timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec) {
                boost::system::error_code ignored;
                self->socket_.close(ignored);
            }
        });
        asio::async_read_until(
            socket_, buffer_, '\n',
            [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                self->timer_.cancel();
                if (ec == asio::error::not_found) {
                    self->write(error_reply("request line longer than 64 KiB"), false);
                    return;
                }
                if (ec) {
                    return; // EOF, timeout or closed
                }
                std::string line(asio::buffers_begin(self->buffer_.data()),
                                 asio::buffers_begin(self->buffer_.data()) +
                                     static_cast<std::ptrdiff_t>(n - 1));
                self->buffer_.consume(n);
                if (!line.empty() && line.back() == '\r') {
                    line.pop_back();
                }
                self->server_->handler(
                    line, [self](std::string reply) { self->write(std::move(reply), true); });
            });
    }

private:
    void write(std::string reply, bool then_read) {
        auto data = std::make_shared<std::string>(std::move(reply) + "\n");
        asio::async_write(socket_, asio::buffer(*data),
                          [self = shared_from_this(), data, then_read](boost::system::error_code ec,
                                                                       std::size_t /*n*/) {
                              if (!ec && then_read) {
                                  self->read();
                              }
                          });
    }

    std::shared_ptr<ControlServer::Impl> server_;
    Socket socket_;
    asio::steady_timer timer_;
    asio::streambuf buffer_;
};

} // namespace

void ControlServer::Impl::on_connection(Socket socket) {
    const auto peer = authorize(socket.native_handle());
    auto connection = std::make_shared<Connection>(shared_from_this(), std::move(socket));
    if (!peer) {
        log::warning("control socket: refused " + peer.error().message +
                     " (not root, not the daemon's user, not in daemon.control_group)");
        connection->refuse("permission denied: the control socket is for root and "
                           "daemon.control_group");
        return;
    }
    if (connections > kMaxConnections) {
        connection->refuse("too many control connections; try again");
        return;
    }
    connection->read();
}

Result<std::unique_ptr<ControlServer>> ControlServer::start(asio::io_context& io,
                                                            const std::string& path,
                                                            const std::string& group,
                                                            Handler handler) {
    gid_t gid = 0;
    if (!group.empty()) {
        const struct group* gr = getgrnam(group.c_str());
        if (gr == nullptr) {
            return fail(ErrorCode::config, "control_group '" + group +
                                               "' does not exist; create it or leave it empty");
        }
        gid = gr->gr_gid;
    }
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path p(path);
    if (p.has_parent_path()) {
        fs::create_directories(p.parent_path(), ec);
    }
    if (fs::is_socket(fs::symlink_status(p, ec))) {
        // Refuse to steal the socket of a daemon that still answers on it.
        Socket probe(io);
        boost::system::error_code connect_ec;
        probe.connect(asio::local::stream_protocol::endpoint(path), connect_ec);
        if (!connect_ec) {
            return fail(ErrorCode::io, "another snapgov daemon is listening on " + path +
                                           "; stop it first or set daemon.control_socket");
        }
        fs::remove(p, ec);
    } else if (fs::exists(fs::symlink_status(p, ec))) {
        return fail(ErrorCode::io, path + " exists and is not a socket; remove it or choose "
                                          "another daemon.control_socket");
    }
    auto impl = std::make_shared<Impl>(io, path, gid, std::move(handler));
    boost::system::error_code bind_ec;
    // Created with no permissions for others from the start, then narrowed to 0660.
    const mode_t old_mask = umask(0117);
    impl->acceptor.open(asio::local::stream_protocol(), bind_ec);
    if (!bind_ec) {
        impl->acceptor.bind(asio::local::stream_protocol::endpoint(path), bind_ec);
    }
    umask(old_mask);
    if (!bind_ec) {
        impl->acceptor.listen(asio::socket_base::max_listen_connections, bind_ec);
    }
    if (bind_ec) {
        return fail(ErrorCode::io,
                    "cannot listen on control socket " + path + ": " + bind_ec.message());
    }
    if (chmod(path.c_str(), 0660) != 0 || chown(path.c_str(), 0, gid) != 0) {
        if (geteuid() == 0) {
            return fail(ErrorCode::io,
                        "cannot set mode/owner of " + path + ": " + std::strerror(errno));
        }
    }
    impl->accept();
    return std::unique_ptr<ControlServer>(new ControlServer(std::move(impl)));
}

ControlServer::ControlServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

ControlServer::~ControlServer() {
    impl_->closed = true;
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
    std::error_code fs_ec;
    std::filesystem::remove(impl_->path, fs_ec);
}

} // namespace snapgov::daemon
