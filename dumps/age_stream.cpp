#include "dumps/age_stream.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <future>
#include <mutex>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include <openssl/crypto.h>

#include "dumps/age_crypto.hpp"
#include "dumps/age_encoding.hpp"
#include "dumps/age_header.hpp"
#include "dumps/chunk_pool.hpp"
#include "dumps/unique_fd.hpp"

namespace snapgov::dumps {
namespace {

using detail::kChunkSize;
using detail::Key32;
using detail::kTagSize;
constexpr std::size_t kSealedChunkSize = kChunkSize + kTagSize;
constexpr std::string_view kX25519Info = "age-encryption.org/v1/X25519";
constexpr std::size_t kMaxHeaderSize = 1024 * 1024;

std::array<std::uint8_t, 12> chunk_nonce(std::uint64_t counter, bool last) {
    std::array<std::uint8_t, 12> nonce{};
    // 11-byte big-endian counter; the top three bytes stay zero for any real file.
    for (int i = 0; i < 8; ++i)
        nonce[10 - i] = static_cast<std::uint8_t>(counter >> (8 * i));
    nonce[11] = last ? 1 : 0;
    return nonce;
}

// Reads into buf[have..] until full or EOF; returns the new fill level.
Result<std::size_t> fill(int fd, std::vector<std::uint8_t>& buf, std::size_t have,
                         const std::string& what) {
    auto n = read_full(fd, std::span(buf).subspan(have), what);
    if (!n)
        return tl::unexpected(n.error());
    return have + *n;
}

// Holds the file key and wipes it when the operation ends, whatever the path.
struct FileKeyGuard {
    detail::FileKey key{};
    ~FileKeyGuard() { detail::secure_zero(key); }
};
struct Key32Guard {
    Key32 key{};
    ~Key32Guard() { detail::secure_zero(key); }
};

// The first error any worker met while a batch ran; the calling thread reads it after
// ChunkPool::wait(). Errors are rare, so the lock is never contended in practice.
class FirstError {
public:
    void set(Error error) {
        const std::lock_guard lock(mutex_);
        if (!error_)
            error_ = std::move(error);
    }
    [[nodiscard]] std::optional<Error> take() {
        const std::lock_guard lock(mutex_);
        return std::exchange(error_, std::nullopt);
    }

private:
    std::mutex mutex_;
    std::optional<Error> error_;
};

// One cipher context per worker slot of `pool`.
Result<std::vector<detail::ChaChaPoly>> make_aeads(const detail::ChunkPool& pool) {
    std::vector<detail::ChaChaPoly> out;
    out.reserve(pool.size());
    for (unsigned i = 0; i < pool.size(); ++i) {
        auto aead = detail::ChaChaPoly::create();
        if (!aead)
            return tl::unexpected(aead.error());
        out.push_back(std::move(*aead));
    }
    return out;
}

Result<AgeStanza> wrap_for(const X25519Recipient& recipient, const detail::FileKey& file_key) {
    Key32Guard eph;
    if (auto r = detail::random_bytes(eph.key); !r)
        return tl::unexpected(r.error());
    auto share = detail::x25519_public(eph.key);
    if (!share)
        return tl::unexpected(share.error());
    auto shared = detail::x25519_shared(eph.key, recipient.key());
    if (!shared) {
        return fail(ErrorCode::usage,
                    "recipient " + recipient.to_string() + " is not a valid X25519 public key");
    }
    Key32Guard shared_guard{*shared};
    std::vector<std::uint8_t> salt(share->begin(), share->end());
    salt.insert(salt.end(), recipient.key().begin(), recipient.key().end());
    auto wrap_key = detail::hkdf_sha256(shared_guard.key, salt, kX25519Info);
    if (!wrap_key)
        return tl::unexpected(wrap_key.error());
    Key32Guard wrap_guard{*wrap_key};
    AgeStanza stanza;
    stanza.type = "X25519";
    stanza.args.push_back(
        base64_encode_raw(std::vector<std::uint8_t>(share->begin(), share->end())));
    stanza.body.resize(file_key.size() + kTagSize);
    auto aead = detail::ChaChaPoly::create();
    if (!aead)
        return tl::unexpected(aead.error());
    if (auto r = aead->seal(wrap_guard.key, {}, file_key, stanza.body); !r)
        return tl::unexpected(r.error().with_context("wrapping the file key"));
    return stanza;
}

} // namespace

/// Defined here so that the payload key never appears in a public header.
class AgeReadbackCheck {
public:
    AgeReadbackCheck() = default;
    AgeReadbackCheck(const AgeReadbackCheck&) = delete;
    AgeReadbackCheck& operator=(const AgeReadbackCheck&) = delete;
    ~AgeReadbackCheck() { detail::secure_zero(payload_key); }

