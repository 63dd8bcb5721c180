#include "evidence/recorder.hpp"

#include <future>

#include <openssl/evp.h>

#include <boost/json.hpp>

#include "core/log.hpp"
#include "core/text.hpp"
#include "core/time.hpp"
#include "evidence/ledger.hpp"
#include "evidence/sqlite_store.hpp"

namespace snapgov::evidence {
namespace {

namespace json = boost::json;
using engine::PassMode;

/// A byte that is not well-formed UTF-8, as the JSON escape \u00XX (a reader sees U+00XX).
void append_escaped_byte(std::string& out, unsigned char byte) {
    static constexpr char kHex[] = "0123456789abcdef";
    out += "\\u00";
    out += kHex[byte >> 4];
    out += kHex[byte & 15];
}

/// A JSON object written straight into a string: the per-finding and per-action records of a
/// pass at 10,000 x 10 are hundreds of thousands, and building json::objects for them cost
/// more than the rest of the recording. Keys are trusted literals; string values are escaped
/// (a byte that is not well-formed UTF-8 is written as \u00XX, so the text always parses).
class Body {
public:
    Body() {
        out_.reserve(512); // a finding or action record is 300-500 bytes
        out_ = "{";
    }
    Body& str(std::string_view key, std::string_view value) {
        name(key);
        out_ += '"';
        while (!value.empty()) {
            // Printable ASCII other than '"' and '\\' as it is, in one append.
            std::size_t plain = 0;
            while (plain < value.size()) {
                const auto b = static_cast<unsigned char>(value[plain]);
                if (b < 0x20 || b >= 0x80 || b == '"' || b == '\\') {
                    break;
                }
                ++plain;
            }
            out_.append(value.substr(0, plain));
            value.remove_prefix(plain);
            if (value.empty()) {
                break;
            }
            const Utf8Char c = decode_utf8(value);
            const auto byte = static_cast<unsigned char>(value[0]);
            if (!c.valid || c.code_point < 0x20) {
                append_escaped_byte(out_, byte);
            } else if (byte == '"' || byte == '\\') {
                out_ += '\\';
                out_ += static_cast<char>(byte);
            } else {
                out_.append(value.substr(0, c.length));
            }
            value.remove_prefix(c.valid ? c.length : 1);
        }
        out_ += '"';
        return *this;
    }
    Body& boolean(std::string_view key, bool value) {
        name(key);
        out_ += value ? "true" : "false";
        return *this;
    }
    Body& raw(std::string_view key, std::string_view json_text) {
        name(key);
        out_ += json_text;
        return *this;
    }
    std::string done() {
        out_ += '}';
        return std::move(out_);
    }

private:
    void name(std::string_view key) {
        if (out_.size() > 1) {
            out_ += ',';
        }
        out_ += '"';
        out_ += key;
        out_ += "\":";
    }
    std::string out_;
};

/// The exemption a finding was judged under, as JSON text: the active one that applied, else
/// an expired one that would have (the same match as the evaluator: policy, VM name,
/// checkpoint name), else null.
std::string exemption_text(const policies::Finding& f, const policies::Config& config,
                           TimePoint now) {
    const policies::Exemption* expired = nullptr;
    for (const auto& e : config.exemptions) {
        if (e.policy != f.policy || e.vm != f.vm || f.vm.empty()) {
            continue;
        }
        if (e.checkpoint && (f.checkpoint.empty() || *e.checkpoint != f.checkpoint)) {
            continue;
        }
        if (e.active(now)) {
            return Body()
                .boolean("applied", true)
                .str("reason", e.reason)
                .str("expires", format_rfc3339(e.expires))
                .str("origin", e.origin)
                .done();
        }
        if (expired == nullptr) {
            expired = &e;
        }
    }
    if (expired != nullptr) {
        return Body()
            .boolean("applied", false)
            .boolean("expired", true)
            .str("reason", expired->reason)
            .str("expires", format_rfc3339(expired->expires))
            .str("origin", expired->origin)
            .done();
    }
    return "null";
}

/// SHA-256 over length-prefixed fields: what makes two passes "identical". Fields are
/// gathered into 64 KiB blocks (a pass at 10,000 x 10 has millions of them).
class Digest {
public:
    Digest() : ctx_(EVP_MD_CTX_new()) {
        EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
        block_.reserve(kBlock + 256);
    }
    ~Digest() { EVP_MD_CTX_free(ctx_); }
    Digest(const Digest&) = delete;
    Digest& operator=(const Digest&) = delete;

