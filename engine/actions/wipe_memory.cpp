// wipe_memory: each external memory file of the checkpoint (and its .age, if encrypted
// earlier) is wiped, then the provider redefines the checkpoint disk-only. Verified on disk
// and on re-collection.
#include "engine/actions/dump_files.hpp"
#include "engine/actions/handlers.hpp"
#include "engine/actions/provider_action.hpp"

namespace snapgov::engine::actions {
namespace {

class WipeMemory final : public ActionHandler {
public:
    [[nodiscard]] Result<std::string> execute(const ResolvedAction& target,
                                              const ActionContext& context) const override {
        const auto& action = *target.action;
        // Wipe only where the checkpoint can then be redefined, so the hypervisor is never
        // left pointing at a file that is gone for good.
        if (!target.provider->capabilities().make_disk_only) {
            return tl::unexpected(in_context(
                action, Error{ErrorCode::unsupported, "the provider cannot redefine the "
                                                      "checkpoint disk-only; nothing was wiped"}));
        }
        std::string detail;
        for (const auto& file : target.checkpoint->memory_files) {
            for (const bool encrypted : {false, true}) {
                const std::string path = encrypted ? file + ".age" : file;
                if (!present(path)) {
                    continue;
                }
                auto done = wipe_dump_file(path, encrypted, action, context);
                if (!done) {
                    return tl::unexpected(in_context(action, done.error()));
                }
                detail += (detail.empty() ? "" : "; ") + *done;
            }
        }
        auto redefined = target.provider->make_disk_only(*target.vm, *target.checkpoint,
                                                         context.config.state_dir);
        if (!redefined) {
            return tl::unexpected(redefined.error());
        }
        return detail + (detail.empty() ? "" : "; ") + "checkpoint redefined disk-only";
    }

    [[nodiscard]] Result<std::string> verify(const ResolvedAction& target,
                                             const HostInventory* after) const override {
        for (const auto& f : target.checkpoint->memory_files) {
            if (present(f) || present(f + ".age")) {
                return fail(ErrorCode::io, "on disk " + f + " or " + f + ".age is still there");
            }
        }
        const Checkpoint* cp = find_after(target, *after).checkpoint;
        if (cp != nullptr && cp->memory != MemoryKind::none) {
            return fail(ErrorCode::provider, "the checkpoint still has memory state");
        }
        return std::string("verified: file gone and checkpoint disk-only");
    }
};

} // namespace

const ActionHandler& wipe_memory() {
    static const WipeMemory handler;
    return handler;
}

} // namespace snapgov::engine::actions