    std::vector<std::uint8_t> prologue; // header + payload nonce, as written
    Key32 payload_key{};
    std::uint64_t payload_bytes = 0; // sealed chunks, tags included
    std::uint64_t chunks = 0;
};

void AgeReadbackCheckDelete::operator()(AgeReadbackCheck* p) const noexcept {
    delete p;
}

Result<AgeEncryptStats> age_encrypt(int in_fd, int out_fd,
                                    std::span<const X25519Recipient> recipients,
                                    const AgeStreamOptions& options) {
    if (recipients.empty()) {
        return fail(ErrorCode::usage, "no recipient given: pass at least one age1... public key");
    }
    FileKeyGuard file_key;
    if (auto r = detail::random_bytes(file_key.key); !r)
        return tl::unexpected(r.error());

    std::vector<AgeStanza> stanzas;
    for (const auto& recipient : recipients) {
        auto stanza = wrap_for(recipient, file_key.key);
        if (!stanza)
            return tl::unexpected(stanza.error());
        stanzas.push_back(std::move(*stanza));
    }
    std::string header = serialize_age_header_prefix(stanzas);
    Key32Guard hmac_key;
    {
        auto k = detail::hkdf_sha256(file_key.key, {}, "header");
        if (!k)
            return tl::unexpected(k.error());
        hmac_key.key = *k;
    }
    auto mac = detail::hmac_sha256(
        hmac_key.key, {reinterpret_cast<const std::uint8_t*>(header.data()), header.size()});
    if (!mac)
        return tl::unexpected(mac.error());
    header += " " + base64_encode_raw(std::vector<std::uint8_t>(mac->begin(), mac->end())) + "\n";

    std::array<std::uint8_t, 16> nonce{};
    if (auto r = detail::random_bytes(nonce); !r)
        return tl::unexpected(r.error());
    Key32Guard payload_key;
    {
        auto k = detail::hkdf_sha256(file_key.key, nonce, "payload");
        if (!k)
            return tl::unexpected(k.error());
        payload_key.key = *k;
    }

    AgeEncryptStats stats;
    stats.readback.reset(new AgeReadbackCheck());
    stats.readback->payload_key = payload_key.key;
    auto hash_ctx = detail::Sha256::create();
    if (!hash_ctx)
        return tl::unexpected(hash_ctx.error());
    detail::Sha256& hash = *hash_ctx;
    // The plaintext's SHA-256 (for the evidence ledger: what was protected), computed while
    // the batch it covers is sealed, on a thread of its own.
    auto plain_ctx = detail::Sha256::create();
    if (!plain_ctx)
        return tl::unexpected(plain_ctx.error());
    detail::Sha256& plain_hash = *plain_ctx;
    std::vector<std::uint8_t>& prologue = stats.readback->prologue;
    prologue.assign(header.begin(), header.end());
    prologue.insert(prologue.end(), nonce.begin(), nonce.end());
    if (auto r = write_all(out_fd, prologue, options.output_name); !r)
        return tl::unexpected(r.error());
    if (auto r = hash.update(prologue); !r)
        return tl::unexpected(r.error());
    stats.ciphertext_bytes = prologue.size();

    const std::size_t batch = std::max<std::size_t>(1, options.batch_chunks);
    const std::size_t cap = batch * kChunkSize;
    detail::ChunkPool pool(options.threads);
    auto made = make_aeads(pool);
    if (!made)
        return tl::unexpected(made.error());
    std::vector<detail::ChaChaPoly>& aeads = *made;
    // One byte beyond a full batch (and the trailer) tells whether the batch's last chunk is
    // the final one.
    const std::size_t keep = options.replace_head.size;
    if (keep > kChunkSize || (keep > 0 && !options.replace_head.expect)) {
        return fail(ErrorCode::internal, "age_encrypt: a head replacement needs at most one "
                                         "chunk and a function that predicts it");
    }
    std::vector<std::uint8_t> in_cur(cap + keep + 1), in_next(cap + keep + 1);
    std::vector<std::uint8_t> expected_head; // the head as rewritten, which the trailer must be
    // Two output buffers: the previous batch is written and hashed while this one is sealed.
    std::array<std::vector<std::uint8_t>, 2> outs{
        std::vector<std::uint8_t>(batch * kSealedChunkSize),
        std::vector<std::uint8_t>(batch * kSealedChunkSize)};
    // Declared after the buffers it reads, so that it is joined before they are freed.
    // The whole-file SHA-256 (for the journal and the report) is serial: it runs on its own
    // thread, one batch behind the write, so neither the I/O thread nor the sealing waits.
    std::future<Result<void>> hashing;
    Result<void> hashed; // the first hashing failure, checked after each batch
    auto finish_hashing = [&] {
        if (hashing.valid()) {
            if (auto r = hashing.get(); !r && hashed)
                hashed = std::move(r);
        }
    };
    std::size_t pending = 0; // sealed bytes of the previous batch not yet written
    std::uint64_t pending_plain = 0;
    auto flush = [&](const std::vector<std::uint8_t>& buf) -> Result<void> {
        if (pending == 0)
            return {};
        finish_hashing();
        try {
            hashing = std::async(std::launch::async, [&hash, data = buf.data(), len = pending] {
                return hash.update({data, len});
            });
        } catch (const std::system_error&) {
            // No thread to spare: hash here instead.
            if (auto r = hash.update({buf.data(), pending}); !r && hashed)
                hashed = std::move(r);
        }
        if (auto r = write_all(out_fd, {buf.data(), pending}, options.output_name); !r)
            return r;
        if (options.start_writeback) {
            // Asynchronous: queues the batch for write-back, errors surface at fsync.
            (void)::sync_file_range(out_fd, static_cast<off_t>(stats.ciphertext_bytes),
                                    static_cast<off_t>(pending), SYNC_FILE_RANGE_WRITE);
        }
        stats.ciphertext_bytes += pending;
        stats.plaintext_bytes += pending_plain;
        pending = 0;
        if (options.progress)
            options.progress(stats.plaintext_bytes);
        return {};
    };

    auto got = fill(in_fd, in_cur, 0, options.input_name);
    if (!got)
        return tl::unexpected(got.error());
    if (keep > 0) {
        if (*got < 2 * keep) {
            return fail(ErrorCode::verification,
                        options.input_name + " ended after " + std::to_string(*got) +
                            " bytes, before its head and final trailer (" + std::to_string(keep) +
                            " bytes each): the writer failed or stopped");
        }
        if (auto r = options.replace_head.expect({in_cur.data(), keep}); !r)
            return tl::unexpected(r.error());
        expected_head.assign(in_cur.begin(), in_cur.begin() + static_cast<std::ptrdiff_t>(keep));
    }
    std::uint64_t counter = 0;
    FirstError seal_error;
    for (std::size_t k = 0;; ++k) {
        // The input's last `keep` bytes are the trailer: never part of the payload.
        const bool eof = *got <= cap + keep;
        const std::size_t data_len = eof ? *got - keep : cap;
        if (eof && keep > 0 &&
            !std::equal(expected_head.begin(), expected_head.end(), in_cur.begin() + data_len)) {
            return fail(ErrorCode::verification,
                        "the last " + std::to_string(keep) + " bytes of " + options.input_name +
                            " are not the final head expected from its first bytes (the writer "
                            "changed more than it should, or the data is corrupt): nothing of it "
                            "may be used");
        }
        std::size_t chunks = (data_len + kChunkSize - 1) / kChunkSize;
        if (chunks == 0)
            chunks = 1; // an empty payload is one empty final chunk
        const std::uint64_t base = counter;
        const std::uint8_t* in_data = in_cur.data();
        std::uint8_t* out_data = outs[k % 2].data();
        pool.start(
            chunks, [&, in_data, out_data, data_len, chunks, eof, base](std::size_t i, unsigned w) {
                const std::size_t off = i * kChunkSize;
                const std::size_t len = std::min(kChunkSize, data_len - off);
                const bool last = eof && i + 1 == chunks;
                if (auto r = aeads[w].seal(payload_key.key, chunk_nonce(base + i, last),
                                           {in_data + off, len},
                                           {out_data + i * kSealedChunkSize, len + kTagSize});
                    !r) {
                    seal_error.set(r.error());
                }
            });
        // While the workers seal: hash this batch's plaintext, write the previous batch, read
        // the next one (into the other input buffer).
        std::future<Result<void>> plain_hashing;
        try {
            plain_hashing = std::async(std::launch::async, [&plain_hash, in_data, data_len] {
                return plain_hash.update({in_data, data_len});
            });
        } catch (const std::system_error&) {
            if (auto r = plain_hash.update({in_data, data_len}); !r && hashed)
                hashed = std::move(r);
        }
        Result<void> flushed = flush(outs[(k + 1) % 2]);
        Result<std::size_t> next_got = std::size_t{0};
        if (!eof && flushed) {
            // Not the end: the read filled the buffer, so what lies beyond the batch is the
            // look-ahead byte and the bytes that could still be the trailer.
            const std::size_t carry = *got - cap;
            std::memcpy(in_next.data(), in_cur.data() + cap, carry);
            next_got = fill(in_fd, in_next, carry, options.input_name);
        }
        pool.wait();
        if (plain_hashing.valid()) {
            if (auto r = plain_hashing.get(); !r && hashed)
                hashed = std::move(r);
        }
        // The next iteration seals into the buffer just hashed.
        finish_hashing();
        if (!flushed)
            return tl::unexpected(flushed.error());
        if (!next_got)
            return tl::unexpected(next_got.error());
        if (auto e = seal_error.take())
            return tl::unexpected(*e);
        if (!hashed)
            return tl::unexpected(hashed.error());
        pending = data_len + chunks * kTagSize;
        pending_plain = data_len;
        counter += chunks;
        if (eof) {
            auto r = flush(outs[k % 2]);
            finish_hashing();
            if (!r)
                return tl::unexpected(r.error());
            break;
        }
        std::swap(in_cur, in_next);
        got = next_got;
    }
    if (!hashed)
        return tl::unexpected(hashed.error());
    auto digest = hash.finish();
    if (!digest)
        return tl::unexpected(digest.error());
    stats.ciphertext_sha256 = *digest;
    auto plain_digest = plain_hash.finish();
    if (!plain_digest)
        return tl::unexpected(plain_digest.error());
    stats.plaintext_sha256 = *plain_digest;
    stats.readback->payload_bytes = stats.ciphertext_bytes - prologue.size();
    stats.readback->chunks = counter;
    return stats;
}

Result<void> age_verify_readback(int fd, const AgeReadbackCheck& check,
                                 const AgeStreamOptions& options) {
    const std::string& name = options.input_name;
    auto mismatch = [&](const std::string& what) {
        return fail(ErrorCode::verification,
                    name + " read back differs from what was written: " + what);
    };
    {
        std::vector<std::uint8_t> head(check.prologue.size());
        auto n = read_full(fd, head, name);
        if (!n)
            return tl::unexpected(n.error());
        if (*n != head.size())
            return mismatch("it is truncated inside the header");
        if (head != check.prologue)
            return mismatch("the header differs");
    }
    const std::size_t batch = std::max<std::size_t>(1, options.batch_chunks);
    const std::size_t cap = batch * kSealedChunkSize;
    detail::ChunkPool pool(options.threads);
    auto made = make_aeads(pool);
    if (!made)
        return tl::unexpected(made.error());
    std::vector<detail::ChaChaPoly>& aeads = *made;
    FirstError open_error;
    std::vector<std::uint8_t> in_cur(cap), in_next(cap);
    // Authenticating means decrypting: the scratch plaintext is wiped on every exit.
    struct Scratch {
        std::vector<std::uint8_t> bytes;
        ~Scratch() { detail::secure_zero(bytes); }
    } plain{std::vector<std::uint8_t>(batch * kChunkSize)};
    std::vector<std::uint8_t> ok(batch);

    std::uint64_t left = check.payload_bytes;
    auto read_batch = [&](std::vector<std::uint8_t>& buf) -> Result<std::size_t> {
        const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(cap, left));
        auto n = read_full(fd, {buf.data(), want}, name);
        if (!n)
            return tl::unexpected(n.error());
        if (*n != want)
            return fail(ErrorCode::verification,
                        name + " read back differs from what was written: it is truncated");
        left -= want;
        return want;
    };
    auto got = read_batch(in_cur);
    if (!got)
        return tl::unexpected(got.error());
    std::uint64_t base = 0;
    while (*got > 0) {
        const std::size_t data_len = *got;
        const std::size_t chunks = (data_len + kSealedChunkSize - 1) / kSealedChunkSize;
        const std::uint8_t* in_data = in_cur.data();
        pool.start(chunks, [&, in_data, data_len, base](std::size_t i, unsigned w) {
            const std::size_t off = i * kSealedChunkSize;
            const std::size_t len = std::min(kSealedChunkSize, data_len - off);
            ok[i] = 0;
            if (len < kTagSize)
                return;
            auto tag = aeads[w].open(
                check.payload_key, chunk_nonce(base + i, base + i + 1 == check.chunks),
                {in_data + off, len}, {plain.bytes.data() + i * kChunkSize, len - kTagSize});
            if (!tag)
                open_error.set(tag.error());
            else
                ok[i] = static_cast<std::uint8_t>(*tag == detail::TagCheck::verified);
        });
        Result<std::size_t> next = std::size_t{0};
        if (left > 0)
            next = read_batch(in_next);
        pool.wait();
        if (auto e = open_error.take())
            return tl::unexpected(*e);
        for (std::size_t i = 0; i < chunks; ++i) {
            if (!ok[i])
                return mismatch("payload chunk " + std::to_string(base + i) +
                                " does not authenticate");
        }
        if (!next)
            return tl::unexpected(next.error());
        base += chunks;
        std::swap(in_cur, in_next);
        got = next;
    }
    if (base != check.chunks)
        return mismatch("it has " + std::to_string(base) + " chunks, not " +
                        std::to_string(check.chunks));
    std::uint8_t extra = 0;
    auto n = read_full(fd, {&extra, 1}, name);
    if (!n)
        return tl::unexpected(n.error());
    if (*n != 0)
        return mismatch("it has trailing data");
    return {};
}

