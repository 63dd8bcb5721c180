#pragma once
/// The single error convention of snapgov: every fallible function returns
/// `snapgov::Result<T>` (a `tl::expected<T, snapgov::Error>`). Exceptions from third-party
/// libraries are caught at the module edge and turned into an `Error`.

#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace snapgov {

/// Broad classes of failure; the CLI maps them all to exit code 2, but callers use them to
/// decide whether to retry (provider, io) or to stop (config, usage).
enum class ErrorCode {
    usage,        ///< bad command-line input
    config,       ///< a policy or configuration file is invalid
    io,           ///< a file or socket operation failed
    provider,     ///< a hypervisor connection or call failed
    not_found,    ///< the named object does not exist
    unsupported,  ///< the operation is not available (provider capability, build option)
    verification, ///< an action ran but its effect was not observed
    crypto,       ///< a cryptographic operation or format check failed
    internal,     ///< a bug in snapgov
};

/// Human-readable name of an error code ("config", "provider", ...).
[[nodiscard]] std::string_view to_string(ErrorCode code) noexcept;

/// An error value: a code and a message meant for an administrator. Messages never contain
/// secrets (passwords, keys); they name the object and, where there is one, the fix.
struct Error {
    ErrorCode code = ErrorCode::internal;
    std::string message;

    /// Returns a copy whose message is prefixed with `context: `, for adding the place an
    /// error passed through ("provider lab: ...").
    [[nodiscard]] Error with_context(std::string_view context) const;
};

template <class T> using Result = tl::expected<T, Error>;

/// Shorthand for returning a failure: `return fail(ErrorCode::io, "cannot open " + path);`
[[nodiscard]] inline tl::unexpected<Error> fail(ErrorCode code, std::string message) {
    return tl::unexpected<Error>(Error{code, std::move(message)});
}

} // namespace snapgov
