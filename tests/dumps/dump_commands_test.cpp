#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dumps/dump_commands.hpp"
#include "tests/support/files.hpp"
#include "tests/support/support.hpp"

using namespace snapgov::dumps;
namespace test = snapgov::testing;
namespace fs = std::filesystem;

namespace {

struct Fixture {
    test::TempDir dir;
    std::string key = dir.file("id.key");
    std::string recipient;
    Fixture() {
        auto id = X25519Identity::generate();
        REQUIRE(id);
        const std::string text = "# test key\n" + id->to_string() + "\n";
        test::write_file(key, {text.begin(), text.end()}, 0600);
        recipient = id->recipient().to_string();
    }
};

std::size_t entries(const std::string& dir) {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
        (void)e;
        ++n;
    }
    return n;
}

} // namespace

TEST_CASE("encrypt_file and decrypt_file round-trip with progress", "[commands]") {
    Fixture fx;
    const auto data = test::random_data(9 * 1024 * 1024 + 1);
    const std::string f = fx.dir.file("vm.mem");
    test::write_file(f, data);
    std::uint64_t seen_total = 0;
    std::uint64_t seen_done = 0;
    auto enc = encrypt_file(f, {fx.recipient}, false, fx.dir.file("state"),
                            [&](std::uint64_t done, std::uint64_t total) {
                                seen_done = done;
                                seen_total = total;
                            });
    REQUIRE(enc);
    CHECK(seen_total == data.size());
    CHECK(seen_done == data.size());
    CHECK_FALSE(fs::exists(f));
    auto dec = decrypt_file(f + ".age", fx.key, fx.dir.file("back.mem"));
    REQUIRE(dec);
    CHECK(dec->plaintext_bytes == data.size());
    CHECK(test::read_file(fx.dir.file("back.mem")) == data);
    struct stat st {};
    REQUIRE(::stat(fx.dir.file("back.mem").c_str(), &st) == 0);
    CHECK((st.st_mode & 077) == 0);
}

TEST_CASE("decrypt_file refuses an identity file readable by others", "[commands]") {
    Fixture fx;
    ::chmod(fx.key.c_str(), 0644);
    test::write_file(fx.dir.file("x"), {1});
    REQUIRE(encrypt_file(fx.dir.file("x"), {fx.recipient}, true, fx.dir.file("state")));
    auto r = decrypt_file(fx.dir.file("x.age"), fx.key, fx.dir.file("out"));
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("chmod 600") != std::string::npos);
    CHECK_FALSE(fs::exists(fx.dir.file("out")));
}

TEST_CASE("decrypt_file refuses an identity file another user owns", "[commands]") {
    if (::geteuid() != 0) {
        WARN("not run: needs root to give the key to another user");
        return;
    }
    Fixture fx;
    test::write_file(fx.dir.file("x"), {1});
    REQUIRE(encrypt_file(fx.dir.file("x"), {fx.recipient}, true, fx.dir.file("state")));
    REQUIRE(::chown(fx.key.c_str(), 65534, 65534) == 0); // nobody, mode still 0600
    auto r = decrypt_file(fx.dir.file("x.age"), fx.key, fx.dir.file("out"));
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message,
               Catch::Contains("owned by uid 65534") && Catch::Contains("run chown on it"));
    CHECK_FALSE(fs::exists(fx.dir.file("out")));
}

TEST_CASE("a corrupted or truncated ciphertext leaves no output at all", "[commands]") {
    Fixture fx;
    const auto data = test::random_data(300 * 1024);
    test::write_file(fx.dir.file("x"), data);
    REQUIRE(encrypt_file(fx.dir.file("x"), {fx.recipient}, true, fx.dir.file("state")));
    auto c = test::read_file(fx.dir.file("x.age"));
    fs::create_directories(fx.dir.file("out"));
    SECTION("truncated by one byte") {
        c.pop_back();
    }
    SECTION("missing the final chunk") {
        c.resize(c.size() - (300 * 1024 - 4 * 65536) - 16);
    }
    SECTION("one flipped bit in the last chunk") {
        c[c.size() - 100] ^= 1;
    }
    SECTION("trailing data") {
        c.push_back(0);
    }
    test::write_file(fx.dir.file("bad.age"), c);
    auto r = decrypt_file(fx.dir.file("bad.age"), fx.key, fx.dir.file("out/plain"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == snapgov::ErrorCode::crypto);
    CHECK(entries(fx.dir.file("out")) == 0);
}

TEST_CASE("recipients come from keys or files, and errors name the culprit", "[commands]") {
    Fixture fx;
    const std::string list = "# team\n" + fx.recipient + "\n\nage1notakey\n";
    test::write_file(fx.dir.file("recipients.txt"), {list.begin(), list.end()});
    auto r = parse_recipients({fx.dir.file("recipients.txt")});
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("recipients.txt:4") != std::string::npos);
    auto bad = parse_recipients({"age1xyz"});
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message.find("age1xyz") != std::string::npos);
    CHECK_FALSE(parse_recipients({}));
    auto ok = parse_recipients({fx.recipient, fx.recipient});
    REQUIRE(ok);
    CHECK(ok->size() == 2);
}

