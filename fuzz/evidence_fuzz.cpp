// Fuzz target: what reads a ledger back: verify() (chain, hashes, head signatures, an
// expected head) and the three exports, which decode each record's JSON body. The records
// come from the input through an in-memory Store, one per line, fields separated by TAB:
//
//   HOST SEQ PREV_HASH TYPE TIME PASS HASH BODY...          a record (BODY: rest of the line)
//   sig HOST SEQ HASH PUBLIC_KEY SIGNATURE TIME              a head signature
//   expect HOST SEQ:HASH                                     a head the chain must contain
//
// When the input starts with the line "#chain", SEQ, PREV_HASH and HASH are recomputed so the
// chain is intact and the fuzzer explores the bodies behind a valid chain.
#include <cstddef>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/log.hpp"
#include "evidence/export.hpp"
#include "evidence/verify.hpp"
#include "fuzz/fuzz_input.hpp"

using namespace snapgov;
using namespace snapgov::evidence;

namespace {

/// A Store in memory: per host, records and signatures by seq (as SQLite's primary keys).
class MemoryStore final : public Store {
public:
    std::map<std::string, std::map<std::uint64_t, Record>> records;
    std::map<std::string, std::map<std::uint64_t, HeadSignature>> sigs;

    Result<void> append(const std::vector<Record>& /*records*/,
                        const std::optional<HeadSignature>& /*signature*/,
                        const std::string& /*idle_key*/, const IdleState& /*idle*/) override {
        return fail(ErrorCode::internal, "read-only");
    }
    Result<void> set_idle(const std::string& /*idle_key*/, const IdleState& /*idle*/) override {
        return fail(ErrorCode::internal, "read-only");
    }
    Result<IdleState> idle(const std::string& /*idle_key*/) override { return IdleState{}; }
    Result<void> read(const std::string& host_id, std::uint64_t from, std::uint64_t to,
                      const std::function<bool(const Record&)>& each) override {
        const auto h = records.find(host_id);
        if (h == records.end()) {
            return {};
        }
        for (auto it = h->second.lower_bound(from); it != h->second.end() && it->first <= to;
             ++it) {
            if (!each(it->second)) {
                break;
            }
        }
        return {};
    }
    Result<std::vector<Head>> heads() override {
        std::vector<Head> out;
        for (const auto& [host, chain] : records) {
            if (!chain.empty()) {
                const auto& last = chain.rbegin()->second;
                out.push_back(Head{host, last.seq, last.hash, last.time});
            }
        }
        return out;
    }
    Result<Head> head(const std::string& host_id) override {
        const auto h = records.find(host_id);
        if (h == records.end() || h->second.empty()) {
            return Head{host_id, 0, std::string(kGenesisHash), ""};
        }
        const auto& last = h->second.rbegin()->second;
        return Head{host_id, last.seq, last.hash, last.time};
    }
    Result<std::vector<HeadSignature>> signatures(const std::string& host_id) override {
        std::vector<HeadSignature> out;
        if (const auto h = sigs.find(host_id); h != sigs.end()) {
            for (const auto& [seq, s] : h->second) {
                out.push_back(s);
            }
        }
        return out;
    }
};

std::uint64_t number(std::string_view text) {
    std::uint64_t n = 0;
    for (const char c : text.substr(0, 19)) {
        if (c < '0' || c > '9') {
            break;
        }
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return n;
}

std::string field(const std::vector<std::string_view>& f, std::size_t i) {
    return i < f.size() ? std::string(f[i]) : std::string();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bool quiet = [] {
        log::set_level(log::Level::error);
        return true;
    }();
    (void)quiet;
    auto text = fuzz::as_text(data, size);
    const bool chain = text.starts_with("#chain\n");
    if (chain) {
        text.remove_prefix(7);
    }
    MemoryStore store;
    VerifyOptions options;
    std::map<std::string, std::pair<std::uint64_t, std::string>> tails; // chain mode
    for (const auto line : fuzz::split(text, "\n")) {
        const auto f = fuzz::split(line, "\t");
        if (f[0] == "sig" && f.size() >= 7) {
            HeadSignature s{field(f, 1), number(f[2]), field(f, 3),
                            field(f, 4), field(f, 5),  field(f, 6)};
            store.sigs[s.host_id].emplace(s.seq, std::move(s));
        } else if (f[0] == "expect" && f.size() >= 3) {
            if (auto head = ExpectedHead::parse(field(f, 2))) {
                options.expect = *head;
                options.expect_host = field(f, 1);
            }
        } else if (f.size() >= 8) {
            Record r;
            r.host_id = field(f, 0);
            r.seq = number(f[1]);
            r.prev_hash = field(f, 2);
            r.type = field(f, 3);
            r.time = field(f, 4);
            r.pass = number(f[5]);
            r.hash = field(f, 6);
            // The body is the rest of the line, tabs included.
            const auto at = line.find('\t', static_cast<std::size_t>(f[6].data() - line.data()));
            r.body = std::string(line.substr(at + 1));
            if (chain) {
                auto& [seq, prev] =
                    tails.try_emplace(r.host_id, 0, std::string(kGenesisHash)).first->second;
                r.seq = ++seq;
                r.prev_hash = prev;
                r.hash = record_hash(r).value();
                prev = r.hash;
            }
            store.records[r.host_id].emplace(r.seq, std::move(r));
        }
    }
    auto reports = verify(store, options);
    if (!reports) {
        __builtin_trap(); // an in-memory store never fails to read
    }
    for (const auto& report : *reports) {
        if (chain && !report.ok && report.bad_seq != 0 && report.signatures == 0 &&
            store.sigs.empty() && !options.expect) {
            __builtin_trap(); // an intact chain without signatures must verify
        }
        for (const auto format : {ExportFormat::json, ExportFormat::csv, ExportFormat::oscal}) {
            ExportOptions eo;
            eo.format = format;
            eo.host_id = report.host_id;
            eo.policies = {"prod"};
            std::ostringstream out;
            if (!export_evidence(store, eo, out)) {
                __builtin_trap();
            }
        }
    }
    return 0;
}
