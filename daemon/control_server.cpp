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
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <list>
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
using SteadyClock = std::chrono::steady_clock;

namespace {

// After a failed accept (EMFILE, ENOBUFS...) the next try waits this long: trying at once
// would spin, and the pending clients wait in the listen backlog meanwhile.
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);

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

std::string seconds_text(std::chrono::milliseconds d) {
    const auto ms = d.count();
    return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

/// The process at the other end of a connection, by SO_PEERCRED.
struct Peer {
    ucred cred{};
    bool known = false;
    /// root, the daemon's user or a member of control_group.
    bool allowed = false;
    /// root or the daemon's own user: may take a reserved slot and close a busy client.
    bool privileged = false;

    [[nodiscard]] std::string describe() const {
        if (!known) {
            return "unknown peer";
        }
        return "uid " + std::to_string(cred.uid) + " pid " + std::to_string(cred.pid);
    }
};

class Connection;

} // namespace

struct ControlServer::Impl : std::enable_shared_from_this<ControlServer::Impl> {
    Impl(asio::io_context& io, std::string socket_path, gid_t allowed_gid, Handler h,
         ControlLimits l)
        : acceptor(io), retry_timer(io), path(std::move(socket_path)), gid(allowed_gid),
          handler(std::move(h)), limits(l) {}

    asio::local::stream_protocol::acceptor acceptor;
    asio::steady_timer retry_timer;
    std::string path;
    gid_t gid;
    Handler handler;
    ControlLimits limits;
    /// The clients being served, each counted until it is closed.
    std::list<std::shared_ptr<Connection>> clients;
    /// Refusals being written.
    std::size_t refusing = 0;
    /// Requests whose Reply still exists. Shared with the Replies, which other threads may
    /// destroy.
    std::shared_ptr<std::atomic<std::size_t>> in_progress =
        std::make_shared<std::atomic<std::size_t>>(0);
    bool closed = false;

    [[nodiscard]] Peer authorize(int fd) const {
        Peer peer;
        socklen_t len = sizeof peer.cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer.cred, &len) != 0) {
            return peer;
        }
        peer.known = true;
        peer.privileged = peer.cred.uid == 0 || peer.cred.uid == geteuid();
        peer.allowed = peer.privileged || in_allowed_group(peer.cred);
        return peer;
    }

    [[nodiscard]] bool in_allowed_group(const ucred& cred) const {
        if (gid == 0) {
            return false;
        }
        if (cred.gid == gid) {
            return true;
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
                if (ec) {
                    log::debug("control socket: accept failed: " + ec.message());
                    self->retry_timer.expires_after(kAcceptRetry);
                    self->retry_timer.async_wait([self](boost::system::error_code wait_ec) {
                        if (!wait_ec && !self->closed) {
                            self->accept();
                        }
                    });
                    return;
                }
                self->on_connection(std::move(socket));
                self->accept();
            });
    }

    void on_connection(Socket socket);
    void refuse(Socket socket, const Peer& peer, const std::string& why);
    [[nodiscard]] bool make_room(const Peer& peer);
    void forget(const Connection* connection);
    void close_all();
};

namespace {

/// One client. It reads a request line, hands it to the handler, writes the reply, and only
/// then reads the next line; every wait on the client has a deadline. A refusal writes one
/// error reply and closes.
class Connection : public std::enable_shared_from_this<Connection> {
public:
    /// What the connection waits for; `handling` waits for the daemon, not the client.
    enum class State { reading, handling, writing, closed };

    /// `served`: counted in the server's clients (else a refusal).
    Connection(std::shared_ptr<ControlServer::Impl> server, Socket socket, Peer peer, bool served)
        : server_(std::move(server)), socket_(std::move(socket)), deadline_(socket_.get_executor()),
          buffer_(server_->limits.max_request + 1), peer_(peer), served_(served) {}
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    [[nodiscard]] State state() const { return state_; }
    /// When the connection entered its current state.
    [[nodiscard]] SteadyClock::time_point since() const { return since_; }
    [[nodiscard]] const Peer& peer() const { return peer_; }

    void refuse(const std::string& why) { write(error_reply(why), /*then_read=*/false); }

    void read() {
        if (state_ == State::closed) {
            return;
        }
        enter(State::reading);
        arm(server_->limits.read_timeout,
            "no complete request line within " + seconds_text(server_->limits.read_timeout));
        asio::async_read_until(
            socket_, buffer_, '\n',
            [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                self->on_line(ec, n);
            });
    }

