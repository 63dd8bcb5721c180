#pragma once
/// One handler per action kind: how the action is carried out, how its effect is verified,
/// and what it records. `handler_for` selects it with a switch that has no `default:`, so
/// the compiler names a kind without a handler. Adding an action kind is one handler here
/// (a file in engine/actions/) plus the evaluator rule that plans it.

#include <functional>
#include <string>

#include "core/error.hpp"
#include "core/inventory.hpp"
#include "engine/observer.hpp"
#include "policies/config.hpp"
#include "policies/plan.hpp"
#include "providers/provider.hpp"

namespace snapgov::engine {

/// A planned action with its objects resolved once, in the inventory collected before
/// acting. For a `file` action (orphan dump) provider, VM and checkpoint are null; for a
/// `vm` action the checkpoint is null.
struct ResolvedAction {
    const policies::PlannedAction* action = nullptr;
    providers::Provider* provider = nullptr;
    const Vm* vm = nullptr;
    const Checkpoint* checkpoint = nullptr;
};

/// What a handler may use while it acts.
struct ActionContext {
    const policies::Config& config;
    /// Reports one memory-dump operation to the pass's observers.
    std::function<void(const DumpOperation&)> record_dump;
};

/// Carries out and verifies one kind of action. Handlers are stateless.
class ActionHandler {
public:
    virtual ~ActionHandler() = default;

    /// Acts on `target` (whose objects the engine has resolved and checked: a checkpoint
    /// action has a provider, a VM and a checkpoint). Returns what was done, for the
    /// action's detail; an error means nothing or not all was done, and says what. A
    /// destructive handler re-checks its preconditions (the file's signature, the provider's
    /// capability) now, not at planning time, and fails closed.
    [[nodiscard]] virtual Result<std::string> execute(const ResolvedAction& target,
                                                      const ActionContext& context) const = 0;

    /// Checks the effect after acting. `after` is the provider's complete inventory collected
    /// after acting (null for `file` actions, which are checked on disk). Returns the
    /// sentence that says what was seen, or an error saying what was not.
    [[nodiscard]] virtual Result<std::string> verify(const ResolvedAction& target,
                                                     const HostInventory* after) const = 0;
};

/// The handler of `kind`; handlers live as long as the program.
[[nodiscard]] const ActionHandler& handler_for(policies::ActionKind kind) noexcept;

} // namespace snapgov::engine
