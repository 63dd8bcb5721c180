#include "policies/config_loader.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_set>

#include <arpa/inet.h>
#include <unistd.h>

#include "core/config_section.hpp"

namespace snapgov::policies {
namespace {

std::vector<std::string> values(const std::vector<ConfigScalar>& scalars) {
    std::vector<std::string> out;
    out.reserve(scalars.size());
    for (const auto& s : scalars) {
        out.push_back(s.value);
    }
    return out;
}

/// A duration that must be longer than 0s (intervals, timeouts).
std::optional<Seconds> positive_duration(const ConfigSection& section, std::string_view key) {
    auto d = section.duration(key);
    if (d && d->count() == 0) {
        section.error(key, "'" + std::string(key) + "' must be longer than 0s");
        return std::nullopt;
    }
    return d;
}

/// What is wrong with a `HOST:PORT` to listen on (IPv4 or bracketed IPv6 address, port
/// 0-65535; 0 asks for any free port, which `snapgov status` then shows), or "" when nothing
/// is. Host names are refused: the daemon binds an address.
std::string listen_problem(const std::string& text) {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) {
        return "has no port";
    }
    std::string host = text.substr(0, colon);
    const std::string port = text.substr(colon + 1);
    unsigned value = 0;
    const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc{} || ptr != port.data() + port.size() || value > 65535) {
        return "has no valid port (0-65535)";
    }
    unsigned char address[16];
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
        return ::inet_pton(AF_INET6, host.c_str(), address) == 1 ? "" : "has no valid IPv6 address";
    }
    return ::inet_pton(AF_INET, host.c_str(), address) == 1
               ? ""
               : "has no valid IP address (IPv6 goes in brackets: [::1]:9464)";
}

/// Walks the sections of a policy file and builds a `Config`. Every problem goes into the
/// file's diagnostics and reading goes on, so that all problems are reported at once.
class Loader {
public:
    Loader(ConfigFile& file, const providers::ProviderRegistry& registry, const LoadChecks& checks)
        : file_(file), registry_(registry), checks_(checks) {}

    Result<LoadedConfig> load() {
        const auto root = ConfigSection::root(file_);
        if (!root) {
            if (file_.error_count() == 0) {
                file_.error({}, "the file is empty; expected a map with "
                                "'providers:' and 'policies:'");
            }
            return finish();
        }
        config_.path = file_.name();
        root->check_keys({"providers", "policies", "exemptions", "memory_dumps", "safety",
                          "evidence", "state_dir", "daemon"});
        if (root->has("providers")) {
            const auto entries = root->sections("providers", "a provider");
            for (const auto& entry : entries) {
                read_provider(entry);
            }
            // Without a provider every pass sees no VM and reports "compliant".
            if (entries.empty() && file_.error_count() == 0) {
                root->error("providers", "'providers:' is empty; add at least one, e.g. "
                                         "{name: lab, type: libvirt, uri: qemu:///system}");
            }
        } else {
            root->error("missing 'providers:'; add at least one, e.g. "
                        "{name: lab, type: libvirt, uri: qemu:///system}");
        }
        if (!root->has("policies")) {
            root->warning("no 'policies:'; nothing will be enforced");
        } else if (!root->is_null("policies")) {
            for (const auto& item : root->sections("policies", "a policy")) {
                read_policy(item);
            }
        }
        if (!root->is_null("exemptions")) {
            for (const auto& item : root->sections("exemptions", "an exemption")) {
                read_exemption(item);
            }
        }
        if (auto s = root->section("memory_dumps")) {
            read_memory_dumps(*s);
        }
        if (auto s = root->section("safety")) {
            read_safety(*s);
        }
        if (auto s = root->section("evidence")) {
            read_evidence(*s);
        }
        if (auto dir = root->path("state_dir")) {
            config_.state_dir = *dir;
        }
        if (config_.evidence.path.empty()) {
            config_.evidence.path = config_.state_dir + "/evidence.db";
        }
        if (auto s = root->section("daemon")) {
            read_daemon(*s);
        }
        check_references();
        return finish();
    }

private:
    Result<LoadedConfig> finish() {
        if (config_.evidence.host_id.empty()) {
            char name[256] = {};
            config_.evidence.host_id =
                ::gethostname(name, sizeof name - 1) == 0 && name[0] != '\0' ? name : "localhost";
        }
        if (file_.error_count() > 0) {
            return fail(ErrorCode::config, file_.report());
        }
        return LoadedConfig{std::move(config_), file_.diagnostics()};
    }

