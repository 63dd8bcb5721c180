#include "dumps/age_keys.hpp"

#include <cctype>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dumps/age_crypto.hpp"
#include "dumps/age_encoding.hpp"
#include "dumps/unique_fd.hpp"

namespace snapgov::dumps {

Result<X25519Recipient> X25519Recipient::parse(std::string_view text) {
    auto decoded = bech32_decode(text);
    if (!decoded || decoded->hrp != "age" || decoded->data.size() != 32 ||
        text.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string_view::npos) {
        return fail(ErrorCode::usage,
                    "not an age X25519 recipient (expected 'age1' followed by 58 lowercase "
                    "Bech32 characters, as printed by 'age-keygen -y')");
    }
    std::array<std::uint8_t, 32> key{};
    std::copy(decoded->data.begin(), decoded->data.end(), key.begin());
    return X25519Recipient(key);
}

std::string X25519Recipient::to_string() const {
    return bech32_encode("age", std::vector<std::uint8_t>(key_.begin(), key_.end()));
}

X25519Identity::~X25519Identity() {
    detail::secure_zero(secret_);
}

Result<X25519Identity> X25519Identity::parse(std::string_view text) {
    auto decoded = bech32_decode(text);
    const bool upper = text.find_first_of("abcdefghijklmnopqrstuvwxyz") == std::string_view::npos;
    if (!decoded || !upper || decoded->hrp != "age-secret-key-" || decoded->data.size() != 32) {
        if (decoded)
            detail::secure_zero(decoded->data);
        return fail(ErrorCode::usage, "not an age X25519 identity (expected 'AGE-SECRET-KEY-1' "
                                      "followed by 58 uppercase Bech32 characters)");
    }
    std::array<std::uint8_t, 32> secret{};
    std::copy(decoded->data.begin(), decoded->data.end(), secret.begin());
    detail::secure_zero(decoded->data);
    auto pub = detail::x25519_public(secret);
    if (!pub)
        return tl::unexpected(pub.error());
    X25519Identity id(secret, X25519Recipient(*pub));
    detail::secure_zero(secret);
    return id;
}

Result<X25519Identity> X25519Identity::generate() {
    std::array<std::uint8_t, 32> secret{};
    if (auto r = detail::random_bytes(secret); !r)
        return tl::unexpected(r.error());
    auto pub = detail::x25519_public(secret);
    if (!pub)
        return tl::unexpected(pub.error());
    X25519Identity id(secret, X25519Recipient(*pub));
    detail::secure_zero(secret);
    return id;
}

std::string X25519Identity::to_string() const {
    std::vector<std::uint8_t> data(secret_.begin(), secret_.end());
    std::string text = bech32_encode("age-secret-key-", data);
    detail::secure_zero(data);
    for (char& c : text)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return text;
}

Result<std::vector<X25519Identity>> load_identity_file(const std::string& path) {
    // O_NONBLOCK: a FIFO in its place must not hang the open; it is refused below.
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd.valid()) {
        const int err = errno;
        if (err == ELOOP) {
            // O_NOFOLLOW: a secret key is read only from the file named, never through a link
            // someone else may redirect.
            return fail(ErrorCode::config, "identity file " + path +
                                               " is a symbolic link; give the path of the key "
                                               "file itself");
        }
        return fail(err == ENOENT ? ErrorCode::not_found : ErrorCode::io,
                    "cannot open identity file " + path + ": " + errno_text(err));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return fail(ErrorCode::io, "cannot stat identity file " + path + ": " + errno_text(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return fail(ErrorCode::config, "identity file " + path + " is not a regular file");
    }
    // The same rule as every secret a config names (core/checked_file): a key someone else
    // owns could have been swapped by them.
    if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
        return fail(ErrorCode::config, "identity file " + path + " is owned by uid " +
                                           std::to_string(st.st_uid) +
                                           ", who could change it; it must be owned by root or "
                                           "by the user snapgov runs as (uid " +
                                           std::to_string(::geteuid()) + "): run chown on it");
    }
    if ((st.st_mode & 077) != 0) {
        return fail(ErrorCode::config, "identity file " + path +
                                           " is accessible by group or others; secret keys must "
                                           "be private: run 'chmod 600 " +
                                           path + "'");
    }
    if (st.st_size > 1024 * 1024) {
        return fail(ErrorCode::config, "identity file " + path + " is too large to be an age key");
    }
    std::string content(static_cast<std::size_t>(st.st_size), '\0');
    auto n = read_full(fd.get(), {reinterpret_cast<std::uint8_t*>(content.data()), content.size()},
                       "identity file " + path);
    if (!n)
        return tl::unexpected(n.error());
    content.resize(*n);

    std::vector<X25519Identity> ids;
    std::size_t line_no = 0;
    std::size_t pos = 0;
    Result<std::vector<X25519Identity>> result;
    while (pos < content.size()) {
        std::size_t end = content.find('\n', pos);
        if (end == std::string::npos)
            end = content.size();
        std::string_view line(content.data() + pos, end - pos);
        pos = end + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t'))
            line.remove_prefix(1);
        while (!line.empty() && (line.back() == ' ' || line.back() == '\t'))
            line.remove_suffix(1);
        if (line.empty() || line.front() == '#')
            continue;
        const std::string where = path + ":" + std::to_string(line_no);
        if (line.starts_with("AGE-SECRET-KEY-PQ-") || line.starts_with("AGE-PLUGIN-")) {
            result = fail(ErrorCode::unsupported,
                          where + ": post-quantum and plugin identities are not supported by "
                                  "snapgov; decrypt this file with the 'age' tool");
            break;
        }
        if (line.starts_with("-----BEGIN")) {
            result = fail(ErrorCode::unsupported,
                          where + ": passphrase-protected identity files are not supported");
            break;
        }
        auto id = X25519Identity::parse(line);
        if (!id) {
            result = fail(ErrorCode::config, where + ": " + id.error().message);
            break;
        }
        ids.push_back(std::move(*id));
    }
    detail::secure_zero({reinterpret_cast<std::uint8_t*>(content.data()), content.size()});
    if (!result)
        return result;
    if (ids.empty()) {
        return fail(ErrorCode::config, "identity file " + path +
                                           " holds no AGE-SECRET-KEY-1 line (create one with "
                                           "'age-keygen -o FILE')");
    }
    return ids;
}

} // namespace snapgov::dumps
