#include "evidence/record.hpp"

#include <openssl/evp.h>

namespace snapgov::evidence {
namespace {

constexpr std::string_view kDomain{"snapgov-evidence/1\0", 19};

void put_u64(std::string& out, std::uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) {
        out += static_cast<char>((v >> shift) & 0xFF);
    }
}

void put_bytes(std::string& out, std::string_view bytes) {
    const auto n = static_cast<std::uint32_t>(bytes.size());
    for (int shift = 24; shift >= 0; shift -= 8) {
        out += static_cast<char>((n >> shift) & 0xFF);
    }
    out.append(bytes);
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

} // namespace

std::string to_hex(std::string_view bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char ch : bytes) {
        const auto b = static_cast<unsigned char>(ch);
        out += kHex[b >> 4];
        out += kHex[b & 15];
    }
    return out;
}

Result<std::string> from_hex(std::string_view hex) {
    if (hex.size() % 2 != 0) {
        return fail(ErrorCode::crypto, "hex text of odd length");
    }
    std::string out;
    out.reserve(hex.size() / 2);
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        const int hi = hex_value(hex[i]);
        const int lo = hex_value(hex[i + 1]);
        if (hi < 0 || lo < 0) {
            return fail(ErrorCode::crypto, "not hex text");
        }
        out += static_cast<char>(hi * 16 + lo);
    }
    return out;
}

namespace {

/// SHA-256 fetched once: EVP_Digest with EVP_sha256() looks the implementation up again on
/// every call, which at hundreds of thousands of records per pass costs more than the hashing.
const EVP_MD* sha256_md() {
    static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return md;
}

/// One digest context and encoding buffer per thread, reused record after record.
struct Hasher {
    Hasher() : ctx(EVP_MD_CTX_new()) {}
    ~Hasher() { EVP_MD_CTX_free(ctx); }
    Hasher(const Hasher&) = delete;
    Hasher& operator=(const Hasher&) = delete;

    Result<std::string> hex(std::string_view data) {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        const EVP_MD* md = sha256_md();
        if (ctx == nullptr || md == nullptr || EVP_DigestInit_ex2(ctx, md, nullptr) != 1 ||
            EVP_DigestUpdate(ctx, data.data(), data.size()) != 1 ||
            EVP_DigestFinal_ex(ctx, digest, &len) != 1) {
            return fail(ErrorCode::crypto, "SHA-256 failed (OpenSSL)");
        }
        return to_hex(std::string_view(reinterpret_cast<const char*>(digest), len));
    }

    EVP_MD_CTX* ctx;
    std::string buffer;
};

Hasher& hasher() {
    thread_local Hasher h;
    return h;
}

/// The 32 bytes of a hash written as 64 hex digits; false when it is not that.
bool hash_bytes(std::string_view hex, char (&out)[32]) {
    if (hex.size() != 64) {
        return false;
    }
    for (std::size_t i = 0; i < 32; ++i) {
        const int hi = hex_value(hex[2 * i]);
        const int lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = static_cast<char>(hi * 16 + lo);
    }
    return true;
}

void encode(std::string& out, const Record& record) {
    out.clear();
    out.reserve(record.body.size() + record.host_id.size() + 128);
    out.append(kDomain);
    put_u64(out, record.seq);
    // The previous hash as its 32 raw bytes; a malformed one is encoded as its text, which
    // can never equal a well-formed chain (record_hash() refuses it anyway).
    char prev[32];
    if (hash_bytes(record.prev_hash, prev)) {
        out.append(prev, sizeof prev);
    } else {
        out.append(record.prev_hash);
    }
    put_bytes(out, record.host_id);
    put_bytes(out, record.type);
    put_bytes(out, record.time);
    put_u64(out, record.pass);
    put_bytes(out, record.body);
}

} // namespace

Result<std::string> sha256_hex(std::string_view data) {
    return hasher().hex(data);
}

std::string canonical_encoding(const Record& record) {
    std::string out;
    encode(out, record);
    return out;
}

Result<std::string> record_hash(const Record& record) {
    char prev[32];
    if (!hash_bytes(record.prev_hash, prev)) {
        return fail(ErrorCode::crypto, "prev_hash is not 64 hex digits");
    }
    Hasher& h = hasher();
    encode(h.buffer, record);
    return h.hex(h.buffer);
}

std::string head_message(std::string_view host_id, std::uint64_t seq, std::string_view hash) {
    std::string out = "snapgov-evidence-head/1\n";
    out.append(host_id);
    out += '\n';
    out += std::to_string(seq);
    out += '\n';
    out.append(hash);
    return out;
}

} // namespace snapgov::evidence
