#include "engine/actions/provider_action.hpp"

namespace snapgov::engine::actions {

Result<std::string> accepted(Result<void> answer) {
    if (!answer) {
        return tl::unexpected(answer.error());
    }
    return std::string("accepted by the provider");
}

Seen find_after(const ResolvedAction& target, const HostInventory& after) {
    Seen seen;
    seen.vm = find_vm(after, target.vm->id);
    if (seen.vm != nullptr && target.checkpoint != nullptr) {
        seen.checkpoint = find_checkpoint(*seen.vm, target.checkpoint->id);
    }
    return seen;
}

Result<std::string> seen_if(bool effect, std::string_view missing) {
    if (!effect) {
        return fail(ErrorCode::provider, std::string(missing));
    }
    return std::string("verified: effect seen on re-collection");
}

} // namespace snapgov::engine::actions
