#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <random>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dumps/age_stream.hpp"
#include "dumps/protect.hpp"
#include "dumps/unique_fd.hpp"
#include "tests/support/files.hpp"
#include "tests/support/support.hpp"

using namespace snapgov::dumps;
namespace test = snapgov::testing;
using snapgov::testing::exists;
using snapgov::testing::kNobody;
namespace fs = std::filesystem;

namespace {

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

// Random bytes that start with a libvirt save header, as a memory dump does: recovery wipes
// nothing else.
std::vector<std::uint8_t> dump_data(std::size_t size) {
    auto data = test::random_data(size);
    const std::string magic = "LibvirtQemudSave";
    std::copy(magic.begin(), magic.end(), data.begin());
    return data;
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
    CHECK(test::sha256_hex(data) == r->plaintext_sha256);
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
    const auto data = dump_data(4 * 1024 * 1024 + 123);
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
    int interrupted_wipe = 0;
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
        if (actions->size() == 1 &&
            actions->front().outcome == RecoveryAction::Outcome::needs_attention &&
            actions->front().detail.find("no memory-dump signature") != std::string::npos) {
            // Killed after the wipe zeroed the first block (it goes last), before the unlink:
            // recovery does not wipe a file it cannot identify, so it asks for a person. The
            // plaintext is zeros by then and the complete ciphertext holds the dump.
            const auto left = test::read_file(f);
            CHECK(std::all_of(left.begin(), left.end(), [](std::uint8_t b) { return b == 0; }));
            auto out = decrypt(f + ".age", *id);
            REQUIRE(out.has_value());
            CHECK(test::sha256_hex(*out) == want);
            ++interrupted_wipe;
            fs::remove_all(d);
            continue;
        }
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
                         << untouched << " with no journal, " << interrupted_wipe
                         << " between the last overwrite and the unlink; full run " << full_us
                         << " us");
    CHECK(rolled_back + completed + untouched + interrupted_wipe == kRounds);
    CHECK(rolled_back > 0);
}

namespace {

// Flips one bit of the byte at `offset` (from the end when negative) of `path`, in place.
void flip_byte(const std::string& path, long offset) {
    auto bytes = test::read_file(path);
    REQUIRE(!bytes.empty());
    const auto at = offset >= 0 ? static_cast<std::size_t>(offset)
                                : bytes.size() - static_cast<std::size_t>(-offset);
    REQUIRE(at < bytes.size());
    bytes[at] ^= 0x01;
    UniqueFd fd(::open(path.c_str(), O_WRONLY));
    REQUIRE(fd.valid());
    REQUIRE(::pwrite(fd.get(), bytes.data() + at, 1, static_cast<off_t>(at)) == 1);
    REQUIRE(::fsync(fd.get()) == 0);
}

} // namespace

TEST_CASE("read-back verification accepts the written file and rejects any change",
          "[protect][readback]") {
    test::TempDir dir;
    auto id = X25519Identity::generate();
    REQUIRE(id);
    std::vector<X25519Recipient> to{id->recipient()};
    // Sizes: empty, one partial chunk, an exact chunk multiple, several batches (batch of 2).
    for (std::size_t size :
         {std::size_t{0}, std::size_t{100}, std::size_t{2 * 65536}, std::size_t{5 * 65536 + 7}}) {
        INFO("plaintext size " << size);
        const std::string in_path = dir.file("in");
        const std::string out_path = dir.file("out.age");
        const auto plaintext = test::random_data(size);
        test::write_file(in_path, plaintext);
        UniqueFd in(::open(in_path.c_str(), O_RDONLY));
        UniqueFd out(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600));
        REQUIRE(in.valid());
        REQUIRE(out.valid());
        AgeStreamOptions so;
        so.batch_chunks = 2;
        auto enc = age_encrypt(in.get(), out.get(), to, so);
        REQUIRE(enc);
        REQUIRE(enc->readback);
        std::string digest;
        for (auto b : enc->ciphertext_sha256) {
            static const char* kHex = "0123456789abcdef";
            digest += kHex[b >> 4];
            digest += kHex[b & 15];
        }
        CHECK(test::sha256_hex(test::read_file(out_path)) == digest);
        // The plaintext's hash, computed while sealing batch by batch (2 chunks each here).
        std::string plain_digest;
        for (auto b : enc->plaintext_sha256) {
            static const char* kHex = "0123456789abcdef";
            plain_digest += kHex[b >> 4];
            plain_digest += kHex[b & 15];
        }
        CHECK(test::sha256_hex(plaintext) == plain_digest);
        auto verify = [&] {
            UniqueFd fd(::open(out_path.c_str(), O_RDONLY));
            REQUIRE(fd.valid());
            return age_verify_readback(fd.get(), *enc->readback, so);
        };
        CHECK(verify());
        const auto good = test::read_file(out_path);

        for (long at : {10L, static_cast<long>(good.size() / 2), -1L, -17L}) {
            test::write_file(out_path, good);
            flip_byte(out_path, at);
            auto r = verify();
            REQUIRE_FALSE(r);
            CHECK(r.error().code == snapgov::ErrorCode::verification);
        }
        auto truncated = good;
        truncated.pop_back();
        test::write_file(out_path, truncated);
        CHECK_FALSE(verify());
        auto longer = good;
        longer.push_back(0);
        test::write_file(out_path, longer);
        CHECK_FALSE(verify());
        // Longer by a whole 4 KiB block, and cut at a block boundary inside the payload.
        longer = good;
        longer.resize(good.size() + 4096, 0);
        test::write_file(out_path, longer);
        CHECK_FALSE(verify());
        if (good.size() > 8192) {
            truncated = good;
            truncated.resize(8192);
            test::write_file(out_path, truncated);
            CHECK_FALSE(verify());
        }
    }
}

