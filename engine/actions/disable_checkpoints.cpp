// disable_checkpoints: the provider switches the VM's checkpoints off; verified when the VM
// reports the setting `disabled`.
#include "engine/actions/handlers.hpp"

namespace snapgov::engine::actions {
namespace {

class DisableCheckpoints final : public ActionHandler {
public:
    [[nodiscard]] Result<std::string> execute(const ResolvedAction& target,
                                              const ActionContext& /*context*/) const override {
        auto done = target.provider->disable_checkpoints(*target.vm);
        if (!done) {
            return tl::unexpected(done.error());
        }
        return std::string("accepted by the provider");
    }

    [[nodiscard]] Result<std::string> verify(const ResolvedAction& target,
                                             const HostInventory* after) const override {
        const Vm* vm = find_vm(*after, target.vm->id);
        if (vm == nullptr || vm->checkpoint_setting != CheckpointSetting::disabled) {
            return fail(ErrorCode::provider, "the VM's checkpoint setting is not disabled");
        }
        return std::string("verified: effect seen on re-collection");
    }
};

} // namespace

const ActionHandler& disable_checkpoints() {
    static const DisableCheckpoints handler;
    return handler;
}

} // namespace snapgov::engine::actions
