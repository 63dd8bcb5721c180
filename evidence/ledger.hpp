#pragma once
/// Appending to one host's chain: numbering, chaining and hashing records, and signing the new
/// head, over any Store.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "evidence/signing_key.hpp"
#include "evidence/store.hpp"

namespace snapgov::evidence {

/// A record before it has a place in the chain.
struct Entry {
    std::string type; ///< one of record_type
    std::string body; ///< JSON object text
};

/// What an append made.
struct Appended {
    Head head;              ///< the chain's new last record
    std::uint64_t pass = 0; ///< the pass number of the appended records (see append())
    bool signed_head = false;
};

/// One host's chain in a store. Borrows the store and the key, which must outlive it.
class Ledger {
public:
    Ledger(Store& store, std::string host_id, const SigningKey* key)
        : store_(store), host_id_(std::move(host_id)), key_(key) {}

    /// Appends `entries` in order, all or nothing, with `idle` as the new idle state under
    /// `idle_key` (see IdleState),
    /// and signs the new head when there is a key. Records take `pass` as their pass number;
    /// a `pass_start` entry starts a new pass: it and the entries after it take its own seq.
    /// Retries when another writer appended meanwhile.
    [[nodiscard]] Result<Appended> append(std::vector<Entry> entries, std::uint64_t pass,
                                          const std::string& idle_key, const IdleState& idle);

    [[nodiscard]] const std::string& host_id() const { return host_id_; }
    [[nodiscard]] Store& store() { return store_; }

private:
    Store& store_;
    std::string host_id_;
    const SigningKey* key_;
};

} // namespace snapgov::evidence
