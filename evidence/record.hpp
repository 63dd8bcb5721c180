#pragma once
/// One record of the evidence ledger and its place in a host's hash chain. The encoding that
/// the hash covers is specified in docs/evidence.md ("Canonical encoding"), so that an auditor
/// can recompute the chain without snapgov.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace snapgov::evidence {

/// The hash before a chain's first record: 64 hex zeros.
inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// What a record says (the `type` column). Records of one pass share its `pass` number.
namespace record_type {
inline constexpr std::string_view kPassStart = "pass_start";
inline constexpr std::string_view kCollection = "collection";
inline constexpr std::string_view kFinding = "finding";
inline constexpr std::string_view kDumpOperation = "dump_operation";
inline constexpr std::string_view kAction = "action";
inline constexpr std::string_view kPassEnd = "pass_end";
/// N identical passes between two times, in place of their records (bounded growth).
inline constexpr std::string_view kHeartbeat = "heartbeat";
} // namespace record_type

/// One row of the ledger. `body` is JSON text; the hash covers its bytes exactly as stored,
/// so verification never re-serialises JSON.
struct Record {
    std::string host_id;
    std::uint64_t seq = 0;  ///< 1, 2, 3... per host, without gaps
    std::string prev_hash;  ///< hex SHA-256 of record seq-1 (kGenesisHash for seq 1)
    std::string type;       ///< one of record_type
    std::string time;       ///< RFC 3339 UTC instant the record was written
    std::uint64_t pass = 0; ///< seq of the pass_start record of its pass (0: none)
    std::string body;       ///< JSON object text
    std::string hash;       ///< hex SHA-256 of the canonical encoding
};

/// The canonical encoding of `record` (every field but `hash`), as docs/evidence.md defines it.
[[nodiscard]] std::string canonical_encoding(const Record& record);

/// Hex SHA-256 of canonical_encoding(record). Fails only when `prev_hash` is not 64 hex
/// digits or OpenSSL fails.
[[nodiscard]] Result<std::string> record_hash(const Record& record);

/// The message an Ed25519 head signature covers: `snapgov-evidence-head/1\n` HOST `\n` SEQ
/// `\n` HASH.
[[nodiscard]] std::string head_message(std::string_view host_id, std::uint64_t seq,
                                       std::string_view hash);

/// Lower-case hex of `bytes`.
[[nodiscard]] std::string to_hex(std::string_view bytes);
/// The bytes of lower- or upper-case hex text; nullopt-like error when it is not hex.
[[nodiscard]] Result<std::string> from_hex(std::string_view hex);
/// Hex SHA-256 of `data`.
[[nodiscard]] Result<std::string> sha256_hex(std::string_view data);

} // namespace snapgov::evidence
