#include "providers/libvirt/libvirt_provider.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvirt/virterror.h>

#include "core/log.hpp"
#include "core/private_state.hpp"
#include "providers/libvirt/snapshot_xml.hpp"

namespace snapgov::providers::libvirt {
namespace {

// libvirt prints every error to stderr unless a handler is installed; snapgov reports
// errors itself, with context, so the default handler is silenced once per process.
void silence_default_error_handler() {
    static std::once_flag once;
    std::call_once(once,
                   [] { virSetErrorFunc(nullptr, [](void* /*data*/, virErrorPtr /*error*/) {}); });
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
        try {
            std::thread([] {
                while (virEventRunDefaultImpl() == 0) {
                }
            }).detach();
        } catch (const std::system_error& e) {
            // Connections still work, only without keepalive and events: not worth failing.
            log::warning(std::string("cannot start the libvirt event loop thread (") + e.what() +
                         "): no keepalive and no domain events");
        }
    });
}

void on_lifecycle_event(virConnectPtr /*conn*/, virDomainPtr domain, int /*event*/, int /*detail*/,
                        void* opaque) {
    const auto* sink = static_cast<const Provider::EventSink*>(opaque);
    if (const char* name = virDomainGetName(domain); name != nullptr && *sink) {
        // This runs inside libvirt's C event loop: an exception must not unwind through it.
        try {
            (*sink)(name);
        } catch (const std::exception& e) {
            log::error(std::string("libvirt event handler failed for domain '") + name +
                       "': " + e.what());
        }
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

// --- the redefine journal ----------------------------------------------------------------

constexpr std::string_view kJournalPrefix = "libvirt-redefine-";

std::string errno_message() {
    return std::strerror(errno);
}

// One journal per (domain, snapshot): the name is hex-encoded so any snapshot name is safe.
std::string journal_path(const std::string& dir, const std::string& uuid,
                         const std::string& snapshot) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    for (const unsigned char c : snapshot) {
        hex += kHex[c >> 4];
        hex += kHex[c & 15];
    }
    return dir + "/" + std::string(kJournalPrefix) + uuid + "-" + hex + ".xml";
}

Result<void> fsync_dir(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
        const auto message = errno_message();
        if (fd >= 0) {
            ::close(fd);
        }
        return fail(ErrorCode::io, "cannot fsync directory " + dir + ": " + message);
    }
    ::close(fd);
    return {};
}

// Durable write: temp file (0600: the secure XML may hold secrets), fsync, rename, fsync dir.
Result<void> write_journal(const std::string& path, const std::string& text) {
    const std::string dir = std::filesystem::path(path).parent_path().string();
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        return fail(ErrorCode::io, "cannot create state directory " + dir + ": " + ec.message() +
                                       " (set state_dir in the policy to a writable folder)");
    }
    // The journal holds secure XML: refuse a directory others can enter, unless it already
    // is private (a chmod refused on a directory someone else owns is fine then).
    if (::chmod(dir.c_str(), 0700) != 0) {
        const auto message = errno_message();
        struct stat st {};
        if (::stat(dir.c_str(), &st) != 0 || (st.st_mode & 077) != 0) {
            return fail(ErrorCode::io, "cannot restrict state directory " + dir +
                                           " to its owner (chmod 700): " + message);
        }
    }
    // Whoever can write this folder can plant a journal that the next pass replays.
    if (struct stat st{}; ::stat(dir.c_str(), &st) != 0) {
        return fail(ErrorCode::io,
                    "cannot examine state directory " + dir + ": " + errno_message());
    } else if (auto ok = check_private(st, dir, "state directory"); !ok) {
        return ok;
    }
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        return fail(ErrorCode::io, "cannot create journal " + tmp + ": " + errno_message());
    }
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            const auto message = errno_message();
            // Cleanup on a path that already failed: the write error is the one to report,
            // and a leftover .tmp is never read (only *.xml journals are).
            ::close(fd);
            ::unlink(tmp.c_str());
            return fail(ErrorCode::io, "cannot write journal " + tmp + ": " + message);
        }
        done += static_cast<std::size_t>(n);
    }
    // Both checked, and the descriptor closed whatever fsync said.
    const bool synced = ::fsync(fd) == 0;
    const auto sync_message = synced ? std::string() : errno_message();
    const bool closed = ::close(fd) == 0;
    if (!synced || !closed) {
        const auto message = synced ? errno_message() : sync_message;
        ::unlink(tmp.c_str()); // as above: the sync error is what matters
        return fail(ErrorCode::io, "cannot sync journal " + tmp + ": " + message);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const auto message = errno_message();
        ::unlink(tmp.c_str()); // as above: the rename error is what matters
        return fail(ErrorCode::io, "cannot rename journal to " + path + ": " + message);
    }
    return fsync_dir(dir);
}

