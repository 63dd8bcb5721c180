// `snapgov evidence keygen|verify|head|export`: the compliance ledger's tools.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "cli/commands/command.hpp"
#include "core/text.hpp"
#include "evidence/export.hpp"
#include "evidence/signing_key.hpp"
#include "evidence/sqlite_store.hpp"
#include "evidence/verify.hpp"

namespace snapgov::cli {
namespace {

namespace json = boost::json;
using evidence::SqliteStore;

constexpr const char* kAbout =
    "the compliance evidence ledger. Every 'enforce --once' (with or without --dry-run) and "
    "every daemon pass appends what it saw and did to a SQLite ledger (evidence.path, default "
    "<state_dir>/evidence.db): pass start and end, each provider's collection, each finding "
    "with the exemption applied (or the expired one ignored), each action with its outcome and "
    "verification, each memory-dump operation with its SHA-256 sums and wipe assurance. Each "
    "record's hash covers the previous one (a hash chain), and at the end of each pass the "
    "chain's head is signed with Ed25519 when evidence.signing_key is set. Passes identical to "
    "the previous one add no rows; one heartbeat record per evidence.heartbeat counts them. "
    "'plan' records nothing.\n\nAn auditor runs: 'snapgov evidence verify -c FILE --public-key "
    "PUB.pem --expect-head SEQ:HASH' (the head kept from 'snapgov evidence head' or the "
    "daemon's log), then 'snapgov evidence export -c FILE --format oscal -o results.json'. "
    "The ledger format and how to verify it without snapgov: docs/evidence.md.";

std::string escaped(const std::string& s) {
    return escape_text(s);
}

/// Opens the ledger the policy file names, for reading.
std::unique_ptr<SqliteStore> open_ledger(const policies::Config& config) {
    auto store = SqliteStore::open(config.evidence.path, SqliteStore::Mode::read);
    if (!store) {
        std::cerr << "snapgov evidence: " << escaped(store.error().message) << "\n";
        return nullptr;
    }
    return std::move(*store);
}

CLI::Validator rfc3339_validator() {
    return CLI::Validator(
        [](std::string& value) {
            auto t = parse_rfc3339(value);
            return t ? std::string() : t.error().message;
        },
        "RFC3339");
}

class EvidenceCommand final : public Command {
public:
    explicit EvidenceCommand(CLI::App& app) {
        cmd_ = app.add_subcommand("evidence", kAbout);
        cmd_->require_subcommand(1);

        keygen_ = cmd_->add_subcommand(
            "keygen", "make an Ed25519 signing key: writes the private key to FILE (mode 0600, "
                      "never overwritten) and prints the public key (PEM) for auditors; set "
                      "evidence.signing_key to FILE");
        keygen_->add_option("-o,--output", key_out_, "private key file to create")->required();

        verify_ = cmd_->add_subcommand(
            "verify", "recompute every hash chain in the ledger and check every signed head; "
                      "names the first bad record (its sequence number and what is wrong). Exit "
                      "0 intact, 1 tampering or truncation found, 2 cannot read");
        add_config_option(*verify_, config_);
        verify_->add_option("--public-key", public_key_,
                            "PEM public key (from 'evidence keygen'): every signed head must be "
                            "by it, and each chain's last record must be signed");
        verify_->add_option("--expect-head", expect_head_,
                            "SEQ:HASH kept from 'evidence head' or the daemon's log: the chain "
                            "must still hold this record with this hash (detects truncation)");
        add_format_option(*verify_, format_);
        verify_->add_option("--host", host_,
                            "host id whose chain --expect-head names (default: "
                            "evidence.host_id)");

        head_ = cmd_->add_subcommand(
            "head", "print the chain's last signed head as SEQ:HASH (the last record when no "
                    "head is signed), for an external witness to keep and give to 'verify "
                    "--expect-head'");
        add_config_option(*head_, config_);
        add_format_option(*head_, format_);
        head_->add_option("--host", host_, "host id (default: evidence.host_id)");

        export_ = cmd_->add_subcommand(
            "export", "write the findings and actions of the ledger for auditors, streamed: "
                      "json (OpenReports/Kyverno PolicyReport), csv (RFC 4180, one row per "
                      "finding or action), oscal (NIST OSCAL 1.0.6 assessment-results, bound to "
                      "the chain head and its signature)");
        add_config_option(*export_, config_);
        export_->add_option("--format", export_format_, "json, csv or oscal")
            ->check(CLI::IsMember({"json", "csv", "oscal"}))
            ->required();
        export_->add_option("--since", since_, "records written at or after this RFC 3339 time")
            ->check(rfc3339_validator());
        export_->add_option("--until", until_, "records written before this RFC 3339 time")
            ->check(rfc3339_validator());
        export_->add_option("-o,--output", out_,
                            "file to write (mode 0600, replaced only once complete; default: "
                            "stdout)");
        export_->add_option("--host", host_, "host id (default: evidence.host_id)");
    }

