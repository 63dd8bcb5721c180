// Files a configuration names: one rule, checked at load and at use.
#include <catch2/catch.hpp>

#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

#include "core/checked_file.hpp"
#include "core/config_section.hpp"
#include "tests/support/support.hpp"

using namespace snapgov;
using snapgov::testing::kNobody;
using snapgov::testing::TempDir;

namespace {

std::string write(const TempDir& dir, const std::string& name, const std::string& text,
                  mode_t mode) {
    const auto path = dir.write(name, text).string();
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    return path;
}

std::string refusal(const std::string& path, const FileRule& rule) {
    const auto r = check_file(path, rule);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::config);
    return r.error().message;
}

} // namespace

TEST_CASE("a named file must exist and be a regular file of bounded size", "[core][files]") {
    TempDir dir("snapgov-files");
    CHECK(check_file(write(dir, "ca.pem", "PEM", 0644), kCertificateFile));
    CHECK_THAT(refusal(dir.str("missing"), kCertificateFile),
               Catch::StartsWith("'" + dir.str("missing") + "' does not exist"));
    // The directory that passed `policy check` and then crashed every command.
    CHECK(refusal(dir.path().string(), kSecretFile) ==
          "'" + dir.path().string() + "' is a directory; give the path of a file");
    REQUIRE(::mkfifo(dir.str("fifo").c_str(), 0600) == 0);
    CHECK_THAT(refusal(dir.str("fifo"), kSecretFile), Catch::Contains("is not a regular file"));
    CHECK_THAT(refusal("/dev/zero", kCertificateFile), Catch::Contains("is not a regular file"));
    const auto big = write(dir, "big.pem", std::string(100, 'x'), 0644);
    CHECK_THAT(refusal(big, FileRule{false, 99}),
               Catch::Contains("is 100 bytes, more than the 99 accepted"));
}

TEST_CASE("secrets: one rule for owner, mode and content", "[core][files]") {
    TempDir dir("snapgov-files");
    CHECK(check_file(write(dir, "ok.pass", "hunter2\n", 0600), kSecretFile));
    CHECK(check_file(write(dir, "ro.pass", "hunter2\n", 0400), kSecretFile));
    // 0640 was refused for a password file and accepted for a TLS key: now for every secret.
    for (const mode_t mode : {0640, 0604, 0660, 0644}) {
        CAPTURE(mode);
        const auto path = write(dir, "loose", "hunter2\n", mode);
        const auto message = refusal(path, kSecretFile);
        CHECK_THAT(message, Catch::Contains("accessible by group or others") &&
                                Catch::Contains("run chmod 600 on it"));
        CHECK_THAT(message, !Catch::Contains("hunter2"));
        CHECK(check_file(path, kCertificateFile)); // a certificate is no secret
    }
    // Mode 0600 but owned by another user, who could replace the secret: refused.
    const auto foreign = write(dir, "foreign.pass", "hunter2\n", 0600);
    REQUIRE(::chown(foreign.c_str(), kNobody, kNobody) == 0);
    if (::geteuid() != kNobody) {
        CHECK_THAT(refusal(foreign, kSecretFile),
                   Catch::Contains("owned by uid 65534") && Catch::Contains("run chown"));
    }
    CHECK_THAT(refusal(write(dir, "empty.pass", "", 0600), kSecretFile),
               Catch::Contains("is empty"));
}

TEST_CASE("read_checked_file applies the same rule, then reads", "[core][files]") {
    TempDir dir("snapgov-files");
    CHECK(read_checked_file(write(dir, "ok.pass", "s3cret\n", 0600), kSecretFile).value() ==
          "s3cret\n");
    CHECK_FALSE(read_checked_file(write(dir, "loose", "s3cret\n", 0640), kSecretFile));
    CHECK_FALSE(read_checked_file(dir.path().string(), kSecretFile));
}

TEST_CASE("a file a config names is checked at its key", "[core][files][config]") {
    TempDir dir("snapgov-files");
    write(dir, "key.pem", "KEY", 0640);
    ConfigFile file(dir.str("policy.yaml"), "auth:\n"
                                            "  key_file: ${CONFIG_DIR}/key.pem\n"
                                            "  password_file: ${CONFIG_DIR}\n");
    const auto root = ConfigSection::root(file);
    REQUIRE(root);
    const auto auth = root->section("auth");
    REQUIRE(auth);
    CHECK_FALSE(auth->file_path("key_file", kSecretFile));
    CHECK_FALSE(auth->file_path("password_file", kSecretFile));
    CHECK_FALSE(auth->file_path("absent", kSecretFile));
    REQUIRE(file.error_count() == 2);
    CHECK(file.diagnostics()[0].format() ==
          dir.str("policy.yaml") + ":2:13: error: 'key_file': '" + dir.str("key.pem") +
              "' holds a secret but is accessible by group or others (mode 0640); run chmod 600 "
              "on it");
    CHECK(file.diagnostics()[1].format() ==
          dir.str("policy.yaml") + ":3:18: error: 'password_file': '" + dir.path().string() +
              "' is a directory; give the path of a file");
}
