// protect_file() at every size boundary of the age format and of 4 KiB blocks, behind headers
// of different lengths: every file is checked with the real `age -d`, byte for byte.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include "dumps/protect.hpp"
#include "dumps/unique_fd.hpp"
#include "tests/support/files.hpp"
#include "tests/support/support.hpp"

using namespace snapgov::dumps;
namespace test = snapgov::testing;

namespace {

constexpr std::size_t kChunk = 64 * 1024;
constexpr std::size_t kSealed = kChunk + 16;
constexpr std::size_t kBlock = 4096;

struct AgeKey {
    std::string identity_file;
    X25519Recipient recipient;
};

AgeKey keygen(const test::TempDir& dir, const std::string& name) {
    const auto made = test::age_keygen(dir.file(name + ".key"));
    auto r = X25519Recipient::parse(made.recipient);
    REQUIRE(r);
    return {made.identity_file, *r};
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

} // namespace

TEST_CASE("protect_file output decrypts with age at every size boundary and header length",
          "[protect][readback][interop]") {
    test::TempDir dir;
    const AgeKey alice = keygen(dir, "alice");
    const AgeKey bob = keygen(dir, "bob");
    const AgeKey carol = keygen(dir, "carol");
    // Sizes: empty, under a block, around a block, around a chunk and a sealed chunk, a
    // batch (64 chunks) and more than one.
    const std::vector<std::size_t> sizes{0,
                                         1,
                                         100,
                                         kBlock - 1,
                                         kBlock,
                                         kBlock + 1,
                                         16 * kBlock,
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
        CHECK(age_decrypt_file(dir, alice, f + ".age") == data);
        CHECK(test::read_file(f) == data);
        ::unlink((f + ".age").c_str());
    }
}