TEST_CASE("a corrupted byte in the written ciphertext is caught before the plaintext is wiped",
          "[protect][readback]") {
    test::TempDir dir;
    auto id = X25519Identity::generate();
    REQUIRE(id);
    const std::string f = dir.file("vm.mem");
    const auto data = test::random_data(3 * 1024 * 1024 + 5);
    ProtectOptions opt;
    opt.recipients = {id->recipient()};
    opt.state_dir = dir.file("state");
    // A byte in the header, in a middle chunk, and in the final chunk's tag.
    for (long at : {20L, 1024L * 1024L, -1L}) {
        INFO("corrupted offset " << at);
        test::write_file(f, data);
        bool corrupted = false;
        opt.before_readback = [&](const std::string& c) {
            flip_byte(c, at);
            corrupted = true;
        };
        auto r = protect_file(f, opt);
        CHECK(corrupted);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == snapgov::ErrorCode::verification);
        CHECK(test::read_file(f) == data);
        CHECK_FALSE(exists(f + ".age"));
        CHECK_FALSE(exists(f + ".age.partial"));
        CHECK(journal_count(opt.state_dir) == 0);
    }
}

TEST_CASE("a run killed before its read-back is completed by recovery, or rolled back if the "
          "ciphertext was damaged",
          "[protect][readback]") {
    auto id = X25519Identity::generate();
    REQUIRE(id);
    const auto data = dump_data(2 * 1024 * 1024 + 11);
    for (bool damage : {false, true}) {
        INFO("ciphertext damaged: " << damage);
        test::TempDir dir;
        const std::string f = dir.file("vm.mem");
        const std::string state = dir.file("state");
        test::write_file(f, data);
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ProtectOptions o;
            o.recipients = {id->recipient()};
            o.state_dir = state;
            o.before_readback = [&](const std::string& c) {
                if (damage)
                    flip_byte(c, 70000);
                ::raise(SIGKILL);
            };
            auto r = protect_file(f, o);
            ::_exit(r ? 0 : 1);
        }
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        REQUIRE(WIFSIGNALED(status));
        CHECK(exists(f + ".age"));
        CHECK(journal_count(state) == 1);

        auto actions = recover(state);
        REQUIRE(actions);
        REQUIRE(actions->size() == 1);
        INFO((*actions)[0].detail);
        CHECK(journal_count(state) == 0);
        if (damage) {
            CHECK((*actions)[0].outcome == RecoveryAction::Outcome::rolled_back);
            CHECK(test::read_file(f) == data);
            CHECK_FALSE(exists(f + ".age"));
        } else {
            CHECK((*actions)[0].outcome == RecoveryAction::Outcome::completed);
            CHECK_FALSE(exists(f));
            CHECK(decrypt(f + ".age", *id) == data);
        }
    }
}

