#pragma once
/// The evaluator's output: findings (what is wrong) and planned actions (what enforce
/// would do about it).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "policies/policy.hpp"

namespace snapgov::policies {

/// The kinds of action snapgov can take (the `kind` strings of the JSON contract).
enum class ActionKind {
    delete_checkpoint,
    disable_checkpoints,
    encrypt_memory,
    wipe_memory,
    clear_memory_state,
    wipe_orphan,
    encrypt_orphan,
};

/// What an action kind works on: a VM (its checkpoint setting), one checkpoint, or a file on
/// disk that no checkpoint references (an orphan dump: then provider and VM are empty).
enum class ActionTarget { vm, checkpoint, file };

/// The target of each kind; a switch without `default:`, so a new kind must say.
[[nodiscard]] ActionTarget target_of(ActionKind kind) noexcept;

/// The rule a finding breaks (the `rule` strings of the JSON contract).
namespace rule {
inline constexpr std::string_view kDenied = "checkpoints_denied";
inline constexpr std::string_view kSetting = "checkpoint_setting";
inline constexpr std::string_view kMaxAge = "max_age";
inline constexpr std::string_view kTtl = "ttl";
inline constexpr std::string_view kMaxCount = "max_count";
inline constexpr std::string_view kMemoryState = "memory_state";
inline constexpr std::string_view kOrphanDump = "orphan_dump";
/// A checkpoint created more than a clock-skew allowance after `now` (retention policies).
inline constexpr std::string_view kFutureCheckpoint = "future_checkpoint";
} // namespace rule

/// One policy violation by one checkpoint (or, for VM-level rules, by one VM: then
/// `checkpoint` is empty).
struct Finding {
    std::string policy;
    Mode mode = Mode::audit;
    std::string provider;
    std::string vm;
    std::string vm_id;
    std::string checkpoint;
    std::string checkpoint_id;
    std::string rule;
    std::string detail;
    bool exempt = false;
    std::string exemption; ///< reason and expiry of the exemption that applies, if exempt
    std::string path;      ///< the dump file, for `orphan_dump` (then provider/vm are empty)
};

/// The policy name that orphan-dump findings and actions carry.
inline constexpr std::string_view kOrphanPolicy = "memory_dumps.orphans";

/// One action enforce would take, and the policy that caused it.
struct PlannedAction {
    ActionKind kind = ActionKind::delete_checkpoint;
    std::string provider;
    std::string vm;
    std::string vm_id;
    std::string checkpoint;
    std::string checkpoint_id;
    std::string policy;
    std::string reason;
    std::string path; ///< the dump file of `wipe_orphan`/`encrypt_orphan` (provider/vm empty)
};

/// Where a finding or an action is, as every output spells it: "provider/vm @ checkpoint",
/// "provider/vm" for a VM, or the file's path for an orphan dump.
[[nodiscard]] std::string where(const Finding& finding);
[[nodiscard]] std::string where(const PlannedAction& action);

struct Plan {
    std::vector<Finding> findings;
    std::vector<PlannedAction> actions;
    /// Things an operator should know that are not violations: expired exemptions,
    /// unreadable `ttl=` values, actions a provider cannot carry out.
    std::vector<std::string> notes;
    std::size_t vms = 0;
    std::size_t checkpoints = 0;

    /// Findings that are not exempt.
    [[nodiscard]] std::size_t violations() const;
    /// Findings that an active exemption covers.
    [[nodiscard]] std::size_t exempt() const;
};

[[nodiscard]] std::string_view to_string(ActionKind kind) noexcept;

} // namespace snapgov::policies
