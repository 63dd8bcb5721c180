#pragma once
/// Helpers for tests that work on file contents: reading, writing, random data, hashes, and
/// running external commands (the `age` CLI).

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace snapgov::testing {

std::vector<std::uint8_t> read_file(const std::string& path);
void write_file(const std::string& path, const std::vector<std::uint8_t>& data,
                unsigned mode = 0644);
std::vector<std::uint8_t> random_data(std::size_t size);
std::string sha256_hex(const std::vector<std::uint8_t>& data);
/// SHA-256 of a file, streamed (for multi-GiB files).
std::string sha256_file(const std::string& path);
/// Runs `command` through /bin/sh; returns its exit status.
int run(const std::string& command);
/// Runs `command` and returns its standard output.
std::string run_output(const std::string& command);

/// An age key pair made by the real `age-keygen`.
struct AgeKeyFile {
    std::string identity_file; ///< the private key, for `age -d -i`
    std::string recipient;     ///< its public key, `age1...`
};
/// Writes a new key to `identity_file` with `age-keygen`; throws std::runtime_error if the
/// tool fails or prints no recipient.
AgeKeyFile age_keygen(const std::string& identity_file);

} // namespace snapgov::testing