    Digest& operator<<(std::string_view field) {
        const auto n = static_cast<std::uint32_t>(field.size());
        block_ += static_cast<char>(n >> 24);
        block_ += static_cast<char>(n >> 16);
        block_ += static_cast<char>(n >> 8);
        block_ += static_cast<char>(n);
        block_.append(field);
        if (block_.size() >= kBlock) {
            EVP_DigestUpdate(ctx_, block_.data(), block_.size());
            block_.clear();
        }
        return *this;
    }
    Digest& operator<<(std::size_t n) { return *this << std::string_view(std::to_string(n)); }
    std::string hex() {
        EVP_DigestUpdate(ctx_, block_.data(), block_.size());
        block_.clear();
        unsigned char out[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        EVP_DigestFinal_ex(ctx_, out, &len);
        return to_hex(std::string_view(reinterpret_cast<const char*>(out), len));
    }

private:
    static constexpr std::size_t kBlock = 64 * 1024;
    EVP_MD_CTX* ctx_;
    std::string block_;
};

/// The content of a pass that a repeat must equal to be summarised: the policy file, scope
/// and mode, each provider's collection, each finding (without its wording, which carries
/// ages that grow every pass), each action with its outcome, and the exit code.
std::string content_digest(const engine::PassResult& pass, const std::string& config_sha256) {
    Digest d;
    d << config_sha256 << engine::to_string(pass.scope) << engine::to_string(pass.mode);
    for (const auto& h : pass.inventory.hosts) {
        d << "collection" << h.provider << (h.complete ? "1" : "0")
          << (h.error ? h.error->message : std::string()) << h.vms.size();
        std::size_t checkpoints = 0;
        for (const auto& vm : h.vms) {
            checkpoints += vm.checkpoints.size();
        }
        d << checkpoints;
    }
    for (const auto& f : pass.plan.findings) {
        d << "finding" << f.policy << f.rule << f.provider << f.vm_id << f.checkpoint_id << f.path
          << (f.exempt ? "1" : "0") << f.exemption;
    }
    for (const auto& r : pass.results) {
        d << "action" << policies::to_string(r.action.kind) << r.action.provider << r.action.vm_id
          << r.action.checkpoint_id << r.action.path << engine::to_string(r.outcome);
    }
    for (const auto& u : pass.unsettled) {
        d << "unsettled" << u;
    }
    d << "exit" << static_cast<std::size_t>(pass.exit_code());
    return d.hex();
}

/// The fields of an action record that name the action.
Body action_body(const policies::PlannedAction& a) {
    Body b;
    b.str("kind", policies::to_string(a.kind))
        .str("policy", a.policy)
        .str("provider", a.provider)
        .str("vm", a.vm)
        .str("vm_id", a.vm_id)
        .str("checkpoint", a.checkpoint)
        .str("checkpoint_id", a.checkpoint_id)
        .str("path", a.path)
        .str("reason", a.reason);
    return b;
}

class Recorder final : public engine::PassObserver {
public:
    explicit Recorder(std::shared_ptr<const policies::Config> config)
        : config_(std::move(config)) {}
    ~Recorder() override {
        if (commit_.valid()) {
            commit_.wait();
        }
    }
    Recorder(const Recorder&) = delete;
    Recorder& operator=(const Recorder&) = delete;

    [[nodiscard]] std::string_view name() const override { return "evidence"; }
    [[nodiscard]] bool gates_actions() const override { return true; }

