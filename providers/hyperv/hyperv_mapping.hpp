#pragma once
/// Pure mappings from Hyper-V WMI values to snapgov's inventory model. No I/O, so tests
/// cover them without a host.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/inventory.hpp"
#include "providers/hyperv/wmi_object.hpp"

namespace snapgov::providers::hyperv {

/// `VirtualSystemType` of a VM's live ("realized") settings.
inline constexpr std::string_view kRealizedSystemType = "Microsoft:Hyper-V:System:Realized";
/// `VirtualSystemType` of a checkpoint's settings.
inline constexpr std::string_view kSnapshotSystemType = "Microsoft:Hyper-V:Snapshot:Realized";

/// Labels from a VM's Notes (`Msvm_VirtualSystemSettingData.Notes`, a string array whose
/// elements may hold several lines): each line `snapgov:key=value`, surrounding blanks
/// trimmed. Lines without the prefix are ordinary notes. A prefixed line without `=` or
/// with an empty key is ignored and reported in `ignored` (when given). The last value of
/// a repeated key wins.
[[nodiscard]] std::map<std::string, std::string>
labels_from_notes(const std::vector<std::string>& notes,
                  std::vector<std::string>* ignored = nullptr);

/// `UserSnapshotType`: 2 disabled, 3 production, 4 production only, 5 standard; anything
/// else (or null) is `unknown`.
[[nodiscard]] CheckpointSetting checkpoint_setting(std::optional<std::uint64_t> user_snapshot_type);

/// `Msvm_ComputerSystem.EnabledState`: 2 running, 3 off, 9 (quiesce) or 32768 paused,
/// 6 (enabled but offline) or 32769 saved; the rest (starting, stopping, ...) is `other`.
[[nodiscard]] PowerState power_state(std::optional<std::uint64_t> enabled_state);

/// The `InstanceID` key in a WMI object path such as
/// `\\HOST\root\virtualization\v2:Msvm_VirtualSystemSettingData.InstanceID="Microsoft:GUID"`
/// (backslash escapes inside the quotes undone); nullopt when the path has no InstanceID.
[[nodiscard]] std::optional<std::string> instance_id_from_path(std::string_view path);

/// A CIM datetime as WS-Management sends it (xs:dateTime with an offset, fractions
/// truncated), or the DMTF form `yyyymmddHHMMSS.mmmmmmsUUU` (offset in minutes).
[[nodiscard]] Result<TimePoint> parse_cim_datetime(std::string_view text);

/// Where a checkpoint's saved memory lives on the host when `IsSaved` is true. Hyper-V
/// 2016 and later (configuration version 6.2+) keep a checkpoint's runtime state as
/// `<SnapshotDataRoot>\Snapshots\<checkpoint GUID>.vmrs`, the GUID being the settings'
/// `ConfigurationID` (else the `InstanceID` without its `Microsoft:` prefix). This is the
/// documented folder layout, not a WMI property, and `IsSaved` does not prove the file
/// exists. Empty when no data root is known.
[[nodiscard]] std::vector<std::string> memory_files_for(const WmiObject& snapshot_settings);

/// Maps one checkpoint's settings (without parent resolution: `parent` is left empty).
[[nodiscard]] Result<Checkpoint> checkpoint_from_settings(const WmiObject& settings);

} // namespace snapgov::providers::hyperv
