#include "policies/config_loader.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

namespace snapgov::policies {
namespace {

using Severity = Diagnostic::Severity;

/// A key and its value inside a YAML map, both with their source marks.
struct Field {
    YAML::Node key;
    YAML::Node value;
};

/// Walks a parsed YAML document and builds a `Config`, collecting every diagnostic instead
/// of stopping at the first.
class Loader {
public:
    Loader(std::string file, std::string_view text) : file_(std::move(file)) {
        std::istringstream in{std::string(text)};
        for (std::string line; std::getline(in, line);) {
            lines_.push_back(line);
        }
    }

    Result<LoadedConfig> load(std::string_view text) {
        YAML::Node root;
        try {
            root = YAML::Load(std::string(text));
        } catch (const YAML::Exception& e) {
            add(Severity::error, e.mark, "YAML syntax error: " + e.msg);
            return finish();
        }
        if (!root.IsDefined() || root.IsNull()) {
            add(Severity::error, YAML::Mark(),
                "the file is empty; expected a map with "
                "'providers:' and 'policies:'");
            return finish();
        }
        if (!expect_map(root, "the top level")) {
            return finish();
        }
        config_.path = file_;
        check_keys(root,
                   {"providers", "policies", "exemptions", "memory_dumps", "safety", "evidence",
                    "state_dir", "daemon"},
                   "top level");
        if (auto f = field(root, "providers")) {
            read_providers(f->value);
        } else {
            add(Severity::error, root.Mark(),
                "missing 'providers:'; add at least one, e.g. "
                "{name: lab, type: libvirt, uri: qemu:///system}");
        }
        if (auto f = field(root, "policies")) {
            read_policies(f->value);
        } else {
            add(Severity::warning, root.Mark(), "no 'policies:'; nothing will be enforced");
        }
        if (auto f = field(root, "exemptions")) {
            read_exemptions(f->value);
        }
        if (auto f = field(root, "memory_dumps")) {
            read_memory_dumps(f->value);
        }
        if (auto f = field(root, "safety")) {
            read_safety(f->value);
        }
        if (auto f = field(root, "evidence")) {
            read_evidence(f->value);
        }
        if (auto f = field(root, "state_dir")) {
            if (auto s = string_value(f->value, "state_dir")) {
                config_.state_dir = expand(*s);
            }
        }
        if (auto f = field(root, "daemon")) {
            read_daemon(f->value);
        }
        check_references();
        return finish();
    }

private:
    // `${CONFIG_DIR}` in a provider's URI or file paths stands for the absolute directory of
    // the policy file, so a config can ship beside its test-driver host file.
    std::string expand(std::string value) const {
        static constexpr std::string_view kVar = "${CONFIG_DIR}";
        const std::string dir = std::filesystem::absolute(std::filesystem::path(file_))
                                    .lexically_normal()
                                    .parent_path();
        for (auto pos = value.find(kVar); pos != std::string::npos; pos = value.find(kVar, pos)) {
            value.replace(pos, kVar.size(), dir);
            pos += dir.size();
        }
        return value;
    }

    // --- diagnostics -------------------------------------------------------------------

    void add(Severity severity, const YAML::Mark& mark, std::string message) {
        Diagnostic d;
        d.severity = severity;
        d.file = file_;
        if (!mark.is_null()) {
            d.line = mark.line + 1;
            d.column = mark.column + 1;
        }
        d.message = std::move(message);
        diagnostics_.push_back(std::move(d));
    }

    std::string origin(const YAML::Mark& mark) const {
        if (mark.is_null()) {
            return file_;
        }
        return file_ + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
    }

    std::string quoted_source(const Diagnostic& d) const {
        if (d.line <= 0 || static_cast<std::size_t>(d.line) > lines_.size()) {
            return {};
        }
        const std::string& line = lines_[static_cast<std::size_t>(d.line - 1)];
        std::string caret(static_cast<std::size_t>(std::max(d.column - 1, 0)), ' ');
        for (std::size_t i = 0; i < caret.size() && i < line.size(); ++i) {
            if (line[i] == '\t') {
                caret[i] = '\t';
            }
        }
        return "    " + line + "\n    " + caret + "^";
    }

