// Fuzz target: age decryption of whole files, with a fixed identity so that seeds made for it
// decrypt and the fuzzer reaches the payload. The identity is the one most vectors of the age
// conformance suite (tests/data/age-cctv) use: public test data, not a secret. The input is
// handed over through an anonymous in-memory file (memfd), as age_decrypt() reads a descriptor.
#include <cstddef>
#include <cstdint>
#include <span>

#include <sys/mman.h>
#include <unistd.h>

#include "core/log.hpp"
#include "core/unique_fd.hpp"
#include "dumps/age_stream.hpp"

using namespace snapgov;
using namespace snapgov::dumps;

namespace {

constexpr const char* kIdentity =
    "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0";

bool write_all(int fd, const std::uint8_t* data, std::size_t size) {
    while (size > 0) {
        const auto n = ::write(fd, data, size);
        if (n <= 0) {
            return false;
        }
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto identity = [] {
        log::set_level(log::Level::error);
        return X25519Identity::parse(kIdentity).value();
    }();
    UniqueFd fd(::memfd_create("age-fuzz", MFD_CLOEXEC));
    if (!fd.valid() || !write_all(fd.get(), data, size) || ::lseek(fd.get(), 0, SEEK_SET) != 0) {
        __builtin_trap(); // the harness itself failed
    }
    AgeStreamOptions options;
    options.threads = 1;
    options.batch_chunks = 2;
    std::uint64_t released = 0;
    AgeFailure failure = AgeFailure::none;
    auto result = age_decrypt(
        fd.get(),
        [&](std::span<const std::uint8_t> chunk) -> Result<void> {
            released += chunk.size();
            return {};
        },
        std::span<const X25519Identity>(&identity, 1), options, &failure);
    // Success and a failure class go together; plaintext never outgrows the ciphertext.
    if (result.has_value() != (failure == AgeFailure::none) || released > size ||
        (result && *result != released)) {
        __builtin_trap();
    }
    return 0;
}
