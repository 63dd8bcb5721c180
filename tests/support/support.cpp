#include "tests/support/support.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <stdexcept>

namespace snapgov::testing {
namespace fs = std::filesystem;

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

TempDir::TempDir(const std::string& prefix) {
    std::string tmpl = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (mkdtemp(tmpl.data()) == nullptr) {
        throw std::runtime_error("mkdtemp failed for " + tmpl);
    }
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

fs::path TempDir::write(const std::string& name, const std::string& text) const {
    const auto p = path_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p;
}

std::string slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Run run_command(const std::string& command) {
    const TempDir dir("snapgov-run");
    const auto err = dir.path() / "stderr";
    Run r;
    FILE* pipe = popen((command + " 2>" + err.string()).c_str(), "r");
    if (pipe == nullptr) {
        throw std::runtime_error("popen failed for: " + command);
    }
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) {
        r.out.append(buf.data(), n);
    }
    const int status = pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.err = slurp(err);
    return r;
}

std::string write_dump(const std::string& path, std::size_t size, bool magic) {
    fs::create_directories(fs::path(path).parent_path());
    std::mt19937_64 rng(std::random_device{}());
    std::string data = magic ? "LibvirtQemudSave" : "just some file!!";
    while (data.size() < size) {
        data.push_back(static_cast<char>(rng() & 0xff));
    }
    data.resize(size);
    std::ofstream(path, std::ios::binary) << data;
    fs::last_write_time(path, fs::file_time_type::clock::now() - std::chrono::hours(2));
    return data;
}

} // namespace snapgov::testing
