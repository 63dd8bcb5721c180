#pragma once
/// The inventory model: what providers collect and the evaluator reads. Plain values,
/// copyable, no handles: a provider's live objects never leak into it.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"

namespace snapgov {

/// Where a checkpoint's memory (RAM dump) lives.
enum class MemoryKind {
    none,     ///< disk-only checkpoint, or a Hyper-V production checkpoint
    internal, ///< inside the disk image (qcow2 internal snapshot); cannot be separated
    external, ///< in files of its own (`memory_files`): libvirt `.mem`, Hyper-V
              ///< `.vmrs`/`.vsv`/`.bin`
};

/// Power state of a VM, reduced to what policies and humans need.
enum class PowerState { running, paused, shutoff, suspended, other };

/// The VM's own checkpoint setting, where the hypervisor has one (Hyper-V); libvirt has
/// no such switch and reports `unknown`.
enum class CheckpointSetting { unknown, disabled, production, production_only, standard };

/// What a provider can do; the evaluator never plans an action outside it.
struct Capabilities {
    bool delete_checkpoint = false;
    bool disable_checkpoints = false; ///< a VM-level switch that forbids new checkpoints
    bool clear_memory_state = false;  ///< drop a checkpoint's memory, keep its disks
    /// The memory files the provider reports are paths on this machine (a local hypervisor
    /// connection), so snapgov can encrypt or wipe them itself. False for remote hosts.
    bool local_memory_files = false;
    /// Can redefine a checkpoint whose external memory file was wiped as a disk-only one
    /// (Provider::make_disk_only), so the hypervisor no longer points at a missing file.
    bool make_disk_only = false;
};

/// One disk's part in a checkpoint.
struct DiskSnapshot {
    std::string target; ///< device name, e.g. `vda`
    std::string kind;   ///< `internal`, `external`, `no` or `manual` (libvirt's words)
    std::string file;   ///< overlay or image file, when external
};

/// A checkpoint (libvirt: snapshot; Hyper-V: snapshot settings) of one VM.
struct Checkpoint {
    std::string id; ///< provider's stable id (libvirt: the name; Hyper-V: InstanceID)
    std::string name;
    std::string description;
    TimePoint created{};
    std::optional<std::string> parent; ///< name of the parent checkpoint, if any
    std::string state;    ///< VM state captured: `running`, `shutoff`, `disk-snapshot`...
    bool current = false; ///< the checkpoint the VM currently descends from
    MemoryKind memory = MemoryKind::none;
    std::vector<std::string> memory_files;
    std::vector<DiskSnapshot> disks;
};

/// One VM and its checkpoints.
struct Vm {
    std::string id; ///< UUID (libvirt) or VM GUID (Hyper-V)
    std::string name;
    std::map<std::string, std::string> labels;
    PowerState power = PowerState::other;
    CheckpointSetting checkpoint_setting = CheckpointSetting::unknown;
    std::vector<Checkpoint> checkpoints;
};

/// Everything one provider (one hypervisor connection) reported in one collection.
struct HostInventory {
    std::string provider; ///< the provider's configured name
    std::string type;     ///< `libvirt`, `hyperv`
    std::string endpoint; ///< URI or endpoint, for display (never with credentials)
    Capabilities capabilities;
    std::vector<Vm> vms;
    /// False when collection failed or was partial: the guard then refuses every
    /// destructive action for this provider.
    bool complete = false;
    std::optional<Error> error;
};

/// The whole inventory of one pass, one entry per configured provider, in config order.
struct Inventory {
    std::vector<HostInventory> hosts;

    /// Finds a provider's inventory by name; nullptr if absent.
    [[nodiscard]] const HostInventory* host(std::string_view provider) const;
    [[nodiscard]] std::size_t vm_count() const;
    [[nodiscard]] std::size_t checkpoint_count() const;
};

[[nodiscard]] std::string_view to_string(MemoryKind kind) noexcept;
[[nodiscard]] std::string_view to_string(PowerState state) noexcept;
[[nodiscard]] std::string_view to_string(CheckpointSetting setting) noexcept;

/// Finds a VM by id in a host; nullptr if absent.
[[nodiscard]] const Vm* find_vm(const HostInventory& host, std::string_view vm_id);
/// Finds a checkpoint by id in a VM; nullptr if absent.
[[nodiscard]] const Checkpoint* find_checkpoint(const Vm& vm, std::string_view checkpoint_id);

} // namespace snapgov
