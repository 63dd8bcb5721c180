#pragma once
/// Parsing of the XML that libvirt returns, kept apart from the C API so it can be tested
/// on strings.

#include <map>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/inventory.hpp"

namespace snapgov::providers::libvirt {

/// XML namespace of snapgov's labels inside a domain's `<metadata>`.
inline constexpr const char* kLabelsNamespace = "urn:snapgov:labels";

/// Parses a `<domainsnapshot>` document (as from `virDomainSnapshotGetXMLDesc`): name,
/// description, creationTime, parent, state, memory (`snapshot=` and `file=`), disks.
/// When `<memory>` is absent (older libvirt), a snapshot of a running or paused VM is taken
/// to hold internal memory. `current` is left false: the caller asks libvirt.
[[nodiscard]] Result<Checkpoint> parse_snapshot_xml(std::string_view xml);

/// Parses the element libvirt returns for the labels metadata (`virDomainGetMetadata` with
/// the `urn:snapgov:labels` namespace): each child element is one label, its local name the
/// key and its text the value.
[[nodiscard]] Result<std::map<std::string, std::string>> parse_labels_xml(std::string_view xml);

} // namespace snapgov::providers::libvirt
