// clear_memory_state: the provider drops a checkpoint's memory and keeps its disks; verified
// when the checkpoint has no memory (or is gone).
#include "engine/actions/handlers.hpp"

namespace snapgov::engine::actions {
namespace {

class ClearMemoryState final : public ActionHandler {
public:
    [[nodiscard]] Result<std::string> execute(const ResolvedAction& target,
                                              const ActionContext& /*context*/) const override {
        auto done = target.provider->clear_memory_state(*target.vm, *target.checkpoint);
        if (!done) {
            return tl::unexpected(done.error());
        }
        return std::string("accepted by the provider");
    }

    [[nodiscard]] Result<std::string> verify(const ResolvedAction& target,
                                             const HostInventory* after) const override {
        const Vm* vm = find_vm(*after, target.vm->id);
        const Checkpoint* cp =
            vm != nullptr ? find_checkpoint(*vm, target.checkpoint->id) : nullptr;
        if (cp != nullptr && cp->memory != MemoryKind::none) {
            return fail(ErrorCode::provider, "the checkpoint still has memory state");
        }
        return std::string("verified: effect seen on re-collection");
    }
};

} // namespace

const ActionHandler& clear_memory_state() {
    static const ClearMemoryState handler;
    return handler;
}

} // namespace snapgov::engine::actions
