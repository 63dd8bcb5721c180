#pragma once
/// Files that a configuration names (a password file, a TLS key, a CA bundle, a test-driver
/// host): one set of checks, made when the config is loaded and again when the file is used,
/// so that a file that cannot work is refused at its key in the policy file and not in the
/// middle of a pass.

#include <cstdint>
#include <string>

#include "core/error.hpp"

namespace snapgov {

/// What a named file must be.
struct FileRule {
    /// A secret (a password, a private key): owned by root or the effective user, with no
    /// access for group or others, and not empty.
    bool secret = false;
    /// The largest size accepted, in bytes.
    std::uintmax_t max_bytes = 0;
};

/// Passwords and private keys: one rule for all of them.
inline constexpr FileRule kSecretFile{true, std::uintmax_t{64} << 10};
/// Certificates and CA bundles.
inline constexpr FileRule kCertificateFile{false, std::uintmax_t{16} << 20};
/// A libvirt test-driver host description (libvirt reads it; bench hosts reach 100 MiB).
inline constexpr FileRule kHostFile{false, std::uintmax_t{1} << 30};

/// Checks that `path` exists, is a regular file (symbolic links followed), that this process
/// can open it for reading and that it is at most `rule.max_bytes`; for a secret also its
/// owner, its mode and that it is not empty. Opens without blocking (a FIFO is refused, not
/// waited on) and reads nothing. On failure an ErrorCode::config error whose message starts
/// with `'PATH' ` and ends with the fix, e.g. `'/etc/x' is a directory; give the path of a
/// file`.
[[nodiscard]] Result<void> check_file(const std::string& path, const FileRule& rule);

/// The same checks on the file as opened, then its whole content.
[[nodiscard]] Result<std::string> read_checked_file(const std::string& path, const FileRule& rule);

} // namespace snapgov