TEST_CASE("protect refuses a folder or a dangling symlink, naming the path", "[protect][errors]") {
    test::TempDir dir;
    auto id = X25519Identity::generate();
    REQUIRE(id);
    ProtectOptions opt;
    opt.recipients = {id->recipient()};
    opt.state_dir = dir.file("state");
    REQUIRE(::mkdir(dir.file("folder").c_str(), 0700) == 0);
    auto folder = protect_file(dir.file("folder"), opt);
    REQUIRE_FALSE(folder);
    CHECK_THAT(folder.error().message,
               Catch::Contains(dir.file("folder")) && Catch::Contains("not a regular file"));
    REQUIRE(::symlink(dir.file("gone").c_str(), dir.file("dangling").c_str()) == 0);
    auto dangling = protect_file(dir.file("dangling"), opt);
    REQUIRE_FALSE(dangling);
    CHECK_THAT(dangling.error().message,
               Catch::Contains(dir.file("dangling")) && Catch::Contains("symbolic link"));
    CHECK(journal_count(opt.state_dir) == 0);
}

TEST_CASE("a state directory that is a file is named, and the dump is left alone",
          "[protect][errors]") {
    test::TempDir dir;
    auto id = X25519Identity::generate();
    REQUIRE(id);
    const std::string f = dir.file("vm.mem");
    const auto data = test::random_data(1000);
    test::write_file(f, data);
    test::write_file(dir.file("state"), {1});
    ProtectOptions opt;
    opt.recipients = {id->recipient()};
    opt.state_dir = GENERATE(std::string("state"), std::string("state/below"));
    opt.state_dir = dir.file(opt.state_dir);
    auto r = protect_file(f, opt);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == snapgov::ErrorCode::io);
    CHECK_THAT(r.error().message, Catch::Contains("state directory " + opt.state_dir));
    CHECK(test::read_file(f) == data);
    CHECK_FALSE(exists(f + ".age"));
}

TEST_CASE("recovery names a state directory that is a file", "[protect][errors]") {
    test::TempDir dir;
    test::write_file(dir.file("state"), {1});
    auto r = recover(dir.file("state"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == snapgov::ErrorCode::io);
    CHECK_THAT(r.error().message, Catch::Contains("state directory " + dir.file("state")));
}

TEST_CASE("recovery leaves an unreadable or malformed journal for attention, naming it",
          "[protect][errors]") {
    test::TempDir dir;
    const std::string state = dir.file("state");
    REQUIRE(::mkdir(state.c_str(), 0700) == 0);
    std::string journal;
    std::string expected;
    SECTION("a journal that is a folder") {
        journal = state + "/protect-folder.journal";
        REQUIRE(::mkdir(journal.c_str(), 0700) == 0);
        expected = "reading journal " + journal + " failed";
    }
    SECTION("a negative size (std::stoull read it as 2^64 - 1)") {
        journal = state + "/protect-negative.journal";
        const std::string text = "snapgov-protect-journal=1\nplaintext=" + dir.file("vm.mem") +
                                 "\nciphertext=" + dir.file("vm.mem.age") +
                                 "\npartial=" + dir.file("vm.mem.age.partial") +
                                 "\nkeep=0\nstep=renamed\nplain_dev=1\nplain_ino=2\nplain_size=3\n"
                                 "cipher_size=-1\ncipher_sha256=00\n";
        test::write_file(journal, {text.begin(), text.end()}, 0600);
        expected = "journal " + journal + " has a malformed cipher_size '-1'";
    }
    auto r = recover(state);
    REQUIRE(r);
    REQUIRE(r->size() == 1);
    CHECK(r->front().outcome == RecoveryAction::Outcome::needs_attention);
    CHECK_THAT(r->front().detail, Catch::Contains(expected));
    CHECK(exists(journal));
}

namespace {

// Runs protect_file() on `file` in a child killed just before its read-back: the journal
// then says `renamed` and `file.age` is complete. `damage` flips a ciphertext byte first.
void kill_before_readback(const std::string& file, const std::string& state,
                          const X25519Identity& id, bool damage = false) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ProtectOptions o;
        o.recipients = {id.recipient()};
        o.state_dir = state;
        o.before_readback = [&](const std::string& c) {
            if (damage)
                flip_byte(c, 70000);
            ::raise(SIGKILL);
        };
        auto r = protect_file(file, o);
        ::_exit(r ? 0 : 1);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFSIGNALED(status));
}

std::string journal_for(const std::string& state, const std::string& plaintext) {
    return state + "/protect-" +
           test::sha256_hex({plaintext.begin(), plaintext.end()}).substr(0, 24) + ".journal";
}

} // namespace

