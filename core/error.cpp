#include "core/error.hpp"

namespace snapgov {

std::string_view to_string(ErrorCode code) noexcept {
    switch (code) {
    case ErrorCode::usage: return "usage";
    case ErrorCode::config: return "config";
    case ErrorCode::io: return "io";
    case ErrorCode::provider: return "provider";
    case ErrorCode::not_found: return "not_found";
    case ErrorCode::unsupported: return "unsupported";
    case ErrorCode::verification: return "verification";
    case ErrorCode::crypto: return "crypto";
    case ErrorCode::internal: return "internal";
    }
    return "unknown";
}

Error Error::with_context(std::string_view context) const {
    Error out = *this;
    out.message.insert(0, std::string(context) + ": ");
    return out;
}

} // namespace snapgov
