// The C2SP CCTV conformance vectors for age v1 (tests/data/age-cctv/README.md).

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/mman.h>
#include <unistd.h>

#include <zlib.h>

#include "dumps/age_stream.hpp"
#include "dumps/unique_fd.hpp"
#include "tests/support/files.hpp"
#include "tests/support/support.hpp"

using namespace snapgov::dumps;
namespace test = snapgov::testing;
namespace fs = std::filesystem;

namespace {

struct Vector {
    std::string name;
    std::string expect;
    std::string payload_sha256;
    std::vector<std::string> identities;
    bool compressed = false;
    bool armored = false;
    std::vector<std::uint8_t> body;
};

std::vector<std::uint8_t> inflate_all(const std::vector<std::uint8_t>& in) {
    z_stream zs{};
    REQUIRE(inflateInit(&zs) == Z_OK);
    zs.next_in = const_cast<Bytef*>(in.data());
    zs.avail_in = static_cast<uInt>(in.size());
    std::vector<std::uint8_t> out;
    std::vector<std::uint8_t> buf(1 << 16);
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        zs.next_out = buf.data();
        zs.avail_out = static_cast<uInt>(buf.size());
        rc = inflate(&zs, Z_NO_FLUSH);
        REQUIRE((rc == Z_OK || rc == Z_STREAM_END));
        out.insert(out.end(), buf.data(), buf.data() + (buf.size() - zs.avail_out));
    }
    inflateEnd(&zs);
    return out;
}

Vector load(const fs::path& file) {
    const auto raw = test::read_file(file.string());
    Vector v;
    v.name = file.filename().string();
    std::size_t pos = 0;
    for (;;) {
        const auto it = std::find(raw.begin() + static_cast<std::ptrdiff_t>(pos), raw.end(), '\n');
        REQUIRE(it != raw.end());
        const std::size_t end = static_cast<std::size_t>(it - raw.begin());
        const std::string line(raw.begin() + static_cast<std::ptrdiff_t>(pos), it);
        pos = end + 1;
        if (line.empty())
            break;
        const auto colon = line.find(": ");
        REQUIRE(colon != std::string::npos);
        const std::string key = line.substr(0, colon);
        const std::string value = line.substr(colon + 2);
        if (key == "expect")
            v.expect = value;
        if (key == "payload")
            v.payload_sha256 = value;
        if (key == "identity")
            v.identities.push_back(value);
        if (key == "compressed")
            v.compressed = value == "zlib";
        if (key == "armored")
            v.armored = value == "yes";
    }
    v.body.assign(raw.begin() + static_cast<std::ptrdiff_t>(pos), raw.end());
    if (v.compressed)
        v.body = inflate_all(v.body);
    return v;
}

UniqueFd memfd_with(const std::vector<std::uint8_t>& data) {
    UniqueFd fd(::memfd_create("age-vector", MFD_CLOEXEC));
    REQUIRE(fd.valid());
    REQUIRE(write_all(fd.get(), data, "memfd"));
    REQUIRE(::lseek(fd.get(), 0, SEEK_SET) == 0);
    return fd;
}

struct Outcome {
    bool ok = false;
    AgeFailure failure = AgeFailure::none;
    std::string released_sha256;
    std::string message;
};

Outcome decrypt_vector(const Vector& v, std::size_t batch_chunks) {
    Outcome out;
    std::vector<X25519Identity> ids;
    for (const auto& text : v.identities) {
        auto id = X25519Identity::parse(text);
        if (!id) {
            out.failure = AgeFailure::unsupported;
            out.message = id.error().message;
            out.released_sha256 = test::sha256_hex({});
            return out;
        }
        ids.push_back(*id);
    }
    if (ids.empty()) {
        // scrypt-only vectors carry no identity: decrypt with a throwaway one.
        ids.push_back(*X25519Identity::generate());
    }
    auto fd = memfd_with(v.body);
    std::vector<std::uint8_t> released;
    AgeStreamOptions options;
    options.batch_chunks = batch_chunks;
    options.threads = 2;
    auto r = age_decrypt(
        fd.get(),
        [&](std::span<const std::uint8_t> data) -> snapgov::Result<void> {
            released.insert(released.end(), data.begin(), data.end());
            return {};
        },
        ids, options, &out.failure);
    out.ok = r.has_value();
    if (r)
        CHECK(*r == released.size());
    if (!r)
        out.message = r.error().message;
    out.released_sha256 = test::sha256_hex(released);
    return out;
}

const std::map<std::string, AgeFailure> kExpected = {
    {"no match", AgeFailure::no_match},
    {"HMAC failure", AgeFailure::hmac},
    {"header failure", AgeFailure::header},
    {"payload failure", AgeFailure::payload},
};

bool in_scope(const std::string& name) {
    for (const char* prefix : {"x25519", "stream", "hmac", "stanza", "header", "version"}) {
        if (name.starts_with(prefix))
            return true;
    }
    return name == "empty";
}

} // namespace

TEST_CASE("age CCTV vectors give their expected outcome", "[age][cctv]") {
    const fs::path dir = SNAPGOV_AGE_CCTV_DIR;
    REQUIRE(fs::is_directory(dir));
    std::size_t checked = 0;
    // Small batches put chunk boundaries of the multi-chunk vectors across batch edges.
    for (std::size_t batch : {std::size_t{1}, std::size_t{2}, std::size_t{64}}) {
        for (const auto& entry : fs::directory_iterator(dir)) {
            const std::string name = entry.path().filename().string();
            if (name == "README.md" || !in_scope(name))
                continue;
            const Vector v = load(entry.path());
            const Outcome o = decrypt_vector(v, batch);
            INFO("vector " << name << " (batch " << batch << "): expect " << v.expect << ", got "
                           << (o.ok ? "success" : o.message));
            if (v.expect == "success") {
                CHECK(o.ok);
                CHECK(o.released_sha256 == v.payload_sha256);
            } else {
                CHECK_FALSE(o.ok);
                REQUIRE(kExpected.count(v.expect) == 1);
                CHECK(o.failure == kExpected.at(v.expect));
                if (v.expect == "payload failure")
                    CHECK(o.released_sha256 == v.payload_sha256);
                if (v.expect != "payload failure")
                    CHECK(o.released_sha256 == test::sha256_hex({}));
            }
            ++checked;
        }
    }
    CHECK(checked == 3 * 67);
}

TEST_CASE("armored, scrypt and post-quantum vectors end in a clean error", "[age][cctv]") {
    const fs::path dir = SNAPGOV_AGE_CCTV_DIR;
    std::size_t checked = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (name == "README.md" || in_scope(name))
            continue;
        const Vector v = load(entry.path());
        const Outcome o = decrypt_vector(v, 64);
        INFO("vector " << name << ": " << o.message);
        CHECK_FALSE(o.ok);
        CHECK_FALSE(o.message.empty());
        CHECK(o.released_sha256 == test::sha256_hex({}));
        ++checked;
    }
    CHECK(checked > 50);
}
