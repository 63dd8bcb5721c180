#include "evidence/verify.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <memory>
#include <map>

namespace snapgov::evidence {
namespace {

std::string short_hash(const std::string& h) {
    return h.size() > 16 ? h.substr(0, 16) + "..." : h;
}

ChainReport verify_chain(Store& store, const std::string& host, const VerifyOptions& options,
                         Result<void>& read_error) {
    ChainReport rep;
    rep.host_id = host;
    rep.head = Head{host, 0, std::string(kGenesisHash), ""};
    std::map<std::uint64_t, HeadSignature> sigs;
    if (auto list = store.signatures(host); list) {
        for (auto& s : *list) {
            sigs.emplace(s.seq, std::move(s));
        }
    } else {
        read_error = tl::unexpected(list.error());
        return rep;
    }
    std::string embedded_key;
    std::unique_ptr<SigningKey> embedded;
    auto bad = [&](std::uint64_t seq, std::string problem) {
        rep.ok = false;
        rep.bad_seq = seq;
        rep.problem = std::move(problem);
        return false;
    };
    std::uint64_t expected = 1;
    std::string prev(kGenesisHash);
    std::string expect_hash; // the hash of the record --expect-head names, once read
    const bool expecting = options.expect && options.expect_host == host;
    auto r = store.read(host, 1, UINT64_MAX, [&](const Record& rec) {
        if (rec.seq != expected) {
            return bad(expected, "record " + std::to_string(expected) + " is missing: record " +
                                     std::to_string(expected - 1) + " is followed by record " +
                                     std::to_string(rec.seq) + " (deleted or renumbered)");
        }
        if (rec.prev_hash != prev) {
            return bad(rec.seq, "record " + std::to_string(rec.seq) +
                                    " does not chain onto record " + std::to_string(rec.seq - 1) +
                                    ": its prev_hash is " + short_hash(rec.prev_hash) +
                                    " but record " + std::to_string(rec.seq - 1) + " hashes to " +
                                    short_hash(prev) +
                                    " (a record was inserted, removed or "
                                    "reordered here)");
        }
        auto hash = record_hash(rec);
        if (!hash || *hash != rec.hash) {
            return bad(rec.seq, "record " + std::to_string(rec.seq) +
                                    " does not match its hash: its content (type, time, pass or "
                                    "body) was changed after it was written, or it was moved "
                                    "from another position");
        }
        if (auto s = sigs.find(rec.seq); s != sigs.end()) {
            const auto& sig = s->second;
            if (sig.hash != rec.hash) {
                return bad(rec.seq, "the signed head at record " + std::to_string(rec.seq) +
                                        " covers hash " + short_hash(sig.hash) +
                                        ", not the record's " + short_hash(rec.hash));
            }
            const SigningKey* key = options.public_key;
            if (key != nullptr) {
                auto pub = key->public_hex();
                if (!pub || *pub != sig.public_key) {
                    return bad(rec.seq, "the head at record " + std::to_string(rec.seq) +
                                            " is signed by another key (" +
                                            short_hash(sig.public_key) +
                                            ") than the --public-key given");
                }
            } else {
                if (!embedded || embedded_key != sig.public_key) {
                    auto k = SigningKey::from_public_hex(sig.public_key);
                    if (!k) {
                        return bad(rec.seq, "the head signature at record " +
                                                std::to_string(rec.seq) +
                                                " names no valid public key");
                    }
                    embedded = std::make_unique<SigningKey>(std::move(*k));
                    embedded_key = sig.public_key;
                }
                key = embedded.get();
            }
            if (!key->verify(head_message(host, rec.seq, rec.hash), sig.signature)) {
                return bad(rec.seq, "the head signature at record " + std::to_string(rec.seq) +
                                        " is not valid");
            }
            ++rep.signatures;
            rep.last_signed_seq = rec.seq;
            rep.last_signed_hash = rec.hash;
        }
        if (expecting && rec.seq == options.expect->seq) {
            expect_hash = rec.hash;
        }
        prev = rec.hash;
        rep.head = Head{host, rec.seq, rec.hash, rec.time};
        ++rep.records;
        ++expected;
        return true;
    });
    if (!r) {
        read_error = r;
        return rep;
    }
    if (!rep.ok) {
        return rep;
    }
    for (const auto& [seq, sig] : sigs) {
        if (seq > rep.head.seq) {
            rep.ok = false;
            rep.bad_seq = rep.head.seq + 1;
            rep.problem = "a head was signed at record " + std::to_string(seq) +
                          " but the chain ends at record " + std::to_string(rep.head.seq) +
                          ": records " + std::to_string(rep.head.seq + 1) + " to " +
                          std::to_string(seq) + " were removed (truncation)";
            return rep;
        }
    }
    if (expecting) {
        const auto& want = *options.expect;
        if (want.seq > rep.head.seq) {
            rep.ok = false;
            rep.bad_seq = rep.head.seq + 1;
            rep.problem = "the chain ends at record " + std::to_string(rep.head.seq) +
                          " but the expected head is record " + std::to_string(want.seq) +
                          ": records from " + std::to_string(rep.head.seq + 1) +
                          " on were removed (truncation)";
            return rep;
        }
        if (want.seq > 0 && expect_hash != want.hash) {
            rep.ok = false;
            rep.bad_seq = want.seq;
            rep.problem = "record " + std::to_string(want.seq) + " hashes to " +
                          short_hash(expect_hash) + ", not the expected " + short_hash(want.hash) +
                          ": the chain up to it was rewritten";
            return rep;
        }
    }
    if (options.public_key != nullptr && rep.head.seq > 0 && rep.last_signed_seq != rep.head.seq) {
        rep.ok = false;
        rep.bad_seq = rep.last_signed_seq + 1;
        rep.problem = rep.last_signed_seq == 0
                          ? "no head is signed, so nothing proves the --public-key's holder wrote "
                            "this chain (records from 1 on are unsigned)"
                          : "the chain's last record " + std::to_string(rep.head.seq) +
                                " is not signed; records from " +
                                std::to_string(rep.last_signed_seq + 1) +
                                " on follow the last signed head and could have been added by "
                                "anyone who can write the file";
        return rep;
    }
    if (rep.signatures == 0) {
        rep.notes.push_back("heads are unsigned (no evidence.signing_key): the chain proves order "
                            "and content against edits, not who wrote it; anyone able to write "
                            "the file could rebuild the whole chain");
    } else if (options.public_key == nullptr) {
        rep.notes.push_back("signatures were checked against the public key stored beside them; "
                            "give --public-key to prove who signed");
    }
    if (rep.signatures > 0 && rep.last_signed_seq < rep.head.seq) {
        rep.notes.push_back("records " + std::to_string(rep.last_signed_seq + 1) + " to " +
                            std::to_string(rep.head.seq) + " follow the last signed head");
    }
    if (!expecting) {
        rep.notes.push_back("without --expect-head, removal of the newest records (with their "
                            "signatures) cannot be detected");
    }
    return rep;
}

} // namespace

Result<ExpectedHead> ExpectedHead::parse(const std::string& text) {
    const auto colon = text.find(':');
    ExpectedHead out;
    if (colon == std::string::npos) {
        return fail(ErrorCode::usage, "--expect-head: give SEQ:HASH, as 'snapgov evidence head' "
                                      "prints it");
    }
    const auto* begin = text.data();
    const auto [ptr, ec] = std::from_chars(begin, begin + colon, out.seq);
    out.hash = text.substr(colon + 1);
    auto raw = from_hex(out.hash);
    if (ec != std::errc{} || ptr != begin + colon || !raw || raw->size() != 32) {
        return fail(ErrorCode::usage, "--expect-head: '" + text +
                                          "' is not SEQ:HASH (a record number, a colon and 64 "
                                          "hex digits)");
    }
    for (auto& c : out.hash) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

Result<std::vector<ChainReport>> verify(Store& store, const VerifyOptions& options) {
    auto heads = store.heads();
    if (!heads) {
        return tl::unexpected(heads.error());
    }
    std::vector<std::string> hosts;
    for (const auto& h : *heads) {
        hosts.push_back(h.host_id);
    }
    if (options.expect &&
        std::find(hosts.begin(), hosts.end(), options.expect_host) == hosts.end()) {
        hosts.push_back(options.expect_host);
    }
    std::vector<ChainReport> out;
    for (const auto& host : hosts) {
        Result<void> read_error;
        auto rep = verify_chain(store, host, options, read_error);
        if (!read_error) {
            return tl::unexpected(read_error.error());
        }
        out.push_back(std::move(rep));
    }
    return out;
}

} // namespace snapgov::evidence