    /// Closes the socket and gives up the slot; `why` (if any) is logged at debug level.
    void close(const std::string& why) {
        if (state_ == State::closed) {
            return;
        }
        const auto keep = shared_from_this(); // the server's list may hold the last reference
        enter(State::closed);
        deadline_.cancel();
        boost::system::error_code ignored;
        socket_.close(ignored);
        if (served_) {
            server_->forget(this);
        } else {
            --server_->refusing;
        }
        if (!why.empty()) {
            log::debug("control socket: closed the connection of " + peer_.describe() + ": " + why);
        }
    }

private:
    void enter(State state) {
        state_ = state;
        since_ = SteadyClock::now();
        ++phase_; // a deadline armed in an earlier state no longer applies
    }

    void arm(std::chrono::milliseconds timeout, std::string what) {
        deadline_.expires_after(timeout);
        deadline_.async_wait([self = shared_from_this(), phase = phase_,
                              what = std::move(what)](boost::system::error_code ec) {
            // A wait that completed just before the state changed must not close.
            if (!ec && self->phase_ == phase) {
                self->close(what);
            }
        });
    }

    void on_line(boost::system::error_code ec, std::size_t n) {
        if (state_ == State::closed) {
            return;
        }
        const auto& limits = server_->limits;
        if (ec == asio::error::not_found || (!ec && n - 1 > limits.max_request)) {
            write(error_reply("request line longer than " +
                              std::to_string(limits.max_request / 1024) + " KiB"),
                  false);
            return;
        }
        if (ec) {
            close(ec == asio::error::eof ? std::string() : ec.message());
            return;
        }
        std::string line(asio::buffers_begin(buffer_.data()),
                         asio::buffers_begin(buffer_.data()) + static_cast<std::ptrdiff_t>(n - 1));
        buffer_.consume(n);
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        if (*server_->in_progress >= limits.max_requests_in_progress) {
            write(error_reply("the daemon is busy with " +
                              std::to_string(limits.max_requests_in_progress) +
                              " requests; try again"),
                  true);
            return;
        }
        enter(State::handling);
        deadline_.cancel();
        // The Reply does not keep the connection: a client closed meanwhile (timeout,
        // eviction, shutdown) is gone at once, and its late reply is dropped.
        server_->handler(
            line, [weak = weak_from_this(),
                   token = std::make_shared<InProgress>(server_->in_progress)](std::string reply) {
                // A second call (against the contract) must not start a second write.
                if (const auto self = weak.lock(); self && self->state_ == State::handling) {
                    self->write(std::move(reply), true);
                }
            });
    }

    /// Counts one request as in progress while it exists.
    struct InProgress {
        explicit InProgress(std::shared_ptr<std::atomic<std::size_t>> c) : count(std::move(c)) {
            ++*count;
        }
        ~InProgress() { --*count; }
        InProgress(const InProgress&) = delete;
        InProgress& operator=(const InProgress&) = delete;
        std::shared_ptr<std::atomic<std::size_t>> count;
    };

    void write(std::string reply, bool then_read) {
        if (state_ == State::closed) {
            return;
        }
        const auto& limits = server_->limits;
        if (reply.size() > limits.max_reply) {
            reply = error_reply("the reply (" + std::to_string(reply.size()) +
                                " bytes) is larger than the control socket's limit of " +
                                std::to_string(limits.max_reply) +
                                " bytes; run the command on the host instead (snapgov plan -c "
                                "FILE)");
        }
        // The one reply this client holds: nothing more is read from it until this is taken.
        reply_ = std::move(reply);
        reply_ += '\n';
        enter(State::writing);
        arm(limits.write_timeout,
            "did not take its reply within " + seconds_text(limits.write_timeout));
        asio::async_write(socket_, asio::buffer(reply_),
                          [self = shared_from_this(), then_read](boost::system::error_code ec,
                                                                 std::size_t /*n*/) {
                              if (self->state_ == State::closed) {
                                  return;
                              }
                              std::string().swap(self->reply_);
                              if (ec) {
                                  self->close(ec.message());
                              } else if (then_read) {
                                  self->read();
                              } else {
                                  self->close("");
                              }
                          });
    }

