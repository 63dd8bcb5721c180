#pragma once
/// The policy model: what the YAML file says, validated and typed.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.hpp"

namespace snapgov::policies {

/// `audit` reports findings only; `enforce` also plans actions.
enum class Mode { audit, enforce };

/// What to do with a checkpoint's memory dump.
enum class MemoryState { keep, encrypt, wipe };

/// Which VMs a policy applies to. Every given criterion must match; a list matches when
/// any element does. An empty match applies to every VM.
struct Match {
    /// label key -> accepted values (one value in YAML is a list of one).
    std::map<std::string, std::vector<std::string>> labels;
    std::vector<std::string> names;     ///< shell globs on the VM name
    std::vector<std::string> providers; ///< provider names
};

struct Policy {
    std::string name;
    Mode mode = Mode::audit;
    Match match;
    bool deny = false;                    ///< `checkpoints: deny`
    std::optional<Seconds> max_age;       ///< violated when age > max_age
    std::optional<std::size_t> max_count; ///< the newest max_count are kept
    MemoryState memory_state = MemoryState::keep;
    std::string origin; ///< `FILE:LINE:COL` of the entry
};

/// A justified, expiring exception to one policy for one VM (or one of its checkpoints).
struct Exemption {
    std::string policy;
    std::string vm;
    std::optional<std::string> checkpoint; ///< absent: the whole VM
    std::string reason;
    TimePoint expires{};
    std::string origin;

    /// True while `now < expires`: an exemption expiring at `now` no longer applies.
    [[nodiscard]] bool active(TimePoint now) const { return now < expires; }
};

[[nodiscard]] std::string_view to_string(Mode mode) noexcept;
[[nodiscard]] std::string_view to_string(MemoryState state) noexcept;

/// True when `vm_name`, its `labels` and `provider` satisfy `match`.
[[nodiscard]] bool matches(const Match& match, std::string_view provider, std::string_view vm_name,
                           const std::map<std::string, std::string>& labels);

} // namespace snapgov::policies