    // --- sections ----------------------------------------------------------------------

    // The loader reads the keys every provider has; the type's factory reads the rest.
    void read_provider(const ConfigSection& entry) {
        providers::ProviderSpec spec;
        spec.origin = entry.origin();
        const auto name = entry.required_string("name", "lab");
        const auto type = entry.required_string("type", "libvirt");
        spec.connect_timeout =
            positive_duration(entry, "connect_timeout").value_or(spec.connect_timeout);
        spec.read_timeout = positive_duration(entry, "read_timeout").value_or(spec.read_timeout);
        if (!name || !type) {
            return;
        }
        spec.name = *name;
        spec.type = *type;
        const bool duplicate = !provider_names_.insert(spec.name).second;
        if (duplicate) {
            entry.error("name",
                        "provider name '" + spec.name + "' is used twice; names must be unique");
        }
        const auto factory = registry_.factory_for(spec.name, spec.type);
        if (!factory) {
            entry.error("type", factory.error().message);
            return;
        }
        const auto errors = file_.error_count();
        spec.settings = (*factory)->parse(
            entry.named(spec.type + " provider '" + spec.name + "'")
                .with_known_keys({"name", "type", "connect_timeout", "read_timeout"}));
        if (!spec.settings && file_.error_count() == errors) {
            entry.error("the " + spec.type +
                        " provider's parser returned no settings and reported no problem "
                        "(a bug in snapgov)");
        }
        if (spec.settings && !duplicate) {
            config_.providers.push_back(std::move(spec));
        }
    }

    void read_match(const ConfigSection& section, Match& match) {
        section.check_keys({"labels", "names", "providers"});
        if (auto labels = section.section("labels")) {
            for (const auto& key : labels->keys()) {
                match.labels[key] = values(labels->strings(key));
            }
        }
        match.names = values(section.strings("names"));
        const auto refs = section.strings("providers");
        match.providers = values(refs);
        provider_refs_.insert(provider_refs_.end(), refs.begin(), refs.end());
    }

    void read_policy(const ConfigSection& item) {
        item.check_keys({"name", "mode", "match", "checkpoints", "max_age", "max_count",
                         "memory_state", "allow_delete_all"});
        Policy policy;
        policy.origin = item.origin();
        auto name = item.required_string("name", "no-checkpoints-in-production");
        if (!name) {
            return;
        }
        policy.name = *name;
        if (item.has("mode")) {
            policy.mode =
                item.choice<Mode>("mode", {{"audit", Mode::audit}, {"enforce", Mode::enforce}})
                    .value_or(Mode::audit);
        } else {
            item.warning("policy '" + policy.name +
                         "' has no 'mode'; it runs in audit mode (report "
                         "only). Say 'mode: audit' or 'mode: enforce'");
        }
        if (auto match = item.section("match")) {
            read_match(*match, policy.match);
        }
        policy.deny =
            item.choice<bool>("checkpoints", {{"allow", false}, {"deny", true}}).value_or(false);
        policy.max_age = item.duration("max_age");
        policy.max_count = item.count("max_count");
        policy.memory_state =
            item.choice<MemoryState>("memory_state", {{"keep", MemoryState::keep},
                                                      {"encrypt", MemoryState::encrypt},
                                                      {"wipe", MemoryState::wipe}})
                .value_or(MemoryState::keep);
        if (policy.memory_state == MemoryState::encrypt) {
            encrypt_positions_.push_back(item.position("memory_state"));
        }
        check_delete_all(item, policy);
        if (!policy.deny && !policy.max_age && !policy.max_count &&
            policy.memory_state == MemoryState::keep) {
            item.warning("policy '" + policy.name +
                         "' has no rule (checkpoints: deny, max_age, "
                         "max_count or memory_state); it matches but "
                         "never finds anything");
        }
        if (!policy_names_.insert(policy.name).second) {
            item.error("name",
                       "policy name '" + policy.name + "' is used twice; names must be unique");
            return;
        }
        config_.policies.push_back(std::move(policy));
    }

