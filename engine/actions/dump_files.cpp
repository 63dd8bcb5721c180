#include "engine/actions/dump_files.hpp"

#include <sys/stat.h>

#include "dumps/dump_commands.hpp"
#include "dumps/wipe.hpp"

namespace snapgov::engine::actions {
namespace {

std::string wipe_text(const dumps::WipeReport& w) {
    return "wiped " + w.path + " (" + std::to_string(w.bytes_overwritten) +
           " bytes overwritten, assurance " + std::string(dumps::to_string(w.storage.assurance)) +
           ": " + w.storage.reason + ")";
}

// The file at `path` classified now: a plaintext dump that is complete, or an age file.
Result<dumps::FoundDump> expect_dump(const std::string& path, bool encrypted) {
    auto found = dumps::classify_file(path);
    if (!found) {
        return tl::unexpected(found.error());
    }
    if (encrypted) {
        if (found->kind != dumps::DumpKind::age_encrypted) {
            return fail(ErrorCode::unsupported, path + ": expected an age file, found " +
                                                    std::string(dumps::to_string(found->kind)) +
                                                    "; left alone");
        }
        return found;
    }
    if (found->kind == dumps::DumpKind::age_encrypted) {
        return fail(ErrorCode::unsupported, path + " is already an age file");
    }
    if (found->kind == dumps::DumpKind::libvirt_partial) {
        return fail(ErrorCode::unsupported,
                    path + " is an unfinished save (LibvirtQemudPart) that may still be written; "
                           "left alone");
    }
    return found;
}

} // namespace

bool present(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

std::string describe_target(const policies::PlannedAction& action) {
    if (policies::target_of(action.kind) == policies::ActionTarget::file) {
        return "orphan dump " + action.path;
    }
    return "checkpoint '" + action.checkpoint + "' of VM '" + action.vm + "' (provider " +
           action.provider + ")";
}

Error in_context(const policies::PlannedAction& action, const Error& error) {
    return error.with_context(std::string(policies::to_string(action.kind)) + " on " +
                              describe_target(action));
}

Result<std::string> encrypt_dump(const std::string& file, const policies::PlannedAction& action,
                                 const ActionContext& context) {
    if (auto ok = expect_dump(file, false); !ok) {
        return tl::unexpected(ok.error());
    }
    const auto& config = context.config;
    auto report =
        dumps::encrypt_file(file, config.memory_dumps.recipients, /*keep=*/false, config.state_dir);
    if (!report) {
        return tl::unexpected(report.error());
    }
    DumpOperation op;
    op.kind = DumpOperation::Kind::encrypt;
    op.action = action;
    op.plaintext_path = report->plaintext_path;
    op.plaintext_bytes = report->plaintext_bytes;
    op.ciphertext_path = report->ciphertext_path;
    op.ciphertext_bytes = report->ciphertext_bytes;
    op.ciphertext_sha256 = report->ciphertext_sha256;
    op.plaintext_sha256 = report->plaintext_sha256;
    op.wipe = report->wipe;
    if (context.record_dump) {
        context.record_dump(op);
    }
    std::string out = "encrypted " + report->plaintext_path + " to " + report->ciphertext_path +
                      " (" + std::to_string(report->ciphertext_bytes) + " bytes, verified)";
    if (report->wipe) {
        out += ", then " + wipe_text(*report->wipe);
    }
    return out;
}

Result<std::string> wipe_dump_file(const std::string& file, bool encrypted,
                                   const policies::PlannedAction& action,
                                   const ActionContext& context) {
    // A plaintext that holds only zeros is one whose wipe was stopped after the overwrite (a
    // crash, kill -9) and before the unlink: no signature is left, and nothing to lose, so
    // the wipe is finished instead of refused on every later pass.
    if (auto ok = expect_dump(file, encrypted);
        !ok && (encrypted || !dumps::holds_only_zeros(file))) {
        return tl::unexpected(ok.error());
    }
    auto report = dumps::wipe_dump(file);
    if (!report) {
        return tl::unexpected(report.error());
    }
    DumpOperation op;
    op.kind = DumpOperation::Kind::wipe;
    op.action = action;
    op.plaintext_path = report->path;
    op.plaintext_bytes = report->size;
    op.wipe = *report;
    if (context.record_dump) {
        context.record_dump(op);
    }
    return wipe_text(*report);
}

} // namespace snapgov::engine::actions
