#include "tests/providers/hyperv/server_fixture.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace snapgov::test {
namespace {

namespace fs = std::filesystem;

std::string make_temp_dir(const char* tag) {
    std::string pattern = (fs::temp_directory_path() / (std::string(tag) + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error("mkdtemp failed");
    }
    return pattern;
}

void run(const std::string& command) {
    if (std::system((command + " >/dev/null 2>&1").c_str()) != 0) {
        throw std::runtime_error("test setup command failed: " + command);
    }
}

void self_signed(const std::string& dir, const std::string& name, const std::string& cn,
                 const std::string& san) {
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
        " -keyout '" +
        dir + "/" + name + ".key' -out '" + dir + "/" + name +
        ".pem'"
        " -subj '/CN=" +
        cn + "' -addext 'subjectAltName=" + san + "'");
    ::chmod((dir + "/" + name + ".key").c_str(), 0600);
}

struct PkiHolder {
    TestPki pki;
    PkiHolder() {
        pki.dir = make_temp_dir("snapgov-hyperv-pki");
        const auto& d = pki.dir;
        self_signed(d, "server", "127.0.0.1", "IP:127.0.0.1,DNS:localhost");
        self_signed(d, "other", "127.0.0.1", "IP:127.0.0.1,DNS:localhost");
        self_signed(d, "wrong", "wrong.example", "DNS:wrong.example");
        self_signed(d, "client", "svc-snapgov", "DNS:svc-snapgov");
        pki.server_cert = d + "/server.pem";
        pki.server_key = d + "/server.key";
        pki.other_cert = d + "/other.pem";
        pki.other_key = d + "/other.key";
        pki.wrong_name_cert = d + "/wrong.pem";
        pki.wrong_name_key = d + "/wrong.key";
        pki.client_cert = d + "/client.pem";
        pki.client_key = d + "/client.key";
        pki.password_file = d + "/password";
        {
            std::ofstream out(pki.password_file);
            out << kPassword << "\n";
        }
        ::chmod(pki.password_file.c_str(), 0600);
    }
    ~PkiHolder() {
        std::error_code ec;
        fs::remove_all(pki.dir, ec);
    }
    PkiHolder(const PkiHolder&) = delete;
    PkiHolder& operator=(const PkiHolder&) = delete;
};

} // namespace

const TestPki& TestPki::get() {
    static PkiHolder holder;
    return holder.pki;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

WsmanServer::WsmanServer(const Options& options) : tls_(!options.plain_http) {
    const auto& pki = TestPki::get();
    dir_ = make_temp_dir("snapgov-hyperv-server");
    const std::string data = std::string(SNAPGOV_HYPERV_TEST_DIR) + "/data/";
    std::vector<std::string> args = {
        "/usr/bin/python3",
        std::string(SNAPGOV_HYPERV_TEST_DIR) + "/wsman_server.py",
        "--world",
        data + options.world,
        "--password-file",
        pki.password_file,
        "--user",
        kUser,
        "--port-file",
        dir_ + "/port",
        "--log",
        dir_ + "/requests.log",
        "--page-size",
        std::to_string(options.page_size),
        "--delay",
        std::to_string(options.delay),
        "--delay-after",
        std::to_string(options.delay_after),
        "--max-lifetime",
        "120",
    };
    if (!options.plain_http) {
        args.insert(args.end(), {"--cert", options.cert.empty() ? pki.server_cert : options.cert,
                                 "--key", options.key.empty() ? pki.server_key : options.key});
    }
    if (options.drop_contexts) {
        args.emplace_back("--drop-contexts");
    }
    if (options.drop_idle) {
        args.emplace_back("--drop-idle");
    }
    if (options.job_polls >= 0) {
        args.insert(args.end(), {"--job-polls", std::to_string(options.job_polls)});
    }
    if (!options.method_return.empty()) {
        args.insert(args.end(), {"--method-return", options.method_return});
    }
    if (options.client_ca) {
        args.insert(args.end(), {"--client-ca", pki.client_cert});
    }

    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    const std::string out_path = dir_ + "/stdout";
    const std::string err_path = dir_ + "/stderr";

    // Close-on-exec, so servers started later do not hold this server's stdin open.
    int in_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0) {
        throw std::runtime_error("pipe failed");
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
        throw std::runtime_error("fork failed");
    }
    if (pid == 0) {
        // Child: stdin is the pipe (EOF = parent gone), stdout/stderr to files.
        ::dup2(in_pipe[0], 0);
        ::close(in_pipe[0]);
        ::close(in_pipe[1]);
        const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(out, 1);
        ::dup2(err, 2);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(in_pipe[0]);
    stdin_fd_ = in_pipe[1];
    pid_ = pid;

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
        const auto text = read_file(dir_ + "/port");
        if (!text.empty() && text.back() == '\n') {
            port_ = std::stoi(text);
            return;
        }
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("wsman_server.py exited: " + read_file(dir_ + "/stderr"));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("wsman_server.py did not start within 15 s");
}

WsmanServer::~WsmanServer() {
    if (stdin_fd_ >= 0) {
        ::close(stdin_fd_);
    }
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        int status = 0;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

std::string WsmanServer::url(const std::string& host) const {
    return std::string(tls_ ? "https://" : "http://") + host + ":" + std::to_string(port_) +
           "/wsman";
}

std::string WsmanServer::log() const {
    return read_file(dir_ + "/requests.log");
}

providers::hyperv::HypervSettings WsmanServer::settings() const {
    const auto& pki = TestPki::get();
    providers::hyperv::HypervSettings settings;
    settings.endpoint_url = url();
    settings.auth.method = "basic";
    settings.auth.username = kUser;
    settings.auth.password_file = pki.password_file;
    settings.tls.ca_file = pki.server_cert;
    settings.insecure_http = !tls_;
    return settings;
}

providers::ProviderSpec WsmanServer::spec_with(providers::hyperv::HypervSettings settings) {
    providers::ProviderSpec spec;
    spec.name = "hv-test";
    spec.type = "hyperv";
    spec.settings = std::make_shared<providers::hyperv::HypervSettings>(std::move(settings));
    spec.connect_timeout = Seconds{5};
    spec.read_timeout = Seconds{10};
    spec.origin = "test.yaml:1:3";
    return spec;
}

} // namespace snapgov::test