    Result<LoadedConfig> finish() {
        const bool failed =
            std::any_of(diagnostics_.begin(), diagnostics_.end(),
                        [](const auto& d) { return d.severity == Severity::error; });
        if (failed) {
            std::string message;
            for (const auto& d : diagnostics_) {
                if (!message.empty()) {
                    message += '\n';
                }
                message += d.format();
                if (d.severity == Severity::error) {
                    if (auto src = quoted_source(d); !src.empty()) {
                        message += '\n' + src;
                    }
                }
            }
            return fail(ErrorCode::config, message);
        }
        return LoadedConfig{std::move(config_), std::move(diagnostics_)};
    }

    // --- shape helpers -----------------------------------------------------------------

    std::optional<Field> field(const YAML::Node& map, std::string_view key) const {
        for (auto it = map.begin(); it != map.end(); ++it) {
            if (it->first.IsScalar() && it->first.Scalar() == key) {
                return Field{it->first, it->second};
            }
        }
        return std::nullopt;
    }

    static std::string_view kind(const YAML::Node& node) {
        switch (node.Type()) {
        case YAML::NodeType::Map: return "a map";
        case YAML::NodeType::Sequence: return "a list";
        case YAML::NodeType::Scalar: return "a scalar";
        case YAML::NodeType::Null: return "empty";
        case YAML::NodeType::Undefined: return "undefined";
        }
        return "unknown";
    }

    bool expect_map(const YAML::Node& node, std::string_view what) {
        if (node.IsMap()) {
            return true;
        }
        add(Severity::error, node.Mark(),
            std::string(what) + " must be a map (key: value), not " + std::string(kind(node)));
        return false;
    }

    bool expect_list(const YAML::Node& node, std::string_view what) {
        if (node.IsSequence()) {
            return true;
        }
        add(Severity::error, node.Mark(),
            std::string(what) + " must be a list, not " + std::string(kind(node)));
        return false;
    }

    void check_keys(const YAML::Node& map, std::initializer_list<std::string_view> known,
                    std::string_view where) {
        std::set<std::string> seen;
        for (auto it = map.begin(); it != map.end(); ++it) {
            if (!it->first.IsScalar()) {
                add(Severity::error, it->first.Mark(), "keys must be plain strings");
                continue;
            }
            const std::string& key = it->first.Scalar();
            if (!seen.insert(key).second) {
                add(Severity::error, it->first.Mark(),
                    "duplicate key '" + key + "' in " + std::string(where) + "; keep only one");
                continue;
            }
            if (std::find(known.begin(), known.end(), key) == known.end()) {
                std::string list;
                for (auto k : known) {
                    list += list.empty() ? std::string(k) : ", " + std::string(k);
                }
                add(Severity::warning, it->first.Mark(),
                    "unknown key '" + key + "' in " + std::string(where) +
                        " is ignored (known: " + list + ")");
            }
        }
    }

    std::optional<std::string> string_value(const YAML::Node& node, std::string_view what) {
        if (!node.IsScalar()) {
            add(Severity::error, node.Mark(),
                std::string(what) + " must be a string, not " + std::string(kind(node)));
            return std::nullopt;
        }
        return node.Scalar();
    }

    std::optional<std::string> required_string(const YAML::Node& map, std::string_view key,
                                               std::string_view where, std::string_view example) {
        const auto f = field(map, key);
        if (!f || f->value.IsNull()) {
            add(Severity::error, f ? f->key.Mark() : map.Mark(),
                std::string(where) + " is missing '" + std::string(key) + "' (e.g. " +
                    std::string(key) + ": " + std::string(example) + ")");
            return std::nullopt;
        }
        auto s = string_value(f->value, key);
        if (s && s->empty()) {
            add(Severity::error, f->value.Mark(), "'" + std::string(key) + "' must not be empty");
            return std::nullopt;
        }
        return s;
    }

    std::optional<bool> bool_value(const YAML::Node& node, std::string_view what) {
        if (node.IsScalar()) {
            const std::string& s = node.Scalar();
            if (s == "true" || s == "True" || s == "yes") {
                return true;
            }
            if (s == "false" || s == "False" || s == "no") {
                return false;
            }
        }
        add(Severity::error, node.Mark(), std::string(what) + " must be true or false");
        return std::nullopt;
    }

