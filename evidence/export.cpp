#include "evidence/export.hpp"

#include <map>
#include <set>

#include <openssl/evp.h>

#include <boost/json.hpp>

namespace snapgov::evidence {
namespace {

namespace json = boost::json;

constexpr std::string_view kNamespaceUuid = "71c10a97-33e9-5e9d-bf7a-a092087e4830";
constexpr std::string_view kPropNs = "urn:snapgov:evidence";

std::string str(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (v == nullptr) {
        return {};
    }
    if (v->is_string()) {
        return std::string(v->as_string());
    }
    if (v->is_null()) {
        return {};
    }
    return json::serialize(*v);
}

bool flag(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v != nullptr && v->is_bool() && v->as_bool();
}

/// A record of interest (a finding or an action) in the requested range, parsed.
struct Item {
    const Record* record = nullptr;
    json::object body;
    bool finding = false;
    json::object exemption; ///< empty when none
};

/// Streams the items of `host` within the time range to `each`.
Result<void> items(Store& store, const ExportOptions& options,
                   const std::function<bool(const Item&)>& each, std::string* config_sha256) {
    const std::string since = options.since ? format_rfc3339(*options.since) : std::string();
    const std::string until = options.until ? format_rfc3339(*options.until) : std::string();
    bool ok = true;
    auto read = store.read(options.host_id, 1, UINT64_MAX, [&](const Record& r) {
        // Times are written as RFC 3339 UTC with a Z, so they compare as text.
        if ((!since.empty() && r.time < since) || (!until.empty() && r.time >= until)) {
            return true;
        }
        const bool finding = r.type == record_type::kFinding;
        const bool start = r.type == record_type::kPassStart;
        if (!finding && r.type != record_type::kAction && !start) {
            return true;
        }
        boost::system::error_code ec;
        json::value v = json::parse(r.body, ec);
        if (ec || !v.is_object()) {
            return true; // verify reports a damaged record; an export skips it
        }
        if (start) {
            if (config_sha256 != nullptr) {
                *config_sha256 = str(v.as_object(), "config_sha256");
            }
            return true;
        }
        Item item;
        item.record = &r;
        item.body = std::move(v.as_object());
        item.finding = finding;
        if (const auto* e = item.body.if_contains("exemption"); e != nullptr && e->is_object()) {
            item.exemption = e->as_object();
        }
        ok = each(item);
        return ok;
    });
    if (!read) {
        return read;
    }
    return {};
}

/// `pass`, `fail`, `warn`, `error` or `skip`, as PolicyReport results say it.
std::string result_of(const Item& item) {
    if (item.finding) {
        if (flag(item.body, "exempt")) {
            return "skip";
        }
        return str(item.body, "mode") == "audit" ? "warn" : "fail";
    }
    const std::string outcome = str(item.body, "outcome");
    if (outcome == "done") {
        return "pass";
    }
    if (outcome == "failed" || outcome == "not_verified") {
        return "error";
    }
    return "skip"; // skipped, dry_run
}

std::int64_t epoch_seconds(const std::string& time) {
    auto t = parse_rfc3339(time);
    return t ? t->time_since_epoch().count() : 0;
}

std::string target_name(const json::object& b) {
    const std::string path = str(b, "path");
    if (!path.empty() && str(b, "vm").empty()) {
        return path;
    }
    const std::string cp = str(b, "checkpoint");
    return str(b, "provider") + "/" + str(b, "vm") + (cp.empty() ? "" : "/" + cp);
}

// --- PolicyReport -------------------------------------------------------------------------

Result<void> write_policy_report(Store& store, const ExportOptions& options, const Head& head,
                                 std::ostream& out) {
    std::map<std::string, std::uint64_t> summary{
        {"pass", 0}, {"fail", 0}, {"warn", 0}, {"error", 0}, {"skip", 0}};
    json::object metadata{
        {"name", "snapgov-" + options.host_id},
        {"labels", json::object{{"app.kubernetes.io/managed-by", "snapgov"}}},
        {"annotations",
         json::object{{"snapgov.io/host-id", options.host_id},
                      {"snapgov.io/chain-head", std::to_string(head.seq) + ":" + head.hash}}}};
    out << R"({"apiVersion":"openreports.io/v1alpha1","kind":"PolicyReport","metadata":)"
        << json::serialize(metadata) << R"(,"results":[)";
    bool first = true;
    auto r = items(
        store, options,
        [&](const Item& item) {
            const auto& b = item.body;
            const std::string result = result_of(item);
            ++summary[result];
            json::object props{{"record", std::to_string(item.record->seq)},
                               {"pass", std::to_string(item.record->pass)},
                               {"record_hash", item.record->hash},
                               {"host_id", item.record->host_id},
                               {"provider", str(b, "provider")},
                               {"vm", str(b, "vm")},
                               {"checkpoint", str(b, "checkpoint")}};
            std::string rule;
            std::string message;
            std::string kind;
            std::string uid;
            if (item.finding) {
                rule = str(b, "rule");
                message = str(b, "detail");
                props["mode"] = str(b, "mode");
                props["exempt"] = flag(b, "exempt") ? "true" : "false";
                if (!item.exemption.empty()) {
                    props["exemption_reason"] = str(item.exemption, "reason");
                    props["exemption_expires"] = str(item.exemption, "expires");
                    props["exemption_applied"] = flag(item.exemption, "applied") ? "true" : "false";
                }
            } else {
                rule = str(b, "kind");
                message = str(b, "detail");
                const std::string verification = str(b, "verification");
                if (!verification.empty()) {
                    message += (message.empty() ? "" : "; ") + verification;
                }
                props["outcome"] = str(b, "outcome");
                props["verification"] = verification;
            }
            if (!str(b, "path").empty() && str(b, "vm").empty()) {
                kind = "File";
                props["path"] = str(b, "path");
            } else if (!str(b, "checkpoint").empty()) {
                kind = "Checkpoint";
                uid = str(b, "checkpoint_id");
            } else {
                kind = "VirtualMachine";
                uid = str(b, "vm_id");
            }
            json::object resource{{"kind", kind}, {"name", target_name(b)}};
            if (!uid.empty()) {
                resource["uid"] = uid;
            }
            json::object result_obj{
                {"source", "snapgov"},
                {"policy", str(b, "policy")},
                {"rule", rule},
                {"result", result},
                {"message", message},
                {"scored", true},
                {"category", item.finding ? "finding" : "action"},
                {"timestamp",
                 json::object{{"seconds", epoch_seconds(item.record->time)}, {"nanos", 0}}},
                {"resources", json::array{resource}},
                {"properties", props}};
            out << (first ? "" : ",") << '\n' << json::serialize(result_obj);
            first = false;
            return static_cast<bool>(out);
        },
        nullptr);
    if (!r) {
        return r;
    }
    json::object sum;
    for (const auto& [k, v] : summary) {
        sum[k] = v;
    }
    out << "\n],"
        << R"("summary":)" << json::serialize(sum) << "}\n";
    return {};
}

// --- CSV ----------------------------------------------------------------------------------

/// One RFC 4180 field: quoted when it holds a comma, quote, CR or LF (quotes doubled). A
/// field a spreadsheet would take for a formula (=, +, -, @ first) gets a leading ' so that
/// a VM named "=HYPERLINK(...)" stays text.
std::string csv_field(std::string s) {
    if (!s.empty() && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' ||
                       s[0] == '\r')) {
        s.insert(s.begin(), '\'');
    }
    if (s.find_first_of(",\"\r\n") == std::string::npos) {
        return s;
    }
    std::string out = "\"";
    for (const char c : s) {
        out += c;
        if (c == '"') {
            out += '"';
        }
    }
    out += '"';
    return out;
}

Result<void> write_csv(Store& store, const ExportOptions& options, std::ostream& out) {
    static const char* kColumns[] = {"record",
                                     "pass",
                                     "time",
                                     "host_id",
                                     "type",
                                     "policy",
                                     "rule",
                                     "mode",
                                     "result",
                                     "provider",
                                     "vm",
                                     "checkpoint",
                                     "path",
                                     "exempt",
                                     "exemption_reason",
                                     "exemption_expires",
                                     "outcome",
                                     "detail",
                                     "verification",
                                     "record_hash"};
    bool first = true;
    for (const char* c : kColumns) {
        out << (first ? "" : ",") << c;
        first = false;
    }
    out << "\r\n";
    return items(
        store, options,
        [&](const Item& item) {
            const auto& b = item.body;
            const std::vector<std::string> row{std::to_string(item.record->seq),
                                               std::to_string(item.record->pass),
                                               item.record->time,
                                               item.record->host_id,
                                               item.finding ? "finding" : "action",
                                               str(b, "policy"),
                                               item.finding ? str(b, "rule") : str(b, "kind"),
                                               str(b, "mode"),
                                               result_of(item),
                                               str(b, "provider"),
                                               str(b, "vm"),
                                               str(b, "checkpoint"),
                                               str(b, "path"),
                                               item.finding ? (flag(b, "exempt") ? "true" : "false")
                                                            : "",
                                               str(item.exemption, "reason"),
                                               str(item.exemption, "expires"),
                                               str(b, "outcome"),
                                               str(b, "detail"),
                                               str(b, "verification"),
                                               item.record->hash};
            for (std::size_t i = 0; i < row.size(); ++i) {
                out << (i == 0 ? "" : ",") << csv_field(row[i]);
            }
            out << "\r\n";
            return static_cast<bool>(out);
        },
        nullptr);
}

// --- OSCAL --------------------------------------------------------------------------------

/// An OSCAL string: non-empty, no leading or trailing whitespace, one line.
std::string oscal_string(std::string s) {
    for (auto& c : s) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
            c = ' ';
        }
    }
    const auto b = s.find_first_not_of(' ');
    if (b == std::string::npos) {
        return {};
    }
    const auto e = s.find_last_not_of(' ');
    return s.substr(b, e - b + 1);
}

