#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <random>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dumps/age_stream.hpp"
#include "dumps/protect.hpp"
#include "dumps/unique_fd.hpp"
#include "test_util.hpp"

using namespace snapgov::dumps;
namespace fs = std::filesystem;

namespace {

bool exists(const std::string& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0;
}

// Decrypts `path` with `id`; nullopt if it does not decrypt cleanly.
std::optional<std::vector<std::uint8_t>> decrypt(const std::string& path,
                                                 const X25519Identity& id) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY));
    if (!fd.valid())
        return std::nullopt;
    std::vector<std::uint8_t> out;
    std::vector<X25519Identity> ids{id};
    auto r = age_decrypt(
        fd.get(),
        [&](std::span<const std::uint8_t> d) -> snapgov::Result<void> {
            out.insert(out.end(), d.begin(), d.end());
            return {};
        },
        ids);
    if (!r)
        return std::nullopt;
    return out;
}

std::size_t journal_count(const std::string& dir) {
    std::size_t n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        (void)e;
        ++n;
    }
    return n;
}

} // namespace

TEST_CASE("protect encrypts, verifies, then wipes the plaintext", "[protect]") {
    test::TempDir dir;
    auto id = X25519Identity::generate();
    REQUIRE(id);
    const std::string f = dir.file("vm.mem");
    const auto data = test::random_data(1024 * 1024 + 3);
    test::write_file(f, data);
    ProtectOptions opt;
    opt.recipients = {id->recipient()};
    opt.state_dir = dir.file("state");
    std::uint64_t progress = 0;
    opt.progress = [&](std::uint64_t done) { progress = done; };
    auto r = protect_file(f, opt);
    REQUIRE(r);
    CHECK_FALSE(exists(f));
    CHECK_FALSE(exists(f + ".age.partial"));
    CHECK(r->ciphertext_path == f + ".age");
    CHECK(r->wipe.has_value());
    CHECK(progress == data.size());
    CHECK(test::sha256_hex(test::read_file(f + ".age")) == r->ciphertext_sha256);
    CHECK(decrypt(f + ".age", *id) == data);
    CHECK(journal_count(opt.state_dir) == 0);
}

TEST_CASE("protect with keep leaves the plaintext, and refuses to overwrite a .age", "[protect]") {
    test::TempDir dir;
    auto id = X25519Identity::generate();
    REQUIRE(id);
    const std::string f = dir.file("vm.mem");
    const auto data = test::random_data(5000);
    test::write_file(f, data);
    ProtectOptions opt;
    opt.recipients = {id->recipient()};
    opt.state_dir = dir.file("state");
    opt.keep_plaintext = true;
    REQUIRE(protect_file(f, opt));
    CHECK(test::read_file(f) == data);
    CHECK(decrypt(f + ".age", *id) == data);
    auto again = protect_file(f, opt);
    REQUIRE_FALSE(again);
    CHECK(again.error().message.find("already exists") != std::string::npos);
    CHECK(test::read_file(f) == data);
}

TEST_CASE("protect refuses symlinks, hard links and pending operations", "[protect]") {
    test::TempDir dir;
    auto id = X25519Identity::generate();
    REQUIRE(id);
    const std::string f = dir.file("vm.mem");
    test::write_file(f, test::random_data(100));
    ProtectOptions opt;
    opt.recipients = {id->recipient()};
    opt.state_dir = dir.file("state");
    REQUIRE(::symlink(f.c_str(), dir.file("link").c_str()) == 0);
    CHECK_FALSE(protect_file(dir.file("link"), opt));
    REQUIRE(::link(f.c_str(), dir.file("hard").c_str()) == 0);
    CHECK_FALSE(protect_file(f, opt));
    ::unlink(dir.file("hard").c_str());
    test::write_file(f + ".age.partial", {1, 2, 3});
    auto pending = protect_file(f, opt);
    REQUIRE_FALSE(pending);
    CHECK(pending.error().message.find("recover") != std::string::npos);
    CHECK(exists(f));
}

TEST_CASE("kill -9 at random points never loses the dump", "[protect][crash]") {
    auto id = X25519Identity::generate();
    REQUIRE(id);
    const auto data = test::random_data(4 * 1024 * 1024 + 123);
    const std::string want = test::sha256_hex(data);
    test::TempDir root;
    ProtectOptions opt;
    opt.recipients = {id->recipient()};

    auto run_child = [&](const std::string& file, const std::string& state) -> pid_t {
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ProtectOptions o = opt;
            o.state_dir = state;
            auto r = protect_file(file, o);
            ::_exit(r ? 0 : 1);
        }
        return pid;
    };

    // Time one uninterrupted run to spread the kill points over its whole length.
    const auto t0 = std::chrono::steady_clock::now();
    {
        const std::string f = root.file("calibrate.mem");
        test::write_file(f, data);
        const pid_t pid = run_child(f, root.file("calibrate-state"));
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        REQUIRE(WIFEXITED(status));
        REQUIRE(WEXITSTATUS(status) == 0);
    }
    const auto full_us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count();

    std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<long> delay(0, full_us * 11 / 10);
    int rolled_back = 0;
    int completed = 0;
    int untouched = 0;
    const int kRounds = 60;
    for (int i = 0; i < kRounds; ++i) {
        const std::string d = root.file("round" + std::to_string(i));
        fs::create_directories(d);
        const std::string f = d + "/vm.mem";
        const std::string state = d + "/state";
        test::write_file(f, data);
        const long us = delay(rng);
        const pid_t pid = run_child(f, state);
        ::usleep(static_cast<useconds_t>(us));
        ::kill(pid, SIGKILL);
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        INFO("round " << i << ", killed after " << us << " us of ~" << full_us);

        auto actions = recover(state);
        REQUIRE(actions);
        for (const auto& a : *actions) {
            INFO(a.detail);
            CHECK(a.outcome != RecoveryAction::Outcome::needs_attention);
            if (a.outcome == RecoveryAction::Outcome::rolled_back)
                ++rolled_back;
            if (a.outcome == RecoveryAction::Outcome::completed)
                ++completed;
        }
        if (actions->empty())
            ++untouched;
        CHECK(journal_count(state) == 0);
        CHECK_FALSE(exists(f + ".age.partial"));
        const bool plain = exists(f);
        const bool cipher = exists(f + ".age");
        // Exactly one form of the dump survives, and it is the original.
        CHECK(plain != cipher);
        if (plain)
            CHECK(test::sha256_hex(test::read_file(f)) == want);
        if (cipher) {
            auto out = decrypt(f + ".age", *id);
            REQUIRE(out.has_value());
            CHECK(test::sha256_hex(*out) == want);
        }
        fs::remove_all(d);
    }
    WARN("kill points: " << rolled_back << " rolled back, " << completed << " completed, "
                         << untouched << " with no journal; full run " << full_us << " us");
    CHECK(rolled_back + completed + untouched == kRounds);
    CHECK(rolled_back > 0);
}
