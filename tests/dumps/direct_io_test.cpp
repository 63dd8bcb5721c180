// The ciphertext is written and read back bypassing the page cache (O_DIRECT) where the file
// system allows it, in whole 4 KiB blocks behind a header of any length, the last partial
// block buffered; where O_DIRECT is refused, buffered. Every file is checked with the real
// `age -d`, byte for byte.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dumps/age_stream.hpp"
#include "dumps/direct_io.hpp"
#include "dumps/protect.hpp"
#include "dumps/unique_fd.hpp"
#include "tests/support/files.hpp"
#include "tests/support/support.hpp"

using namespace snapgov::dumps;
namespace test = snapgov::testing;
using detail::kDirectAlign;

namespace {

constexpr std::size_t kChunk = 64 * 1024;
constexpr std::size_t kSealed = kChunk + 16;

struct AgeKey {
    std::string identity_file;
    X25519Recipient recipient;
};

AgeKey keygen(const test::TempDir& dir, const std::string& name) {
    const std::string file = dir.file(name + ".key");
    REQUIRE(test::run("age-keygen -o '" + file + "' 2>/dev/null") == 0);
    std::string text = test::run_output("age-keygen -y '" + file + "'");
    while (!text.empty() && text.back() == '\n')
        text.pop_back();
    auto r = X25519Recipient::parse(text);
    REQUIRE(r);
    return {file, *r};
}

// What `age -d` makes of `path` (an empty plaintext leaves no output file).
std::vector<std::uint8_t> age_decrypt_file(const test::TempDir& dir, const AgeKey& key,
                                           const std::string& path) {
    const std::string out = dir.file("age-d.out");
    ::unlink(out.c_str());
    REQUIRE(test::run("age -d -i '" + key.identity_file + "' -o '" + out + "' '" + path + "'") ==
            0);
    if (::access(out.c_str(), F_OK) != 0)
        return {};
    auto data = test::read_file(out);
    ::unlink(out.c_str());
    return data;
}

// Whether files in `dir` accept O_DIRECT (ext4, XFS, tmpfs since Linux 6.6: yes; ramfs: no).
bool accepts_direct(const std::string& dir) {
    const std::string probe = dir + "/direct-probe";
    UniqueFd fd(::open(probe.c_str(), O_WRONLY | O_CREAT | O_DIRECT | O_CLOEXEC, 0600));
    ::unlink(probe.c_str());
    return fd.valid();
}

} // namespace

TEST_CASE("the ciphertext is written in aligned direct blocks and decrypts with age at every size "
          "boundary",
          "[protect][readback][direct][interop]") {
    test::TempDir dir;
    const bool direct = accepts_direct(dir.path().string());
    if (!direct)
        WARN("O_DIRECT is refused in " << dir.path() << ": only the buffered path is checked");
    const AgeKey alice = keygen(dir, "alice");
    const AgeKey bob = keygen(dir, "bob");
    const AgeKey carol = keygen(dir, "carol");
    // Sizes: empty, under a block, around a block, around a chunk and a sealed chunk, a
    // batch (64 chunks) and more than one.
    const std::vector<std::size_t> sizes{0,
                                         1,
                                         100,
                                         kDirectAlign - 1,
                                         kDirectAlign,
                                         kDirectAlign + 1,
                                         16 * kDirectAlign,
                                         kChunk - 1,
                                         kChunk,
                                         kSealed,
                                         kChunk + 1,
                                         3 * kChunk,
                                         64 * kChunk,
                                         64 * kChunk + 4096,
                                         9 * 1024 * 1024 + 123};
    // One, two and three recipients: headers of different lengths, so the first chunk starts
    // at a different unaligned offset.
    const std::vector<std::vector<X25519Recipient>> recipient_sets{
        {alice.recipient},
        {alice.recipient, bob.recipient},
        {alice.recipient, bob.recipient, carol.recipient}};
    std::size_t round = 0;
    for (std::size_t size : sizes) {
        const auto& to = recipient_sets[round++ % recipient_sets.size()];
        INFO("plaintext size " << size << ", " << to.size() << " recipient(s)");
        const auto data = test::random_data(size);
        const std::string f = dir.file("vm.mem");
        test::write_file(f, data);
        ProtectOptions opt;
        opt.recipients = to;
        opt.keep_plaintext = true;
        opt.state_dir = dir.file("state");
        auto r = protect_file(f, opt);
        REQUIRE(r);
        const auto cipher = test::read_file(f + ".age");
        REQUIRE(cipher.size() == r->ciphertext_bytes);
        CHECK(test::sha256_hex(cipher) == r->ciphertext_sha256);
        CHECK(r->direct_bytes == (direct ? cipher.size() / kDirectAlign * kDirectAlign : 0));
        CHECK(age_decrypt_file(dir, alice, f + ".age") == data);
        CHECK(test::read_file(f) == data);
        ::unlink((f + ".age").c_str());
    }
}