    [[nodiscard]] bool selected() const override {
        return keygen_->parsed() || verify_->parsed() || head_->parsed() || export_->parsed();
    }

    [[nodiscard]] int run(const Context& context) override {
        if (keygen_->parsed()) {
            return keygen();
        }
        const auto loaded = load(config_, *context.registry);
        if (!loaded) {
            return kError;
        }
        const auto& config = *loaded->config;
        if (host_.empty()) {
            host_ = config.evidence.host_id;
        }
        auto store = open_ledger(config);
        if (!store) {
            return kError;
        }
        if (verify_->parsed()) {
            return verify(*store);
        }
        if (head_->parsed()) {
            return head(*store);
        }
        return export_to(*store, config);
    }

private:
    int keygen() {
        auto key = evidence::SigningKey::generate();
        if (!key) {
            std::cerr << "snapgov evidence keygen: " << key.error().message << "\n";
            return kError;
        }
        if (auto w = key->write_private(key_out_); !w) {
            std::cerr << "snapgov evidence keygen: " << escaped(w.error().message) << "\n";
            return kError;
        }
        auto pem = key->public_pem();
        auto hex = key->public_hex();
        if (!pem || !hex) {
            std::cerr << "snapgov evidence keygen: cannot encode the public key\n";
            return kError;
        }
        std::cerr << "wrote the private key to " << escaped(key_out_)
                  << " (mode 0600); set evidence.signing_key to it. The public key for "
                     "auditors (save it as a .pem file for 'evidence verify --public-key'):\n";
        print(*pem);
        return kOk;
    }

    int verify(SqliteStore& store) {
        std::unique_ptr<evidence::SigningKey> key;
        if (!public_key_.empty()) {
            auto k = evidence::SigningKey::load_public(public_key_);
            if (!k) {
                std::cerr << "snapgov evidence verify: " << escaped(k.error().message) << "\n";
                return kError;
            }
            key = std::make_unique<evidence::SigningKey>(std::move(*k));
        }
        evidence::VerifyOptions options;
        options.public_key = key.get();
        options.expect_host = host_;
        if (!expect_head_.empty()) {
            auto e = evidence::ExpectedHead::parse(expect_head_);
            if (!e) {
                std::cerr << "snapgov evidence verify: " << escaped(e.error().message) << "\n";
                return kError;
            }
            options.expect = *e;
        }
        auto reports = evidence::verify(store, options);
        if (!reports) {
            std::cerr << "snapgov evidence verify: " << escaped(reports.error().message) << "\n";
            return kError;
        }
        bool ok = true;
        json::array chains;
        std::string text;
        for (const auto& r : *reports) {
            ok = ok && r.ok;
            json::array notes;
            for (const auto& n : r.notes) {
                notes.emplace_back(n);
            }
            chains.push_back(json::object{
                {"host_id", r.host_id},
                {"ok", r.ok},
                {"records", r.records},
                {"head", std::to_string(r.head.seq) + ":" + r.head.hash},
                {"signed_heads", r.signatures},
                {"last_signed_head",
                 r.last_signed_seq == 0
                     ? json::value(nullptr)
                     : json::value(std::to_string(r.last_signed_seq) + ":" + r.last_signed_hash)},
                {"bad_record", r.ok ? json::value(nullptr) : json::value(r.bad_seq)},
                {"problem", r.problem},
                {"notes", notes}});
            if (r.ok) {
                text += "host " + escaped(r.host_id) + ": ok: " + std::to_string(r.records) +
                        " records, head " + std::to_string(r.head.seq) + ":" + r.head.hash + ", " +
                        std::to_string(r.signatures) + " signed heads checked\n";
            } else {
                text += "host " + escaped(r.host_id) + ": FAILED at record " +
                        std::to_string(r.bad_seq) + ": " + escaped(r.problem) + "\n";
            }
            for (const auto& n : r.notes) {
                text += "  note: " + escaped(n) + "\n";
            }
        }
        if (reports->empty()) {
            text += "the ledger holds no records\n";
        }
        print(format_ == "json"
                  ? json::serialize(json::object{{"ok", ok}, {"chains", chains}}) + "\n"
                  : text);
        return ok ? kOk : kViolations;
    }