// Reads a whole journal; the error names the file and the reason.
Result<std::string> read_journal(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        return fail(errno == ENOENT ? ErrorCode::not_found : ErrorCode::io,
                    "cannot open journal " + path + ": " + errno_message());
    }
    // A journal decides which checkpoint is redefined from which XML: only snapgov's own.
    if (auto ok = check_private_fd(fd, path, "journal"); !ok) {
        ::close(fd); // read-only: nothing a close error could lose
        return tl::unexpected(ok.error());
    }
    std::string text;
    std::array<char, 64 * 1024> buf{};
    for (;;) {
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            const auto message = errno_message();
            ::close(fd); // read-only: nothing a close error could lose
            return fail(ErrorCode::io, "cannot read journal " + path + ": " + message);
        }
        if (n == 0) {
            break;
        }
        text.append(buf.data(), static_cast<std::size_t>(n));
    }
    ::close(fd); // read-only: nothing a close error could lose
    return text;
}

Result<void> remove_journal(const std::string& path) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return fail(ErrorCode::io, "cannot remove journal " + path + ": " + errno_message());
    }
    return fsync_dir(std::filesystem::path(path).parent_path().string());
}

Result<std::string> snapshot_xml(virDomainSnapshotPtr snapshot, const std::string& what) {
    const CString xml(virDomainSnapshotGetXMLDesc(snapshot, VIR_DOMAIN_SNAPSHOT_XML_SECURE));
    if (!xml) {
        return tl::unexpected(libvirt_error("cannot read the XML of " + what));
    }
    return std::string(xml.get());
}

Result<void> redefine(virDomainPtr domain, const JournaledSnapshot& s) {
    auto flags = static_cast<unsigned>(VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE);
    if (s.current) {
        flags |= VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT;
    }
    const SnapshotHandle made(virDomainSnapshotCreateXML(domain, s.xml.c_str(), flags));
    if (!made) {
        return tl::unexpected(libvirt_error("cannot redefine snapshot '" + s.name + "'"));
    }
    return {};
}

} // namespace

Result<ConnectHandle> open_connection(const std::string& uri, EventLoop loop) {
    silence_default_error_handler();
    if (loop == EventLoop::start) {
        ensure_event_loop();
    }
    ConnectHandle conn(virConnectOpenAuth(uri.c_str(), virConnectAuthPtrDefault, 0));
    if (!conn) {
        return tl::unexpected(libvirt_error("cannot connect to '" + uri + "'"));
    }
    // Local drivers (test://), and any connection without the event loop, have no keepalive
    // and refuse it; that is fine.
    (void)virConnectSetKeepAlive(conn.get(), 5, 3);
    return conn;
}

LibvirtProvider::LibvirtProvider(std::string name, std::string uri, ConnectHandle connection,
                                 std::size_t max_connections, EventLoop loop)
    : Provider(std::move(name)), uri_(std::move(uri)), connection_(std::move(connection)),
      max_connections_(std::max<std::size_t>(1, max_connections)), loop_(loop) {}

