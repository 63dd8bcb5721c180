#include "evidence/signing_key.hpp"

#include <cerrno>
#include <cstring>
#include <string.h>

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/checked_file.hpp"
#include "core/unique_fd.hpp"
#include "evidence/record.hpp"

namespace snapgov::evidence {
namespace {

struct BioFree {
    void operator()(BIO* b) const noexcept { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

struct CtxFree {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<EVP_MD_CTX, CtxFree>;

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

/// Wipes a string that held key material before its memory is freed.
struct WipeString {
    std::string& s;
    ~WipeString() { ::explicit_bzero(s.data(), s.size()); }
};

} // namespace

void SigningKey::Free::operator()(evp_pkey_st* key) const noexcept {
    EVP_PKEY_free(key);
}

Result<SigningKey> SigningKey::generate() {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    if (key == nullptr) {
        return fail(ErrorCode::crypto, "Ed25519 key generation failed (OpenSSL)");
    }
    return SigningKey(key);
}

Result<SigningKey> SigningKey::load_private(const std::string& path) {
    auto text = read_checked_file(path, kSecretFile);
    if (!text) {
        return tl::unexpected(text.error().with_context("evidence signing key"));
    }
    WipeString wipe{*text};
    BioPtr bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
    EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
    if (key == nullptr) {
        return fail(ErrorCode::config, "evidence signing key '" + path +
                                           "' is not a PEM private key; make one with 'snapgov "
                                           "evidence keygen -o FILE'");
    }
    SigningKey out(key);
    if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
        return fail(ErrorCode::config, "evidence signing key '" + path +
                                           "' is not an Ed25519 key; make one with 'snapgov "
                                           "evidence keygen -o FILE'");
    }
    return out;
}

Result<SigningKey> SigningKey::load_public(const std::string& path) {
    auto text = read_checked_file(path, kCertificateFile);
    if (!text) {
        return tl::unexpected(text.error().with_context("public key"));
    }
    BioPtr bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
    EVP_PKEY* key = bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr;
    if (key == nullptr) {
        return fail(ErrorCode::config, "'" + path +
                                           "' is not a PEM public key (-----BEGIN PUBLIC "
                                           "KEY-----, as 'snapgov evidence keygen' prints it)");
    }
    SigningKey out(key);
    if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
        return fail(ErrorCode::config, "'" + path + "' is not an Ed25519 public key");
    }
    return out;
}

Result<SigningKey> SigningKey::from_public_hex(std::string_view hex) {
    auto raw = from_hex(hex);
    if (!raw || raw->size() != 32) {
        return fail(ErrorCode::crypto, "an Ed25519 public key is 64 hex digits");
    }
    EVP_PKEY* key = EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(raw->data()), 32);
    if (key == nullptr) {
        return fail(ErrorCode::crypto, "not an Ed25519 public key");
    }
    return SigningKey(key);
}

Result<void> SigningKey::write_private(const std::string& path) const {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr,
                                         nullptr) != 1) {
        return fail(ErrorCode::crypto, "cannot encode the private key (OpenSSL)");
    }
    std::string pem = bio_text(bio.get());
    WipeString wipe{pem};
    // O_EXCL: never overwrite a key someone may already rely on; 0600 whatever the umask.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        const int err = errno;
        return fail(ErrorCode::io, "cannot create '" + path + "': " + std::strerror(err) +
                                       (err == EEXIST ? " (remove it first, or give another "
                                                        "name: an existing key is never "
                                                        "overwritten)"
                                                      : ""));
    }
    UniqueFd guard(fd);
    if (::fchmod(fd, 0600) != 0) {
        return fail(ErrorCode::io, "cannot set mode 0600 on '" + path + "'");
    }
    std::size_t done = 0;
    while (done < pem.size()) {
        const ssize_t n = ::write(fd, pem.data() + done, pem.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return fail(ErrorCode::io, "cannot write '" + path + "': " + std::strerror(errno));
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        return fail(ErrorCode::io, "cannot sync '" + path + "': " + std::strerror(errno));
    }
    return {};
}

Result<std::string> SigningKey::public_pem() const {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) {
        return fail(ErrorCode::crypto, "cannot encode the public key (OpenSSL)");
    }
    return bio_text(bio.get());
}

Result<std::string> SigningKey::public_hex() const {
    unsigned char raw[32];
    std::size_t len = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(key_.get(), raw, &len) != 1 || len != 32) {
        return fail(ErrorCode::crypto, "cannot read the raw public key (OpenSSL)");
    }
    return to_hex(std::string_view(reinterpret_cast<const char*>(raw), len));
}

Result<std::string> SigningKey::sign(std::string_view message) const {
    CtxPtr ctx(EVP_MD_CTX_new());
    unsigned char sig[64];
    std::size_t len = sizeof sig;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
        EVP_DigestSign(ctx.get(), sig, &len, reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) != 1) {
        return fail(ErrorCode::crypto, "Ed25519 signing failed (OpenSSL)");
    }
    return to_hex(std::string_view(reinterpret_cast<const char*>(sig), len));
}

bool SigningKey::verify(std::string_view message, std::string_view signature_hex) const {
    auto sig = from_hex(signature_hex);
    if (!sig || sig->size() != 64) {
        return false;
    }
    CtxPtr ctx(EVP_MD_CTX_new());
    return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) == 1 &&
           EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()),
                            sig->size(), reinterpret_cast<const unsigned char*>(message.data()),
                            message.size()) == 1;
}

} // namespace snapgov::evidence
