#pragma once
/// Verification of a ledger: every chain recomputed from its records, every signed head
/// checked, and the first bad record named (its seq and what is wrong with it).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "evidence/signing_key.hpp"
#include "evidence/store.hpp"

namespace snapgov::evidence {

/// A head an external witness kept (`SEQ:HASH`, as `snapgov evidence head` prints it).
struct ExpectedHead {
    std::uint64_t seq = 0;
    std::string hash;

    /// Parses `SEQ:HASH` (HASH: 64 hex digits).
    [[nodiscard]] static Result<ExpectedHead> parse(const std::string& text);
};

/// What to check besides the chains themselves.
struct VerifyOptions {
    /// When set, every head signature must be by this key and the last record of each chain
    /// must carry one. Without it, signatures are checked against the key recorded beside
    /// them, which proves consistency, not authorship.
    const SigningKey* public_key = nullptr;
    /// A head that `expect_host`'s chain must still contain (detects truncation).
    std::optional<ExpectedHead> expect;
    std::string expect_host;
};

/// The verdict on one host's chain.
struct ChainReport {
    std::string host_id;
    std::uint64_t records = 0;         ///< records read
    Head head;                         ///< the last record
    std::uint64_t signatures = 0;      ///< head signatures checked
    std::uint64_t last_signed_seq = 0; ///< 0: none
    std::string last_signed_hash;
    bool ok = true;
    std::uint64_t bad_seq = 0;      ///< the first bad record (ok false); 0 when not one record
    std::string problem;            ///< what is wrong, one sentence
    std::vector<std::string> notes; ///< what the verdict does not cover
};

/// Verifies every chain in `store` (and `options.expect_host`'s even when it has no record).
/// An error only when the store cannot be read; tampering is a report with ok false.
[[nodiscard]] Result<std::vector<ChainReport>> verify(Store& store, const VerifyOptions& options);

} // namespace snapgov::evidence
