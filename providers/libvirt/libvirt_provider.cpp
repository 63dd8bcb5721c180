#include "providers/libvirt/libvirt_provider.hpp"

#include <array>
#include <mutex>
#include <thread>

#include <libvirt/virterror.h>

#include "core/log.hpp"
#include "providers/libvirt/snapshot_xml.hpp"

namespace snapgov::providers::libvirt {
namespace {

// libvirt prints every error to stderr unless a handler is installed; snapgov reports
// errors itself, with context, so the default handler is silenced once per process.
void silence_default_error_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        virSetErrorFunc(nullptr, [](void* /*data*/, virErrorPtr /*error*/) {});
    });
}

// libvirt needs an event loop for keepalive and domain events. Registered before the first
// connection opens, and run on a detached thread for the life of the process: it blocks in
// poll() and wakes only for libvirt's own timers and sockets.
void ensure_event_loop() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (virEventRegisterDefaultImpl() < 0) {
            log::warning("libvirt event loop unavailable: no keepalive and no domain events");
            return;
        }
        std::thread([] {
            while (virEventRunDefaultImpl() == 0) {
            }
        }).detach();
    });
}

void on_lifecycle_event(virConnectPtr /*conn*/, virDomainPtr domain, int /*event*/,
                        int /*detail*/, void* opaque) {
    const auto* sink = static_cast<const Provider::EventSink*>(opaque);
    if (const char* name = virDomainGetName(domain); name != nullptr && *sink) {
        (*sink)(name);
    }
}

int last_error_code() {
    const virErrorPtr e = virGetLastError();
    return e == nullptr ? VIR_ERR_OK : e->code;
}

Error libvirt_error(std::string_view what) {
    const char* message = virGetLastErrorMessage();
    return Error{ErrorCode::provider,
                 std::string(what) + ": " + (message != nullptr ? message : "unknown error")};
}

PowerState power_state(int state) {
    switch (state) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED: return PowerState::running;
    case VIR_DOMAIN_PAUSED: return PowerState::paused;
    case VIR_DOMAIN_SHUTOFF:
    case VIR_DOMAIN_SHUTDOWN:
    case VIR_DOMAIN_CRASHED: return PowerState::shutoff;
    case VIR_DOMAIN_PMSUSPENDED: return PowerState::suspended;
    default: return PowerState::other;
    }
}

// An object that vanished between listing and reading is gone, not hidden: skipping it
// keeps the inventory truthful.
bool vanished(int code) {
    return code == VIR_ERR_NO_DOMAIN || code == VIR_ERR_NO_DOMAIN_SNAPSHOT;
}

} // namespace

Result<ConnectHandle> open_connection(const std::string& uri) {
    silence_default_error_handler();
    ensure_event_loop();
    ConnectHandle conn(virConnectOpenAuth(uri.c_str(), virConnectAuthPtrDefault, 0));
    if (!conn) {
        return tl::unexpected(libvirt_error("cannot connect to '" + uri + "'"));
    }
    // Local drivers (test://) have no keepalive and refuse it; that is fine.
    (void)virConnectSetKeepAlive(conn.get(), 5, 3);
    return conn;
}

LibvirtProvider::LibvirtProvider(std::string name, std::string uri, ConnectHandle connection)
    : Provider(std::move(name)), uri_(std::move(uri)), connection_(std::move(connection)) {}

LibvirtProvider::~LibvirtProvider() { deregister_events(); }

Result<void> LibvirtProvider::watch(EventSink sink) {
    deregister_events();
    sink_ = std::make_unique<EventSink>(std::move(sink));
    return register_events();
}

Result<void> LibvirtProvider::register_events() {
    if (!sink_ || !connection_) {
        return {};
    }
    callback_id_ = virConnectDomainEventRegisterAny(
        connection_.get(), nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
        VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle_event), sink_.get(), nullptr);
    if (callback_id_ < 0) {
        return tl::unexpected(libvirt_error("cannot subscribe to domain events of " + uri_));
    }
    return {};
}

void LibvirtProvider::deregister_events() {
    if (callback_id_ >= 0 && connection_) {
        (void)virConnectDomainEventDeregisterAny(connection_.get(), callback_id_);
    }
    callback_id_ = -1;
}

Capabilities LibvirtProvider::capabilities() const {
    Capabilities caps;
    caps.delete_checkpoint = true;
    return caps;
}

Result<void> LibvirtProvider::ensure_connected() {
    if (connection_ && virConnectIsAlive(connection_.get()) == 1) {
        return {};
    }
    log::warning("provider " + name() + ": connection to " + uri_ + " lost, reconnecting");
    auto conn = open_connection(uri_);
    if (!conn) {
        connection_.reset();
        return tl::unexpected(conn.error());
    }
    callback_id_ = -1; // the old connection took its registration with it
    connection_ = std::move(*conn);
    if (auto ok = register_events(); !ok) {
        log::warning(ok.error().message);
    }
    return {};
}

