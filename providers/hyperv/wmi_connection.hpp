#pragma once
/// The seam between the Hyper-V provider and the wire: the three WMI operations the
/// provider needs. `WsmanClient` implements it over WS-Management (WinRM); a native
/// Windows implementation over COM/WMI can implement it too without touching the provider.

#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "providers/hyperv/wmi_object.hpp"

namespace snapgov::providers::hyperv {

/// A connection to one host's `root/virtualization/v2` namespace. Not thread-safe.
/// Every error is a `provider` error whose message names the endpoint and the operation
/// and never contains credentials.
class WmiConnection {
public:
    WmiConnection() = default;
    virtual ~WmiConnection() = default;
    WmiConnection(const WmiConnection&) = delete;
    WmiConnection& operator=(const WmiConnection&) = delete;

    /// The endpoint, for display (no credentials).
    [[nodiscard]] virtual const std::string& endpoint() const = 0;

    /// Runs a WQL query (`SELECT * FROM Class [WHERE ...]`) and returns every instance.
    /// Either the complete result or an error: never a partial list.
    [[nodiscard]] virtual Result<std::vector<WmiObject>> query(std::string_view wql) = 0;

    /// Reads one instance by reference.
    [[nodiscard]] virtual Result<WmiObject> get(const ObjectRef& ref) = 0;

    /// Calls `method` on the instance `target` (a service) with `parameters`.
    [[nodiscard]] virtual Result<MethodResult>
    invoke(const ObjectRef& target, std::string_view method,
           const std::vector<MethodParameter>& parameters) = 0;
};

} // namespace snapgov::providers::hyperv