    [[nodiscard]] Result<void> on_pass_start(const engine::PassStart& start) override {
        // The last pass's commit, when its caller did not wait for it.
        if (auto last = settle(); !last) {
            active_ = false;
            return tl::unexpected(last.error().with_context(
                "the last pass's records could not be committed, so this pass takes no action "
                "(fail closed)"));
        }
        active_ = start.mode != PassMode::plan;
        entries_.clear();
        flushed_ = false;
        pass_seq_ = 0;
        if (!active_) {
            return {};
        }
        start_ = start;
        idle_key_ = config_->evidence.host_id + "#" + std::string(engine::to_string(start.scope));
        if (auto opened = open(); !opened) {
            active_ = false;
            return tl::unexpected(opened.error().with_context(
                "the pass cannot be recorded, so it takes no action (fail closed)"));
        }
        entries_.push_back({std::string(record_type::kPassStart),
                            body_text({{"version", start.version},
                                       {"host_id", config_->evidence.host_id},
                                       {"config_path", start.config_path},
                                       {"config_sha256", start.config_sha256},
                                       {"scope", engine::to_string(start.scope)},
                                       {"mode", engine::to_string(start.mode)},
                                       {"now", format_rfc3339(start.now)}})});
        return {};
    }

    [[nodiscard]] Result<void> on_collection(const HostInventory& host,
                                             engine::CollectionPhase phase) override {
        if (!active_) {
            return {};
        }
        std::size_t checkpoints = 0;
        for (const auto& vm : host.vms) {
            checkpoints += vm.checkpoints.size();
        }
        entries_.push_back(
            {std::string(record_type::kCollection),
             body_text({{"phase", phase == engine::CollectionPhase::before ? "before" : "after"},
                        {"provider", host.provider},
                        {"type", host.type},
                        {"endpoint", host.endpoint},
                        {"complete", host.complete},
                        {"error", host.error ? host.error->message : std::string()},
                        {"vms", host.vms.size()},
                        {"checkpoints", checkpoints}})});
        return {};
    }

    [[nodiscard]] Result<void>
    on_plan(const policies::Plan& plan,
            const std::vector<engine::GuardDecision>& decisions) override {
        if (!active_) {
            return {};
        }
        // Before anything is carried out, what the pass saw is made durable: a pass that
        // acts is never summarised, and a ledger that cannot take it stops the actions.
        const bool acts =
            std::any_of(decisions.begin(), decisions.end(), [](const engine::GuardDecision& d) {
                return d.verdict == engine::GuardVerdict::run;
            });
        if (!acts) {
            // Recorded at the end of the pass, if it is not identical to the last one.
            return {};
        }
        add_findings(plan);
        auto done = flush({}, /*end=*/false);
        if (!done) {
            return tl::unexpected(done.error().with_context(
                "the pass could not be recorded before acting, so it takes no action (fail "
                "closed)"));
        }
        return {};
    }

    [[nodiscard]] Result<void> on_dump_operation(const engine::DumpOperation& op) override {
        if (!active_) {
            return {};
        }
        json::object o{
            {"operation", op.kind == engine::DumpOperation::Kind::encrypt ? "encrypt" : "wipe"}};
        o["action"] = json::parse(action_body(op.action).done());
        o["plaintext_path"] = op.plaintext_path;
        o["plaintext_bytes"] = op.plaintext_bytes;
        // Of the bytes encrypted; empty for a wipe (the file is destroyed, not hashed).
        o["plaintext_sha256"] = op.plaintext_sha256;
        o["ciphertext_path"] = op.ciphertext_path;
        o["ciphertext_bytes"] = op.ciphertext_bytes;
        o["ciphertext_sha256"] = op.ciphertext_sha256;
        if (op.wipe) {
            o["wipe"] = json::object{{"path", op.wipe->path},
                                     {"size", op.wipe->size},
                                     {"bytes_overwritten", op.wipe->bytes_overwritten},
                                     {"hole_punched", op.wipe->hole_punched},
                                     {"assurance", dumps::to_string(op.wipe->storage.assurance)},
                                     {"filesystem", op.wipe->storage.filesystem},
                                     {"device", op.wipe->storage.device},
                                     {"reason", op.wipe->storage.reason}};
        } else {
            o["wipe"] = nullptr;
        }
        entries_.push_back({std::string(record_type::kDumpOperation), body_text(o)});
        return {};
    }

    // Actions are recorded from the pass's results at its end (on_action adds nothing): every
    // action's outcome is final only then, and an identical pass needs none of them.