/// An OSCAL token (an XML NCName, ASCII subset): other characters become '_'.
std::string oscal_token(const std::string& s) {
    std::string out;
    for (const char c : s) {
        const bool ok =
            std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == '_';
        out += ok ? c : '_';
    }
    if (out.empty() || std::isalpha(static_cast<unsigned char>(out[0])) == 0) {
        out.insert(out.begin(), '_');
    }
    return out;
}

void add_prop(json::array& props, std::string_view name, const std::string& value) {
    auto v = oscal_string(value);
    if (!v.empty()) {
        props.push_back(json::object{{"name", name}, {"ns", kPropNs}, {"value", v}});
    }
}

struct PolicyTally {
    std::uint64_t findings = 0;
    std::uint64_t violations = 0;
    std::uint64_t exempt = 0;
};

Result<void> write_oscal(Store& store, const ExportOptions& options, const Head& head,
                         std::ostream& out) {
    auto sigs = store.signatures(options.host_id);
    if (!sigs) {
        return tl::unexpected(sigs.error());
    }
    const HeadSignature* head_sig = nullptr;
    for (const auto& s : *sigs) {
        if (s.seq == head.seq && s.hash == head.hash) {
            head_sig = &s;
        }
    }
    const std::string range = (options.since ? format_rfc3339(*options.since) : "") + ".." +
                              (options.until ? format_rfc3339(*options.until) : "");
    const std::string scope =
        options.host_id + ":" + std::to_string(head.seq) + ":" + head.hash + ":" + range;
    const std::string head_uuid = uuid_v5("chain-head:" + scope);
    const std::string policy_uuid = uuid_v5("policy-file:" + scope);
    const std::string generated = format_rfc3339(options.generated);

    json::object metadata{
        {"title", oscal_string("snapgov checkpoint governance evidence for " + options.host_id)},
        {"last-modified", generated},
        {"version", std::to_string(head.seq) + ":" + head.hash},
        {"oscal-version", "1.0.6"}};
    out << R"({"assessment-results":{"uuid":")" << uuid_v5("assessment-results:" + scope)
        << R"(","metadata":)" << json::serialize(metadata) << R"(,"import-ap":{"href":"#)"
        << policy_uuid
        << R"(","remarks":"snapgov has no separate assessment plan; the policy file is the plan."},"results":[{"uuid":")"
        << uuid_v5("result:" + scope) << R"(","title":)"
        << json::serialize(json::value(oscal_string("snapgov passes on " + options.host_id)))
        << R"(,"description":"Findings of snapgov's enforcing passes, taken from its hash-chained evidence ledger.","observations":[)";

    std::map<std::string, PolicyTally> tally;
    for (const auto& p : options.policies) {
        tally[p];
    }
    std::string first_time;
    std::string last_time;
    std::string config_sha256;
    bool first = true;
    auto r = items(
        store, options,
        [&](const Item& item) {
            if (first_time.empty()) {
                first_time = item.record->time;
            }
            last_time = item.record->time;
            if (!item.finding) {
                return true;
            }
            const auto& b = item.body;
            auto& t = tally[str(b, "policy")];
            ++t.findings;
            if (flag(b, "exempt")) {
                ++t.exempt;
            } else {
                ++t.violations;
            }
            json::array props;
            add_prop(props, "policy", str(b, "policy"));
            add_prop(props, "rule", str(b, "rule"));
            add_prop(props, "mode", str(b, "mode"));
            add_prop(props, "provider", str(b, "provider"));
            add_prop(props, "vm", str(b, "vm"));
            add_prop(props, "checkpoint", str(b, "checkpoint"));
            add_prop(props, "path", str(b, "path"));
            add_prop(props, "exempt", flag(b, "exempt") ? "true" : "false");
            add_prop(props, "exemption-reason", str(item.exemption, "reason"));
            add_prop(props, "exemption-expires", str(item.exemption, "expires"));
            add_prop(props, "record", std::to_string(item.record->seq));
            add_prop(props, "record-hash", item.record->hash);
            std::string detail = oscal_string(str(b, "detail"));
            json::object obs{
                {"uuid", uuid_v5("observation:" + item.record->host_id + ":" + item.record->hash)},
                {"title",
                 oscal_string(str(b, "policy") + ": " + str(b, "rule") + " on " + target_name(b))},
                {"description", detail.empty() ? std::string("(no detail)") : detail},
                {"props", props},
                {"methods", json::array{"TEST"}},
                {"types", json::array{"finding"}},
                {"collected", item.record->time}};
            out << (first ? "" : ",") << '\n' << json::serialize(obs);
            first = false;
            return static_cast<bool>(out);
        },
        &config_sha256);
    if (!r) {
        return r;
    }
    out << "\n]";
    out << R"(,"start":")" << (first_time.empty() ? generated : first_time) << R"(","end":")"
        << (last_time.empty() ? generated : last_time) << '"';
    out << R"(,"reviewed-controls":{"control-selections":[{"include-all":{}}]},"findings":[)";
    // One finding per policy, related to its observations: the records are read again per
    // policy, so memory stays bounded whatever the ledger's size.
    first = true;
    for (const auto& [policy, t] : tally) {
        json::object target{
            {"type", "objective-id"},
            {"target-id", oscal_token(policy)},
            {"status", json::object{{"state", t.violations > 0 ? "not-satisfied" : "satisfied"}}}};
        out << (first ? "" : ",") << "\n{\"uuid\":\"" << uuid_v5("finding:" + scope + ":" + policy)
            << "\",\"title\":" << json::serialize(json::value(oscal_string("policy " + policy)))
            << ",\"description\":"
            << json::serialize(json::value(std::to_string(t.findings) + " findings in the range: " +
                                           std::to_string(t.violations) + " violations, " +
                                           std::to_string(t.exempt) + " exempt."))
            << ",\"target\":" << json::serialize(target);
        first = false;
        if (t.findings == 0) {
            out << '}';
            continue;
        }
        out << ",\"related-observations\":[";
        bool first_obs = true;
        // A named copy: clang before 16 cannot capture a structured binding.
        const std::string& policy_name = policy;
        auto again = items(
            store, options,
            [&](const Item& item) {
                if (item.finding && str(item.body, "policy") == policy_name) {
                    out << (first_obs ? "" : ",") << "{\"observation-uuid\":\""
                        << uuid_v5("observation:" + item.record->host_id + ":" + item.record->hash)
                        << "\"}";
                    first_obs = false;
                }
                return static_cast<bool>(out);
            },
            nullptr);
        if (!again) {
            return again;
        }
        out << "]}";
    }
    out << "\n]}]";
    // The back matter binds the document to the chain: its head, and the head's signature.
    json::array head_props;
    add_prop(head_props, "host-id", options.host_id);
    add_prop(head_props, "chain-head-seq", std::to_string(head.seq));
    add_prop(head_props, "chain-head-hash", head.hash);
    if (head_sig != nullptr) {
        add_prop(head_props, "head-signature-ed25519", head_sig->signature);
        add_prop(head_props, "head-public-key-ed25519", head_sig->public_key);
    } else {
        add_prop(head_props, "head-signature-ed25519", "unsigned");
    }
    json::array policy_props;
    add_prop(policy_props, "config-sha256", config_sha256);
    json::array resources{
        json::object{{"uuid", head_uuid},
                     {"title", "snapgov evidence chain head"},
                     {"description",
                      "The head of the hash chain this document was exported from; check it "
                      "with: snapgov evidence verify -c FILE --public-key PEM --expect-head "
                      "SEQ:HASH"},
                     {"props", head_props}},
        json::object{{"uuid", policy_uuid},
                     {"title", "snapgov policy file"},
                     {"description", "The policy file of the last pass in the range, by its "
                                     "SHA-256."},
                     {"props", policy_props}}};
    if (policy_props.empty()) {
        resources.back().as_object().erase("props");
    }
    out << R"(,"back-matter":{"resources":)" << json::serialize(resources) << "}}}\n";
    return {};
}

} // namespace