Result<Vm> LibvirtProvider::read_domain(virDomainPtr domain) {
    Vm vm;
    std::array<char, VIR_UUID_STRING_BUFLEN> uuid{};
    if (virDomainGetUUIDString(domain, uuid.data()) < 0) {
        return tl::unexpected(libvirt_error("cannot read domain UUID"));
    }
    vm.id = uuid.data();
    if (const char* name = virDomainGetName(domain)) {
        vm.name = name;
    }
    int state = 0;
    int reason = 0;
    if (virDomainGetState(domain, &state, &reason, 0) < 0) {
        return tl::unexpected(libvirt_error("cannot read state of domain '" + vm.name + "'"));
    }
    vm.power = power_state(state);

    const CString labels(virDomainGetMetadata(domain, VIR_DOMAIN_METADATA_ELEMENT,
                                              kLabelsNamespace, 0));
    if (labels) {
        auto parsed = parse_labels_xml(labels.get());
        if (!parsed) {
            return tl::unexpected(parsed.error().with_context("domain '" + vm.name + "' labels"));
        }
        vm.labels = std::move(*parsed);
    } else if (last_error_code() != VIR_ERR_NO_DOMAIN_METADATA) {
        return tl::unexpected(libvirt_error("cannot read labels of domain '" + vm.name + "'"));
    }

    virDomainSnapshotPtr* raw = nullptr;
    const int count = virDomainListAllSnapshots(domain, &raw, 0);
    if (count < 0) {
        return tl::unexpected(libvirt_error("cannot list snapshots of domain '" + vm.name + "'"));
    }
    auto snapshots = adopt_array<SnapshotHandle>(raw, count);
    vm.checkpoints.reserve(snapshots.size());
    for (const auto& snapshot : snapshots) {
        const CString xml(virDomainSnapshotGetXMLDesc(snapshot.get(), 0));
        if (!xml) {
            if (vanished(last_error_code())) {
                continue;
            }
            return tl::unexpected(libvirt_error("cannot read a snapshot of '" + vm.name + "'"));
        }
        auto checkpoint = parse_snapshot_xml(xml.get());
        if (!checkpoint) {
            return tl::unexpected(checkpoint.error().with_context("domain '" + vm.name + "'"));
        }
        const int current = virDomainSnapshotIsCurrent(snapshot.get(), 0);
        checkpoint->current = current == 1;
        vm.checkpoints.push_back(std::move(*checkpoint));
    }
    return vm;
}

Result<HostInventory> LibvirtProvider::do_collect() {
    if (auto ok = ensure_connected(); !ok) {
        return tl::unexpected(ok.error());
    }
    HostInventory host;
    host.endpoint = uri_;
    virDomainPtr* raw = nullptr;
    const int count = virConnectListAllDomains(connection_.get(), &raw, 0);
    if (count < 0) {
        return tl::unexpected(libvirt_error("cannot list domains"));
    }
    auto domains = adopt_array<DomainHandle>(raw, count);
    host.vms.reserve(domains.size());
    for (const auto& domain : domains) {
        auto vm = read_domain(domain.get());
        if (!vm) {
            if (vanished(last_error_code())) {
                log::debug("provider " + name() + ": a domain vanished during collection");
                continue;
            }
            return tl::unexpected(vm.error());
        }
        host.vms.push_back(std::move(*vm));
    }
    return host;
}

Result<void> LibvirtProvider::do_delete_checkpoint(const Vm& vm, const Checkpoint& checkpoint) {
    if (auto ok = ensure_connected(); !ok) {
        return tl::unexpected(ok.error());
    }
    const DomainHandle domain(virDomainLookupByUUIDString(connection_.get(), vm.id.c_str()));
    if (!domain) {
        return tl::unexpected(libvirt_error("cannot find domain " + vm.id));
    }
    const SnapshotHandle snapshot(
        virDomainSnapshotLookupByName(domain.get(), checkpoint.name.c_str(), 0));
    if (!snapshot) {
        if (last_error_code() == VIR_ERR_NO_DOMAIN_SNAPSHOT) {
            // Already gone: the desired state holds, and verification will confirm it.
            return {};
        }
        return tl::unexpected(libvirt_error("cannot find snapshot"));
    }
    if (virDomainSnapshotDelete(snapshot.get(), 0) < 0) {
        return tl::unexpected(libvirt_error("virDomainSnapshotDelete failed"));
    }
    return {};
}

Result<void> LibvirtFactory::validate(const ProviderSpec& spec) const {
    if (spec.uri.empty()) {
        return fail(ErrorCode::config, spec.origin + ": libvirt provider '" + spec.name +
                                           "' needs 'uri' (e.g. qemu:///system or "
                                           "test:///abs/path/host.xml)");
    }
    if (spec.uri.rfind("test://", 0) == 0 && spec.uri.rfind("test:///", 0) != 0) {
        return fail(ErrorCode::config, spec.origin + ": test driver URI '" + spec.uri +
                                           "' must be test:///default or test:///ABSOLUTE/PATH");
    }
    return {};
}

Result<std::unique_ptr<Provider>> LibvirtFactory::create(const ProviderSpec& spec) const {
    if (auto ok = validate(spec); !ok) {
        return tl::unexpected(ok.error());
    }
    auto conn = open_connection(spec.uri);
    if (!conn) {
        return tl::unexpected(conn.error().with_context("provider " + spec.name));
    }
    return std::make_unique<LibvirtProvider>(spec.name, spec.uri, std::move(*conn));
}

} // namespace snapgov::providers::libvirt
