#include "cli/control_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace snapgov::cli {
namespace {

/// Owns a socket descriptor.
class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    [[nodiscard]] int get() const { return fd_; }

private:
    int fd_;
};

} // namespace

Result<std::string> control_request(const std::string& socket_path, const std::string& request,
                                    std::chrono::seconds timeout) {
    sockaddr_un addr{};
    if (socket_path.size() >= sizeof addr.sun_path) {
        return fail(ErrorCode::usage, "control socket path too long: " + socket_path);
    }
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    const Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) {
        return fail(ErrorCode::io, std::string("socket: ") + std::strerror(errno));
    }
    // On a UNIX socket the send timeout bounds connect() too: a daemon that is stopped or
    // whose queue is full must not hang the client before the reply's own deadline.
    const timeval send_timeout{static_cast<time_t>(timeout.count()), 0};
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        const int err = errno;
        std::string hint = err == EACCES ? " (permission denied: run as root or as a member of "
                                           "daemon.control_group)"
                           : err == EAGAIN || err == EINPROGRESS
                               ? " (the daemon did not accept within " +
                                     std::to_string(timeout.count()) +
                                     " s: is it stopped or overloaded?)"
                               : " (is 'snapgov daemon' running with this config?)";
        return fail(ErrorCode::io,
                    "cannot connect to " + socket_path + ": " + std::strerror(err) + hint);
    }
    const std::string line = request + "\n";
    std::size_t sent = 0;
    while (sent < line.size()) {
        const ssize_t n = ::send(fd.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EPIPE || errno == ECONNRESET) {
                break; // refused before reading: the daemon's reply says why
            }
            return fail(ErrorCode::io, "cannot send to " + socket_path + ": " +
                                           std::strerror(errno) +
                                           (errno == EAGAIN ? " (the daemon is not reading)" : ""));
        }
        sent += static_cast<std::size_t>(n);
    }
    std::string reply;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    while (reply.find('\n') == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return fail(ErrorCode::io, "no reply from " + socket_path + " within " +
                                           std::to_string(timeout.count()) + " s");
        }
        pollfd p{fd.get(), POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready <= 0) {
            continue;
        }
        const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (reply.empty()) {
                return fail(ErrorCode::io, "the daemon closed " + socket_path + " without a reply");
            }
            break;
        }
        reply.append(buf, static_cast<std::size_t>(n));
    }
    if (const auto nl = reply.find('\n'); nl != std::string::npos) {
        reply.resize(nl);
    }
    return reply;
}

} // namespace snapgov::cli
