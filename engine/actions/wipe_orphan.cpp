// wipe_orphan: a plaintext dump no checkpoint references is wiped; verified on disk.
#include "engine/actions/dump_files.hpp"
#include "engine/actions/handlers.hpp"

namespace snapgov::engine::actions {
namespace {

class WipeOrphan final : public ActionHandler {
public:
    [[nodiscard]] Result<std::string> execute(const ResolvedAction& target,
                                              const ActionContext& context) const override {
        const auto& action = *target.action;
        auto done = wipe_dump_file(action.path, /*encrypted=*/false, action, context);
        if (!done) {
            return tl::unexpected(in_context(action, done.error()));
        }
        return done;
    }

    [[nodiscard]] Result<std::string> verify(const ResolvedAction& target,
                                             const HostInventory* /*after*/) const override {
        const std::string& path = target.action->path;
        if (present(path)) {
            return fail(ErrorCode::io, "on disk " + path + " is still there");
        }
        return std::string("verified on disk: file gone");
    }
};

} // namespace

const ActionHandler& wipe_orphan() {
    static const WipeOrphan handler;
    return handler;
}

} // namespace snapgov::engine::actions
