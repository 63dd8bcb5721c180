// The head replacement of age_encrypt() (a stream whose first bytes are sent again, final,
// at its end) against the reference `age` tool, and capture_save_image() over a real FIFO
// written the way libvirt 9.0 writes a save image (two opens: the stream, then the header).

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <string_view>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dumps/age_keys.hpp"
#include "dumps/age_stream.hpp"
#include "dumps/fifo_capture.hpp"
#include "dumps/unique_fd.hpp"
#include "tests/support/files.hpp"
#include "tests/support/support.hpp"

using namespace snapgov::dumps;
namespace test = snapgov::testing;

namespace {

constexpr std::size_t kHead = kSaveHeaderSize;
constexpr std::size_t k64 = 64 * 1024;

struct Key {
    std::string identity_file;
    X25519Recipient recipient;
};

Key keygen(const test::TempDir& dir) {
    const auto made = test::age_keygen(dir.file("key.txt"));
    auto r = X25519Recipient::parse(made.recipient);
    REQUIRE(r);
    return {made.identity_file, *r};
}

// A libvirt-like stream: header with the "Part" magic, `body` bytes, then the final header.
struct Stream {
    std::vector<std::uint8_t> input; ///< what the reader sees
    std::vector<std::uint8_t> image; ///< what must come out of `age -d`
};

Stream make_stream(std::size_t body, bool good_trailer = true) {
    std::vector<std::uint8_t> header = test::random_data(kHead);
    std::memcpy(header.data(), "LibvirtQemudPart", 16);
    std::vector<std::uint8_t> final_header = header;
    std::memcpy(final_header.data(), "LibvirtQemudSave", 16);
    const auto data = test::random_data(body);
    Stream s;
    s.input = header;
    s.input.insert(s.input.end(), data.begin(), data.end());
    s.image = final_header;
    s.image.insert(s.image.end(), data.begin(), data.end());
    if (!good_trailer)
        final_header[40] ^= 1; // another field changed too: must be refused
    s.input.insert(s.input.end(), final_header.begin(), final_header.end());
    return s;
}

AgeStreamOptions head_options(std::size_t batch_chunks) {
    AgeStreamOptions so;
    so.batch_chunks = batch_chunks;
    so.replace_head.size = kHead;
    so.replace_head.expect = [](std::span<std::uint8_t> head) -> snapgov::Result<void> {
        REQUIRE(std::memcmp(head.data(), "LibvirtQemudPart", 16) == 0);
        std::memcpy(head.data(), "LibvirtQemudSave", 16);
        return {};
    };
    return so;
}

snapgov::Result<AgeEncryptStats> encrypt_stream(const test::TempDir& dir, const Stream& s,
                                                const Key& key, std::size_t batch_chunks) {
    test::write_file(dir.file("in"), s.input);
    UniqueFd in(::open(dir.file("in").c_str(), O_RDONLY | O_CLOEXEC));
    UniqueFd out(
        ::open(dir.file("out.age").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    REQUIRE(in.valid());
    REQUIRE(out.valid());
    const std::vector<X25519Recipient> to{key.recipient};
    return age_encrypt(in.get(), out.get(), to, head_options(batch_chunks));
}

} // namespace

TEST_CASE("a replaced head is sealed in place of the first bytes and the trailer is dropped; "
          "age decrypts to the final image",
          "[age][interop][fifo]") {
    test::TempDir dir;
    const Key key = keygen(dir);
    // With one chunk per batch the trailer falls wholly in the last batch, straddles the last
    // two, or ends exactly at a batch boundary; the head sits in a lone final chunk too.
    for (std::size_t body : std::vector<std::size_t>{
             0, 1, 500, k64 - kHead, k64 - kHead - 1, k64 - kHead + 1, k64, k64 + 10, k64 + kHead,
             2 * k64 - kHead, 2 * k64 - 2 * kHead, 2 * k64 - kHead - 50, 3 * k64 + 7}) {
        for (std::size_t batch : {std::size_t{1}, std::size_t{64}}) {
            INFO("body " << body << ", batch " << batch);
            const Stream s = make_stream(body);
            auto enc = encrypt_stream(dir, s, key, batch);
            REQUIRE(enc);
            CHECK(enc->plaintext_bytes == s.image.size());
            REQUIRE(test::run("age -d -i '" + key.identity_file + "' -o '" + dir.file("dec") +
                              "' '" + dir.file("out.age") + "'") == 0);
            CHECK(test::read_file(dir.file("dec")) == s.image);
        }
    }
}

TEST_CASE("a trailer that is not the predicted head fails the encryption (verification)",
          "[age][fifo]") {
    test::TempDir dir;
    const Key key = keygen(dir);
    for (std::size_t body : std::vector<std::size_t>{10, k64 - 50, 3 * k64 + 7}) {
        INFO("body " << body);
        auto enc = encrypt_stream(dir, make_stream(body, false), key, 1);
        REQUIRE_FALSE(enc);
        CHECK(enc.error().code == snapgov::ErrorCode::verification);
    }
}

TEST_CASE("an input shorter than its head and trailer fails the encryption", "[age][fifo]") {
    test::TempDir dir;
    const Key key = keygen(dir);
    Stream s = make_stream(0);
    s.input.resize(kHead + 50);
    auto enc = encrypt_stream(dir, s, key, 64);
    REQUIRE_FALSE(enc);
    CHECK(enc.error().code == snapgov::ErrorCode::verification);
}

namespace {

// A capture into `dir`: the FIFO vm.mem, the ciphertext vm.mem.age.
FifoCaptureOptions capture_options(const test::TempDir& dir, const Key& key) {
    FifoCaptureOptions o;
    o.fifo_path = dir.file("vm.mem");
    o.ciphertext_path = dir.file("vm.mem.age");
    o.recipients = {key.recipient};
    return o;
}

// Writes `s` into the FIFO as libvirt 9.0 does: one open for the stream, close, then a second
// open for the final header.
snapgov::Result<void> libvirt_like_writer(const std::string& fifo, const Stream& s) {
    const std::size_t stream_len = s.input.size() - kHead;
    {
        UniqueFd fd(::open(fifo.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd.valid())
            return snapgov::fail(snapgov::ErrorCode::io, "open 1");
        for (std::size_t off = 0; off < stream_len; off += 1 << 20) {
            const std::size_t n = std::min<std::size_t>(1 << 20, stream_len - off);
            if (auto r = write_all(fd.get(), {s.input.data() + off, n}, fifo); !r)
                return r;
        }
    }
    UniqueFd fd(::open(fifo.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd.valid())
        return snapgov::fail(snapgov::ErrorCode::io, "open 2");
    return write_all(fd.get(), {s.input.data() + stream_len, kHead}, fifo);
}

} // namespace

TEST_CASE("capture_save_image reads both opens of a FIFO and leaves only a verified .age",
          "[age][interop][fifo]") {
    test::TempDir dir;
    const Key key = keygen(dir);
    FifoCaptureOptions o = capture_options(dir, key);
    const Stream s = make_stream(3 * 1024 * 1024 + 123);
    auto r = capture_save_image(
        o, [&] { return libvirt_like_writer(o.fifo_path, s); }, [](const std::string&) {});
    REQUIRE(r);
    CHECK(r->image_bytes == s.image.size());
    CHECK_FALSE(std::filesystem::exists(o.fifo_path));
    CHECK_FALSE(std::filesystem::exists(o.ciphertext_path + ".partial"));
    struct stat st {};
    REQUIRE(::stat(o.ciphertext_path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(test::run("age -d -i '" + key.identity_file + "' -o '" + dir.file("dec") + "' '" +
                      o.ciphertext_path + "'") == 0);
    CHECK(test::read_file(dir.file("dec")) == s.image);
    CHECK(test::run_output("sha256sum < '" + o.ciphertext_path + "' | cut -c1-64") ==
          r->ciphertext_sha256 + "\n");
}

TEST_CASE("capture_save_image fails closed: a failing writer or a changed header leaves no "
          "file",
          "[age][fifo]") {
    test::TempDir dir;
    const Key key = keygen(dir);
    FifoCaptureOptions o = capture_options(dir, key);
    auto nothing_left = [&] {
        return !std::filesystem::exists(o.fifo_path) &&
               !std::filesystem::exists(o.ciphertext_path) &&
               !std::filesystem::exists(o.ciphertext_path + ".partial");
    };
    SECTION("the writer fails after half the stream") {
        const Stream s = make_stream(1024 * 1024);
        auto r = capture_save_image(
            o,
            [&]() -> snapgov::Result<void> {
                UniqueFd fd(::open(o.fifo_path.c_str(), O_WRONLY | O_CLOEXEC));
                (void)write_all(fd.get(), {s.input.data(), s.input.size() / 2}, o.fifo_path);
                return snapgov::fail(snapgov::ErrorCode::provider, "libvirt said no");
            },
            [](const std::string&) {});
        REQUIRE_FALSE(r);
        CHECK(r.error().message.find("libvirt said no") == 0);
        CHECK(nothing_left());
    }
    SECTION("the final header differs in more than the magic") {
        const Stream s = make_stream(200 * 1024, false);
        bool aborted = false;
        auto r = capture_save_image(
            o, [&] { return libvirt_like_writer(o.fifo_path, s); },
            [&](const std::string&) { aborted = true; });
        REQUIRE_FALSE(r);
        CHECK(r.error().code == snapgov::ErrorCode::verification);
        CHECK_FALSE(aborted); // found once the writer had returned: nothing left to abort
        CHECK(nothing_left());
    }
    SECTION("a regular file where the FIFO goes is refused and kept") {
        test::write_file(o.fifo_path, test::random_data(100));
        auto r = capture_save_image(
            o, [] { return snapgov::Result<void>{}; }, [](const std::string&) {});
        REQUIRE_FALSE(r);
        CHECK(r.error().code == snapgov::ErrorCode::usage);
        CHECK(std::filesystem::exists(o.fifo_path));
    }
}

TEST_CASE("a capture times out, aborts the writer and still drains the FIFO", "[fifo]") {
    test::TempDir dir;
    const Key key = keygen(dir);
    FifoCaptureOptions o = capture_options(dir, key);
    o.timeout = std::chrono::seconds(1);
    std::atomic<bool> aborted{false};
    const Stream s = make_stream(64 * 1024);
    auto r = capture_save_image(
        o,
        [&]() -> snapgov::Result<void> {
            // A stalled hypervisor: writes the stream's start, then waits for the abort.
            UniqueFd fd(::open(o.fifo_path.c_str(), O_WRONLY | O_CLOEXEC));
            (void)write_all(fd.get(), {s.input.data(), 1000}, o.fifo_path);
            while (!aborted.load())
                ::usleep(10000);
            return snapgov::fail(snapgov::ErrorCode::provider, "job aborted");
        },
        [&](const std::string& why) {
            CHECK(why == "timeout");
            aborted.store(true);
        });
    REQUIRE_FALSE(r);
    CHECK(aborted.load());
    CHECK_FALSE(std::filesystem::exists(o.fifo_path));
    CHECK_FALSE(std::filesystem::exists(o.ciphertext_path + ".partial"));
}

TEST_CASE("a stream that is not a save image stops the encryption, which aborts the writer",
          "[fifo]") {
    test::TempDir dir;
    const Key key = keygen(dir);
    FifoCaptureOptions o = capture_options(dir, key);
    std::atomic<bool> aborted{false};
    const auto garbage = test::random_data(5 * 1024 * 1024);
    auto r = capture_save_image(
        o,
        [&]() -> snapgov::Result<void> {
            UniqueFd fd(::open(o.fifo_path.c_str(), O_WRONLY | O_CLOEXEC));
            (void)write_all(fd.get(), garbage, o.fifo_path);
            // A hypervisor still busy: returns only once aborted (or after 10 s).
            for (int i = 0; i < 1000 && !aborted.load(); ++i)
                ::usleep(10000);
            return snapgov::fail(snapgov::ErrorCode::provider, "job aborted");
        },
        [&](const std::string& why) {
            CHECK_THAT(why, Catch::StartsWith("encryption failed"));
            aborted.store(true);
        });
    REQUIRE_FALSE(r);
    CHECK(aborted.load());
    CHECK_THAT(r.error().message, Catch::Contains("LibvirtQemudPart"));
    CHECK_FALSE(std::filesystem::exists(o.fifo_path));
    CHECK_FALSE(std::filesystem::exists(o.ciphertext_path + ".partial"));
}

TEST_CASE("a write error while encrypting (the file size limit, as a full disk would) fails "
          "closed: nothing is left",
          "[fifo]") {
    test::TempDir dir;
    const Key key = keygen(dir);
    FifoCaptureOptions o = capture_options(dir, key);
    const Stream s = make_stream(3 * 1024 * 1024);
    // Writes past 512 KiB fail with EFBIG instead of raising SIGXFSZ; restored afterwards.
    rlimit before{};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &before) == 0);
    const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit small = before;
    small.rlim_cur = 512 * 1024;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    auto r = capture_save_image(
        o, [&] { return libvirt_like_writer(o.fifo_path, s); }, [](const std::string&) {});
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &before) == 0);
    std::signal(SIGXFSZ, old_handler);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == snapgov::ErrorCode::io);
    CHECK_THAT(r.error().message, Catch::Contains(o.ciphertext_path + ".partial"));
    CHECK_FALSE(std::filesystem::exists(o.fifo_path));
    CHECK_FALSE(std::filesystem::exists(o.ciphertext_path));
    CHECK_FALSE(std::filesystem::exists(o.ciphertext_path + ".partial"));
}

namespace {

// Waits up to `seconds` for the child `pid` to end; kills it if it does not.
bool ended_within(pid_t pid, int seconds, int& status) {
    for (int i = 0; i < seconds * 100; ++i) {
        if (::waitpid(pid, &status, WNOHANG) == pid)
            return true;
        ::usleep(10000);
    }
    ::kill(pid, SIGKILL);
    (void)::waitpid(pid, &status, 0);
    return false;
}

bool any_file_holds_save_magic(const std::filesystem::path& dir) {
    const std::string_view magic = "LibvirtQemud";
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        if (!e.is_regular_file())
            continue;
        const auto bytes = test::read_file(e.path().string());
        if (std::search(bytes.begin(), bytes.end(), magic.begin(), magic.end()) != bytes.end())
            return true;
    }
    return false;
}

} // namespace