TEST_CASE("recovery refuses a state directory or journal that others could have written, and "
          "wipes nothing",
          "[protect][recover][security]") {
    auto id = X25519Identity::generate();
    REQUIRE(id);
    test::TempDir dir;
    const std::string f = dir.file("vm.mem");
    const std::string state = dir.file("state");
    const auto data = dump_data(300 * 1024);
    test::write_file(f, data);
    kill_before_readback(f, state, *id);
    const std::string journal = journal_for(state, f);
    REQUIRE(exists(journal));
    std::string expected;
    std::string path;
    bool whole_dir = false;
    SECTION("a state directory writable by others") {
        REQUIRE(::chmod(state.c_str(), 0777) == 0);
        whole_dir = true;
        path = state;
        expected = "chmod go-w " + state;
    }
    SECTION("a state directory owned by another user") {
        REQUIRE(::chown(state.c_str(), kNobody, kNobody) == 0);
        whole_dir = true;
        path = state;
        expected = "chown 0 " + state;
    }
    SECTION("a journal writable by others") {
        REQUIRE(::chmod(journal.c_str(), 0666) == 0);
        path = journal;
        expected = "chmod go-w " + journal;
    }
    SECTION("a journal owned by another user") {
        REQUIRE(::chown(journal.c_str(), kNobody, kNobody) == 0);
        path = journal;
        expected = "chown 0 " + journal;
    }
    auto r = recover(state);
    if (whole_dir) {
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error().message, Catch::Contains(expected));
    } else {
        REQUIRE(r);
        REQUIRE(r->size() == 1);
        CHECK(r->front().outcome == RecoveryAction::Outcome::needs_attention);
        CHECK_THAT(r->front().detail, Catch::Contains(expected));
    }
    CHECK(exists(journal));
    REQUIRE(exists(f));
    CHECK(test::read_file(f) == data);
    CHECK(exists(f + ".age"));
    // The same refusal when encrypting: the state directory is checked before it is used.
    if (whole_dir) {
        ProtectOptions o;
        o.recipients = {id->recipient()};
        o.state_dir = state;
        auto again = protect_file(f, o);
        REQUIRE_FALSE(again);
        CHECK_THAT(again.error().message, Catch::Contains(expected));
        CHECK(test::read_file(f) == data);
    }
}

TEST_CASE("a forged journal never makes recovery wipe a file", "[protect][recover][security]") {
    auto id = X25519Identity::generate();
    REQUIRE(id);
    test::TempDir dir;
    const std::string state = dir.file("state");
    REQUIRE(::mkdir(state.c_str(), 0700) == 0);
    const std::string victim = dir.file("victim");
    std::string cipher = victim + ".age";
    std::vector<std::uint8_t> content = dump_data(5000);
    std::string journal = journal_for(state, victim);
    std::string expected;
    bool not_age = false;
    std::function<void()> tamper = [] {};
    SECTION("the file it names carries no memory-dump signature") {
        const std::string text = "root's private data\n";
        content.assign(text.begin(), text.end());
        expected = "no memory-dump signature";
    }
    SECTION("the ciphertext belongs to another user") {
        tamper = [&] { REQUIRE(::chown(cipher.c_str(), kNobody, kNobody) == 0); };
        expected = "ciphertext " + cipher;
    }
    SECTION("the ciphertext is no age file") {
        not_age = true;
        expected = "age header";
    }
    SECTION("the journal is not named after the file it names") {
        journal = state + "/protect-000000000000000000000000.journal";
        expected = "is not named after";
    }
    SECTION("the ciphertext is not beside the file") {
        const std::string elsewhere = dir.file("elsewhere.age");
        tamper = [] {};
        cipher = elsewhere;
        expected = "other than PLAINTEXT.age";
    }
    SECTION("the file has grown since the journal was written") {
        tamper = [&] {
            content.push_back(0x42);
            test::write_file(victim, content, 0600); // same inode, one byte more
        };
        expected = "is 5001 bytes";
    }
    test::write_file(victim, content, 0600);
    ProtectOptions opt;
    opt.recipients = {id->recipient()};
    opt.state_dir = dir.file("real-state");
    opt.keep_plaintext = true;
    REQUIRE(protect_file(victim, opt));
    if (cipher != victim + ".age")
        fs::copy_file(victim + ".age", cipher);
    if (not_age)
        test::write_file(cipher, test::random_data(5000 + 16 + 16 + 200), 0600);
    struct stat st {};
    REQUIRE(::stat(victim.c_str(), &st) == 0);
    const auto cipher_bytes = test::read_file(cipher);
    const std::string text =
        "snapgov-protect-journal=1\nplaintext=" + victim + "\nciphertext=" + cipher +
        "\npartial=" + cipher +
        ".partial\nkeep=0\nstep=verified\nplain_dev=" + std::to_string(st.st_dev) +
        "\nplain_ino=" + std::to_string(st.st_ino) + "\nplain_size=" + std::to_string(st.st_size) +
        "\ncipher_size=" + std::to_string(cipher_bytes.size()) +
        "\ncipher_sha256=" + test::sha256_hex(cipher_bytes) + "\n";
    test::write_file(journal, {text.begin(), text.end()}, 0600);
    tamper();

    auto r = recover(state);
    REQUIRE(r);
    REQUIRE(r->size() == 1);
    INFO(r->front().detail);
    CHECK(r->front().outcome == RecoveryAction::Outcome::needs_attention);
    CHECK_THAT(r->front().detail, Catch::Contains(expected));
    REQUIRE(exists(victim));
    CHECK(test::read_file(victim) == content);
    CHECK(exists(journal));
}

