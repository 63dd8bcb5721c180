// delete_checkpoint: the provider deletes the checkpoint; verified when it is gone.
#include "engine/actions/handlers.hpp"

namespace snapgov::engine::actions {
namespace {

class DeleteCheckpoint final : public ActionHandler {
public:
    [[nodiscard]] Result<std::string> execute(const ResolvedAction& target,
                                              const ActionContext& /*context*/) const override {
        auto done = target.provider->delete_checkpoint(*target.vm, *target.checkpoint);
        if (!done) {
            return tl::unexpected(done.error());
        }
        return std::string("accepted by the provider");
    }

    [[nodiscard]] Result<std::string> verify(const ResolvedAction& target,
                                             const HostInventory* after) const override {
        const Vm* vm = find_vm(*after, target.vm->id);
        if (vm != nullptr && find_checkpoint(*vm, target.checkpoint->id) != nullptr) {
            return fail(ErrorCode::provider, "the checkpoint is still listed");
        }
        return std::string("verified: effect seen on re-collection");
    }
};

} // namespace

const ActionHandler& delete_checkpoint() {
    static const DeleteCheckpoint handler;
    return handler;
}

} // namespace snapgov::engine::actions