TEST_CASE("direct writes and reads across small batches, and the exact ciphertext size",
          "[readback][direct][interop]") {
    test::TempDir dir;
    const bool direct = accepts_direct(dir.path().string());
    const AgeKey alice = keygen(dir, "alice");
    std::vector<X25519Recipient> to{alice.recipient};
    // Batches of 1, 2 and 3 chunks, so that batch ends fall at every offset in a block.
    for (std::size_t batch : {std::size_t{1}, std::size_t{2}, std::size_t{3}}) {
        for (std::size_t size : {std::size_t{0}, 5 * kChunk + 7, 7 * kChunk, 2 * kSealed}) {
            INFO("batch " << batch << " chunks, plaintext size " << size);
            const auto data = test::random_data(size);
            test::write_file(dir.file("in"), data);
            const std::string out_path = dir.file("out.age");
            UniqueFd in(::open(dir.file("in").c_str(), O_RDONLY | O_CLOEXEC));
            UniqueFd out(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
            REQUIRE(in.valid());
            REQUIRE(out.valid());
            AgeStreamOptions so;
            so.batch_chunks = batch;
            so.direct_io = true;
            so.start_writeback = true;
            auto enc = age_encrypt(in.get(), out.get(), to, so);
            REQUIRE(enc);
            // The descriptor's flags are left as they were.
            CHECK((::fcntl(out.get(), F_GETFL) & O_DIRECT) == 0);
            const auto cipher = test::read_file(out_path);
            REQUIRE(cipher.size() == enc->ciphertext_bytes);
            CHECK(enc->direct_bytes == (direct ? cipher.size() / kDirectAlign * kDirectAlign : 0));
            CHECK(age_decrypt_file(dir, alice, out_path) == data);
            auto fd = open_uncached(out_path);
            REQUIRE(fd);
            CHECK(age_verify_readback(fd->get(), *enc->readback, so));
        }
    }
}

TEST_CASE("a direct write refused at an unaligned offset goes on buffered", "[direct][interop]") {
    test::TempDir dir;
    const AgeKey alice = keygen(dir, "alice");
    std::vector<X25519Recipient> to{alice.recipient};
    const auto data = test::random_data(3 * kChunk + 5);
    test::write_file(dir.file("in"), data);
    UniqueFd in(::open(dir.file("in").c_str(), O_RDONLY | O_CLOEXEC));
    UniqueFd out(::open(dir.file("out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    REQUIRE(in.valid());
    REQUIRE(out.valid());
    // The output starts 100 bytes into the file: O_DIRECT transfers there fail with EINVAL.
    const std::vector<std::uint8_t> lead(100, 'x');
    REQUIRE(write_all(out.get(), lead, "lead"));
    AgeStreamOptions so;
    so.batch_chunks = 2;
    so.direct_io = true;
    auto enc = age_encrypt(in.get(), out.get(), to, so);
    REQUIRE(enc);
    CHECK(enc->direct_bytes == 0);
    const auto file = test::read_file(dir.file("out"));
    REQUIRE(file.size() == 100 + enc->ciphertext_bytes);
    CHECK(std::equal(lead.begin(), lead.end(), file.begin()));
    test::write_file(dir.file("out.age"), {file.begin() + 100, file.end()});
    CHECK(age_decrypt_file(dir, alice, dir.file("out.age")) == data);
    // The read-back from the same unaligned place falls back the same way.
    UniqueFd back(::open(dir.file("out").c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(back.valid());
    REQUIRE(::lseek(back.get(), 100, SEEK_SET) == 100);
    CHECK(age_verify_readback(back.get(), *enc->readback, so));
}

TEST_CASE("on a file system that refuses O_DIRECT the dump is encrypted and verified buffered",
          "[protect][readback][direct][interop]") {
    test::TempDir dir;
    const AgeKey alice = keygen(dir, "alice");
    const std::string mnt = dir.file("ramfs");
    REQUIRE(::mkdir(mnt.c_str(), 0700) == 0);
    const auto data = test::random_data(2 * kChunk + 4096 + 3);
    test::write_file(dir.file("vm.mem"), data);
    // ramfs has no direct I/O. Mounted in a private mount namespace of a child process, so
    // that nothing outside the test sees it; the child copies the result out.
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (::unshare(CLONE_NEWNS) != 0 ||
            ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
            ::mount("snapgov-test", mnt.c_str(), "ramfs", 0, "mode=0700") != 0) {
            ::_exit(77);
        }
        // age_encrypt() and the read-back as protect_file() calls them (protect_file() itself
        // refuses ramfs: its statvfs reports no free space).
        const std::string f = mnt + "/vm.mem.age";
        int rc = 0;
        try {
            if (accepts_direct(mnt))
                ::_exit(78);
            UniqueFd in(::open(dir.file("vm.mem").c_str(), O_RDONLY | O_CLOEXEC));
            UniqueFd out(::open(f.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
            AgeStreamOptions so;
            so.direct_io = true;
            so.start_writeback = true;
            std::vector<X25519Recipient> to{alice.recipient};
            auto enc = age_encrypt(in.get(), out.get(), to, so);
            if (!enc || ::fsync(out.get()) != 0) {
                rc = 1;
            } else if (enc->direct_bytes != 0) {
                rc = 3;
            } else if (auto v = age_verify_file(f, *enc->readback, 0); !v) {
                std::fprintf(stderr, "read-back: %s\n", v.error().message.c_str());
                rc = 4;
            } else {
                test::write_file(dir.file("vm.mem.age"), test::read_file(f));
            }
        } catch (...) {
            rc = 2;
        }
        ::_exit(rc);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) {
        WARN("cannot mount a ramfs here (needs CAP_SYS_ADMIN): the refusal at open is not "
             "checked");
        return;
    }
    if (WEXITSTATUS(status) == 78) {
        WARN("ramfs accepts O_DIRECT on this kernel: the refusal at open is not checked");
        return;
    }
    REQUIRE(WEXITSTATUS(status) == 0);
    CHECK(age_decrypt_file(dir, alice, dir.file("vm.mem.age")) == data);
}
