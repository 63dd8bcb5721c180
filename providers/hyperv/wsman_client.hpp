#pragma once
/// WMI over WS-Management (DMTF DSP0226, as WinRM speaks it): SOAP 1.2 envelopes built and
/// parsed with pugixml, sent through a `WsmanTransport`.

#include <cstddef>
#include <memory>
#include <string>

#include "providers/hyperv/wmi_connection.hpp"
#include "providers/hyperv/wsman_transport.hpp"

namespace snapgov::providers::hyperv {

/// Tuning of the WS-Management client; the defaults suit WinRM's defaults.
struct WsmanOptions {
    /// Items asked for per Enumerate/Pull (`wsman:MaxElements`); the service may send fewer.
    std::size_t max_elements = 100;
    /// `wsman:MaxEnvelopeSize` sent with every request (WinRM's default limit is 500 KB).
    std::size_t max_envelope_size = 512000;
    /// `wsman:OperationTimeout` sent with every request.
    Seconds operation_timeout{60};
    /// A safety bound on one query's result, so a misbehaving service cannot make us loop
    /// or grow without end.
    std::size_t max_items = 1'000'000;
};

/// `WmiConnection` over WS-Management.
///
/// - `query`: Enumerate on the `.../root/virtualization/v2/*` resource URI with a WQL filter
///   and `OptimizeEnumeration`, then Pull until `EndOfSequence`; an enumeration abandoned
///   on an error is Released.
/// - `get`: WS-Transfer Get with a selector set.
/// - `invoke`: the custom action `<resource URI>/<method>` with a `<method>_INPUT` body;
///   references as EPRs, embedded instances as escaped CIM-XML.
///
/// SOAP faults become `provider` errors naming the endpoint, the operation, the fault
/// subcode (`wsman:InvalidSelectors`, `wsa:DestinationUnreachable`, ...), the reason and the
/// WMI error code when the service sent one. HTTP 401 becomes "authentication failed".
class WsmanClient final : public WmiConnection {
public:
    /// `endpoint` is the URL (for messages and `wsa:To`); the client owns the transport.
    WsmanClient(std::string endpoint, std::unique_ptr<WsmanTransport> transport,
                WsmanOptions options = {});

    [[nodiscard]] const std::string& endpoint() const override { return endpoint_; }
    [[nodiscard]] Result<std::vector<WmiObject>> query(std::string_view wql) override;
    [[nodiscard]] Result<WmiObject> get(const ObjectRef& ref) override;
    [[nodiscard]] Result<MethodResult>
    invoke(const ObjectRef& target, std::string_view method,
           const std::vector<MethodParameter>& parameters) override;

    /// Enumerates the instances of `class_name` through a resource URI in another
    /// namespace (`root/virtualization/v2` unless given). For tests of fault handling and
    /// for classes outside the Hyper-V namespace.
    [[nodiscard]] Result<std::vector<WmiObject>>
    enumerate_class(std::string_view class_name,
                    std::string_view cim_namespace = kVirtualizationNamespace);

    /// Sends one Pull for an enumeration context, for tests of fault handling.
    [[nodiscard]] Result<void> pull_context(std::string_view context);

private:
    struct Envelope;
    [[nodiscard]] Result<std::vector<WmiObject>>
    enumerate(const std::string& resource_uri, const std::string& wql, std::string_view operation);
    /// Sends one envelope; sets `*soap_fault` when the service answered with a fault.
    [[nodiscard]] Result<std::string>
    exchange(const std::string& request, std::string_view operation, bool* soap_fault = nullptr);
    void release(const std::string& resource_uri, const std::string& context);

    std::string endpoint_;
    std::unique_ptr<WsmanTransport> transport_;
    WsmanOptions options_;
};

} // namespace snapgov::providers::hyperv
