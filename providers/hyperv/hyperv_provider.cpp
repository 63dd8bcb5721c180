#include "providers/hyperv/hyperv_provider.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <sys/stat.h>

#include "core/checked_file.hpp"
#include "core/log.hpp"
#include "providers/hyperv/hyperv_mapping.hpp"
#include "providers/hyperv/wsman_client.hpp"

namespace snapgov::providers::hyperv {
namespace {

constexpr std::uint32_t kCompleted = 0;
constexpr std::uint32_t kJobStarted = 4096;
constexpr std::string_view kHostCaption = "Hosting Computer System";
constexpr const char* kSettingsClass = "Msvm_VirtualSystemSettingData";

std::string upper(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return out;
}

std::string_view job_state_text(std::uint64_t state) {
    switch (state) {
    case 2: return "New";
    case 3: return "Starting";
    case 4: return "Running";
    case 5: return "Suspended";
    case 6: return "Shutting Down";
    case 7: return "Completed";
    case 8: return "Terminated";
    case 9: return "Killed";
    case 10: return "Exception";
    case 11: return "Service";
    case 12: return "Query Pending";
    default: return "unknown";
    }
}

std::string settings_query(std::string_view system_type) {
    return "SELECT * FROM Msvm_VirtualSystemSettingData WHERE VirtualSystemType = " +
           wql_quote(system_type);
}

// `Parent` is a WMI object path of the parent settings, or null.
std::optional<std::string> parent_instance_id(const WmiObject& settings) {
    const auto path = settings.text("Parent");
    return path ? instance_id_from_path(*path) : std::nullopt;
}

ObjectRef settings_ref(const std::string& instance_id) {
    return ObjectRef{kSettingsClass, {{"InstanceID", instance_id}}};
}

// The password as the file holds it, without its line end; the same rule as at load
// (kSecretFile): the file may have changed since.
Result<std::string> read_secret_file(const std::string& path, std::string_view what) {
    auto secret = read_checked_file(path, kSecretFile);
    if (!secret) {
        return fail(ErrorCode::config, std::string(what) + " " + secret.error().message);
    }
    while (!secret->empty() && (secret->back() == '\n' || secret->back() == '\r')) {
        secret->back() = '\0'; // pop_back leaves the byte in the buffer
        secret->pop_back();
    }
    if (secret->empty()) {
        return fail(ErrorCode::config, std::string(what) + " '" + path + "' holds only a line end");
    }
    return std::move(*secret);
}

} // namespace

std::string_view return_code_text(std::uint32_t code) noexcept {
    switch (code) {
    case 0: return "completed with no error";
    case 1: return "not supported";
    case 2: return "failed";
    case 3: return "timeout";
    case 4: return "invalid parameter";
    case 5: return "invalid state";
    case 6: return "invalid type";
    case 4096: return "job started";
    case 32768: return "failed";
    case 32769: return "access denied";
    case 32770: return "not supported";
    case 32771: return "status is unknown";
    case 32772: return "timeout";
    case 32773: return "invalid parameter";
    case 32774: return "system is in use";
    case 32775: return "invalid state for this operation";
    case 32776: return "incorrect data type";
    case 32777: return "system is not available";
    case 32778: return "out of memory";
    default: return "unknown return code";
    }
}

HypervProvider::HypervProvider(std::string name, std::unique_ptr<WmiConnection> connection,
                               JobPolicy jobs)
    : Provider(std::move(name)), connection_(std::move(connection)), jobs_(jobs) {}

Capabilities HypervProvider::capabilities() const {
    Capabilities caps;
    caps.delete_checkpoint = true;
    caps.disable_checkpoints = true;
    caps.clear_memory_state = true;
    // Memory files are paths on the Windows host, not on this machine, so snapgov cannot
    // encrypt or wipe them itself: ClearSnapshotState is the way to drop them.
    return caps;
}

Result<HostInventory> HypervProvider::do_collect(const CollectScope& /*scope*/) {
    auto systems = connection_->query("SELECT * FROM Msvm_ComputerSystem");
    if (!systems) {
        return tl::unexpected(systems.error());
    }
    beat();
    auto realized = connection_->query(settings_query(kRealizedSystemType));
    if (!realized) {
        return tl::unexpected(realized.error());
    }
    beat();
    auto snapshots = connection_->query(settings_query(kSnapshotSystemType));
    if (!snapshots) {
        return tl::unexpected(snapshots.error());
    }
    beat();

    // VM GUIDs compare case-insensitively (WMI does); keys are upper-cased.
    std::map<std::string, const WmiObject*> settings_by_vm;
    for (const auto& s : *realized) {
        if (auto id = s.text("VirtualSystemIdentifier")) {
            settings_by_vm[upper(*id)] = &s;
        }
    }
    std::map<std::string, std::vector<const WmiObject*>> snapshots_by_vm;
    for (const auto& s : *snapshots) {
        if (auto id = s.text("VirtualSystemIdentifier")) {
            snapshots_by_vm[upper(*id)].push_back(&s);
        }
    }

    std::string host_name;
    for (const auto& system : *systems) {
        if (system.text("Caption") == kHostCaption) {
            host_name = system.text("Name").value_or("");
        }
    }

    HostInventory host;
    host.endpoint = connection_->endpoint();
    for (const auto& system : *systems) {
        const auto id = system.text("Name").value_or("");
        if (system.text("Caption") == kHostCaption || (!host_name.empty() && id == host_name)) {
            continue;
        }
        Vm vm;
        vm.id = id;
        vm.name = system.text("ElementName").value_or(id);
        if (vm.id.empty()) {
            return fail(ErrorCode::provider,
                        "Msvm_ComputerSystem '" + vm.name + "' has no Name (VM GUID)");
        }
        vm.power = power_state(system.unsigned_integer("EnabledState"));
        const auto key = upper(vm.id);
        const auto settings = settings_by_vm.find(key);
        if (settings == settings_by_vm.end()) {
            // Without its settings the VM's labels are unknown, and labels decide which
            // policies apply: report an error rather than a VM with no labels.
            return fail(ErrorCode::provider, "VM '" + vm.name + "' (" + vm.id +
                                                 ") has no realized settings; collect again");
        }
        const WmiObject& vssd = *settings->second;
        std::vector<std::string> ignored;
        vm.labels = labels_from_notes(vssd.texts("Notes"), &ignored);
        for (const auto& line : ignored) {
            log::warning("provider " + name() + ": VM '" + vm.name +
                         "': ignoring malformed label line '" + line +
                         "' (expected snapgov:key=value)");
        }
        vm.checkpoint_setting = checkpoint_setting(vssd.unsigned_integer("UserSnapshotType"));
        const auto current = parent_instance_id(vssd);

        std::map<std::string, std::string> names_by_instance; // upper InstanceID -> name
        std::vector<std::pair<Checkpoint, std::optional<std::string>>> found;
        for (const WmiObject* s : snapshots_by_vm[key]) {
            auto cp = checkpoint_from_settings(*s);
            if (!cp) {
                return tl::unexpected(cp.error().with_context("VM '" + vm.name + "'"));
            }
            names_by_instance[upper(cp->id)] = cp->name;
            cp->current = current && upper(*current) == upper(cp->id);
            auto parent = parent_instance_id(*s);
            found.emplace_back(std::move(*cp), std::move(parent));
        }
        for (auto& [cp, parent_id] : found) {
            if (parent_id) {
                const auto it = names_by_instance.find(upper(*parent_id));
                if (it != names_by_instance.end()) {
                    cp.parent = it->second;
                } else {
                    log::debug("provider " + name() + ": checkpoint '" + cp.name +
                               "' names parent " + *parent_id + ", which was not listed");
                }
            }
            vm.checkpoints.push_back(std::move(cp));
        }
        std::sort(vm.checkpoints.begin(), vm.checkpoints.end(),
                  [](const Checkpoint& a, const Checkpoint& b) {
                      return a.created != b.created ? a.created < b.created : a.name < b.name;
                  });
        host.vms.push_back(std::move(vm));
    }
    std::sort(host.vms.begin(), host.vms.end(), [](const Vm& a, const Vm& b) {
        return a.name != b.name ? a.name < b.name : a.id < b.id;
    });
    return host;
}

Result<ObjectRef> HypervProvider::service(const std::string& class_name,
                                          std::optional<ObjectRef>& cache) {
    if (cache) {
        return *cache;
    }
    auto found = connection_->query("SELECT * FROM " + class_name);
    if (!found) {
        return tl::unexpected(found.error());
    }
    if (found->size() != 1) {
        return fail(ErrorCode::provider, "expected one " + class_name + " on the host, found " +
                                             std::to_string(found->size()));
    }
    ObjectRef ref{class_name, {}};
    for (const char* key : {"CreationClassName", "Name", "SystemCreationClassName", "SystemName"}) {
        auto value = found->front().required_text(key);
        if (!value) {
            return tl::unexpected(value.error());
        }
        ref.selectors.emplace_back(key, std::move(*value));
    }
    cache = ref;
    return ref;
}

Result<void> HypervProvider::finish(const MethodResult& result, std::string_view method) {
    const std::string what(method);
    if (result.return_value == kCompleted) {
        return {};
    }
    if (result.return_value != kJobStarted) {
        return fail(ErrorCode::provider,
                    what + " returned " + std::to_string(result.return_value) + " (" +
                        std::string(return_code_text(result.return_value)) + ")");
    }
    if (!result.job) {
        return fail(ErrorCode::provider, what + " started a job but returned no job reference");
    }
    const auto deadline = std::chrono::steady_clock::now() + jobs_.timeout;
    auto pause = jobs_.first_poll;
    for (;;) {
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, jobs_.max_poll);
        auto job = connection_->get(*result.job);
        if (!job) {
            return tl::unexpected(job.error().with_context(what + " job"));
        }
        const auto id = job->text("InstanceID").value_or("?");
        const auto state = job->unsigned_integer("JobState");
        if (!state) {
            return fail(ErrorCode::provider, what + " job " + id + " has no JobState");
        }
        if (*state == 7) {
            return {};
        }
        if (*state >= 8 && *state <= 11) {
            std::string message = what + " job " + id + " failed (JobState " +
                                  std::to_string(*state) + " " +
                                  std::string(job_state_text(*state)) + ")";
            if (auto description = job->text("ErrorDescription")) {
                message += ": " + *description;
            }
            if (auto code = job->unsigned_integer("ErrorCode"); code && *code != 0) {
                message += " (error code " + std::to_string(*code) + ")";
            }
            return fail(ErrorCode::provider, message);
        }
        if (std::chrono::steady_clock::now() + pause > deadline) {
            return fail(ErrorCode::provider,
                        what + " job " + id + " still " + std::string(job_state_text(*state)) +
                            " after " + std::to_string(jobs_.timeout.count()) +
                            "s; it may still complete, the next pass will see its effect");
        }
    }
}

