#pragma once
/// Plain POSIX clients for the daemon's servers, as a hostile or an ordinary peer would use
/// them, and an io_context run on a thread of its own for the server under test.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace snapgov::testing {

/// Owns a client socket.
class Client {
public:
    Client() = default;
    explicit Client(int fd) : fd_(fd) {}
    ~Client() { reset(); }
    Client(Client&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    Client& operator=(Client&& other) noexcept {
        if (this != &other) {
            reset();
            fd_ = other.fd_;
            other.fd_ = -1;
        }
        return *this;
    }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    [[nodiscard]] int fd() const { return fd_; }
    void reset() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = -1;
    }

    /// Connects to a UNIX stream socket; throws if it cannot.
    static Client unix_stream(const std::string& path) {
        Client c(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
        if (::connect(c.fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
            throw std::runtime_error("connect " + path + ": " + std::strerror(errno));
        }
        return c;
    }

    /// Connects to 127.0.0.1:port; throws if it cannot.
    static Client tcp(unsigned short port) {
        Client c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(c.fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
            throw std::runtime_error(std::string("connect 127.0.0.1: ") + std::strerror(errno));
        }
        return c;
    }

    /// Sends all of `data` (blocking). False if the peer is gone.
    bool send_all(const std::string& data) const {
        std::size_t sent = 0;
        while (sent < data.size()) {
            const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                return false;
            }
            sent += static_cast<std::size_t>(n);
        }
        return true;
    }

    /// Sends copies of `line` without blocking until the socket takes no more or `limit`
    /// bytes went out: a client that pipelines requests and never reads. Returns bytes sent.
    std::size_t flood(const std::string& line, std::size_t limit) const {
        std::string batch;
        while (batch.size() < 64 * 1024) {
            batch += line;
        }
        std::size_t sent = 0;
        while (sent < limit) {
            const ssize_t n = ::send(fd_, batch.data(), batch.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n <= 0) {
                break;
            }
            sent += static_cast<std::size_t>(n);
        }
        return sent;
    }

    /// Reads until a newline, EOF or `timeout`; returns what arrived.
    [[nodiscard]] std::string read_line(std::chrono::milliseconds timeout) const {
        return read_until([](const std::string& s) { return s.find('\n') != std::string::npos; },
                          timeout);
    }

    /// Reads until EOF or `timeout`; returns what arrived.
    [[nodiscard]] std::string read_all(std::chrono::milliseconds timeout) const {
        return read_until([](const std::string&) { return false; }, timeout);
    }

    /// True once the peer has closed the connection (seen without reading what it sent), false
    /// if it is still open after `timeout`.
    [[nodiscard]] bool closed_by_peer(std::chrono::milliseconds timeout) const {
        pollfd p{fd_, POLLRDHUP, 0};
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            p.revents = 0;
            if (::poll(&p, 1, 50) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0) {
                return true;
            }
        }
        return false;
    }

private:
    [[nodiscard]] std::string read_until(const std::function<bool(const std::string&)>& done,
                                         std::chrono::milliseconds timeout) const {
        std::string data;
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        char buf[65536];
        while (!done(data)) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                break;
            }
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
                continue;
            }
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) {
                break;
            }
            data.append(buf, static_cast<std::size_t>(n));
        }
        return data;
    }

    int fd_ = -1;
};

/// An io_context running on a thread of its own; `on_loop` runs a function there and waits.
class Loop {
public:
    Loop() : thread_([this] { io_.run(); }) {}
    ~Loop() {
        work_.reset();
        io_.stop();
        thread_.join();
    }
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    [[nodiscard]] boost::asio::io_context& io() { return io_; }

    /// Runs `f` on the loop's thread and returns its result.
    template <class F> auto on_loop(F f) {
        std::packaged_task<decltype(f())()> task(std::move(f));
        auto result = task.get_future();
        boost::asio::post(io_, [&task] { task(); });
        return result.get();
    }

private:
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
        io_.get_executor()};
    std::thread thread_;
};

} // namespace snapgov::testing
