// RFC 5929 tls-server-end-point: the channel-binding data of a server certificate, checked
// against certificates and hashes that the openssl tool makes.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "providers/hyperv/negotiator.hpp"

using snapgov::providers::hyperv::tls_server_end_point;

namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void run(const std::string& command) {
    INFO(command);
    REQUIRE(std::system((command + " >/dev/null 2>&1").c_str()) == 0);
}

} // namespace

TEST_CASE("tls-server-end-point hashes with the signature's hash, SHA-256 for MD5, SHA-1 and "
          "EdDSA",
          "[negotiate]") {
    struct Case {
        const char* key;    // openssl req -newkey
        const char* sign;   // the signature's digest option, "" for EdDSA
        const char* expect; // the digest RFC 5929 asks for
    };
    const Case cases[] = {
        {"ec -pkeyopt ec_paramgen_curve:prime256v1", "-sha256", "sha256"},
        {"ec -pkeyopt ec_paramgen_curve:secp384r1", "-sha384", "sha384"},
        {"rsa:2048", "-sha512", "sha512"},
        {"rsa:2048", "-sha1", "sha256"},
        {"rsa:2048", "-md5", "sha256"},
        {"ed25519", "", "sha256"},
    };
    std::string dir = (fs::temp_directory_path() / "snapgov-cbt-XXXXXX").string();
    REQUIRE(::mkdtemp(dir.data()) != nullptr);
    for (const auto& c : cases) {
        SECTION(std::string(c.key) + " " + c.sign) {
            run("openssl req -x509 -newkey " + std::string(c.key) + " -nodes -days 1 " + c.sign +
                " -subj /CN=cbt -keyout '" + dir + "/key.pem' -out '" + dir + "/cert.pem'");
            run("openssl x509 -in '" + dir + "/cert.pem' -outform DER -out '" + dir + "/cert.der'");
            run("openssl dgst -" + std::string(c.expect) + " -binary -out '" + dir + "/hash' '" +
                dir + "/cert.der'");
            auto data = tls_server_end_point(slurp(dir + "/cert.der"));
            REQUIRE(data);
            CHECK(*data == "tls-server-end-point:" + slurp(dir + "/hash"));
        }
    }
    SECTION("bytes that are not a certificate are an error") {
        auto data = tls_server_end_point("not DER");
        REQUIRE_FALSE(data);
        CHECK_THAT(data.error().message, Catch::Contains("cannot parse the host's certificate"));
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
}