std::string uuid_v5(std::string_view name) {
    // RFC 4122 section 4.3: SHA-1 of the namespace's 16 bytes and the name.
    std::string ns;
    for (std::size_t i = 0; i < kNamespaceUuid.size(); i += 2) {
        if (kNamespaceUuid[i] == '-') {
            --i;
            continue;
        }
        ns += static_cast<char>(std::stoi(std::string(kNamespaceUuid.substr(i, 2)), nullptr, 16));
    }
    std::string input = ns;
    input.append(name);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha1(), nullptr);
    digest[6] = static_cast<unsigned char>((digest[6] & 0x0F) | 0x50);
    digest[8] = static_cast<unsigned char>((digest[8] & 0x3F) | 0x80);
    const std::string hex = to_hex(std::string_view(reinterpret_cast<const char*>(digest), 16));
    return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
           hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

Result<void> export_evidence(Store& store, const ExportOptions& options, std::ostream& out) {
    auto head = store.head(options.host_id);
    if (!head) {
        return tl::unexpected(head.error());
    }
    Result<void> r;
    switch (options.format) {
    case ExportFormat::json: r = write_policy_report(store, options, *head, out); break;
    case ExportFormat::csv: r = write_csv(store, options, out); break;
    case ExportFormat::oscal: r = write_oscal(store, options, *head, out); break;
    }
    if (!r) {
        return r;
    }
    out.flush();
    if (!out) {
        return fail(ErrorCode::io, "cannot write the export (disk full, or output closed?)");
    }
    return {};
}

} // namespace snapgov::evidence