    [[nodiscard]] Result<void> on_pass_end(const engine::PassResult& pass) override {
        if (!active_) {
            return {};
        }
        active_ = false;
        const std::string digest = content_digest(pass, start_.config_sha256);
        const std::string now = format_rfc3339(now_utc());
        if (!flushed_ && !idle_.digest.empty() && idle_.digest == digest) {
            return summarise(now);
        }
        if (!flushed_) {
            add_findings(pass.plan);
        }
        for (const auto& r : pass.results) {
            entries_.push_back({std::string(record_type::kAction),
                                action_body(r.action)
                                    .str("outcome", engine::to_string(r.outcome))
                                    .str("detail", r.detail)
                                    .str("verification", r.verification)
                                    .boolean("follow_up", r.follow_up)
                                    .done()});
        }
        json::array errors;
        for (const auto& e : pass.errors) {
            errors.emplace_back(e.message);
        }
        // Dump operations an earlier interrupted run left for a person to settle (issue of
        // `snapgov dump recover --list`): what the pass found, and the command that settles them.
        json::array unsettled;
        for (const auto& u : pass.unsettled) {
            unsettled.emplace_back(u);
        }
        json::object counts;
        for (auto outcome :
             {engine::Outcome::done, engine::Outcome::failed, engine::Outcome::not_verified,
              engine::Outcome::skipped, engine::Outcome::dry_run}) {
            counts[engine::to_string(outcome)] = pass.count(outcome);
        }
        const auto& remaining = pass.remaining();
        entries_.push_back(
            {std::string(record_type::kPassEnd),
             body_text({{"now", format_rfc3339(pass.now)},
                        {"exit_code", pass.exit_code()},
                        {"duration_seconds", pass.duration.count()},
                        {"vms", pass.plan.vms},
                        {"checkpoints", pass.plan.checkpoints},
                        {"findings", pass.plan.findings.size()},
                        {"violations", pass.plan.violations()},
                        {"exempt", pass.plan.exempt()},
                        {"remaining_violations", remaining.violations()},
                        {"actions", counts},
                        {"errors", errors},
                        {"unsettled", unsettled},
                        {"settle", pass.unsettled.empty() ? std::string() : pass.unsettled_command},
                        {"digest", digest}})});
        // Hashed, written and committed on a thread of its own (settle() waits for it): the
        // caller reports the pass meanwhile. Nothing else touches the ledger until then.
        try {
            commit_ =
                std::async(std::launch::async, [this, digest] { return flush(digest, true); });
        } catch (const std::system_error&) {
            return flush(digest, /*end=*/true); // no thread to spare: commit before returning
        }
        return {};
    }

    [[nodiscard]] Result<void> settle() override {
        if (!commit_.valid()) {
            return {};
        }
        return commit_.get();
    }

private:
    void add_findings(const policies::Plan& plan) {
        entries_.reserve(entries_.size() + plan.findings.size() + 16);
        for (const auto& f : plan.findings) {
            entries_.push_back({std::string(record_type::kFinding),
                                Body()
                                    .str("policy", f.policy)
                                    .str("mode", policies::to_string(f.mode))
                                    .str("rule", f.rule)
                                    .str("provider", f.provider)
                                    .str("vm", f.vm)
                                    .str("vm_id", f.vm_id)
                                    .str("checkpoint", f.checkpoint)
                                    .str("checkpoint_id", f.checkpoint_id)
                                    .str("path", f.path)
                                    .str("detail", f.detail)
                                    .boolean("exempt", f.exempt)
                                    .raw("exemption", exemption_text(f, *config_, start_.now))
                                    .done()});
        }
    }

    Result<void> open() {
        if (store_) {
            auto idle = store_->idle(idle_key_);
            if (!idle) {
                return tl::unexpected(idle.error());
            }
            idle_ = *idle;
            return {};
        }
        const auto& ev = config_->evidence;
        if (!ev.signing_key.empty()) {
            auto key = SigningKey::load_private(ev.signing_key);
            if (!key) {
                return tl::unexpected(key.error());
            }
            key_ = std::make_unique<SigningKey>(std::move(*key));
        }
        auto store = SqliteStore::open(ev.path, SqliteStore::Mode::write);
        if (!store) {
            return tl::unexpected(store.error());
        }
        store_ = std::move(*store);
        ledger_ = std::make_unique<Ledger>(*store_, ev.host_id, key_.get());
        auto idle = store_->idle(idle_key_);
        if (!idle) {
            return tl::unexpected(idle.error());
        }
        idle_ = *idle;
        return {};
    }

