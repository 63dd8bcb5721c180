// encrypt_memory: each external memory file of the checkpoint becomes FILE.age (age v1) and
// the plaintext is wiped; the checkpoint keeps naming FILE, which a revert needs decrypted
// first. Verified on disk.
#include "engine/actions/dump_files.hpp"
#include "engine/actions/handlers.hpp"

namespace snapgov::engine::actions {
namespace {

class EncryptMemory final : public ActionHandler {
public:
    [[nodiscard]] Result<std::string> execute(const ResolvedAction& target,
                                              const ActionContext& context) const override {
        const auto& action = *target.action;
        std::string detail;
        auto append = [&](const std::string& text) {
            detail += (detail.empty() ? "" : "; ") + text;
        };
        for (const auto& file : target.checkpoint->memory_files) {
            if (!present(file) && present(file + ".age")) {
                append(file + " was already encrypted");
                continue;
            }
            auto done = encrypt_dump(file, action, context);
            if (!done) {
                return tl::unexpected(in_context(action, done.error()));
            }
            append(*done);
            append("before reverting to this checkpoint run: snapgov dump decrypt -i "
                   "IDENTITY_FILE " +
                   file + ".age -o " + file);
        }
        return detail;
    }

    [[nodiscard]] Result<std::string> verify(const ResolvedAction& target,
                                             const HostInventory* /*after*/) const override {
        for (const auto& f : target.checkpoint->memory_files) {
            if (present(f) || !present(f + ".age")) {
                return fail(ErrorCode::io,
                            "on disk " + f + " is still there or " + f + ".age is missing");
            }
        }
        return std::string("verified: plaintext gone, .age present");
    }
};

} // namespace

const ActionHandler& encrypt_memory() {
    static const EncryptMemory handler;
    return handler;
}

} // namespace snapgov::engine::actions
