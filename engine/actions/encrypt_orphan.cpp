// encrypt_orphan: a plaintext dump no checkpoint references becomes FILE.age and the plaintext is
// wiped; verified on disk.
#include "engine/actions/dump_files.hpp"
#include "engine/actions/handlers.hpp"

namespace snapgov::engine::actions {
namespace {

class EncryptOrphan final : public ActionHandler {
public:
    [[nodiscard]] Result<std::string> execute(const ResolvedAction& target,
                                              const ActionContext& context) const override {
        const auto& action = *target.action;
        auto done = encrypt_dump(action.path, action, context);
        if (!done) {
            return tl::unexpected(in_context(action, done.error()));
        }
        return done;
    }

    [[nodiscard]] Result<std::string> verify(const ResolvedAction& target,
                                             const HostInventory* /*after*/) const override {
        const std::string& path = target.action->path;
        if (present(path) || !present(path + ".age")) {
            return fail(ErrorCode::io,
                        "on disk " + path + " is still there or its .age is missing");
        }
        return std::string("verified on disk: plaintext gone, .age present");
    }
};

} // namespace

const ActionHandler& encrypt_orphan() {
    static const EncryptOrphan handler;
    return handler;
}

} // namespace snapgov::engine::actions
