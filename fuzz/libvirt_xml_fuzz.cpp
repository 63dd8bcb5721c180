// Fuzz target: the libvirt XML parsers (snapshot, labels metadata, the disk-only rewrite and
// the redefine journal). A journal that parses must survive its own round trip, since crash
// recovery reads back what journal_to_xml() wrote.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_input.hpp"
#include "providers/libvirt/snapshot_xml.hpp"

using namespace snapgov::providers::libvirt;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto xml = snapgov::fuzz::as_text(data, size);
    (void)parse_snapshot_xml(xml);
    (void)parse_labels_xml(xml);
    if (auto disk_only = disk_only_snapshot_xml(xml)) {
        (void)parse_snapshot_xml(*disk_only);
    }
    if (auto journal = parse_journal_xml(xml)) {
        const auto again = parse_journal_xml(journal_to_xml(*journal));
        if (!again || again->uri != journal->uri || again->domain_uuid != journal->domain_uuid ||
            again->target.name != journal->target.name ||
            again->target.current != journal->target.current ||
            again->children.size() != journal->children.size()) {
            __builtin_trap();
        }
    }
    return 0;
}