    std::optional<std::size_t> count_value(const YAML::Node& node, std::string_view what) {
        if (node.IsScalar()) {
            const std::string& s = node.Scalar();
            std::size_t value = 0;
            const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
            if (!s.empty() && ec == std::errc{} && ptr == s.data() + s.size()) {
                return value;
            }
        }
        add(Severity::error, node.Mark(),
            std::string(what) + " must be a whole number >= 0 (e.g. 3)");
        return std::nullopt;
    }

    std::optional<Seconds> duration_value(const YAML::Node& node, std::string_view what) {
        auto s = string_value(node, what);
        if (!s) {
            return std::nullopt;
        }
        auto d = parse_duration(*s);
        if (!d) {
            add(Severity::error, node.Mark(), std::string(what) + ": " + d.error().message);
            return std::nullopt;
        }
        return *d;
    }

    std::vector<std::string> string_list(const YAML::Node& node, std::string_view what) {
        std::vector<std::string> out;
        if (node.IsScalar()) {
            out.push_back(node.Scalar());
            return out;
        }
        if (!expect_list(node, what)) {
            return out;
        }
        for (const auto& item : node) {
            if (auto s = string_value(item, std::string(what) + " entries")) {
                out.push_back(*s);
            }
        }
        return out;
    }

    template <class Enum>
    std::optional<Enum> enum_value(const YAML::Node& node, std::string_view what,
                                   std::initializer_list<std::pair<std::string_view, Enum>> names) {
        if (node.IsScalar()) {
            for (const auto& [name, value] : names) {
                if (node.Scalar() == name) {
                    return value;
                }
            }
        }
        std::string list;
        for (const auto& [name, value] : names) {
            list += list.empty() ? std::string(name) : " | " + std::string(name);
        }
        add(Severity::error, node.Mark(),
            std::string(what) + " must be one of " + list +
                (node.IsScalar() ? ", not '" + node.Scalar() + "'" : ""));
        return std::nullopt;
    }

    // --- sections ----------------------------------------------------------------------

    void read_providers(const YAML::Node& list) {
        if (!expect_list(list, "'providers'")) {
            return;
        }
        for (const auto& item : list) {
            if (!expect_map(item, "each provider")) {
                continue;
            }
            check_keys(item,
                       {"name", "type", "uri", "endpoint", "auth", "tls", "insecure_http",
                        "connect_timeout", "read_timeout"},
                       "a provider");
            ProviderSpec spec;
            spec.origin = origin(item.Mark());
            auto name = required_string(item, "name", "a provider", "lab");
            auto type = required_string(item, "type", "a provider", "libvirt");
            if (!name || !type) {
                continue;
            }
            spec.name = *name;
            spec.type = *type;
            if (auto f = field(item, "uri")) {
                spec.uri = expand(string_value(f->value, "uri").value_or(""));
            }
            if (auto f = field(item, "endpoint")) {
                spec.endpoint = string_value(f->value, "endpoint").value_or("");
            }
            if (auto f = field(item, "insecure_http")) {
                spec.insecure_http = bool_value(f->value, "insecure_http").value_or(false);
            }
            if (auto f = field(item, "connect_timeout")) {
                spec.connect_timeout =
                    duration_value(f->value, "connect_timeout").value_or(spec.connect_timeout);
            }
            if (auto f = field(item, "read_timeout")) {
                spec.read_timeout =
                    duration_value(f->value, "read_timeout").value_or(spec.read_timeout);
            }
            if (auto f = field(item, "auth"); f && expect_map(f->value, "'auth'")) {
                check_keys(f->value,
                           {"method", "username", "password_file", "cert_file", "key_file"},
                           "'auth'");
                const auto get = [&](std::string_view key) -> std::string {
                    auto v = field(f->value, key);
                    return v ? string_value(v->value, key).value_or("") : "";
                };
                spec.auth.method = get("method");
                spec.auth.username = get("username");
                spec.auth.password_file = expand(get("password_file"));
                spec.auth.cert_file = expand(get("cert_file"));
                spec.auth.key_file = expand(get("key_file"));
                if (auto p = field(f->value, "password")) {
                    add(Severity::error, p->key.Mark(),
                        "passwords are not accepted inline; put it in a file readable only by "
                        "root and name it with 'password_file'");
                }
            }
            if (auto f = field(item, "tls"); f && expect_map(f->value, "'tls'")) {
                check_keys(f->value, {"ca_file", "insecure"}, "'tls'");
                if (auto v = field(f->value, "ca_file")) {
                    spec.tls.ca_file = expand(string_value(v->value, "ca_file").value_or(""));
                }
                if (auto v = field(f->value, "insecure")) {
                    spec.tls.insecure = bool_value(v->value, "insecure").value_or(false);
                }
            }
            const bool duplicate =
                std::any_of(config_.providers.begin(), config_.providers.end(),
                            [&](const ProviderSpec& p) { return p.name == spec.name; });
            if (duplicate) {
                add(Severity::error, field(item, "name")->value.Mark(),
                    "provider name '" + spec.name + "' is used twice; names must be unique");
                continue;
            }
            config_.providers.push_back(std::move(spec));
        }
    }

