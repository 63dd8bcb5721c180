#pragma once
/// The libvirt provider: any libvirt URI (`qemu:///system`, `qemu+ssh://host/system`,
/// `test:///abs/path/host.xml`). Labels come from the domain metadata namespace
/// `urn:snapgov:labels`. libvirt has no switch that forbids snapshots, so the provider can
/// delete checkpoints but not disable them.

#include <memory>
#include <string>
#include <string_view>

#include "providers/libvirt/handles.hpp"
#include "providers/libvirt/libvirt_settings.hpp"
#include "providers/libvirt/snapshot_xml.hpp"
#include "providers/provider.hpp"

namespace snapgov::providers::libvirt {

class LibvirtProvider final : public Provider {
public:
    /// Takes ownership of an open connection to `uri`.
    LibvirtProvider(std::string name, std::string uri, ConnectHandle connection);

    ~LibvirtProvider() override;

    [[nodiscard]] std::string_view type() const override { return "libvirt"; }
    [[nodiscard]] Capabilities capabilities() const override;
    /// Domain lifecycle events (start, stop, define, undefine, restore from snapshot...).
    [[nodiscard]] Result<void> watch(EventSink sink) override;

protected:
    [[nodiscard]] Result<HostInventory> do_collect() override;
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
    [[nodiscard]] Result<Vm> read_domain(virDomainPtr domain);
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
    /// Validates, then opens the connection; the error carries libvirt's reason.
    [[nodiscard]] Result<std::unique_ptr<Provider>> create(const ProviderSpec& spec) const override;
};

/// Whether the memory files of checkpoints seen through `uri` are files on this machine: the
/// URI has no host part (`qemu:///system`, `test:///abs/host.xml`) and no transport but a
/// local UNIX socket (`qemu+unix:///system?socket=/run/x/libvirt-sock`).
[[nodiscard]] bool memory_files_are_local(std::string_view uri);

/// Opens a libvirt connection with the default authentication callbacks, on libvirt's
/// default event loop (started once per process on a thread of its own, for keepalive and
/// events). Remote connections get a keepalive (5 s, 3 misses) so a dead libvirtd fails
/// calls instead of hanging them. The error carries libvirt's own message.
[[nodiscard]] Result<ConnectHandle> open_connection(const std::string& uri);

} // namespace snapgov::providers::libvirt