    // A limit of zero matches every checkpoint of every matched VM: a typo for a real limit
    // would delete them all, so the policy must say that it means it.
    void check_delete_all(const ConfigSection& item, const Policy& policy) {
        const bool allowed = item.boolean("allow_delete_all").value_or(false);
        const bool zero_count = policy.max_count && *policy.max_count == 0;
        const bool zero_age = policy.max_age && policy.max_age->count() == 0;
        if (allowed || (!zero_count && !zero_age)) {
            if (allowed && !zero_count && !zero_age) {
                item.warning("allow_delete_all", "'allow_delete_all' has no effect without "
                                                 "'max_count: 0' or 'max_age: 0s'");
            }
            return;
        }
        const std::string key = zero_count ? "max_count" : "max_age";
        item.error(key, "'" + key + ": " + (zero_count ? "0" : "0s") +
                            "' makes every checkpoint of the matched VMs a violation (enforce "
                            "deletes them all); if that is meant, add 'allow_delete_all: true' "
                            "to this policy (or use 'checkpoints: deny'), else give a limit "
                            "above 0");
    }

    void read_exemption(const ConfigSection& item) {
        item.check_keys({"policy", "vm", "checkpoint", "reason", "expires"});
        Exemption e;
        e.origin = item.origin();
        auto policy = item.required_string("policy", "no-checkpoints-in-production");
        auto vm = item.required_string("vm", "prod-db-01");
        auto reason =
            item.required_string("reason", "CHG-1234 kernel patch (a justification is required)");
        auto expires =
            item.required_string("expires", "2026-12-01T00:00:00Z (exemptions must expire)");
        if (!item.is_null("checkpoint")) {
            e.checkpoint = item.string("checkpoint");
        }
        if (!policy || !vm || !reason || !expires) {
            return;
        }
        auto when = parse_rfc3339(*expires);
        if (!when) {
            item.error("expires", when.error().message);
            return;
        }
        e.policy = *policy;
        e.vm = *vm;
        e.reason = *reason;
        e.expires = *when;
        exemption_refs_.push_back({*policy, item.position("policy")});
        config_.exemptions.push_back(std::move(e));
    }

    void read_memory_dumps(const ConfigSection& section) {
        section.check_keys({"recipients", "scan_paths", "orphans"});
        auto& md = config_.memory_dumps;
        for (const auto& r : section.strings("recipients")) {
            if (checks_.recipient) {
                if (const auto problem = checks_.recipient(r.value); !problem.empty()) {
                    section.error(r.position, "recipient: " + problem +
                                                  "; make a key pair with age-keygen and paste "
                                                  "its public key");
                }
            } else if (r.value.rfind("age1", 0) != 0) {
                section.error(r.position, "recipient '" + r.value +
                                              "' is not an age X25519 public key (age1...); "
                                              "make one with age-keygen and paste its public key");
            }
            md.recipients.push_back(r.value);
        }
        for (const auto& path : section.strings("scan_paths")) {
            md.scan_paths.push_back(file_.expand(path.value));
        }
        md.orphans = section
                         .choice<OrphanAction>("orphans", {{"report", OrphanAction::report},
                                                           {"encrypt", OrphanAction::encrypt},
                                                           {"wipe", OrphanAction::wipe}})
                         .value_or(OrphanAction::report);
        if (md.orphans == OrphanAction::encrypt) {
            encrypt_positions_.push_back(section.position("orphans"));
        }
    }

    void read_safety(const ConfigSection& section) {
        section.check_keys({"max_actions_per_run"});
        if (section.has("max_actions_per_run")) {
            config_.safety.max_actions_per_run = section.count("max_actions_per_run").value_or(20);
        }
    }