Result<void> HypervProvider::snapshot_method(const Checkpoint& checkpoint, std::string_view method,
                                             std::string_view parameter) {
    auto svc = service("Msvm_VirtualSystemSnapshotService", snapshot_service_);
    if (!svc) {
        return tl::unexpected(svc.error());
    }
    auto result = connection_->invoke(
        *svc, method, {MethodParameter{std::string(parameter), settings_ref(checkpoint.id)}});
    if (!result) {
        snapshot_service_.reset(); // the host may have restarted the service
        return tl::unexpected(result.error());
    }
    return finish(*result, method);
}

Result<void> HypervProvider::do_delete_checkpoint(const Vm& vm, const Checkpoint& checkpoint) {
    // DestroySnapshot faults on a checkpoint that is already gone (someone else deleted it,
    // or a previous pass whose reply was lost). The desired state holds then, and the
    // caller's verification will confirm it, as with the libvirt provider.
    auto existing = connection_->query("SELECT * FROM Msvm_VirtualSystemSettingData WHERE "
                                       "InstanceID = " +
                                       wql_quote(checkpoint.id));
    if (!existing) {
        return tl::unexpected(existing.error());
    }
    if (existing->empty()) {
        log::info("provider " + name() + ": checkpoint '" + checkpoint.name + "' of VM '" +
                  vm.name + "' is already gone");
        return {};
    }
    return snapshot_method(checkpoint, "DestroySnapshot", "AffectedSnapshot");
}

