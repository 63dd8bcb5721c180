#include "providers/provider.hpp"

#include <algorithm>
#include <tuple>

namespace snapgov::providers {
namespace {

std::string object_name(const Vm& vm) {
    return "VM '" + vm.name + "'";
}

std::string object_name(const Vm& vm, const Checkpoint& checkpoint) {
    return "checkpoint '" + checkpoint.name + "' of VM '" + vm.name + "'";
}

} // namespace

Result<HostInventory> Provider::collect(const CollectScope& scope) {
    auto result = do_collect(scope);
    if (!result) {
        return tl::unexpected(result.error().with_context("provider " + name_ + ": collect"));
    }
    // A stable order (VMs by name, checkpoints oldest first) makes plans and reports
    // reproducible whatever order the hypervisor lists objects in.
    auto& vms = result->vms;
    std::sort(vms.begin(), vms.end(), [](const Vm& a, const Vm& b) {
        return std::tie(a.name, a.id) < std::tie(b.name, b.id);
    });
    for (auto& vm : vms) {
        std::sort(vm.checkpoints.begin(), vm.checkpoints.end(),
                  [](const Checkpoint& a, const Checkpoint& b) {
                      return std::tie(a.created, a.name) < std::tie(b.created, b.name);
                  });
    }
    result->provider = name_;
    result->type = std::string(type());
    result->capabilities = capabilities();
    result->complete = true;
    return result;
}

Result<void> Provider::delete_checkpoint(const Vm& vm, const Checkpoint& checkpoint) {
    const auto context = "provider " + name_ + ": delete " + object_name(vm, checkpoint);
    if (!capabilities().delete_checkpoint) {
        return fail(ErrorCode::unsupported, context + ": not supported by this provider");
    }
    auto result = do_delete_checkpoint(vm, checkpoint);
    if (!result) {
        return tl::unexpected(result.error().with_context(context));
    }
    return {};
}

Result<void> Provider::disable_checkpoints(const Vm& vm) {
    const auto context = "provider " + name_ + ": disable checkpoints of " + object_name(vm);
    if (!capabilities().disable_checkpoints) {
        return fail(ErrorCode::unsupported, context + ": not supported by this provider");
    }
    auto result = do_disable_checkpoints(vm);
    if (!result) {
        return tl::unexpected(result.error().with_context(context));
    }
    return {};
}

Result<void> Provider::clear_memory_state(const Vm& vm, const Checkpoint& checkpoint) {
    const auto context =
        "provider " + name_ + ": clear memory state of " + object_name(vm, checkpoint);
    if (!capabilities().clear_memory_state) {
        return fail(ErrorCode::unsupported, context + ": not supported by this provider");
    }
    auto result = do_clear_memory_state(vm, checkpoint);
    if (!result) {
        return tl::unexpected(result.error().with_context(context));
    }
    return {};
}

Result<void> Provider::make_disk_only(const Vm& vm, const Checkpoint& checkpoint,
                                      const std::string& journal_dir) {
    const auto context = "provider " + name_ + ": make disk-only " + object_name(vm, checkpoint);
    if (!capabilities().make_disk_only) {
        return fail(ErrorCode::unsupported, context + ": not supported by this provider");
    }
    auto result = do_make_disk_only(vm, checkpoint, journal_dir);
    if (!result) {
        return tl::unexpected(result.error().with_context(context));
    }
    return {};
}

Result<std::vector<std::string>> Provider::finish_disk_only(const std::string& journal_dir) {
    if (!capabilities().make_disk_only) {
        return std::vector<std::string>{};
    }
    auto result = do_finish_disk_only(journal_dir);
    if (!result) {
        return tl::unexpected(
            result.error().with_context("provider " + name_ + ": finish interrupted redefines"));
    }
    return result;
}

Result<void> Provider::do_make_disk_only(const Vm& /*vm*/, const Checkpoint& /*checkpoint*/,
                                         const std::string& /*journal_dir*/) {
    return fail(ErrorCode::unsupported, "not implemented");
}

Result<std::vector<std::string>> Provider::do_finish_disk_only(const std::string& /*journal_dir*/) {
    return std::vector<std::string>{};
}

Result<void> Provider::watch(EventSink /*sink*/) {
    return fail(ErrorCode::unsupported, "provider " + name_ + " reports no events");
}

Result<void> Provider::do_disable_checkpoints(const Vm& /*vm*/) {
    return fail(ErrorCode::unsupported, "not implemented");
}

Result<void> Provider::do_clear_memory_state(const Vm& /*vm*/, const Checkpoint& /*checkpoint*/) {
    return fail(ErrorCode::unsupported, "not implemented");
}

} // namespace snapgov::providers
