#pragma once
/// The libvirt provider: any libvirt URI (`qemu:///system`, `qemu+ssh://host/system`,
/// `test:///abs/path/host.xml`). Labels come from the domain metadata namespace
/// `urn:snapgov:labels`. libvirt has no switch that forbids snapshots, so the provider can
/// delete checkpoints but not disable them.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "providers/libvirt/handles.hpp"
#include "providers/libvirt/libvirt_settings.hpp"
#include "providers/libvirt/snapshot_xml.hpp"
#include "providers/provider.hpp"

namespace snapgov::providers::libvirt {

/// Whether open_connection() starts libvirt's event loop.
enum class EventLoop {
    /// Start it (once per process, on a thread of its own): keepalive and domain events.
    /// Remote connections get a keepalive (5 s, 3 misses) so a dead libvirtd fails calls
    /// instead of hanging them.
    start,
    /// Do not start it: no keepalive, no events, and no wake-up of the loop's thread on every
    /// call (which costs more CPU than the call itself on a local libvirtd; see
    /// bench/RESULTS.md, issue 15). For callers whose waits are bounded otherwise, such as a
    /// collection under the engine's progress deadline. libvirt has one loop per process: once
    /// started, every connection opened afterwards uses it, whatever this says.
    leave,
};

class LibvirtProvider final : public Provider {
public:
    /// Takes ownership of an open connection to `uri`. A collection reads domains over up to
    /// `max_connections` connections at once (this one and others it opens as needed, kept
    /// for later passes); a test-driver URI always uses this one connection only. The
    /// connections it opens (again) do what `loop` says with the event loop (see
    /// open_connection()); with EventLoop::leave, watch() is refused.
    LibvirtProvider(std::string name, std::string uri, ConnectHandle connection,
                    std::size_t max_connections = 1, EventLoop loop = EventLoop::start);

    ~LibvirtProvider() override;

    [[nodiscard]] std::string_view type() const override { return "libvirt"; }
    [[nodiscard]] Capabilities capabilities() const override;
    /// Domain lifecycle events (start, stop, define, undefine, restore from snapshot...).
    [[nodiscard]] Result<void> watch(EventSink sink) override;

protected:
    /// Lists every domain with its state in one call (virConnectGetAllDomainStats), then reads
    /// each domain's labels, snapshots, current snapshot and snapshot XML, spread over up to
    /// `max_connections` connections; beats the heartbeat after every answer. Any error but
    /// an object that vanished meanwhile fails the whole collection. A deny-only scope lists
    /// only domains that have snapshots (VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT): libvirt has
    /// no switch that forbids snapshots, so a deny policy has nothing to do with the others.
    [[nodiscard]] Result<HostInventory> do_collect(const CollectScope& scope) override;
    [[nodiscard]] Result<void> do_delete_checkpoint(const Vm& vm,
                                                    const Checkpoint& checkpoint) override;
    /// What `memory_state: wipe` does to a libvirt checkpoint: secure XML with `<memory
    /// snapshot='no'/>` and `<state>disk-snapshot</state>`, journal, delete the metadata only,
    /// redefine (+CURRENT if it was current), then redefine its direct children so they keep
    /// it as parent. The test driver refuses METADATA_ONLY and holds no files, so there a
    /// plain delete stands in for it.
    [[nodiscard]] Result<void> do_make_disk_only(const Vm& vm, const Checkpoint& checkpoint,
                                                 const std::string& journal_dir) override;
    [[nodiscard]] Result<std::vector<std::string>>
    do_finish_disk_only(const std::string& journal_dir) override;

private:
    /// Reopens the connection if libvirt reports it dead (libvirtd restarted). The test
    /// driver's state lives in the connection, so a live connection is never replaced.
    [[nodiscard]] Result<void> ensure_connected();
    /// A domain as listed: its handle on the main connection, and its UUID, name and state.
    struct Listed {
        DomainHandle handle;
        Vm vm;
    };
    /// Every domain (or, with `with_snapshots`, every domain that has snapshots), with its
    /// state, in one or two calls where libvirt can (else one more per domain).
    [[nodiscard]] Result<std::vector<Listed>> list_domains(bool with_snapshots);
    /// Completes `vm` (as listed) with the labels and snapshots of `domain`, which may belong
    /// to any of the provider's connections; nullopt when the domain vanished meanwhile.
    /// Without `mark_current`, every checkpoint is reported as not current (one call less).
    [[nodiscard]] Result<std::optional<Vm>> read_domain(virDomainPtr domain, Vm vm,
                                                        bool mark_current) const;
    /// Reads `listed` over up to `workers` connections: the main one on this thread, the
    /// others on threads of their own, each joined before this returns. Results keep the
    /// order of `listed`. `mark_current` as for read_domain().
    [[nodiscard]] Result<std::vector<Vm>> read_domains(const std::vector<Listed>& listed,
                                                       std::size_t workers, bool mark_current);
    /// Reconnects if needed, then finds the VM's domain by UUID.
    [[nodiscard]] Result<DomainHandle> lookup_domain(const Vm& vm);
    [[nodiscard]] Result<void> register_events();
    void deregister_events();
    /// Redefines the checkpoint (and its children) recorded in the journal file `path`, then
    /// removes the journal.
    [[nodiscard]] Result<void> replay_journal(const std::string& path);
    /// Redefines the journal's target if it is missing, then its children.
    [[nodiscard]] Result<void> replay(const RedefineJournal& journal);

    std::string uri_;
    ConnectHandle connection_;
    std::size_t max_connections_;
    EventLoop loop_;
    /// The other connections of a collection, opened on first use and kept between passes
    /// (each used by one collection thread at a time).
    std::vector<ConnectHandle> extra_;
    /// Heap-allocated so libvirt's callback keeps a stable pointer to it.
    std::unique_ptr<EventSink> sink_;
    int callback_id_ = -1;
};

/// Makes libvirt providers from `LibvirtSettings`.
class LibvirtFactory final : public ProviderFactory {
public:
    [[nodiscard]] std::string_view type() const override { return "libvirt"; }
    /// Reads `uri` (see libvirt::parse_settings()).
    [[nodiscard]] std::shared_ptr<const ProviderSettings>
    parse(const ConfigSection& entry) const override;
    /// Requires a URI; a test driver URI must be absolute (see libvirt::check_settings()).
    [[nodiscard]] Result<void> validate(const ProviderSpec& spec) const override;
    /// Validates, then opens the connection; the error carries libvirt's reason. A
    /// `collect_only` use leaves the event loop (EventLoop::leave).
    [[nodiscard]] Result<std::unique_ptr<Provider>> create(const ProviderSpec& spec,
                                                           const ProviderUse& use) const override;
};

/// Whether the memory files of checkpoints seen through `uri` are files on this machine: the
/// URI has no host part (`qemu:///system`, `test:///abs/host.xml`) and no transport but a
/// local UNIX socket (`qemu+unix:///system?socket=/run/x/libvirt-sock`).
[[nodiscard]] bool memory_files_are_local(std::string_view uri);

/// Opens a libvirt connection with the default authentication callbacks, with or without
/// the event loop. The error carries libvirt's own message.
[[nodiscard]] Result<ConnectHandle> open_connection(const std::string& uri,
                                                    EventLoop loop = EventLoop::start);

} // namespace snapgov::providers::libvirt
