#pragma once
/// Streaming age v1 encryption and decryption between file descriptors. Memory use is
/// constant (a few batches of 64 KiB chunks, about 20 MiB with the defaults) whatever the
/// size of the data; chunks of a batch are sealed or opened in parallel on all cores while
/// the calling thread reads the next batch.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "core/error.hpp"
#include "dumps/age_keys.hpp"

namespace snapgov::dumps {

/// Called after each batch with the number of plaintext bytes processed so far.
using ProgressFn = std::function<void(std::uint64_t bytes_done)>;

/// Tuning and naming for the stream functions.
struct AgeStreamOptions {
    unsigned threads = 0;               ///< worker threads; 0 = one per online CPU
    std::size_t batch_chunks = 64;      ///< chunks per batch (64 x 64 KiB = 4 MiB)
    ProgressFn progress;                ///< optional progress callback (calling thread)
    std::string input_name = "input";   ///< how error messages name the input
    std::string output_name = "output"; ///< how error messages name the output
    /// age_encrypt(): start write-back of each written batch (sync_file_range) so that the
    /// caller's final fsync has little left to do. A hint only: never a durability promise.
    bool start_writeback = false;
    /// age_encrypt(): for an input whose writer sends its first `size` bytes again, final, after
    /// everything else (libvirt rewrites a save image's header last; written into a FIFO, the
    /// new header arrives after the stream). The last `size` bytes of the input (the trailer)
    /// are not encrypted; the first `size` bytes are passed to `expect` before they are
    /// sealed, which rewrites them in place into the trailer it predicts. Encryption fails
    /// (ErrorCode::verification) unless the trailer equals the rewritten head byte for byte,
    /// so the payload is exactly the final file without holding or re-sealing any chunk.
    /// `size` 0 (the default): the whole input is the payload.
    struct HeadReplacement {
        std::size_t size = 0; ///< at most 64 KiB
        std::function<Result<void>(std::span<std::uint8_t> head)> expect;
    } replace_head;
};

class AgeReadbackCheck;

/// Deletes an AgeReadbackCheck (defined in age_stream.cpp, so the type can stay opaque).
struct AgeReadbackCheckDelete {
    void operator()(AgeReadbackCheck* p) const noexcept;
};

/// What age_verify_readback() needs to check a ciphertext read back from storage: the
/// header and nonce written, the payload key (wiped when this is destroyed) and the size.
using AgeReadbackCheckPtr = std::unique_ptr<AgeReadbackCheck, AgeReadbackCheckDelete>;

/// What age_encrypt() wrote.
struct AgeEncryptStats {
    std::uint64_t plaintext_bytes = 0;
    std::uint64_t ciphertext_bytes = 0;               ///< header + nonce + sealed chunks
    std::array<std::uint8_t, 32> ciphertext_sha256{}; ///< SHA-256 of every byte written
    std::array<std::uint8_t, 32> plaintext_sha256{};  ///< SHA-256 of every byte read
    /// Lets age_verify_readback() check the written file without a second SHA-256 pass.
    /// Holds the payload key: keep it only until the check is done.
    AgeReadbackCheckPtr readback;
};

/// Encrypts everything readable from `in_fd` to `out_fd` for `recipients` (at least one),
/// in the age v1 binary format. Reads until end of file; writes with large sequential
/// writes. Does not fsync or close either descriptor. Fails with ErrorCode::usage for no
/// recipients, ErrorCode::io for read/write errors (the output is then incomplete and must be
/// discarded by the caller).
[[nodiscard]] Result<AgeEncryptStats> age_encrypt(int in_fd, int out_fd,
                                                  std::span<const X25519Recipient> recipients,
                                                  const AgeStreamOptions& options = {});

/// Checks that the ciphertext readable from `fd` (from its current offset) is byte for byte
/// what age_encrypt() wrote, as described by `check`: the header and nonce are compared, and
/// every payload chunk is authenticated with the payload key (ChaCha20-Poly1305, on the
/// worker pool while the next batch is read), in order, with the final-chunk flag on the last
/// one only, and the size must match exactly. A changed, missing, reordered or extra byte
/// fails with ErrorCode::verification naming the first bad chunk; a read error fails with
/// ErrorCode::io. Since the bytes equal what was written, the SHA-256 in AgeEncryptStats is
/// also the SHA-256 of the file. Decrypted scratch data is wiped before returning.
[[nodiscard]] Result<void> age_verify_readback(int fd, const AgeReadbackCheck& check,
                                               const AgeStreamOptions& options = {});

/// age_verify_readback() of the file at `path`, its cached pages dropped first so that the
/// check reads what storage returns. ErrorCode::not_found when the file is missing, io when it
/// cannot be opened or read, verification when it differs.
[[nodiscard]] Result<void> age_verify_file(const std::string& path, const AgeReadbackCheck& check,
                                           unsigned threads);

/// Failure classes of decryption, as the age conformance suite distinguishes them.
enum class AgeFailure {
    none,        ///< no failure
    header,      ///< malformed or unsupported-version header (including a missing nonce)
    no_match,    ///< no identity unwraps any stanza
    hmac,        ///< header MAC mismatch (header altered, or wrong file key)
    payload,     ///< a chunk failed authentication, or truncation / trailing data
    unsupported, ///< armored file, or only recipient types snapgov does not implement
    io,          ///< reading the input or the sink failed
};

/// Receives authenticated plaintext in order. An error stops decryption.
using AgeSink = std::function<Result<void>(std::span<const std::uint8_t>)>;

/// Decrypts the age file readable from `in_fd` with any of `identities`, passing plaintext
/// to `sink` in order. Only authenticated chunks are released; the call fails if the stream
/// is truncated, lacks its final chunk, or has trailing data, so a caller must treat output
/// as valid only when this returns success. On failure, `*failure` (if given) receives the
/// class; ErrorCode is crypto (header/hmac/payload), not_found (no_match), unsupported, io.
/// Returns the number of plaintext bytes.
[[nodiscard]] Result<std::uint64_t> age_decrypt(int in_fd, const AgeSink& sink,
                                                std::span<const X25519Identity> identities,
                                                const AgeStreamOptions& options = {},
                                                AgeFailure* failure = nullptr);

} // namespace snapgov::dumps