    void read_evidence(const ConfigSection& section) {
        section.check_keys({"enabled", "path", "signing_key", "heartbeat", "host_id"});
        auto& ev = config_.evidence;
        ev.enabled = section.boolean("enabled").value_or(ev.enabled);
        if (auto path = section.path("path")) {
            if (path->empty()) {
                section.error("path", "'path' is empty; leave it out for <state_dir>/evidence.db");
            }
            ev.path = *path;
        }
        ev.heartbeat = section.duration("heartbeat").value_or(ev.heartbeat);
        if (auto host = section.string("host_id")) {
            const bool printable = std::all_of(host->begin(), host->end(), [](char c) {
                return static_cast<unsigned char>(c) > 0x20 && c != 0x7F;
            });
            if (host->empty() || host->size() > 253 || !printable) {
                section.error("host_id", "'host_id' must be 1 to 253 characters without spaces "
                                         "or control characters (e.g. host_id: hv01.example.org)");
            } else {
                ev.host_id = *host;
            }
        }
        // A private key: the rule for secrets, checked now (kSecretFile).
        config_.evidence.signing_key =
            section.file_path("signing_key", kSecretFile).value_or(config_.evidence.signing_key);
    }

    void read_daemon(const ConfigSection& section) {
        section.check_keys(
            {"interval", "deny_interval", "control_socket", "control_group", "metrics_listen"});
        auto& d = config_.daemon;
        d.interval = positive_duration(section, "interval").value_or(d.interval);
        d.deny_interval = positive_duration(section, "deny_interval").value_or(d.deny_interval);
        d.control_socket = section.string("control_socket").value_or(d.control_socket);
        // An empty value turns these off.
        const auto optional_string = [&](std::string_view key, std::string& value) {
            value = section.is_null(key) ? std::string() : section.string(key).value_or(value);
        };
        optional_string("control_group", d.control_group);
        optional_string("metrics_listen", d.metrics_listen);
        if (!d.metrics_listen.empty()) {
            if (const auto problem = listen_problem(d.metrics_listen); !problem.empty()) {
                section.error("metrics_listen",
                              "'metrics_listen' " + problem +
                                  "; give IP:PORT, e.g. 127.0.0.1:9464, or \"\" for no metrics");
            }
        }
    }

    // Cross references can only be checked once every section is read.
    void check_references() {
        if (config_.memory_dumps.recipients.empty()) {
            for (const auto& at : encrypt_positions_) {
                file_.error(at, "encryption needs at least one age public key in "
                                "'memory_dumps: {recipients: [age1...]}' (make one with "
                                "age-keygen)");
            }
        }
        // Names of providers whose settings were refused count as defined: their own error
        // says what is wrong, a dangling reference would not.
        for (const auto& ref : provider_refs_) {
            if (provider_names_.count(ref.value) == 0) {
                file_.error(ref.position, "match names provider '" + ref.value +
                                              "', which is not defined under 'providers:'");
            }
        }
        for (const auto& ref : exemption_refs_) {
            if (policy_names_.count(ref.value) == 0) {
                file_.error(ref.position, "exemption names policy '" + ref.value +
                                              "', which is not defined under 'policies:'");
            }
        }
    }

    ConfigFile& file_;
    const providers::ProviderRegistry& registry_;
    const LoadChecks& checks_;
    std::set<std::string> provider_names_;
    std::unordered_set<std::string> policy_names_; // a set: 100,000 policies load in linear time
    std::vector<ConfigScalar> provider_refs_;
    std::vector<ConfigScalar> exemption_refs_;
    std::vector<ConfigPosition> encrypt_positions_;
    Config config_;
};

} // namespace

Result<LoadedConfig> load_config_string(std::string_view yaml, const std::string& name,
                                        const providers::ProviderRegistry& registry,
                                        const LoadChecks& checks) {
    ConfigFile file(name, yaml);
    return Loader(file, registry, checks).load();
}

Result<LoadedConfig> load_config_file(const std::string& path,
                                      const providers::ProviderRegistry& registry,
                                      const LoadChecks& checks) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return fail(ErrorCode::config, path + ": cannot read the policy file (does it exist, and "
                                              "is it readable?)");
    }
    std::ostringstream text;
    text << in.rdbuf();
    return load_config_string(text.str(), path, registry, checks);
}

} // namespace snapgov::policies