    void read_match(const YAML::Node& node, Match& match) {
        if (!expect_map(node, "'match'")) {
            return;
        }
        check_keys(node, {"labels", "names", "providers"}, "'match'");
        if (auto f = field(node, "labels"); f && expect_map(f->value, "'labels'")) {
            for (auto it = f->value.begin(); it != f->value.end(); ++it) {
                if (!it->first.IsScalar()) {
                    continue;
                }
                match.labels[it->first.Scalar()] =
                    string_list(it->second, "label '" + it->first.Scalar() + "'");
            }
        }
        if (auto f = field(node, "names")) {
            match.names = string_list(f->value, "'names'");
        }
        if (auto f = field(node, "providers")) {
            match.providers = string_list(f->value, "'providers'");
            provider_refs_.push_back(f->value);
        }
    }

    void read_policies(const YAML::Node& list) {
        if (list.IsNull()) {
            return;
        }
        if (!expect_list(list, "'policies'")) {
            return;
        }
        for (const auto& item : list) {
            if (!expect_map(item, "each policy")) {
                continue;
            }
            check_keys(
                item,
                {"name", "mode", "match", "checkpoints", "max_age", "max_count", "memory_state"},
                "a policy");
            Policy policy;
            policy.origin = origin(item.Mark());
            auto name = required_string(item, "name", "a policy", "no-checkpoints-in-production");
            if (!name) {
                continue;
            }
            policy.name = *name;
            if (auto f = field(item, "mode")) {
                policy.mode = enum_value<Mode>(f->value, "'mode'",
                                               {{"audit", Mode::audit}, {"enforce", Mode::enforce}})
                                  .value_or(Mode::audit);
            } else {
                add(Severity::warning, item.Mark(),
                    "policy '" + policy.name +
                        "' has no 'mode'; it runs in audit mode (report "
                        "only). Say 'mode: audit' or 'mode: enforce'");
            }
            if (auto f = field(item, "match")) {
                read_match(f->value, policy.match);
            }
            if (auto f = field(item, "checkpoints")) {
                policy.deny =
                    enum_value<bool>(f->value, "'checkpoints'", {{"allow", false}, {"deny", true}})
                        .value_or(false);
            }
            if (auto f = field(item, "max_age")) {
                policy.max_age = duration_value(f->value, "'max_age'");
            }
            if (auto f = field(item, "max_count")) {
                policy.max_count = count_value(f->value, "'max_count'");
            }
            if (auto f = field(item, "memory_state")) {
                policy.memory_state = enum_value<MemoryState>(f->value, "'memory_state'",
                                                              {{"keep", MemoryState::keep},
                                                               {"encrypt", MemoryState::encrypt},
                                                               {"wipe", MemoryState::wipe}})
                                          .value_or(MemoryState::keep);
                if (policy.memory_state == MemoryState::encrypt) {
                    encrypt_marks_.push_back(f->value.Mark());
                }
            }
            if (!policy.deny && !policy.max_age && !policy.max_count &&
                policy.memory_state == MemoryState::keep) {
                add(Severity::warning, item.Mark(),
                    "policy '" + policy.name +
                        "' has no rule (checkpoints: deny, max_age, "
                        "max_count or memory_state); it matches but "
                        "never finds anything");
            }
            const bool duplicate =
                std::any_of(config_.policies.begin(), config_.policies.end(),
                            [&](const Policy& p) { return p.name == policy.name; });
            if (duplicate) {
                add(Severity::error, field(item, "name")->value.Mark(),
                    "policy name '" + policy.name + "' is used twice; names must be unique");
                continue;
            }
            config_.policies.push_back(std::move(policy));
        }
    }