LibvirtProvider::~LibvirtProvider() {
    deregister_events();
}

Result<void> LibvirtProvider::watch(EventSink sink) {
    if (loop_ == EventLoop::leave) {
        return fail(ErrorCode::unsupported,
                    "provider " + name() + ": created for collections only, without events");
    }
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
    caps.make_disk_only = true;
    caps.local_memory_files = memory_files_are_local(uri_);
    return caps;
}

bool memory_files_are_local(std::string_view uri) {
    // `driver:///path` has no host part: the hypervisor, and its memory files, are here.
    // Any host name (even localhost) counts as remote: snapgov never touches files on doubt.
    const auto scheme_end = uri.find(':');
    if (scheme_end == std::string_view::npos || uri.compare(scheme_end, 4, ":///") != 0) {
        return false;
    }
    // A transport, `driver+transport:///`: only a local UNIX socket (`+unix`, which may name
    // its socket with `?socket=PATH`) is here; ssh, tcp, tls, ext, libssh reach elsewhere.
    const auto scheme = uri.substr(0, scheme_end);
    const auto plus = scheme.find('+');
    return plus == std::string_view::npos || scheme.substr(plus + 1) == "unix";
}

Result<void> LibvirtProvider::ensure_connected() {
    if (connection_ && virConnectIsAlive(connection_.get()) == 1) {
        return {};
    }
    log::warning("provider " + name() + ": connection to " + uri_ + " lost, reconnecting");
    auto conn = open_connection(uri_, loop_);
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

namespace {

struct StatsFreer {
    void operator()(virDomainStatsRecordPtr* records) const noexcept {
        virDomainStatsRecordListFree(records);
    }
};
using StatsHandle = std::unique_ptr<virDomainStatsRecordPtr, StatsFreer>;

// Below this many domains per connection, another connection costs more (its own open and
// listing) than it saves.
constexpr std::size_t kDomainsPerConnection = 8;

std::string domain_uuid(virDomainPtr domain) {
    std::array<char, VIR_UUID_STRING_BUFLEN> uuid{};
    if (virDomainGetUUIDString(domain, uuid.data()) < 0) {
        return {};
    }
    return uuid.data();
}

} // namespace

Result<std::vector<LibvirtProvider::Listed>> LibvirtProvider::list_domains(bool with_snapshots) {
    std::vector<Listed> out;
    const auto listed = [&](virDomainPtr raw, int state) -> Result<void> {
        Listed l;
        l.handle.reset(raw);
        l.vm.id = domain_uuid(raw);
        if (l.vm.id.empty()) {
            return tl::unexpected(libvirt_error("cannot read domain UUID"));
        }
        if (const char* name = virDomainGetName(raw)) {
            l.vm.name = name;
        }
        l.vm.power = power_state(state);
        out.push_back(std::move(l));
        return {};
    };
    // The states in one call (QEMU and the test driver have it): a call per domain is a
    // round trip per domain. The records own their domains: each listed one takes a
    // reference of its own.
    const auto adopt_records = [&](virDomainStatsRecordPtr* raw_records,
                                   int count) -> Result<void> {
        const StatsHandle records(raw_records);
        out.reserve(static_cast<std::size_t>(count));
        for (int i = 0; i < count; ++i) {
            const virDomainStatsRecordPtr r = raw_records[i];
            int state = VIR_DOMAIN_NOSTATE;
            if (virTypedParamsGetInt(r->params, r->nparams, "state.state", &state) != 1) {
                const char* name = virDomainGetName(r->dom);
                return fail(ErrorCode::provider, std::string("no state reported for domain '") +
                                                     (name != nullptr ? name : "?") + "'");
            }
            if (virDomainRef(r->dom) < 0) {
                return tl::unexpected(libvirt_error("cannot keep a domain handle"));
            }
            if (auto ok = listed(r->dom, state); !ok) {
                return tl::unexpected(ok.error());
            }
        }
        return {};
    };
    std::vector<DomainHandle> domains;
    if (with_snapshots) {
        // libvirt filters by snapshots in the listing, not in the bulk stats: list, then
        // ask the states of exactly those.
        virDomainPtr* raw = nullptr;
        const int n = virConnectListAllDomains(connection_.get(), &raw,
                                               VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT);
        if (n < 0) {
            return tl::unexpected(libvirt_error("cannot list domains with snapshots"));
        }
        beat();
        domains = adopt_array<DomainHandle>(raw, n);
        if (domains.empty()) {
            return out;
        }
        std::vector<virDomainPtr> list;
        list.reserve(domains.size() + 1);
        for (const auto& d : domains) {
            list.push_back(d.get());
        }
        list.push_back(nullptr); // virDomainListGetStats wants a NULL-terminated array
        virDomainStatsRecordPtr* raw_records = nullptr;
        const int count =
            virDomainListGetStats(list.data(), VIR_DOMAIN_STATS_STATE, &raw_records, 0);
        if (count >= 0) {
            beat();
            if (auto ok = adopt_records(raw_records, count); !ok) {
                return tl::unexpected(ok.error());
            }
            return out;
        }
        if (last_error_code() != VIR_ERR_NO_SUPPORT) {
            return tl::unexpected(libvirt_error("cannot read the states of domains"));
        }
    } else {
        virDomainStatsRecordPtr* raw_records = nullptr;
        const int count =
            virConnectGetAllDomainStats(connection_.get(), VIR_DOMAIN_STATS_STATE, &raw_records, 0);
        if (count >= 0) {
            beat();
            if (auto ok = adopt_records(raw_records, count); !ok) {
                return tl::unexpected(ok.error());
            }
            return out;
        }
        if (last_error_code() != VIR_ERR_NO_SUPPORT) {
            return tl::unexpected(libvirt_error("cannot list domains with their state"));
        }
        virDomainPtr* raw = nullptr;
        const int n = virConnectListAllDomains(connection_.get(), &raw, 0);
        if (n < 0) {
            return tl::unexpected(libvirt_error("cannot list domains"));
        }
        beat();
        domains = adopt_array<DomainHandle>(raw, n);
    }
    // Without bulk stats: one state call per domain.
    out.reserve(domains.size());
    for (auto& domain : domains) {
        int state = 0;
        int reason = 0;
        if (virDomainGetState(domain.get(), &state, &reason, 0) < 0) {
            if (vanished(last_error_code())) {
                continue;
            }
            return tl::unexpected(libvirt_error("cannot read the state of a domain"));
        }
        beat();
        if (auto ok = listed(domain.release(), state); !ok) {
            return tl::unexpected(ok.error());
        }
    }
    return out;
}

Result<std::optional<Vm>> LibvirtProvider::read_domain(virDomainPtr domain, Vm vm,
                                                       bool mark_current) const {
    // An object that vanished between listing and reading is gone, not hidden: the domain is
    // left out, a snapshot skipped.
    const auto gone_or = [&](std::string what) -> Result<std::optional<Vm>> {
        if (vanished(last_error_code())) {
            return std::optional<Vm>();
        }
        return tl::unexpected(libvirt_error(what + " of domain '" + vm.name + "'"));
    };
    const CString labels(
        virDomainGetMetadata(domain, VIR_DOMAIN_METADATA_ELEMENT, kLabelsNamespace, 0));
    if (labels) {
        auto parsed = parse_labels_xml(labels.get());
        if (!parsed) {
            return tl::unexpected(parsed.error().with_context("domain '" + vm.name + "' labels"));
        }
        vm.labels = std::move(*parsed);
    } else if (last_error_code() != VIR_ERR_NO_DOMAIN_METADATA) {
        return gone_or("cannot read the labels");
    }
    beat();

    virDomainSnapshotPtr* raw = nullptr;
    const int count = virDomainListAllSnapshots(domain, &raw, 0);
    if (count < 0) {
        return gone_or("cannot list the snapshots");
    }
    beat();
    auto snapshots = adopt_array<SnapshotHandle>(raw, count);
    if (snapshots.empty()) {
        return vm;
    }
    // The current snapshot once per domain, not a question per snapshot, and only when asked.
    std::string current;
    if (mark_current) {
        if (const SnapshotHandle handle(virDomainSnapshotCurrent(domain, 0)); handle) {
            if (const char* name = virDomainSnapshotGetName(handle.get())) {
                current = name;
            }
        } else if (last_error_code() != VIR_ERR_NO_DOMAIN_SNAPSHOT) {
            return gone_or("cannot read the current snapshot");
        }
        beat();
    }
    vm.checkpoints.reserve(snapshots.size());
    for (const auto& snapshot : snapshots) {
        const CString xml(virDomainSnapshotGetXMLDesc(snapshot.get(), 0));
        if (!xml) {
            if (last_error_code() == VIR_ERR_NO_DOMAIN_SNAPSHOT) {
                continue;
            }
            return gone_or("cannot read a snapshot");
        }
        beat();
        auto checkpoint = parse_snapshot_xml(xml.get());
        if (!checkpoint) {
            return tl::unexpected(checkpoint.error().with_context("domain '" + vm.name + "'"));
        }
        checkpoint->current = !current.empty() && checkpoint->name == current;
        vm.checkpoints.push_back(std::move(*checkpoint));
    }
    return vm;
}

Result<std::vector<Vm>> LibvirtProvider::read_domains(const std::vector<Listed>& listed,
                                                      std::size_t workers, bool mark_current) {
    std::vector<std::optional<Vm>> slots(listed.size());
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex error_mutex;
    std::optional<std::pair<std::size_t, Error>> first_error;

    // Each worker takes the next unread domain until none is left or one failed; a failure
    // keeps the error of the lowest domain, so the message does not depend on timing.
    const auto run = [&](virConnectPtr conn, bool main) {
        // Domain handles belong to their connection: another connection lists its own.
        std::vector<DomainHandle> own;
        std::map<std::string, virDomainPtr, std::less<>> by_uuid;
        if (!main) {
            virDomainPtr* raw = nullptr;
            const int n = virConnectListAllDomains(conn, &raw, 0);
            if (n < 0) {
                log::warning("provider " + name() + ": " +
                             libvirt_error("a collection connection cannot list domains").message +
                             "; collecting over fewer connections");
                return;
            }
            beat();
            own = adopt_array<DomainHandle>(raw, n);
            for (const auto& d : own) {
                by_uuid.emplace(domain_uuid(d.get()), d.get());
            }
        }
        for (;;) {
            if (failed.load()) {
                return;
            }
            const std::size_t i = next.fetch_add(1);
            if (i >= listed.size()) {
                return;
            }
            virDomainPtr domain = listed[i].handle.get();
            if (!main) {
                const auto it = by_uuid.find(listed[i].vm.id);
                if (it == by_uuid.end()) {
                    continue; // undefined since the main listing: vanished
                }
                domain = it->second;
            }
            auto vm = read_domain(domain, listed[i].vm, mark_current);
            if (!vm) {
                const std::lock_guard lock(error_mutex);
                if (!first_error || i < first_error->first) {
                    first_error.emplace(i, vm.error());
                }
                failed.store(true);
                return;
            }
            slots[i] = std::move(*vm);
        }
    };

    if (extra_.size() < workers - 1) {
        extra_.resize(workers - 1);
    }
    std::vector<std::thread> threads;
    threads.reserve(workers - 1);
    for (std::size_t k = 0; k + 1 < workers; ++k) {
        try {
            threads.emplace_back([&, k] {
                // Each extra connection is this thread's alone for the collection.
                ConnectHandle& conn = extra_[k];
                if (!conn || virConnectIsAlive(conn.get()) != 1) {
                    auto opened = open_connection(uri_, loop_);
                    if (!opened) {
                        conn.reset();
                        log::warning("provider " + name() + ": " + opened.error().message +
                                     "; collecting over fewer connections");
                        return;
                    }
                    conn = std::move(*opened);
                    beat();
                }
                run(conn.get(), false);
            });
        } catch (const std::system_error& e) {
            log::warning("provider " + name() + ": cannot start a collection thread (" + e.what() +
                         "); collecting over fewer connections");
            break;
        }
    }
    run(connection_.get(), true);
    for (auto& t : threads) {
        t.join();
    }
    if (first_error) {
        return tl::unexpected(first_error->second);
    }
    std::vector<Vm> vms;
    vms.reserve(slots.size());
    for (auto& slot : slots) {
        if (slot) {
            vms.push_back(std::move(*slot));
        }
    }
    if (vms.size() != slots.size()) {
        log::debug("provider " + name() + ": " + std::to_string(slots.size() - vms.size()) +
                   " domain(s) vanished during collection");
    }
    return vms;
}

Result<HostInventory> LibvirtProvider::do_collect(const CollectScope& scope) {
    if (auto ok = ensure_connected(); !ok) {
        return tl::unexpected(ok.error());
    }
    HostInventory host;
    host.endpoint = uri_;
    auto listed = list_domains(scope.deny_only);
    if (!listed) {
        return tl::unexpected(listed.error());
    }
    // Each connection of the test driver holds a private copy of the host: only the
    // provider's own connection sees what its actions did.
    const bool test_driver = uri_.rfind("test:", 0) == 0;
    const std::size_t wanted = std::max<std::size_t>(1, listed->size() / kDomainsPerConnection);
    const std::size_t workers = test_driver ? 1 : std::min(max_connections_, wanted);
    auto vms = read_domains(*listed, workers, scope.mark_current);
    if (!vms) {
        return tl::unexpected(vms.error());
    }
    host.vms = std::move(*vms);
    return host;
}

Result<DomainHandle> LibvirtProvider::lookup_domain(const Vm& vm) {
    if (auto ok = ensure_connected(); !ok) {
        return tl::unexpected(ok.error());
    }
    DomainHandle domain(virDomainLookupByUUIDString(connection_.get(), vm.id.c_str()));
    if (!domain) {
        return tl::unexpected(libvirt_error("cannot find domain " + vm.id));
    }
    return domain;
}

Result<void> LibvirtProvider::do_delete_checkpoint(const Vm& vm, const Checkpoint& checkpoint) {
    auto domain = lookup_domain(vm);
    if (!domain) {
        return tl::unexpected(domain.error());
    }
    const SnapshotHandle snapshot(
        virDomainSnapshotLookupByName(domain->get(), checkpoint.name.c_str(), 0));
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

Result<void> LibvirtProvider::replay_journal(const std::string& path) {
    auto text = read_journal(path);
    if (!text) {
        return tl::unexpected(text.error());
    }
    auto journal = parse_journal_xml(*text);
    if (!journal) {
        return tl::unexpected(journal.error().with_context("journal " + path));
    }
    if (auto ok = replay(*journal); !ok) {
        return tl::unexpected(ok.error().with_context("journal " + path));
    }
    return remove_journal(path);
}

Result<void> LibvirtProvider::replay(const RedefineJournal& j) {
    const RedefineJournal* journal = &j;
    const DomainHandle domain(
        virDomainLookupByUUIDString(connection_.get(), journal->domain_uuid.c_str()));
    if (!domain) {
        return tl::unexpected(libvirt_error("cannot find domain " + journal->domain_uuid +
                                            " (remove the journal if the VM was undefined)"));
    }
    const SnapshotHandle existing(
        virDomainSnapshotLookupByName(domain.get(), journal->target.name.c_str(), 0));
    if (!existing) {
        if (auto ok = redefine(domain.get(), journal->target); !ok) {
            return tl::unexpected(ok.error());
        }
    }
    // Redefining the children puts back their <parent>, which the metadata delete moved to
    // the target's parent. Redefining an unchanged snapshot in place is harmless.
    for (const auto& child : journal->children) {
        if (auto ok = redefine(domain.get(), child); !ok) {
            return tl::unexpected(ok.error());
        }
    }
    return {};
}

Result<void> LibvirtProvider::do_make_disk_only(const Vm& vm, const Checkpoint& checkpoint,
                                                const std::string& journal_dir) {
    if (auto ok = ensure_connected(); !ok) {
        return tl::unexpected(ok.error());
    }
    const std::string journal_file = journal_path(journal_dir, vm.id, checkpoint.name);
    std::error_code ec;
    const bool pending = std::filesystem::exists(journal_file, ec);
    if (ec) {
        return fail(ErrorCode::io, "cannot look up journal " + journal_file + ": " + ec.message());
    }
    if (pending) {
        // An earlier attempt stopped between delete and redefine: finish it.
        return replay_journal(journal_file);
    }
    auto domain = lookup_domain(vm);
    if (!domain) {
        return tl::unexpected(domain.error());
    }
    const SnapshotHandle snapshot(
        virDomainSnapshotLookupByName(domain->get(), checkpoint.name.c_str(), 0));
    if (!snapshot) {
        return tl::unexpected(libvirt_error("cannot find snapshot"));
    }
    auto xml = snapshot_xml(snapshot.get(), "snapshot '" + checkpoint.name + "'");
    if (!xml) {
        return tl::unexpected(xml.error());
    }
    auto parsed = parse_snapshot_xml(*xml);
    if (!parsed) {
        return tl::unexpected(parsed.error());
    }
    if (parsed->memory == MemoryKind::none) {
        return {}; // already disk-only
    }
    if (parsed->memory != MemoryKind::external) {
        return fail(ErrorCode::unsupported,
                    "its memory is inside the disk image (internal snapshot); only a checkpoint "
                    "with an external memory file can become disk-only");
    }
    RedefineJournal journal;
    journal.uri = uri_;
    journal.domain_uuid = vm.id;
    auto disk_only = disk_only_snapshot_xml(*xml);
    if (!disk_only) {
        return tl::unexpected(disk_only.error());
    }
    journal.target = {checkpoint.name, std::move(*disk_only),
                      virDomainSnapshotIsCurrent(snapshot.get(), 0) == 1};

    virDomainSnapshotPtr* raw = nullptr;
    const int count = virDomainSnapshotListAllChildren(snapshot.get(), &raw, 0);
    if (count < 0) {
        return tl::unexpected(libvirt_error("cannot list the children of the snapshot"));
    }
    for (const auto& child : adopt_array<SnapshotHandle>(raw, count)) {
        const char* name = virDomainSnapshotGetName(child.get());
        const std::string child_name = name != nullptr ? name : "";
        auto child_xml = snapshot_xml(child.get(), "child snapshot '" + child_name + "'");
        if (!child_xml) {
            return tl::unexpected(child_xml.error());
        }
        journal.children.push_back(
            {child_name, std::move(*child_xml), virDomainSnapshotIsCurrent(child.get(), 0) == 1});
    }

    // The test driver refuses METADATA_ONLY; it keeps no files, so a plain delete removes
    // exactly its record. Any other driver must delete the metadata only: a full delete
    // would merge or remove disk data. The test driver's state lives in this process and a
    // crash loses it anyway, so it gets no journal either.
    const bool test_driver = uri_.rfind("test:", 0) == 0;
    if (!test_driver) {
        if (auto ok = write_journal(journal_file, journal_to_xml(journal)); !ok) {
            return tl::unexpected(ok.error());
        }
    }
    const unsigned flags =
        test_driver ? 0U : static_cast<unsigned>(VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY);
    if (virDomainSnapshotDelete(snapshot.get(), flags) < 0) {
        auto error = libvirt_error("cannot delete the snapshot metadata before redefining it");
        if (!test_driver) {
            (void)remove_journal(journal_file);
        }
        return tl::unexpected(error);
    }
    if (test_driver) {
        return replay(journal);
    }
    auto replayed = replay_journal(journal_file);
    if (!replayed) {
        return tl::unexpected(replayed.error().with_context(
            "the metadata was deleted but not redefined; the journal " + journal_file +
            " lets the next 'snapgov enforce' finish it"));
    }
    return {};
}

Result<std::vector<std::string>>
LibvirtProvider::do_finish_disk_only(const std::string& journal_dir) {
    std::vector<std::string> done;
    std::error_code ec;
    const auto type = std::filesystem::status(journal_dir, ec).type();
    if (type == std::filesystem::file_type::not_found) {
        return done; // no journal was ever written
    }
    if (ec || type != std::filesystem::file_type::directory) {
        return fail(ErrorCode::io, "cannot read journal directory " + journal_dir + ": " +
                                       (ec ? ec.message() : std::string("not a directory")));
    }
    if (struct stat st{}; ::stat(journal_dir.c_str(), &st) != 0) {
        return fail(ErrorCode::io,
                    "cannot examine journal directory " + journal_dir + ": " + errno_message());
    } else if (auto ok = check_private(st, journal_dir, "state directory"); !ok) {
        return tl::unexpected(ok.error());
    }
    std::vector<std::string> journals;
    // The error_code overloads throughout: a range-for would call the throwing operator++.
    std::filesystem::directory_iterator it(journal_dir, ec);
    for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        const std::string file = it->path().filename().string();
        if (file.rfind(kJournalPrefix, 0) == 0 && file.ends_with(".xml")) {
            journals.push_back(it->path().string());
        }
    }
    if (ec) {
        return fail(ErrorCode::io,
                    "cannot list journal directory " + journal_dir + ": " + ec.message());
    }
    for (const auto& path : journals) {
        auto text = read_journal(path);
        if (!text) {
            return tl::unexpected(text.error());
        }
        auto journal = parse_journal_xml(*text);
        if (!journal) {
            return tl::unexpected(journal.error().with_context("journal " + path));
        }
        if (journal->uri != uri_) {
            continue; // another provider's
        }
        if (auto ok = ensure_connected(); !ok) {
            return tl::unexpected(ok.error());
        }
        if (auto ok = replay_journal(path); !ok) {
            return tl::unexpected(ok.error());
        }
        done.push_back("redefined snapshot '" + journal->target.name + "' of domain " +
                       journal->domain_uuid + " as disk-only from " + path);
    }
    return done;
}

std::shared_ptr<const ProviderSettings> LibvirtFactory::parse(const ConfigSection& entry) const {
    return parse_settings(entry);
}

Result<void> LibvirtFactory::validate(const ProviderSpec& spec) const {
    return check_settings(spec).map([](const LibvirtSettings*) {});
}

Result<std::unique_ptr<Provider>> LibvirtFactory::create(const ProviderSpec& spec,
                                                         const ProviderUse& use) const {
    auto settings = check_settings(spec);
    if (!settings) {
        return tl::unexpected(settings.error());
    }
    const std::string& uri = (*settings)->uri;
    const EventLoop loop = use.collect_only ? EventLoop::leave : EventLoop::start;
    auto conn = open_connection(uri, loop);
    if (!conn) {
        return tl::unexpected(conn.error().with_context("provider " + spec.name));
    }
    return std::make_unique<LibvirtProvider>(spec.name, uri, std::move(*conn),
                                             (*settings)->max_connections, loop);
}

} // namespace snapgov::providers::libvirt
