#pragma once
/// What the handlers of provider actions (delete_checkpoint, disable_checkpoints,
/// clear_memory_state, the redefine of wipe_memory) share: the provider's answer and the
/// objects as collected after acting.

#include <string>
#include <string_view>

#include "engine/action_handler.hpp"

namespace snapgov::engine::actions {

/// "accepted by the provider", or the provider's error. Accepted is not done: verify() decides.
[[nodiscard]] Result<std::string> accepted(Result<void> answer);

/// The action's VM and checkpoint in `after` (null where gone).
struct Seen {
    const Vm* vm = nullptr;
    const Checkpoint* checkpoint = nullptr;
};
[[nodiscard]] Seen find_after(const ResolvedAction& target, const HostInventory& after);

/// The verification sentence when `effect` holds, else an error saying `missing`.
[[nodiscard]] Result<std::string> seen_if(bool effect, std::string_view missing);

} // namespace snapgov::engine::actions