    /// Identical passes since the last recorded one, as one heartbeat record.
    Entry heartbeat() const {
        return {std::string(record_type::kHeartbeat),
                body_text({{"scope", engine::to_string(start_.scope)},
                           {"identical_passes", idle_.identical},
                           {"first", idle_.first},
                           {"last", idle_.last},
                           {"digest", idle_.digest}})};
    }

    /// Appends what is buffered (after a heartbeat for the identical passes before it). At the
    /// end of a pass `digest` becomes what the next pass is compared with.
    Result<void> flush(const std::string& digest, bool end) {
        std::vector<Entry> entries;
        entries.reserve(entries_.size() + 1);
        if (!flushed_ && idle_.identical > 0) {
            entries.push_back(heartbeat());
        }
        std::move(entries_.begin(), entries_.end(), std::back_inserter(entries));
        entries_.clear();
        IdleState next;
        next.digest = end ? digest : std::string();
        auto appended = ledger_->append(std::move(entries), pass_seq_, idle_key_, next);
        if (!appended) {
            return tl::unexpected(appended.error());
        }
        idle_ = next;
        flushed_ = true;
        pass_seq_ = appended->pass;
        log_head(*appended);
        return {};
    }

    /// An identical pass: no record, unless a heartbeat is due.
    Result<void> summarise(const std::string& now) {
        entries_.clear();
        idle_.identical += 1;
        if (idle_.first.empty()) {
            idle_.first = now;
        }
        idle_.last = now;
        const auto recorded = parse_rfc3339(idle_.recorded);
        const auto wall = parse_rfc3339(now);
        const bool due =
            !recorded || !wall || elapsed(*recorded, *wall) >= config_->evidence.heartbeat;
        if (!due) {
            return store_->set_idle(idle_key_, idle_);
        }
        IdleState next;
        next.digest = idle_.digest;
        next.recorded = now;
        auto appended = ledger_->append({heartbeat()}, 0, idle_key_, next);
        if (!appended) {
            return tl::unexpected(appended.error());
        }
        idle_ = next;
        log_head(*appended);
        return {};
    }

    static void log_head(const Appended& a) {
        log::info("evidence: head " + std::to_string(a.head.seq) + ":" + a.head.hash +
                  (a.signed_head ? " (signed)" : " (unsigned: no evidence.signing_key)"));
    }

    std::shared_ptr<const policies::Config> config_;
    std::unique_ptr<SigningKey> key_;
    std::unique_ptr<SqliteStore> store_;
    std::unique_ptr<Ledger> ledger_;
    IdleState idle_;
    std::string idle_key_; ///< HOST#SCOPE: passes are compared with the last of their scope
    engine::PassStart start_;
    std::vector<Entry> entries_;
    std::future<Result<void>> commit_; ///< the end of the last recorded pass, until settled
    bool active_ = false;
    bool flushed_ = false;
    std::uint64_t pass_seq_ = 0;
};

} // namespace

std::shared_ptr<engine::PassObserver>
make_recorder(std::shared_ptr<const policies::Config> config) {
    if (!config || !config->evidence.enabled) {
        return nullptr;
    }
    return std::make_shared<Recorder>(std::move(config));
}

// Boost.JSON writes bytes that are not well-formed UTF-8 through unchanged; they are escaped
// here as Body escapes them. Outside strings serialized JSON is ASCII, so only string bytes
// change.
std::string body_text(const boost::json::object& o) {
    const std::string serialized = boost::json::serialize(o);
    std::string out;
    out.reserve(serialized.size());
    std::string_view rest(serialized);
    while (!rest.empty()) {
        const Utf8Char c = decode_utf8(rest);
        if (c.valid) {
            out.append(rest.substr(0, c.length));
            rest.remove_prefix(c.length);
        } else {
            append_escaped_byte(out, static_cast<unsigned char>(rest[0]));
            rest.remove_prefix(1);
        }
    }
    return out;
}

} // namespace snapgov::evidence