Result<void> HypervProvider::do_clear_memory_state(const Vm& /*vm*/, const Checkpoint& checkpoint) {
    return snapshot_method(checkpoint, "ClearSnapshotState", "SnapshotSettingData");
}

Result<void> HypervProvider::do_disable_checkpoints(const Vm& vm) {
    auto settings = connection_->query(settings_query(kRealizedSystemType) +
                                       " AND VirtualSystemIdentifier = " + wql_quote(vm.id));
    if (!settings) {
        return tl::unexpected(settings.error());
    }
    if (settings->size() != 1) {
        return fail(settings->empty() ? ErrorCode::not_found : ErrorCode::provider,
                    "expected one realized Msvm_VirtualSystemSettingData for VM " + vm.id +
                        ", found " + std::to_string(settings->size()));
    }
    auto instance_id = settings->front().required_text("InstanceID");
    if (!instance_id) {
        return tl::unexpected(instance_id.error());
    }
    auto svc = service("Msvm_VirtualSystemManagementService", management_service_);
    if (!svc) {
        return tl::unexpected(svc.error());
    }
    // Only the key and the two changed properties are sent: Hyper-V applies the
    // properties present in the embedded instance, and sending fewer cannot overwrite a
    // concurrent change (e.g. to Notes) with the value we read.
    EmbeddedInstance changes{kSettingsClass,
                             {{"InstanceID", "string", {*instance_id}, false},
                              {"UserSnapshotType", "uint16", {"2"}, false},
                              {"AutomaticSnapshotsEnabled", "boolean", {"false"}, false}}};
    auto result = connection_->invoke(*svc, "ModifySystemSettings",
                                      {MethodParameter{"SystemSettings", std::move(changes)}});
    if (!result) {
        management_service_.reset();
        return tl::unexpected(result.error());
    }
    return finish(*result, "ModifySystemSettings");
}

