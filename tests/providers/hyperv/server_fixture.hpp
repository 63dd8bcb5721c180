#pragma once
// Test support: a throw-away PKI and the WS-Management test server (wsman_server.py) as a
// child process bound to 127.0.0.1. Everything is cleaned up by destructors.

#include <string>
#include <sys/types.h>

#include "providers/hyperv/hyperv_settings.hpp"

namespace snapgov::test {

/// Certificates, keys and a password file made with `openssl` in a temporary directory,
/// once per test process, removed at exit.
struct TestPki {
    std::string dir;
    std::string server_cert, server_key; // self-signed, SAN IP:127.0.0.1, DNS:localhost
    std::string other_cert, other_key;   // self-signed, same names: a CA that is not the server's
    std::string wrong_name_cert, wrong_name_key; // self-signed, SAN DNS:wrong.example only
    std::string client_cert, client_key;         // for certificate authentication
    std::string password_file;                   // mode 0600, holds kPassword

    static const TestPki& get();
};

inline constexpr const char* kUser = "svc-snapgov";
inline constexpr const char* kPassword = "s3cret-Pa55word!";

/// One running wsman_server.py. Stops it (SIGTERM, then SIGKILL) in the destructor.
class WsmanServer {
public:
    struct Options {
        std::string world = "world.json"; // under tests/providers/hyperv/data
        int page_size = 100;
        double delay = 0;    // seconds each request stalls...
        int delay_after = 0; // ...after this many prompt ones
        bool drop_contexts = false;
        bool drop_idle = false;    // close each connection after one reply, silently
        int job_polls = -1;        // Gets before a job ends (-1: the world's value)
        std::string method_return; // METHOD=CODE: return CODE instead of a job
        bool plain_http = false;
        bool client_ca = false; // require client certificates (certificate auth)
        std::string cert;       // default: TestPki::server_cert
        std::string key;
    };

    explicit WsmanServer(const Options& options);
    WsmanServer() : WsmanServer(Options{}) {}
    ~WsmanServer();
    WsmanServer(const WsmanServer&) = delete;
    WsmanServer& operator=(const WsmanServer&) = delete;

    [[nodiscard]] int port() const { return port_; }
    /// `https://127.0.0.1:PORT/wsman` (or http:// for a plain server).
    [[nodiscard]] std::string url(const std::string& host = "127.0.0.1") const;
    /// The request log: one line per request (`Enumerate URI`, `Pull URI`, `FAULT ...`).
    [[nodiscard]] std::string log() const;

    /// Settings for this server: basic auth and the server's certificate as CA.
    [[nodiscard]] providers::hyperv::HypervSettings settings() const;
    /// A provider spec with settings().
    [[nodiscard]] providers::ProviderSpec spec() const { return spec_with(settings()); }
    /// A provider spec `hv-test` with `settings` and short timeouts.
    [[nodiscard]] static providers::ProviderSpec
    spec_with(providers::hyperv::HypervSettings settings);

private:
    pid_t pid_ = -1;
    int stdin_fd_ = -1;
    int port_ = 0;
    bool tls_ = true;
    std::string dir_;
};

/// Reads a whole file ("" if missing).
std::string read_file(const std::string& path);

} // namespace snapgov::test
