#pragma once
/// Parsing of the XML that libvirt returns, kept apart from the C API so it can be tested
/// on strings.

#include <map>
#include <string>
#include <string_view>
#include <vector>

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

/// Rewrites a `<domainsnapshot>` document (as from `virDomainSnapshotGetXMLDesc` with
/// VIR_DOMAIN_SNAPSHOT_XML_SECURE) into its disk-only form for a redefine: `<memory
/// snapshot='no'/>` (the memory file reference dropped) and `<state>disk-snapshot</state>`.
/// Everything else is kept as is. Fails on malformed XML or a missing root.
[[nodiscard]] Result<std::string> disk_only_snapshot_xml(std::string_view xml);

/// One snapshot definition kept in a redefine journal.
struct JournaledSnapshot {
    std::string name;
    std::string xml; ///< secure XML to redefine it with (may hold secrets: file mode 0600)
    bool current = false;
};

/// What a make-disk-only operation must finish if it is interrupted between deleting the
/// checkpoint's metadata and redefining it.
struct RedefineJournal {
    std::string uri;
    std::string domain_uuid;
    JournaledSnapshot target;                ///< already in disk-only form
    std::vector<JournaledSnapshot> children; ///< direct children, to re-attach to the target
};

/// Serialises a journal to XML (the snapshot XML as text nodes).
[[nodiscard]] std::string journal_to_xml(const RedefineJournal& journal);
/// Parses what journal_to_xml() wrote; fails naming what is missing.
[[nodiscard]] Result<RedefineJournal> parse_journal_xml(std::string_view xml);

} // namespace snapgov::providers::libvirt
