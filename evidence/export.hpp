#pragma once
/// Exports of one host's chain for auditors, written as they are read (a ledger of any size
/// is exported in bounded memory): an OpenReports/Kyverno PolicyReport in JSON, RFC 4180 CSV
/// (one row per finding or action), and a NIST OSCAL 1.0.6 assessment-results document.

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "evidence/store.hpp"

namespace snapgov::evidence {

/// The export formats.
enum class ExportFormat { json, csv, oscal };

/// What to export.
struct ExportOptions {
    ExportFormat format = ExportFormat::json;
    std::string host_id;
    std::optional<TimePoint> since; ///< records written at or after this instant
    std::optional<TimePoint> until; ///< records written before this instant
    TimePoint generated{};          ///< the document's own timestamp (OSCAL last-modified)
    /// The configured policy names: OSCAL gets a finding for each (satisfied when the range
    /// holds no violation of it), besides those the records name.
    std::vector<std::string> policies;
};

/// Writes the export of `options.host_id`'s chain to `out`. Fails when the store cannot be
/// read or `out` cannot be written.
[[nodiscard]] Result<void> export_evidence(Store& store, const ExportOptions& options,
                                           std::ostream& out);

/// The RFC 4122 version-5 (SHA-1) UUID of `name` in snapgov's namespace
/// (71c10a97-33e9-5e9d-bf7a-a092087e4830, itself uuid5(URL, "urn:snapgov:evidence")).
[[nodiscard]] std::string uuid_v5(std::string_view name);

} // namespace snapgov::evidence
