#include "core/inventory.hpp"

#include <algorithm>

namespace snapgov {

const HostInventory* Inventory::host(std::string_view provider) const {
    const auto it = std::find_if(hosts.begin(), hosts.end(),
                                 [&](const HostInventory& h) { return h.provider == provider; });
    return it == hosts.end() ? nullptr : &*it;
}

std::size_t Inventory::vm_count() const {
    std::size_t n = 0;
    for (const auto& h : hosts) {
        n += h.vms.size();
    }
    return n;
}

std::size_t Inventory::checkpoint_count() const {
    std::size_t n = 0;
    for (const auto& h : hosts) {
        for (const auto& vm : h.vms) {
            n += vm.checkpoints.size();
        }
    }
    return n;
}

std::string_view to_string(MemoryKind kind) noexcept {
    switch (kind) {
    case MemoryKind::none: return "none";
    case MemoryKind::internal: return "internal";
    case MemoryKind::external: return "external";
    }
    return "none";
}

std::string_view to_string(PowerState state) noexcept {
    switch (state) {
    case PowerState::running: return "running";
    case PowerState::paused: return "paused";
    case PowerState::shutoff: return "shutoff";
    case PowerState::suspended: return "suspended";
    case PowerState::other: return "other";
    }
    return "other";
}

std::string_view to_string(CheckpointSetting setting) noexcept {
    switch (setting) {
    case CheckpointSetting::unknown: return "unknown";
    case CheckpointSetting::disabled: return "disabled";
    case CheckpointSetting::production: return "production";
    case CheckpointSetting::production_only: return "production_only";
    case CheckpointSetting::standard: return "standard";
    }
    return "unknown";
}

const Vm* find_vm(const HostInventory& host, std::string_view vm_id) {
    const auto it = std::find_if(host.vms.begin(), host.vms.end(),
                                 [&](const Vm& vm) { return vm.id == vm_id; });
    return it == host.vms.end() ? nullptr : &*it;
}

const Checkpoint* find_checkpoint(const Vm& vm, std::string_view checkpoint_id) {
    const auto it = std::find_if(vm.checkpoints.begin(), vm.checkpoints.end(),
                                 [&](const Checkpoint& c) { return c.id == checkpoint_id; });
    return it == vm.checkpoints.end() ? nullptr : &*it;
}

} // namespace snapgov