TEST_CASE("decrypt_file refuses to overwrite an existing output", "[commands]") {
    Fixture fx;
    test::write_file(fx.dir.file("x"), {1, 2});
    REQUIRE(encrypt_file(fx.dir.file("x"), {fx.recipient}, true, fx.dir.file("state")));
    auto r = decrypt_file(fx.dir.file("x.age"), fx.key, fx.dir.file("x"));
    REQUIRE_FALSE(r);
    CHECK(test::read_file(fx.dir.file("x")) == std::vector<std::uint8_t>{1, 2});
}

TEST_CASE("decrypt_file names an input or identity file that is not a readable file",
          "[commands][errors]") {
    Fixture fx;
    test::write_file(fx.dir.file("x"), {1, 2, 3});
    REQUIRE(encrypt_file(fx.dir.file("x"), {fx.recipient}, true, fx.dir.file("state")));
    REQUIRE(::mkdir(fx.dir.file("folder").c_str(), 0700) == 0);
    REQUIRE(::symlink(fx.dir.file("gone").c_str(), fx.dir.file("dangling").c_str()) == 0);

    SECTION("the input is a folder") {
        auto r = decrypt_file(fx.dir.file("folder"), fx.key, fx.dir.file("out"));
        REQUIRE_FALSE(r);
        CHECK(r.error().code == snapgov::ErrorCode::io);
        CHECK_THAT(r.error().message, Catch::Contains("reading " + fx.dir.file("folder")));
    }
    SECTION("the input is a dangling symlink") {
        auto r = decrypt_file(fx.dir.file("dangling"), fx.key, fx.dir.file("out"));
        REQUIRE_FALSE(r);
        CHECK(r.error().code == snapgov::ErrorCode::not_found);
        CHECK_THAT(r.error().message, Catch::Contains(fx.dir.file("dangling")));
    }
    SECTION("the identity file is a folder") {
        auto r = decrypt_file(fx.dir.file("x.age"), fx.dir.file("folder"), fx.dir.file("out"));
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error().message, Catch::Contains("identity file " + fx.dir.file("folder") +
                                                      " is not a regular file"));
    }
    SECTION("the identity file is a dangling symlink") {
        auto r = decrypt_file(fx.dir.file("x.age"), fx.dir.file("dangling"), fx.dir.file("out"));
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error().message, Catch::Contains("identity file " + fx.dir.file("dangling") +
                                                      " is a symbolic link"));
    }
    SECTION("the identity file is missing") {
        auto r = decrypt_file(fx.dir.file("x.age"), fx.dir.file("nope"), fx.dir.file("out"));
        REQUIRE_FALSE(r);
        CHECK(r.error().code == snapgov::ErrorCode::not_found);
        CHECK_THAT(r.error().message, Catch::Contains(fx.dir.file("nope")));
    }
    SECTION("the identity file cannot be read") {
        if (::geteuid() == 0)
            return; // root reads everything: nothing to provoke
        ::chmod(fx.key.c_str(), 0);
        auto r = decrypt_file(fx.dir.file("x.age"), fx.key, fx.dir.file("out"));
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error().message, Catch::Contains("cannot open identity file " + fx.key));
    }
    CHECK_FALSE(fs::exists(fx.dir.file("out")));
}

TEST_CASE("a recipients file that is a folder is named", "[commands][errors]") {
    test::TempDir dir;
    REQUIRE(::mkdir(dir.file("folder").c_str(), 0700) == 0);
    auto r = parse_recipients({dir.file("folder")});
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("recipients file " + dir.file("folder")));
}

TEST_CASE("a decryption ended by SIGTERM or SIGINT leaves no plaintext behind",
          "[commands][signals]") {
    Fixture fx;
    const auto data = test::random_data(12 * 1024 * 1024 + 5);
    const std::string f = fx.dir.file("vm.mem");
    test::write_file(f, data);
    REQUIRE(encrypt_file(f, {fx.recipient}, false, fx.dir.file("state")));
    const std::string out_dir = fx.dir.file("out");
    REQUIRE(::mkdir(out_dir.c_str(), 0700) == 0);
    for (const int sig : {SIGTERM, SIGINT}) {
        INFO("signal " << sig);
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            // As in the snapgov process: the signal's default action (not the test runner's).
            ::signal(sig, SIG_DFL);
            auto r = decrypt_file(f + ".age", fx.key, out_dir + "/vm.mem",
                                  [sig](std::uint64_t done, std::uint64_t) {
                                      if (done > 0)
                                          ::kill(::getpid(), sig); // part-way through
                                  });
            ::_exit(r ? 0 : 1);
        }
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        REQUIRE(WIFSIGNALED(status));
        CHECK(WTERMSIG(status) == sig);
        // Neither the output nor a partial file with plaintext in it.
        std::vector<std::string> left;
        for (const auto& e : fs::directory_iterator(out_dir))
            left.push_back(e.path().string());
        CHECK(left.empty());
    }
}
