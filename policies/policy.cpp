#include "policies/policy.hpp"

#include <algorithm>
#include <string>

#include <fnmatch.h>

namespace snapgov::policies {

std::string_view to_string(Mode mode) noexcept {
    return mode == Mode::enforce ? "enforce" : "audit";
}

std::string_view to_string(MemoryState state) noexcept {
    switch (state) {
    case MemoryState::keep: return "keep";
    case MemoryState::encrypt: return "encrypt";
    case MemoryState::wipe: return "wipe";
    }
    return "keep";
}

bool matches(const Match& match, std::string_view provider, std::string_view vm_name,
             const std::map<std::string, std::string>& labels) {
    if (!match.providers.empty() && std::find(match.providers.begin(), match.providers.end(),
                                              provider) == match.providers.end()) {
        return false;
    }
    if (!match.names.empty()) {
        const std::string name(vm_name);
        const bool any = std::any_of(match.names.begin(), match.names.end(), [&](const auto& g) {
            return fnmatch(g.c_str(), name.c_str(), 0) == 0;
        });
        if (!any) {
            return false;
        }
    }
    for (const auto& [key, accepted] : match.labels) {
        const auto it = labels.find(key);
        if (it == labels.end() ||
            std::find(accepted.begin(), accepted.end(), it->second) == accepted.end()) {
            return false;
        }
    }
    return true;
}

} // namespace snapgov::policies
