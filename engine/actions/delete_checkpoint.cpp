// delete_checkpoint: the provider deletes the checkpoint; verified when it is gone.
#include "engine/actions/handlers.hpp"
#include "engine/actions/provider_action.hpp"

namespace snapgov::engine::actions {
namespace {

class DeleteCheckpoint final : public ActionHandler {
public:
    [[nodiscard]] Result<std::string> execute(const ResolvedAction& target,
                                              const ActionContext& /*context*/) const override {
        return accepted(target.provider->delete_checkpoint(*target.vm, *target.checkpoint));
    }

    [[nodiscard]] Result<std::string> verify(const ResolvedAction& target,
                                             const HostInventory* after) const override {
        return seen_if(find_after(target, *after).checkpoint == nullptr,
                       "the checkpoint is still listed");
    }
};

} // namespace

const ActionHandler& delete_checkpoint() {
    static const DeleteCheckpoint handler;
    return handler;
}

} // namespace snapgov::engine::actions
