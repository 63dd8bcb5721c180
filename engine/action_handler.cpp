#include "engine/action_handler.hpp"

#include "engine/actions/handlers.hpp"

namespace snapgov::engine {
namespace {

/// For a value outside the enum (memory corruption): refuses, never acts.
class Refuse final : public ActionHandler {
public:
    [[nodiscard]] Result<std::string> execute(const ResolvedAction& /*target*/,
                                              const ActionContext& /*context*/) const override {
        return fail(ErrorCode::internal, "unknown action kind: refused");
    }
    [[nodiscard]] Result<std::string> verify(const ResolvedAction& /*target*/,
                                             const HostInventory* /*after*/) const override {
        return fail(ErrorCode::internal, "unknown action kind");
    }
};

} // namespace

const ActionHandler& handler_for(policies::ActionKind kind) noexcept {
    using policies::ActionKind;
    switch (kind) {
    case ActionKind::delete_checkpoint: return actions::delete_checkpoint();
    case ActionKind::disable_checkpoints: return actions::disable_checkpoints();
    case ActionKind::clear_memory_state: return actions::clear_memory_state();
    case ActionKind::encrypt_memory: return actions::encrypt_memory();
    case ActionKind::wipe_memory: return actions::wipe_memory();
    case ActionKind::wipe_orphan: return actions::wipe_orphan();
    case ActionKind::encrypt_orphan: return actions::encrypt_orphan();
    }
    static const Refuse refuse;
    return refuse;
}

} // namespace snapgov::engine
