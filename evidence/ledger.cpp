#include "evidence/ledger.hpp"

#include "core/time.hpp"

namespace snapgov::evidence {

Result<Appended> Ledger::append(std::vector<Entry> entries, std::uint64_t pass,
                                const std::string& idle_key, const IdleState& idle) {
    if (entries.empty()) {
        return fail(ErrorCode::internal, "evidence: nothing to append");
    }
    Result<void> stored;
    for (int attempt = 0; attempt < 3; ++attempt) {
        auto head = store_.head(host_id_);
        if (!head) {
            return tl::unexpected(head.error());
        }
        const std::string time = format_rfc3339(now_utc());
        std::vector<Record> records;
        records.reserve(entries.size());
        std::uint64_t seq = head->seq;
        std::string prev = head->hash;
        std::uint64_t current = pass;
        for (auto& e : entries) {
            Record r;
            r.host_id = host_id_;
            r.seq = ++seq;
            r.prev_hash = std::move(prev);
            r.type = e.type;
            r.time = time;
            if (e.type == record_type::kPassStart) {
                current = r.seq;
            }
            r.pass = e.type == record_type::kHeartbeat ? 0 : current;
            // Moved, not copied (a pass at 10,000 x 10 is 100 MB of bodies); moved back
            // below if this attempt is retried.
            r.body = std::move(e.body);
            auto hash = record_hash(r);
            if (!hash) {
                return tl::unexpected(hash.error());
            }
            r.hash = *hash;
            prev = r.hash;
            records.push_back(std::move(r));
        }
        Appended out{{host_id_, seq, prev, time}, current, false};
        std::optional<HeadSignature> signature;
        if (key_ != nullptr) {
            auto sig = key_->sign(head_message(host_id_, seq, prev));
            auto pub = key_->public_hex();
            if (!sig || !pub) {
                return tl::unexpected(!sig ? sig.error() : pub.error());
            }
            signature = HeadSignature{host_id_, seq, prev, *pub, *sig, time};
            out.signed_head = true;
        }
        IdleState state = idle;
        if (state.recorded.empty()) {
            state.recorded = time;
        }
        stored = store_.append(records, signature, idle_key, state);
        if (stored) {
            return out;
        }
        for (std::size_t i = 0; i < records.size(); ++i) {
            entries[i].body = std::move(records[i].body);
        }
        // A seq taken by another writer (two passes at once): chain onto its records.
        auto now_head = store_.head(host_id_);
        if (!now_head || now_head->seq == head->seq) {
            break;
        }
    }
    return tl::unexpected(stored.error());
}

} // namespace snapgov::evidence
