// Interoperability with the reference `age` CLI, in both directions, byte for byte.

#include <catch2/catch.hpp>

#include <chrono>
#include <fcntl.h>
#include <unistd.h>

#include "dumps/age_keys.hpp"
#include "dumps/age_stream.hpp"
#include "dumps/unique_fd.hpp"
#include "tests/support/files.hpp"
#include "tests/support/support.hpp"

using namespace snapgov::dumps;
namespace test = snapgov::testing;

namespace {

using Keys = test::AgeKeyFile;

Keys keygen(const test::TempDir& dir, const std::string& name) {
    return test::age_keygen(dir.file(name + ".key"));
}

void encrypt_path(const std::string& in, const std::string& out,
                  const std::vector<X25519Recipient>& recipients) {
    UniqueFd ifd(::open(in.c_str(), O_RDONLY | O_CLOEXEC));
    UniqueFd ofd(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    REQUIRE(ifd.valid());
    REQUIRE(ofd.valid());
    auto r = age_encrypt(ifd.get(), ofd.get(), recipients);
    REQUIRE(r);
}

snapgov::Result<std::uint64_t> decrypt_path(const std::string& in, const std::string& out,
                                            const std::string& identity_file) {
    auto ids = load_identity_file(identity_file);
    REQUIRE(ids);
    UniqueFd ifd(::open(in.c_str(), O_RDONLY | O_CLOEXEC));
    UniqueFd ofd(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    REQUIRE(ifd.valid());
    REQUIRE(ofd.valid());
    return age_decrypt(
        ifd.get(), [&](std::span<const std::uint8_t> d) { return write_all(ofd.get(), d, out); },
        *ids);
}

} // namespace

TEST_CASE("files encrypted by snapgov decrypt with age, and the reverse", "[age][interop]") {
    test::TempDir dir;
    const Keys alice = keygen(dir, "alice");
    const Keys bob = keygen(dir, "bob");
    auto ra = X25519Recipient::parse(alice.recipient);
    auto rb = X25519Recipient::parse(bob.recipient);
    REQUIRE(ra);
    REQUIRE(rb);
    const std::size_t k64 = 64 * 1024;
    for (std::size_t size : std::vector<std::size_t>{0, 1, k64 - 1, k64, 3 * k64, k64 + 1,
                                                     3 * 1024 * 1024 + 17, 5 * 1024 * 1024}) {
        INFO("size " << size);
        const auto data = test::random_data(size);
        const std::string plain = dir.file("plain");
        test::write_file(plain, data);

        // snapgov -> age, with two recipients: each identity alone must work.
        encrypt_path(plain, dir.file("ours.age"), {*ra, *rb});
        for (const auto* k : {&alice, &bob}) {
            REQUIRE(test::run("age -d -i '" + k->identity_file + "' -o '" + dir.file("out1") +
                              "' '" + dir.file("ours.age") + "'") == 0);
            // age creates its output lazily: an empty plaintext leaves no file.
            const bool exists = ::access(dir.file("out1").c_str(), F_OK) == 0;
            CHECK((exists ? test::read_file(dir.file("out1")) : std::vector<std::uint8_t>{}) ==
                  data);
            ::unlink(dir.file("out1").c_str());
        }
        // age -> snapgov
        REQUIRE(test::run("age -r " + alice.recipient + " -o '" + dir.file("theirs.age") + "' '" +
                          plain + "'") == 0);
        auto n = decrypt_path(dir.file("theirs.age"), dir.file("out2"), alice.identity_file);
        REQUIRE(n);
        CHECK(*n == size);
        CHECK(test::read_file(dir.file("out2")) == data);
    }
}

TEST_CASE("a decryption with the wrong identity is refused as no match", "[age][interop]") {
    test::TempDir dir;
    const Keys alice = keygen(dir, "alice");
    const Keys eve = keygen(dir, "eve");
    test::write_file(dir.file("plain"), test::random_data(1000));
    REQUIRE(test::run("age -r " + alice.recipient + " -o '" + dir.file("c.age") + "' '" +
                      dir.file("plain") + "'") == 0);
    auto r = decrypt_path(dir.file("c.age"), dir.file("out"), eve.identity_file);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == snapgov::ErrorCode::not_found);
}

TEST_CASE("a multi-GiB sparse file round-trips through age both ways", "[age][interop][slow]") {
    test::TempDir dir;
    const Keys alice = keygen(dir, "alice");
    auto ra = X25519Recipient::parse(alice.recipient);
    REQUIRE(ra);
    const std::string plain = dir.file("sparse");
    // 2 GiB + 5 bytes: sparse zeros with a few data islands, last chunk partial.
    REQUIRE(test::run("truncate -s 2147483653 '" + plain + "'") == 0);
    for (long off : {0L, 1L << 20, 1L << 30, 2147483646L}) {
        REQUIRE(test::run("printf 'snapgov' | dd of='" + plain +
                          "' bs=1 seek=" + std::to_string(off) + " conv=notrunc status=none") == 0);
    }
    const std::string want = test::sha256_file(plain);
    const auto t0 = std::chrono::steady_clock::now();
    encrypt_path(plain, dir.file("ours.age"), {*ra});
    const auto t1 = std::chrono::steady_clock::now();
    WARN("snapgov encrypt 2 GiB: " << std::chrono::duration<double>(t1 - t0).count() << " s");
    REQUIRE(test::run("age -d -i '" + alice.identity_file + "' -o '" + dir.file("out1") + "' '" +
                      dir.file("ours.age") + "'") == 0);
    CHECK(test::sha256_file(dir.file("out1")) == want);
    ::unlink(dir.file("out1").c_str());
    ::unlink(dir.file("ours.age").c_str());

    REQUIRE(test::run("age -r " + alice.recipient + " -o '" + dir.file("theirs.age") + "' '" +
                      plain + "'") == 0);
    const auto t2 = std::chrono::steady_clock::now();
    auto n = decrypt_path(dir.file("theirs.age"), dir.file("out2"), alice.identity_file);
    const auto t3 = std::chrono::steady_clock::now();
    WARN("snapgov decrypt 2 GiB: " << std::chrono::duration<double>(t3 - t2).count() << " s");
    REQUIRE(n);
    CHECK(*n == 2147483653ULL);
    CHECK(test::sha256_file(dir.file("out2")) == want);
}
