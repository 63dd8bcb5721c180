#pragma once
/// The handler of each action kind, one per file in this folder; action_handler.cpp selects
/// them.

#include "engine/action_handler.hpp"

namespace snapgov::engine::actions {

[[nodiscard]] const ActionHandler& delete_checkpoint();
[[nodiscard]] const ActionHandler& disable_checkpoints();
[[nodiscard]] const ActionHandler& clear_memory_state();
[[nodiscard]] const ActionHandler& encrypt_memory();
[[nodiscard]] const ActionHandler& wipe_memory();
[[nodiscard]] const ActionHandler& wipe_orphan();
[[nodiscard]] const ActionHandler& encrypt_orphan();

} // namespace snapgov::engine::actions
