// disable_checkpoints: the provider switches the VM's checkpoints off; verified when the VM
// reports the setting `disabled`.
#include "engine/actions/handlers.hpp"
#include "engine/actions/provider_action.hpp"

namespace snapgov::engine::actions {
namespace {

class DisableCheckpoints final : public ActionHandler {
public:
    [[nodiscard]] Result<std::string> execute(const ResolvedAction& target,
                                              const ActionContext& /*context*/) const override {
        return accepted(target.provider->disable_checkpoints(*target.vm));
    }

    [[nodiscard]] Result<std::string> verify(const ResolvedAction& target,
                                             const HostInventory* after) const override {
        const Vm* vm = find_after(target, *after).vm;
        return seen_if(vm != nullptr && vm->checkpoint_setting == CheckpointSetting::disabled,
                       "the VM's checkpoint setting is not disabled");
    }
};

} // namespace

const ActionHandler& disable_checkpoints() {
    static const DisableCheckpoints handler;
    return handler;
}

} // namespace snapgov::engine::actions
