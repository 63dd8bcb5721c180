#include "engine/pass.hpp"

#include <algorithm>

namespace snapgov::engine {

std::string_view to_string(Outcome outcome) noexcept {
    switch (outcome) {
    case Outcome::done: return "done";
    case Outcome::failed: return "failed";
    case Outcome::not_verified: return "not_verified";
    case Outcome::skipped: return "skipped";
    case Outcome::dry_run: return "dry_run";
    }
    return "skipped";
}

std::string_view to_string(PassScope scope) noexcept {
    switch (scope) {
    case PassScope::full: return "full";
    case PassScope::deny: return "deny";
    }
    return "full";
}

std::string_view to_string(PassMode mode) noexcept {
    switch (mode) {
    case PassMode::plan: return "plan";
    case PassMode::enforce: return "enforce";
    case PassMode::dry_run: return "dry-run";
    }
    return "plan";
}

std::string ActionResult::summary() const {
    if (verification.empty()) {
        return detail;
    }
    return detail.empty() ? verification : detail + "; " + verification;
}

int PassResult::exit_code() const {
    if (!errors.empty()) {
        return 2;
    }
    if (count(Outcome::failed) > 0 || count(Outcome::not_verified) > 0) {
        return 2;
    }
    return remaining().violations() > 0 || !unsettled.empty() ? 1 : 0;
}

std::size_t PassResult::count(Outcome outcome) const {
    return static_cast<std::size_t>(
        std::count_if(results.begin(), results.end(),
                      [&](const ActionResult& r) { return r.outcome == outcome; }));
}

std::size_t PassResult::follow_ups() const {
    return static_cast<std::size_t>(std::count_if(
        results.begin(), results.end(), [](const ActionResult& r) { return r.follow_up; }));
}

} // namespace snapgov::engine
