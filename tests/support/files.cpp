#include "tests/support/files.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>
#include <sys/stat.h>
#include <sys/wait.h>

#include <openssl/evp.h>

namespace snapgov::testing {

std::vector<std::uint8_t> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot read " + path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, const std::vector<std::uint8_t>& data, unsigned mode) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size()));
    out.close();
    if (!out)
        throw std::runtime_error("cannot write " + path);
    ::chmod(path.c_str(), mode);
}

std::vector<std::uint8_t> random_data(std::size_t size) {
    static std::mt19937_64 rng(std::random_device{}());
    std::vector<std::uint8_t> out(size);
    for (auto& b : out)
        b = static_cast<std::uint8_t>(rng());
    return out;
}

namespace {
std::string hex(const unsigned char* p, std::size_t n) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += digits[p[i] >> 4];
        out += digits[p[i] & 15];
    }
    return out;
}
} // namespace

std::string sha256_hex(const std::vector<std::uint8_t>& data) {
    std::array<unsigned char, 32> md{};
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr);
    return hex(md.data(), md.size());
}

std::string sha256_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot read " + path);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    std::vector<char> buf(4 << 20);
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        EVP_DigestUpdate(ctx, buf.data(), static_cast<std::size_t>(in.gcount()));
    }
    std::array<unsigned char, 32> md{};
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, md.data(), &len);
    EVP_MD_CTX_free(ctx);
    return hex(md.data(), md.size());
}

int run(const std::string& command) {
    const int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string run_output(const std::string& command) {
    std::string out;
    FILE* p = ::popen(command.c_str(), "r");
    if (!p)
        return out;
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0)
        out.append(buf.data(), n);
    ::pclose(p);
    return out;
}

AgeKeyFile age_keygen(const std::string& identity_file) {
    AgeKeyFile key{identity_file, {}};
    if (run("age-keygen -o '" + identity_file + "' 2>/dev/null") != 0) {
        throw std::runtime_error("age-keygen -o " + identity_file + " failed");
    }
    key.recipient = run_output("age-keygen -y '" + identity_file + "'");
    while (!key.recipient.empty() && key.recipient.back() == '\n') {
        key.recipient.pop_back();
    }
    if (key.recipient.empty()) {
        throw std::runtime_error("age-keygen -y " + identity_file + " printed no recipient");
    }
    return key;
}

} // namespace snapgov::testing