TEST_CASE("snapgov killed between libvirt's two opens: the second open cannot wait forever, "
          "the FIFO goes, no plaintext is left, the next capture proceeds",
          "[fifo]") {
    test::TempDir dir;
    const Key key = keygen(dir);
    const FifoCaptureOptions o = capture_options(dir, key);
    const Stream s = make_stream(256 * 1024);
    int streamed[2];
    REQUIRE(::pipe(streamed) == 0);
    const pid_t snapgov = ::fork();
    REQUIRE(snapgov >= 0);
    if (snapgov == 0) {
        // snapgov, whose libvirt call has written the stream and is killed before it opens
        // the FIFO again for the final header.
        ::close(streamed[0]);
        (void)capture_save_image(
            o,
            [&]() -> snapgov::Result<void> {
                {
                    UniqueFd fd(::open(o.fifo_path.c_str(), O_WRONLY | O_CLOEXEC));
                    (void)write_all(fd.get(), {s.input.data(), s.input.size() - kHead},
                                    o.fifo_path);
                }
                (void)!::write(streamed[1], "s", 1);
                for (;;)
                    ::pause();
            },
            [](const std::string&) {});
        ::_exit(1);
    }
    ::close(streamed[1]);
    char c = 0;
    REQUIRE(::read(streamed[0], &c, 1) == 1);
    ::close(streamed[0]);
    REQUIRE(::kill(snapgov, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(snapgov, &status, 0) == snapgov);

    // The FIFO is removed on snapgov's behalf, at once (10 s allowed).
    bool gone = false;
    for (int i = 0; i < 1000 && !gone; ++i) {
        gone = !std::filesystem::exists(std::filesystem::symlink_status(o.fifo_path));
        if (!gone)
            ::usleep(10000);
    }
    CHECK(gone);
    // libvirt's second open (O_WRONLY, no O_CREAT), in a process of its own: it must return.
    const pid_t libvirt = ::fork();
    REQUIRE(libvirt >= 0);
    if (libvirt == 0) {
        const int fd = ::open(o.fifo_path.c_str(), O_WRONLY | O_CLOEXEC);
        ::_exit(fd < 0 && errno == ENOENT ? 0 : 3);
    }
    REQUIRE(ended_within(libvirt, 10, status));
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0); // ENOENT: libvirt fails the checkpoint and resumes the VM
    CHECK_FALSE(std::filesystem::exists(o.ciphertext_path));
    CHECK_FALSE(any_file_holds_save_magic(dir.path()));

    // What the killed capture left (its partial ciphertext) does not stop the next one.
    auto again = capture_save_image(
        o, [&] { return libvirt_like_writer(o.fifo_path, s); }, [](const std::string&) {});
    REQUIRE(again);
    CHECK(again->image_bytes == s.image.size());
}