std::shared_ptr<const ProviderSettings> HypervFactory::parse(const ConfigSection& entry) const {
    return parse_settings(entry);
}

Result<void> HypervFactory::validate(const ProviderSpec& spec) const {
    return check_settings(spec).map([](const HypervSettings*) {});
}

Result<std::unique_ptr<Provider>> HypervFactory::create(const ProviderSpec& spec,
                                                        const ProviderUse& /*use*/) const {
    auto checked = check_settings(spec);
    if (!checked) {
        return tl::unexpected(checked.error());
    }
    const HypervSettings& settings = **checked;
    const auto where = "provider " + spec.name;
    TransportOptions options;
    options.endpoint = settings.endpoint_url;
    options.url = *parse_endpoint_url(settings.endpoint_url);
    options.ca_file = settings.tls.ca_file;
    options.tls_insecure = settings.tls.insecure;
    options.connect_timeout = spec.connect_timeout;
    options.read_timeout = spec.read_timeout;
    options.username = settings.auth.username;
    if (settings.auth.method == "basic") {
        auto password = read_secret_file(settings.auth.password_file, "auth.password_file");
        if (!password) {
            return tl::unexpected(password.error().with_context(where));
        }
        options.auth = AuthMethod::basic;
        options.password = *password;
        wipe_secret(*password);
    } else if (settings.auth.method == "kerberos" || settings.auth.method == "ntlm") {
        options.auth = AuthMethod::negotiate;
        options.channel_binding = settings.auth.channel_binding;
        auto& negotiate = options.negotiate;
        negotiate.spn = settings.auth.spn.empty() ? "HTTP/" + options.url.host : settings.auth.spn;
        if (settings.auth.method == "kerberos") {
            negotiate.mech = NegotiateMech::kerberos;
            negotiate.principal = settings.auth.principal;
            negotiate.keytab = settings.auth.keytab;
            // GSSAPI reads the keytab; the rule for secrets is checked first, as at load.
            if (!negotiate.keytab.empty()) {
                if (auto keytab = check_file(negotiate.keytab, kSecretFile); !keytab) {
                    return fail(ErrorCode::config,
                                where + ": auth.keytab " + keytab.error().message);
                }
            }
        } else {
            auto password = read_secret_file(settings.auth.password_file, "auth.password_file");
            if (!password) {
                return tl::unexpected(password.error().with_context(where));
            }
            negotiate.mech = NegotiateMech::ntlm;
            negotiate.username = settings.auth.username;
            negotiate.password = *password;
            wipe_secret(*password);
        }
    } else {
        // OpenSSL reads the key; the rule for secrets is checked first, as at load.
        if (auto key = check_file(settings.auth.key_file, kSecretFile); !key) {
            return fail(ErrorCode::config, where + ": auth.key_file " + key.error().message);
        }
        options.auth = AuthMethod::certificate;
        options.cert_file = settings.auth.cert_file;
        options.key_file = settings.auth.key_file;
    }
    if (settings.tls.insecure) {
        log::warning(where + ": TLS certificate verification is off (tls.insecure: true)");
    }
    auto transport = HttpTransport::create(std::move(options));
    if (!transport) {
        return tl::unexpected(transport.error().with_context(where));
    }
    auto client = std::make_unique<WsmanClient>(settings.endpoint_url, std::move(*transport));
    return std::make_unique<HypervProvider>(spec.name, std::move(client));
}

} // namespace snapgov::providers::hyperv
