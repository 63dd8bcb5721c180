#pragma once
/// Where ledger records live: a small interface, so that a shared store for a fleet (each host
/// keeping its own chain, keyed by host id) can be added without touching the chain, signing
/// or export code. The store keeps what it is given; it does not compute or check hashes
/// (the Ledger and verify() do), so that verification sees exactly what is stored.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"
#include "evidence/record.hpp"

namespace snapgov::evidence {

/// The last record of one host's chain.
struct Head {
    std::string host_id;
    std::uint64_t seq = 0; ///< 0: no record yet
    std::string hash;      ///< kGenesisHash when seq is 0
    std::string time;      ///< of that record
};

/// An Ed25519 signature of a chain head (see head_message()).
struct HeadSignature {
    std::string host_id;
    std::uint64_t seq = 0;
    std::string hash;       ///< the head hash that was signed
    std::string public_key; ///< hex of the 32-byte Ed25519 public key
    std::string signature;  ///< hex of the 64-byte signature
    std::string time;       ///< when it was signed (RFC 3339)
};

/// What is not in the chain yet: the identical passes since the last recorded one, and what
/// "identical" compares with. Kept beside the chain per host and pass scope (the daemon's fast
/// deny passes and its full passes are compared with their own kind), under a key such as
/// `HOST#full`, and turned into a heartbeat record at most once per `evidence.heartbeat`.
struct IdleState {
    std::string digest;          ///< content digest of the last recorded pass ("" when none)
    std::uint64_t identical = 0; ///< identical passes since then, not recorded yet
    std::string first;           ///< RFC 3339 time of the first of them
    std::string last;            ///< and of the last
    std::string recorded;        ///< when the chain last got a record (pass or heartbeat)
};

/// Storage of chains of records, keyed by host id. Implementations are used from one thread
/// at a time.
class Store {
public:
    virtual ~Store() = default;

    /// Appends `records` (consecutive seqs of one host, continuing its chain), the head
    /// `signature` when given and the idle state under `idle_key`, all or nothing. Fails when
    /// a seq is taken already (another writer appended meanwhile).
    [[nodiscard]] virtual Result<void> append(const std::vector<Record>& records,
                                              const std::optional<HeadSignature>& signature,
                                              const std::string& idle_key,
                                              const IdleState& idle) = 0;
    /// Replaces an idle state only (an identical pass that adds no record).
    [[nodiscard]] virtual Result<void> set_idle(const std::string& idle_key,
                                                const IdleState& idle) = 0;
    /// The idle state under `idle_key`; a default one when there is none.
    [[nodiscard]] virtual Result<IdleState> idle(const std::string& idle_key) = 0;

    /// Calls `each` for the host's records with `from <= seq <= to`, in stored seq order,
    /// streaming (one record in memory at a time); `each` returns false to stop.
    [[nodiscard]] virtual Result<void> read(const std::string& host_id, std::uint64_t from,
                                            std::uint64_t to,
                                            const std::function<bool(const Record&)>& each) = 0;
    /// The last record of every host in the store, by host id.
    [[nodiscard]] virtual Result<std::vector<Head>> heads() = 0;
    /// The last record of one host (seq 0 when it has none).
    [[nodiscard]] virtual Result<Head> head(const std::string& host_id) = 0;
    /// Every head signature of the host, by seq.
    [[nodiscard]] virtual Result<std::vector<HeadSignature>>
    signatures(const std::string& host_id) = 0;
};

} // namespace snapgov::evidence
