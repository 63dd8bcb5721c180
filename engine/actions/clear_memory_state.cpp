// clear_memory_state: the provider drops a checkpoint's memory and keeps its disks; verified
// when the checkpoint has no memory (or is gone).
#include "engine/actions/handlers.hpp"
#include "engine/actions/provider_action.hpp"

namespace snapgov::engine::actions {
namespace {

class ClearMemoryState final : public ActionHandler {
public:
    [[nodiscard]] Result<std::string> execute(const ResolvedAction& target,
                                              const ActionContext& /*context*/) const override {
        return accepted(target.provider->clear_memory_state(*target.vm, *target.checkpoint));
    }

    [[nodiscard]] Result<std::string> verify(const ResolvedAction& target,
                                             const HostInventory* after) const override {
        const Checkpoint* cp = find_after(target, *after).checkpoint;
        return seen_if(cp == nullptr || cp->memory == MemoryKind::none,
                       "the checkpoint still has memory state");
    }
};

} // namespace

const ActionHandler& clear_memory_state() {
    static const ClearMemoryState handler;
    return handler;
}

} // namespace snapgov::engine::actions