    int head(SqliteStore& store) {
        auto sigs = store.signatures(host_);
        auto last = store.head(host_);
        if (!sigs || !last) {
            std::cerr << "snapgov evidence head: "
                      << escaped(!sigs ? sigs.error().message : last.error().message) << "\n";
            return kError;
        }
        if (last->seq == 0) {
            std::cerr << "snapgov evidence head: no record for host " << escaped(host_) << "\n";
            return kError;
        }
        const bool is_signed = !sigs->empty();
        const std::uint64_t seq = is_signed ? sigs->back().seq : last->seq;
        const std::string hash = is_signed ? sigs->back().hash : last->hash;
        if (format_ == "json") {
            print(json::serialize(json::object{
                      {"host_id", host_},
                      {"head", std::to_string(seq) + ":" + hash},
                      {"signed", is_signed},
                      {"public_key", is_signed ? sigs->back().public_key : std::string()},
                      {"signature", is_signed ? sigs->back().signature : std::string()},
                      {"last_record", last->seq}}) +
                  "\n");
        } else {
            print(std::to_string(seq) + ":" + hash + "\n");
            std::cerr << "host " << escaped(host_) << ", "
                      << (is_signed ? "signed head"
                                    : "unsigned (no evidence.signing_key): last record")
                      << "; the chain has " << last->seq << " records\n";
        }
        return kOk;
    }

    int export_to(SqliteStore& store, const policies::Config& config) {
        evidence::ExportOptions options;
        options.format = export_format_ == "csv"     ? evidence::ExportFormat::csv
                         : export_format_ == "oscal" ? evidence::ExportFormat::oscal
                                                     : evidence::ExportFormat::json;
        options.host_id = host_;
        if (!since_.empty()) {
            options.since = *parse_rfc3339(since_);
        }
        if (!until_.empty()) {
            options.until = *parse_rfc3339(until_);
        }
        options.generated = now_utc();
        for (const auto& p : config.policies) {
            options.policies.push_back(p.name);
        }
        if (out_.empty()) {
            auto r = evidence::export_evidence(store, options, std::cout);
            if (!r) {
                std::cerr << "snapgov evidence export: " << escaped(r.error().message) << "\n";
                return kError;
            }
            return kOk;
        }
        // Written beside the target and renamed once complete: never a half export.
        const std::string partial = out_ + ".partial";
        const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
            std::cerr << "snapgov evidence export: cannot create " << escaped(partial) << ": "
                      << std::strerror(errno) << "\n";
            return kError;
        }
        ::close(fd);
        Result<void> r;
        {
            std::ofstream file(partial, std::ios::binary | std::ios::trunc);
            r = evidence::export_evidence(store, options, file);
        }
        if (r && std::rename(partial.c_str(), out_.c_str()) != 0) {
            r = fail(ErrorCode::io,
                     "cannot rename " + partial + " to " + out_ + ": " + std::strerror(errno));
        }
        if (!r) {
            (void)std::remove(partial.c_str());
            std::cerr << "snapgov evidence export: " << escaped(r.error().message) << "\n";
            return kError;
        }
        return kOk;
    }

    CLI::App* cmd_ = nullptr;
    CLI::App* keygen_ = nullptr;
    CLI::App* verify_ = nullptr;
    CLI::App* head_ = nullptr;
    CLI::App* export_ = nullptr;
    std::string config_;
    std::string key_out_;
    std::string public_key_;
    std::string expect_head_;
    std::string format_ = "text";
    std::string host_;
    std::string export_format_;
    std::string since_;
    std::string until_;
    std::string out_;
};

} // namespace

std::unique_ptr<Command> make_evidence_command(CLI::App& app) {
    return std::make_unique<EvidenceCommand>(app);
}

} // namespace snapgov::cli