    void read_exemptions(const YAML::Node& list) {
        if (list.IsNull() || !expect_list(list, "'exemptions'")) {
            return;
        }
        for (const auto& item : list) {
            if (!expect_map(item, "each exemption")) {
                continue;
            }
            check_keys(item, {"policy", "vm", "checkpoint", "reason", "expires"}, "an exemption");
            Exemption e;
            e.origin = origin(item.Mark());
            auto policy =
                required_string(item, "policy", "an exemption", "no-checkpoints-in-production");
            auto vm = required_string(item, "vm", "an exemption", "prod-db-01");
            auto reason = required_string(item, "reason", "an exemption",
                                          "CHG-1234 kernel patch (a justification is required)");
            auto expires = required_string(item, "expires", "an exemption",
                                           "2026-12-01T00:00:00Z (exemptions must expire)");
            if (auto f = field(item, "checkpoint"); f && !f->value.IsNull()) {
                e.checkpoint = string_value(f->value, "'checkpoint'");
            }
            if (!policy || !vm || !reason || !expires) {
                continue;
            }
            auto when = parse_rfc3339(*expires);
            if (!when) {
                add(Severity::error, field(item, "expires")->value.Mark(), when.error().message);
                continue;
            }
            e.policy = *policy;
            e.vm = *vm;
            e.reason = *reason;
            e.expires = *when;
            exemption_refs_.push_back(field(item, "policy")->value);
            config_.exemptions.push_back(std::move(e));
        }
    }

    void read_memory_dumps(const YAML::Node& node) {
        if (!expect_map(node, "'memory_dumps'")) {
            return;
        }
        check_keys(node, {"recipients", "scan_paths", "orphans"}, "'memory_dumps'");
        auto& md = config_.memory_dumps;
        if (auto f = field(node, "recipients")) {
            md.recipients = string_list(f->value, "'recipients'");
            std::size_t i = 0;
            for (const auto& r : md.recipients) {
                if (r.rfind("age1", 0) != 0) {
                    const auto& at = f->value.IsSequence() ? f->value[i] : f->value;
                    add(Severity::error, at.Mark(),
                        "recipient '" + r +
                            "' is not an age X25519 public key (age1...); "
                            "make one with age-keygen and paste its public key");
                }
                ++i;
            }
        }
        if (auto f = field(node, "scan_paths")) {
            md.scan_paths = string_list(f->value, "'scan_paths'");
            for (auto& path : md.scan_paths) {
                path = expand(path);
            }
        }
        if (auto f = field(node, "orphans")) {
            md.orphans = enum_value<OrphanAction>(f->value, "'orphans'",
                                                  {{"report", OrphanAction::report},
                                                   {"encrypt", OrphanAction::encrypt},
                                                   {"wipe", OrphanAction::wipe}})
                             .value_or(OrphanAction::report);
        }
        if (md.orphans == OrphanAction::encrypt) {
            encrypt_marks_.push_back(field(node, "orphans")->value.Mark());
        }
    }

    void read_safety(const YAML::Node& node) {
        if (!expect_map(node, "'safety'")) {
            return;
        }
        check_keys(node, {"max_actions_per_run"}, "'safety'");
        if (auto f = field(node, "max_actions_per_run")) {
            config_.safety.max_actions_per_run =
                count_value(f->value, "'max_actions_per_run'").value_or(20);
        }
    }

