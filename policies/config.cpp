#include "policies/config.hpp"

namespace snapgov::policies {

std::string_view to_string(OrphanAction action) noexcept {
    switch (action) {
    case OrphanAction::report: return "report";
    case OrphanAction::encrypt: return "encrypt";
    case OrphanAction::wipe: return "wipe";
    }
    return "report";
}

} // namespace snapgov::policies