    std::shared_ptr<ControlServer::Impl> server_;
    Socket socket_;
    asio::steady_timer deadline_;
    asio::streambuf buffer_;
    std::string reply_;
    Peer peer_;
    bool served_;
    State state_ = State::reading;
    SteadyClock::time_point since_ = SteadyClock::now();
    std::uint64_t phase_ = 0;
};

/// Which client to close first for a new one: lower is first. A client that has not taken
/// its reply, then one idle between requests; one whose request is being handled is last.
int eviction_rank(Connection::State state) {
    switch (state) {
    case Connection::State::writing: return 0;
    case Connection::State::reading: return 1;
    case Connection::State::handling: return 2;
    case Connection::State::closed: return 3;
    }
    return 3;
}

} // namespace

bool ControlServer::Impl::make_room(const Peer& peer) {
    const std::size_t reserved = std::min(limits.reserved_for_privileged, limits.max_connections);
    const auto unprivileged = static_cast<std::size_t>(std::count_if(
        clients.begin(), clients.end(), [](const auto& c) { return !c->peer().privileged; }));
    const bool full = clients.size() >= limits.max_connections;
    const bool share_taken = !peer.privileged && unprivileged >= limits.max_connections - reserved;
    if (!full && !share_taken) {
        return true;
    }
    Connection* victim = nullptr;
    for (const auto& c : clients) {
        // Others' clients are closed only for root and the daemon's user; a request being
        // handled (a pass, a plan) only for them too.
        if (!peer.privileged &&
            (c->peer().privileged || c->state() == Connection::State::handling)) {
            continue;
        }
        if (victim == nullptr || eviction_rank(c->state()) < eviction_rank(victim->state()) ||
            (eviction_rank(c->state()) == eviction_rank(victim->state()) &&
             c->since() < victim->since())) {
            victim = c.get();
        }
    }
    if (victim == nullptr) {
        return false;
    }
    victim->close("every slot was taken; closed the least active client for " + peer.describe());
    return true;
}

void ControlServer::Impl::forget(const Connection* connection) {
    clients.remove_if([connection](const auto& c) { return c.get() == connection; });
}

void ControlServer::Impl::close_all() {
    auto open = clients; // close() edits the list
    for (const auto& c : open) {
        c->close("the daemon is stopping");
    }
}

void ControlServer::Impl::refuse(Socket socket, const Peer& peer, const std::string& why) {
    if (refusing >= limits.max_refusals) {
        return; // the socket closes unanswered as it goes out of scope
    }
    ++refusing;
    std::make_shared<Connection>(shared_from_this(), std::move(socket), peer, false)->refuse(why);
}

void ControlServer::Impl::on_connection(Socket socket) {
    const Peer peer = authorize(socket.native_handle());
    if (!peer.allowed) {
        log::warning("control socket: refused " + peer.describe() +
                     " (not root, not the daemon's user, not in daemon.control_group)");
        refuse(std::move(socket), peer,
               "permission denied: the control socket is for root and daemon.control_group");
        return;
    }
    if (!make_room(peer)) {
        refuse(std::move(socket), peer, "too many control connections; try again");
        return;
    }
    auto connection = std::make_shared<Connection>(shared_from_this(), std::move(socket), peer,
                                                   /*served=*/true);
    clients.push_back(connection);
    connection->read();
}

Result<std::unique_ptr<ControlServer>> ControlServer::start(asio::io_context& io,
                                                            const std::string& path,
                                                            const std::string& group,
                                                            Handler handler, ControlLimits limits) {
    if (limits.max_connections == 0 || limits.max_request == 0) {
        return fail(ErrorCode::internal, "control socket limits must allow one client");
    }
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
    auto impl = std::make_shared<Impl>(io, path, gid, std::move(handler), limits);
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
    // chown only when the owner must change (a control_group): the unit's system-call filter
    // refuses chown, and a socket root binds is root's already.
    struct stat st {};
    const bool owned = ::stat(path.c_str(), &st) == 0 && st.st_uid == 0 && st.st_gid == gid;
    if (chmod(path.c_str(), 0660) != 0 || (!owned && chown(path.c_str(), 0, gid) != 0)) {
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
    impl_->retry_timer.cancel();
    impl_->close_all();
    std::error_code fs_ec;
    std::filesystem::remove(impl_->path, fs_ec);
}

std::size_t ControlServer::connections() const {
    return impl_->clients.size();
}

} // namespace snapgov::daemon