    void read_evidence(const YAML::Node& node) {
        if (!expect_map(node, "'evidence'")) {
            return;
        }
        check_keys(node, {"path", "signing_key"}, "'evidence'");
        if (auto f = field(node, "path")) {
            config_.evidence.path =
                string_value(f->value, "'path'").value_or(config_.evidence.path);
        }
        if (auto f = field(node, "signing_key")) {
            config_.evidence.signing_key = string_value(f->value, "'signing_key'").value_or("");
        }
    }

    void read_daemon(const YAML::Node& node) {
        if (!expect_map(node, "'daemon'")) {
            return;
        }
        check_keys(
            node,
            {"interval", "deny_interval", "control_socket", "control_group", "metrics_listen"},
            "'daemon'");
        auto& d = config_.daemon;
        if (auto f = field(node, "interval")) {
            d.interval = duration_value(f->value, "'interval'").value_or(d.interval);
            if (d.interval.count() == 0) {
                add(Severity::error, f->value.Mark(), "'interval' must be longer than 0s");
            }
        }
        if (auto f = field(node, "deny_interval")) {
            d.deny_interval = duration_value(f->value, "'deny_interval'").value_or(d.deny_interval);
            if (d.deny_interval.count() == 0) {
                add(Severity::error, f->value.Mark(), "'deny_interval' must be longer than 0s");
            }
        }
        if (auto f = field(node, "control_socket")) {
            d.control_socket =
                string_value(f->value, "'control_socket'").value_or(d.control_socket);
        }
        if (auto f = field(node, "control_group")) {
            d.control_group =
                f->value.IsNull() ? "" : string_value(f->value, "'control_group'").value_or("");
        }
        if (auto f = field(node, "metrics_listen")) {
            d.metrics_listen =
                f->value.IsNull() ? "" : string_value(f->value, "'metrics_listen'").value_or("");
        }
    }

    // Cross references can only be checked once every section is read.
    void check_references() {
        if (config_.memory_dumps.recipients.empty()) {
            for (const auto& mark : encrypt_marks_) {
                add(Severity::error, mark,
                    "encryption needs at least one age public key in "
                    "'memory_dumps: {recipients: [age1...]}' (make one with age-keygen)");
            }
        }
        for (const auto& node : provider_refs_) {
            const auto names = node.IsSequence() ? node : YAML::Node();
            const auto check = [&](const YAML::Node& n) {
                if (!n.IsScalar()) {
                    return;
                }
                const bool known = std::any_of(config_.providers.begin(), config_.providers.end(),
                                               [&](const auto& p) { return p.name == n.Scalar(); });
                if (!known) {
                    add(Severity::error, n.Mark(),
                        "match names provider '" + n.Scalar() +
                            "', which is not defined under "
                            "'providers:'");
                }
            };
            if (node.IsSequence()) {
                for (const auto& n : node) {
                    check(n);
                }
            } else {
                check(node);
            }
        }
        for (const auto& node : exemption_refs_) {
            const bool known = std::any_of(config_.policies.begin(), config_.policies.end(),
                                           [&](const auto& p) { return p.name == node.Scalar(); });
            if (!known) {
                add(Severity::error, node.Mark(),
                    "exemption names policy '" + node.Scalar() +
                        "', which is not defined under "
                        "'policies:'");
            }
        }
    }

    std::string file_;
    std::vector<std::string> lines_;
    std::vector<Diagnostic> diagnostics_;
    std::vector<YAML::Node> provider_refs_;
    std::vector<YAML::Node> exemption_refs_;
    std::vector<YAML::Mark> encrypt_marks_;
    Config config_;
};

} // namespace

std::string Diagnostic::format() const {
    std::string out = file;
    if (line > 0) {
        out += ":" + std::to_string(line) + ":" + std::to_string(column);
    }
    out += severity == Severity::error ? ": error: " : ": warning: ";
    out += message;
    return out;
}

Result<LoadedConfig> load_config_string(std::string_view yaml, const std::string& name) {
    Loader loader(name, yaml);
    return loader.load(yaml);
}

Result<LoadedConfig> load_config_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return fail(ErrorCode::config, path + ": cannot read the policy file (does it exist, and "
                                              "is it readable?)");
    }
    std::ostringstream text;
    text << in.rdbuf();
    return load_config_string(text.str(), path);
}

} // namespace snapgov::policies