Result<void> age_verify_file(const std::string& path, const AgeReadbackCheck& check,
                             unsigned threads) {
    auto fd = open_uncached(path);
    if (!fd)
        return tl::unexpected(fd.error());
    AgeStreamOptions so;
    so.threads = threads;
    so.input_name = path;
    return age_verify_readback(fd->get(), check, so);
}

namespace {

struct Failure {
    AgeFailure kind;
    Error error;
};

tl::unexpected<Failure> failure(AgeFailure kind, ErrorCode code, std::string message) {
    return tl::unexpected(Failure{kind, Error{code, std::move(message)}});
}

// Finds which stanza our identities open; returns the file key.
tl::expected<detail::FileKey, Failure> unwrap_file_key(const AgeHeader& header,
                                                       std::span<const X25519Identity> identities) {
    bool saw_scrypt = false;
    // Native age recipient types snapgov does not implement: their presence makes a
    // "no match" an "unsupported" with a pointer to the age tool.
    std::string unsupported_types;
    for (const auto& s : header.stanzas) {
        if (s.type == "X25519") {
            auto share = s.args.size() == 1 ? base64_decode_raw(s.args[0]) : std::nullopt;
            if (!share || share->size() != 32 || s.body.size() != 32) {
                return failure(AgeFailure::header, ErrorCode::crypto,
                               "invalid age header: malformed X25519 stanza");
            }
        } else if (s.type == "scrypt") {
            saw_scrypt = true;
        } else if ((s.type == "mlkem768x25519" || s.type == "p256tag" ||
                    s.type == "mlkem768p256tag") &&
                   unsupported_types.find(s.type) == std::string::npos) {
            unsupported_types += (unsupported_types.empty() ? "" : ", ") + s.type;
        }
    }
    if (saw_scrypt && header.stanzas.size() > 1) {
        return failure(AgeFailure::header, ErrorCode::crypto,
                       "invalid age header: an scrypt stanza must be the only stanza");
    }
    auto aead = detail::ChaChaPoly::create();
    if (!aead)
        return tl::unexpected(Failure{AgeFailure::header, aead.error()});
    for (const auto& s : header.stanzas) {
        if (s.type != "X25519")
            continue;
        const auto share_bytes = *base64_decode_raw(s.args[0]);
        Key32 share{};
        std::copy(share_bytes.begin(), share_bytes.end(), share.begin());
        for (const auto& id : identities) {
            auto shared = detail::x25519_shared(id.secret(), share);
            if (!shared) {
                return failure(AgeFailure::header, ErrorCode::crypto,
                               "invalid age header: X25519 share is a low-order point");
            }
            Key32Guard shared_guard{*shared};
            std::vector<std::uint8_t> salt(share.begin(), share.end());
            salt.insert(salt.end(), id.recipient().key().begin(), id.recipient().key().end());
            auto wrap_key = detail::hkdf_sha256(shared_guard.key, salt, kX25519Info);
            if (!wrap_key)
                return tl::unexpected(Failure{AgeFailure::header, wrap_key.error()});
            Key32Guard wrap_guard{*wrap_key};
            detail::FileKey key{};
            auto tag = aead->open(wrap_guard.key, {}, s.body, key);
            if (!tag)
                return tl::unexpected(Failure{AgeFailure::header, tag.error()});
            if (*tag == detail::TagCheck::verified)
                return key;
        }
    }
    if (saw_scrypt) {
        return failure(AgeFailure::unsupported, ErrorCode::unsupported,
                       "the file is passphrase-encrypted (scrypt), which snapgov does not "
                       "support; decrypt it with 'age -d'");
    }
    if (!unsupported_types.empty()) {
        return failure(AgeFailure::unsupported, ErrorCode::unsupported,
                       "no X25519 identity matches, and the file is also encrypted to recipient "
                       "types snapgov does not support (" +
                           unsupported_types + "); decrypt it with the 'age' tool");
    }
    return failure(AgeFailure::no_match, ErrorCode::not_found,
                   "none of the identities matches a recipient of this file (wrong key file?)");
}

enum class ChunkState : std::uint8_t { bad, middle, last };

tl::expected<std::uint64_t, Failure> decrypt_impl(int in_fd, const AgeSink& sink,
                                                  std::span<const X25519Identity> identities,
                                                  const AgeStreamOptions& options) {
    const std::string& in_name = options.input_name;
    // Header: read until the line that starts with "---" is complete.
    std::vector<std::uint8_t> buf(16 * 1024);
    std::size_t have = 0;
    std::size_t header_end = std::string_view::npos;
    bool eof = false;
    while (header_end == std::string_view::npos) {
        std::string_view text(reinterpret_cast<const char*>(buf.data()), have);
        const std::size_t mac_at = text.find("\n---");
        if (mac_at != std::string_view::npos) {
            const std::size_t lf = text.find('\n', mac_at + 1);
            if (lf != std::string_view::npos) {
                header_end = lf + 1;
                break;
            }
        }
        if (eof || have >= kMaxHeaderSize) {
            if (have == 0) {
                return failure(AgeFailure::header, ErrorCode::crypto,
                               "invalid age header: " + in_name + " is empty");
            }
            auto parsed = parse_age_header(text);
            if (parsed) {
                return failure(AgeFailure::header, ErrorCode::crypto,
                               "invalid age header: " + in_name + " is truncated");
            }
            const AgeFailure kind =
                parsed.error().code == ErrorCode::unsupported && text.starts_with("-----BEGIN")
                    ? AgeFailure::unsupported
                    : AgeFailure::header;
            return tl::unexpected(Failure{kind, parsed.error()});
        }
        if (have == buf.size())
            buf.resize(buf.size() * 2);
        const std::size_t before = have;
        auto n = read_full(
            in_fd, std::span(buf).subspan(have, std::min<std::size_t>(4096, buf.size() - have)),
            in_name);
        if (!n)
            return tl::unexpected(Failure{AgeFailure::io, n.error()});
        have += *n;
        if (have == before)
            eof = true;
    }
    const std::string_view header_text(reinterpret_cast<const char*>(buf.data()), header_end);
    auto header = parse_age_header(header_text);
    if (!header) {
        const AgeFailure kind =
            header_text.starts_with("-----BEGIN") ? AgeFailure::unsupported : AgeFailure::header;
        return tl::unexpected(Failure{kind, header.error()});
    }
    auto key = unwrap_file_key(*header, identities);
    if (!key)
        return tl::unexpected(key.error());
    FileKeyGuard file_key{*key};
    detail::secure_zero(*key);

    {
        auto hmac_key = detail::hkdf_sha256(file_key.key, {}, "header");
        if (!hmac_key)
            return tl::unexpected(Failure{AgeFailure::hmac, hmac_key.error()});
        Key32Guard hk{*hmac_key};
        auto mac = detail::hmac_sha256(
            hk.key, {reinterpret_cast<const std::uint8_t*>(header->mac_input.data()),
                     header->mac_input.size()});
        if (!mac || CRYPTO_memcmp(mac->data(), header->mac.data(), 32) != 0) {
            return failure(AgeFailure::hmac, ErrorCode::crypto,
                           "age header MAC mismatch: " + in_name + " was altered or is corrupt");
        }
    }

    const std::size_t batch = std::max<std::size_t>(1, options.batch_chunks);
    const std::size_t cap = batch * kSealedChunkSize;
    std::vector<std::uint8_t> in_cur(cap + 1), in_next(cap + 1);
    // Move what followed the header (nonce, first chunks) to the front of the batch buffer.
    std::size_t carried = have - header_end;
    // The header is read 4 KiB at a time, so less than one chunk follows it.
    if (carried > cap) {
        return failure(AgeFailure::io, ErrorCode::internal, "header read overran the batch buffer");
    }
    std::memcpy(in_cur.data(), buf.data() + header_end, carried);
    std::vector<std::uint8_t>().swap(buf);
    if (carried < 16) {
        auto n = fill(in_fd, in_cur, carried, in_name);
        if (!n)
            return tl::unexpected(Failure{AgeFailure::io, n.error()});
        carried = *n;
        if (carried < 16) {
            return failure(AgeFailure::header, ErrorCode::crypto,
                           "age payload nonce is missing: " + in_name + " is truncated");
        }
    }
    Key32Guard payload_key;
    {
        auto k = detail::hkdf_sha256(file_key.key, {in_cur.data(), 16}, "payload");
        if (!k)
            return tl::unexpected(Failure{AgeFailure::payload, k.error()});
        payload_key.key = *k;
    }
    std::memmove(in_cur.data(), in_cur.data() + 16, carried - 16);
    carried -= 16;
    auto got = fill(in_fd, in_cur, carried, in_name);
    if (!got)
        return tl::unexpected(Failure{AgeFailure::io, got.error()});

    detail::ChunkPool pool(options.threads);
    auto made = make_aeads(pool);
    if (!made)
        return tl::unexpected(Failure{AgeFailure::payload, made.error()});
    std::vector<detail::ChaChaPoly>& aeads = *made;
    FirstError open_error;
    std::vector<std::uint8_t> plain(batch * kChunkSize);
    std::vector<ChunkState> states(batch);
    std::uint64_t counter = 0;
    std::uint64_t released = 0;
    for (;;) {
        const bool at_eof = *got <= cap;
        const std::size_t data_len = at_eof ? *got : cap;
        const std::size_t chunks = (data_len + kSealedChunkSize - 1) / kSealedChunkSize;
        if (chunks == 0) {
            return failure(AgeFailure::payload, ErrorCode::crypto,
                           "age payload has no chunks: " + in_name + " is truncated");
        }
        const std::uint8_t* in_data = in_cur.data();
        const std::uint64_t base = counter;
        pool.start(chunks, [&, in_data, data_len, base](std::size_t i, unsigned w) {
            const std::size_t off = i * kSealedChunkSize;
            const std::size_t len = std::min(kSealedChunkSize, data_len - off);
            states[i] = ChunkState::bad;
            if (len < kTagSize)
                return;
            std::span<const std::uint8_t> sealed(in_data + off, len);
            std::span<std::uint8_t> dst(plain.data() + i * kChunkSize, len - kTagSize);
            // A full-size chunk is normally a middle one; if that fails it may be a full
            // final chunk (then anything after it is trailing data, checked below).
            if (len == kSealedChunkSize) {
                auto tag =
                    aeads[w].open(payload_key.key, chunk_nonce(base + i, false), sealed, dst);
                if (!tag) {
                    open_error.set(tag.error());
                    return;
                }
                if (*tag == detail::TagCheck::verified) {
                    states[i] = ChunkState::middle;
                    return;
                }
            }
            auto tag = aeads[w].open(payload_key.key, chunk_nonce(base + i, true), sealed, dst);
            if (!tag)
                open_error.set(tag.error());
            else if (*tag == detail::TagCheck::verified)
                states[i] = ChunkState::last;
        });
        Result<std::size_t> next_got = std::size_t{0};
        if (!at_eof) {
            in_next[0] = in_cur[cap];
            next_got = fill(in_fd, in_next, 1, in_name);
        }
        pool.wait();
        // OpenSSL failing is not a verdict on the file: report it as it is, not as a bad chunk.
        if (auto e = open_error.take())
            return tl::unexpected(Failure{AgeFailure::payload, *e});
        std::size_t good = 0; // plaintext bytes of this batch that may be released
        std::optional<Failure> stop;
        bool finished = false;
        for (std::size_t i = 0; i < chunks && !stop && !finished; ++i) {
            const std::size_t off = i * kSealedChunkSize;
            const std::size_t sealed_len = std::min(kSealedChunkSize, data_len - off);
            const std::size_t len = sealed_len >= kTagSize ? sealed_len - kTagSize : 0;
            const std::uint64_t index = base + i;
            switch (states[i]) {
            case ChunkState::bad:
                stop = Failure{AgeFailure::payload,
                               {ErrorCode::crypto, "age payload chunk " + std::to_string(index) +
                                                       " of " + in_name +
                                                       " failed authentication (corrupt or "
                                                       "truncated file)"}};
                break;
            case ChunkState::last:
                if (len == 0 && index != 0) {
                    stop = Failure{AgeFailure::payload,
                                   {ErrorCode::crypto, "age payload of " + in_name +
                                                           " ends with an empty final chunk"}};
                    break;
                }
                good += len;
                if (i + 1 != chunks || !at_eof) {
                    stop = Failure{
                        AgeFailure::payload,
                        {ErrorCode::crypto, "trailing data after the final chunk of " + in_name}};
                } else {
                    finished = true;
                }
                break;
            case ChunkState::middle:
                good += len;
                if (i + 1 == chunks && at_eof) {
                    stop = Failure{AgeFailure::payload,
                                   {ErrorCode::crypto, in_name + " is truncated: the age payload "
                                                                 "has no final chunk"}};
                }
                break;
            }
        }
        if (good > 0) {
            if (auto r = sink({plain.data(), good}); !r) {
                return tl::unexpected(Failure{AgeFailure::io, r.error()});
            }
            released += good;
        }
        if (stop)
            return tl::unexpected(*stop);
        if (!next_got)
            return tl::unexpected(Failure{AgeFailure::io, next_got.error()});
        counter += chunks;
        if (options.progress)
            options.progress(released);
        if (finished)
            return released;
        std::swap(in_cur, in_next);
        got = next_got;
    }
}

} // namespace

Result<std::uint64_t> age_decrypt(int in_fd, const AgeSink& sink,
                                  std::span<const X25519Identity> identities,
                                  const AgeStreamOptions& options, AgeFailure* failure_kind) {
    if (failure_kind)
        *failure_kind = AgeFailure::none;
    if (identities.empty()) {
        if (failure_kind)
            *failure_kind = AgeFailure::no_match;
        return fail(ErrorCode::usage, "no identity given to decrypt with");
    }
    auto r = decrypt_impl(in_fd, sink, identities, options);
    if (!r) {
        if (failure_kind)
            *failure_kind = r.error().kind;
        return tl::unexpected(r.error().error);
    }
    return *r;
}

} // namespace snapgov::dumps