TEST_CASE("rerunning protect after a kill finishes that file's own interrupted run, and only "
          "that one",
          "[protect][recover]") {
    auto id = X25519Identity::generate();
    REQUIRE(id);
    test::TempDir dir;
    const std::string state = dir.file("state");
    const std::string a = dir.file("a.mem");
    const std::string b = dir.file("b.mem");
    const auto data_a = dump_data(200 * 1024 + 1);
    const auto data_b = dump_data(100 * 1024 + 7);
    test::write_file(a, data_a);
    test::write_file(b, data_b);
    const bool damage = GENERATE(false, true);
    INFO("ciphertext of the interrupted run damaged: " << damage);
    kill_before_readback(a, state, *id, damage);
    kill_before_readback(b, state, *id);
    REQUIRE(journal_count(state) == 2);

    ProtectOptions opt;
    opt.recipients = {id->recipient()};
    opt.state_dir = state;
    auto r = protect_file(a, opt);
    REQUIRE(r);
    CHECK(r->ciphertext_path == a + ".age");
    // Completed from the journal when the ciphertext verified; rolled back and done anew
    // when it did not.
    CHECK(r->resumed.empty() == damage);
    CHECK_FALSE(exists(a));
    CHECK(decrypt(a + ".age", *id) == data_a);
    // b's interrupted run is not this call's business: its journal and files stay.
    CHECK(journal_count(state) == 1);
    CHECK(exists(journal_for(state, b)));
    CHECK(test::read_file(b) == data_b);
    CHECK(exists(b + ".age"));
}

TEST_CASE("the state directory is created mode 0700", "[protect]") {
    auto id = X25519Identity::generate();
    REQUIRE(id);
    test::TempDir dir;
    const std::string f = dir.file("vm.mem");
    test::write_file(f, dump_data(1000));
    const mode_t old_umask = ::umask(022);
    ProtectOptions opt;
    opt.recipients = {id->recipient()};
    opt.state_dir = dir.file("var/lib/snapgov");
    auto r = protect_file(f, opt);
    ::umask(old_umask);
    REQUIRE(r);
    struct stat st {};
    REQUIRE(::stat(opt.state_dir.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0700);
}

TEST_CASE("recovery leaves alone an operation another process is still carrying out",
          "[protect][recover]") {
    auto id = X25519Identity::generate();
    REQUIRE(id);
    test::TempDir dir;
    const std::string f = dir.file("vm.mem");
    const std::string state = dir.file("state");
    const auto data = dump_data(100 * 1024);
    test::write_file(f, data);
    kill_before_readback(f, state, *id);
    // protect_file() holds this lock on the plaintext for its whole run.
    UniqueFd held(::open(f.c_str(), O_RDONLY));
    REQUIRE(held.valid());
    REQUIRE(::flock(held.get(), LOCK_EX) == 0);
    auto r = recover(state);
    REQUIRE(r);
    REQUIRE(r->size() == 1);
    CHECK(r->front().outcome == RecoveryAction::Outcome::needs_attention);
    CHECK_THAT(r->front().detail, Catch::Contains("another snapgov process"));
    CHECK(test::read_file(f) == data);
    CHECK(exists(journal_for(state, f)));
    held = UniqueFd();
    auto later = recover(state);
    REQUIRE(later);
    REQUIRE(later->size() == 1);
    CHECK(later->front().outcome == RecoveryAction::Outcome::completed);
    CHECK_FALSE(exists(f));
}
