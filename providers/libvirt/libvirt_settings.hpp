#pragma once
/// The libvirt keys of a `providers:` entry: `uri`, `max_connections`.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "core/config_section.hpp"
#include "core/error.hpp"
#include "providers/provider_spec.hpp"

namespace snapgov::providers::libvirt {

/// A libvirt provider's settings.
struct LibvirtSettings final : ProviderSettings {
    LibvirtSettings() = default;
    explicit LibvirtSettings(std::string connection_uri) : uri(std::move(connection_uri)) {}

    /// The connection URI.
    [[nodiscard]] std::string endpoint() const override { return uri; }

    /// Connection URI (`qemu:///system`, `test:///abs/path/host.xml`), `${CONFIG_DIR}`
    /// expanded.
    std::string uri;
    /// How many connections one collection may use at once (1 to kMaxConnections). The test
    /// driver always uses one: each of its connections holds a private copy of the host.
    std::size_t max_connections = kDefaultConnections;

    /// The default of `max_connections` (see bench/RESULTS.md, issue 15).
    static constexpr std::size_t kDefaultConnections = 4;
    /// The largest `max_connections` accepted: libvirtd serves 20 workers by default.
    static constexpr std::size_t kMaxConnections = 16;
};

/// The host description file of a test-driver URI (`test:///abs/path/host.xml` ->
/// `/abs/path/host.xml`); nullopt for `test:///default` and any other driver.
[[nodiscard]] std::optional<std::string> test_host_file(const std::string& uri);

/// Reads `uri` and `max_connections` from a `providers:` entry and checks them (see
/// check_settings()), reporting problems at their position in the file; a test driver's host file
/// is checked too (see check_file(), kHostFile), without being read. nullptr when it reported an
/// error.
[[nodiscard]] std::shared_ptr<const LibvirtSettings> parse_settings(const ConfigSection& entry);

/// The settings of `spec`, if they are libvirt's and can work: a URI is set, and a test
/// driver URI is absolute. Otherwise a `config` error naming `spec.origin` and the fix.
/// Reads no file.
[[nodiscard]] Result<const LibvirtSettings*> check_settings(const ProviderSpec& spec);

} // namespace snapgov::providers::libvirt
