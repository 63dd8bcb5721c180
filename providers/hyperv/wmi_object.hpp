#pragma once
/// WMI values as the Hyper-V provider sees them, independent of the wire: instances read
/// over WS-Management today, over COM on Windows later. Plain values, copyable.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/error.hpp"

namespace snapgov::providers::hyperv {

/// The WMI namespace every Hyper-V class lives in.
inline constexpr std::string_view kVirtualizationNamespace = "root/virtualization/v2";

/// One property of an instance. WS-Management sends every scalar as text, an array as
/// repeated elements (so `values` has one entry per element) and a null as `xsi:nil`
/// (`values` empty, `is_null` true).
struct WmiProperty {
    std::vector<std::string> values;
    bool is_null = false;
    bool is_datetime = false; ///< the value came as `<cim:Datetime>` (xs:dateTime text)
};

/// An instance of a WMI class: its class name and properties by name.
struct WmiObject {
    std::string class_name;
    std::map<std::string, WmiProperty> properties;

    /// The property, or nullptr when the instance does not have it.
    [[nodiscard]] const WmiProperty* find(std::string_view name) const;
    /// The scalar text value; nullopt when absent or null. Fails nowhere: callers decide
    /// whether a missing value is an error.
    [[nodiscard]] std::optional<std::string> text(std::string_view name) const;
    /// Every element of an array property (empty when absent or null).
    [[nodiscard]] std::vector<std::string> texts(std::string_view name) const;
    /// A boolean (`true`/`false`, case-insensitive); nullopt when absent, null or not a
    /// boolean.
    [[nodiscard]] std::optional<bool> boolean(std::string_view name) const;
    /// An unsigned integer; nullopt when absent, null or not a number.
    [[nodiscard]] std::optional<std::uint64_t> unsigned_integer(std::string_view name) const;
    /// The scalar text value, or a `provider` error naming the class and property.
    [[nodiscard]] Result<std::string> required_text(std::string_view name) const;
};

/// A reference to one instance (a WS-Addressing endpoint reference over WS-Management):
/// the class and its key values (selectors). Selectors keep their order.
struct ObjectRef {
    std::string class_name;
    std::vector<std::pair<std::string, std::string>> selectors;
};

/// One property of an embedded instance. `cim_type` is the CIM-XML type name
/// (`string`, `uint16`, `boolean`, ...); an array sends each value as a `VALUE.ARRAY`
/// element, a scalar sends `values[0]`, and an empty scalar `values` sends null.
struct EmbeddedProperty {
    std::string name;
    std::string cim_type;
    std::vector<std::string> values;
    bool is_array = false;
};

/// An instance passed by value to a method (`ModifySystemSettings(SystemSettings)`), sent
/// as a CIM-XML (DSP0201) `INSTANCE` string.
struct EmbeddedInstance {
    std::string class_name;
    std::vector<EmbeddedProperty> properties;
};

/// Serializes an embedded instance as CIM-XML: `<INSTANCE CLASSNAME="..."><PROPERTY
/// NAME="..." TYPE="..."><VALUE>...</VALUE></PROPERTY>...</INSTANCE>`, escaped as XML.
[[nodiscard]] std::string to_cim_xml(const EmbeddedInstance& instance);

/// One input parameter of a method call: text, a reference, or an embedded instance.
struct MethodParameter {
    std::string name;
    std::variant<std::string, ObjectRef, EmbeddedInstance> value;
};

/// What a method returned: its `ReturnValue` (0 done, 4096 job started, other = error)
/// and, when it started one, the job to poll.
struct MethodResult {
    std::uint32_t return_value = 0;
    std::optional<ObjectRef> job;
};

/// Quotes a string literal for a WQL `WHERE` clause: `'...'` with `\` and `'`
/// backslash-escaped.
[[nodiscard]] std::string wql_quote(std::string_view value);

} // namespace snapgov::providers::hyperv
