#pragma once
/// The Hyper-V provider: one host's `root/virtualization/v2` WMI namespace, reached over
/// WS-Management (WinRM). VMs are `Msvm_ComputerSystem`, their settings and checkpoints
/// `Msvm_VirtualSystemSettingData`; actions go through `Msvm_VirtualSystemSnapshotService`
/// and `Msvm_VirtualSystemManagementService` and are followed to completion through
/// `Msvm_ConcreteJob`.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "providers/hyperv/hyperv_settings.hpp"
#include "providers/hyperv/wmi_connection.hpp"
#include "providers/provider.hpp"

namespace snapgov::providers::hyperv {

/// How long and how often the provider waits for a Hyper-V job.
struct JobPolicy {
    std::chrono::milliseconds first_poll{250}; ///< doubled after each poll...
    std::chrono::milliseconds max_poll{5000};  ///< ...up to this
    std::chrono::seconds timeout{900};         ///< then the action fails (the job may go on)
};

class HypervProvider final : public Provider {
public:
    /// Takes ownership of a connection to the host.
    HypervProvider(std::string name, std::unique_ptr<WmiConnection> connection,
                   JobPolicy jobs = {});

    [[nodiscard]] std::string_view type() const override { return "hyperv"; }
    /// Delete, disable and clear memory state: all supported.
    [[nodiscard]] Capabilities capabilities() const override;

protected:
    /// Reads every VM whatever the scope: a deny policy switches checkpoints off on VMs
    /// that have none yet.
    [[nodiscard]] Result<HostInventory> do_collect(const CollectScope& scope) override;
    /// `DestroySnapshot` on the checkpoint's settings; success when it is already gone.
    [[nodiscard]] Result<void> do_delete_checkpoint(const Vm& vm,
                                                    const Checkpoint& checkpoint) override;
    /// `ModifySystemSettings` on the VM's realized settings with `UserSnapshotType` = 2
    /// (disabled) and `AutomaticSnapshotsEnabled` = false.
    [[nodiscard]] Result<void> do_disable_checkpoints(const Vm& vm) override;
    /// `ClearSnapshotState` on the checkpoint's settings.
    [[nodiscard]] Result<void> do_clear_memory_state(const Vm& vm,
                                                     const Checkpoint& checkpoint) override;

private:
    /// Finds a service (`Msvm_VirtualSystemSnapshotService`, ...) by its keys; cached.
    [[nodiscard]] Result<ObjectRef> service(const std::string& class_name,
                                            std::optional<ObjectRef>& cache);
    /// Follows a method's result to the end: 0 done, 4096 poll the job, other = failure.
    [[nodiscard]] Result<void> finish(const MethodResult& result, std::string_view method);
    [[nodiscard]] Result<void> snapshot_method(const Checkpoint& checkpoint,
                                               std::string_view method, std::string_view parameter);

    std::unique_ptr<WmiConnection> connection_;
    JobPolicy jobs_;
    std::optional<ObjectRef> snapshot_service_;
    std::optional<ObjectRef> management_service_;
};

/// Makes Hyper-V providers from `HypervSettings`.
class HypervFactory final : public ProviderFactory {
public:
    [[nodiscard]] std::string_view type() const override { return "hyperv"; }
    /// Reads `endpoint`, `auth`, `tls`, `insecure_http` (see hyperv::parse_settings()).
    [[nodiscard]] std::shared_ptr<const ProviderSettings>
    parse(const ConfigSection& entry) const override;
    /// Requires `endpoint` (https://, or http:// with `insecure_http: true`), and
    /// `auth.method` basic (username, password_file) or certificate (cert_file,
    /// key_file). Does not read the files (see hyperv::check_settings()).
    [[nodiscard]] Result<void> validate(const ProviderSpec& spec) const override;
    /// Validates, reads the password file (refused when group or others may read it) or
    /// checks the key file's mode, and builds the WS-Management client. No network
    /// traffic: the first `collect()` connects.
    /// `use` changes nothing: a WS-Management session has no event loop to leave out.
    [[nodiscard]] Result<std::unique_ptr<Provider>> create(const ProviderSpec& spec,
                                                           const ProviderUse& use) const override;
};

/// Human-readable meaning of a Hyper-V method return code (32768 "failed", ...).
[[nodiscard]] std::string_view return_code_text(std::uint32_t code) noexcept;

} // namespace snapgov::providers::hyperv
