#pragma once
/// What the memory-dump handlers share: touching a file only after classifying it (once, at
/// the moment of acting), encrypting and wiping it, and reporting each operation.

#include <string>

#include "core/error.hpp"
#include "engine/action_handler.hpp"

namespace snapgov::engine::actions {

/// True when something exists under `path` (lstat: a final symlink is not followed).
[[nodiscard]] bool present(const std::string& path);

/// "checkpoint 'C' of VM 'V' (provider P)", or "orphan dump PATH".
[[nodiscard]] std::string describe_target(const policies::PlannedAction& action);

/// `error` with "KIND on TARGET" as context.
[[nodiscard]] Error in_context(const policies::PlannedAction& action, const Error& error);

/// Encrypts the plaintext dump `file` to `file.age` (age v1, to `memory_dumps.recipients`,
/// journaled in `state_dir`), then wipes `file`. Refuses unless `file` carries a plaintext
/// dump signature (not an age file, not an unfinished `LibvirtQemudPart` save). Reports the
/// operation through `context.record_dump`; returns what was done.
[[nodiscard]] Result<std::string> encrypt_dump(const std::string& file,
                                               const policies::PlannedAction& action,
                                               const ActionContext& context);

/// Wipes `file`, which must be an age file when `encrypted`, else a plaintext dump (not an
/// unfinished save). Reports the operation through `context.record_dump`.
[[nodiscard]] Result<std::string> wipe_dump_file(const std::string& file, bool encrypted,
                                                 const policies::PlannedAction& action,
                                                 const ActionContext& context);

} // namespace snapgov::engine::actions
