#include "providers/hyperv/wmi_object.hpp"

#include <charconv>
#include <sstream>

#include <pugixml.hpp>

namespace snapgov::providers::hyperv {

const WmiProperty* WmiObject::find(std::string_view name) const {
    const auto it = properties.find(std::string(name));
    return it == properties.end() ? nullptr : &it->second;
}

std::optional<std::string> WmiObject::text(std::string_view name) const {
    const WmiProperty* p = find(name);
    if (p == nullptr || p->is_null || p->values.empty()) {
        return std::nullopt;
    }
    return p->values.front();
}

std::vector<std::string> WmiObject::texts(std::string_view name) const {
    const WmiProperty* p = find(name);
    if (p == nullptr || p->is_null) {
        return {};
    }
    return p->values;
}

std::optional<bool> WmiObject::boolean(std::string_view name) const {
    const auto value = text(name);
    if (!value) {
        return std::nullopt;
    }
    if (*value == "true" || *value == "TRUE" || *value == "True") {
        return true;
    }
    if (*value == "false" || *value == "FALSE" || *value == "False") {
        return false;
    }
    return std::nullopt;
}

std::optional<std::uint64_t> WmiObject::unsigned_integer(std::string_view name) const {
    const auto value = text(name);
    if (!value || value->empty()) {
        return std::nullopt;
    }
    std::uint64_t out = 0;
    const auto* end = value->data() + value->size();
    const auto [ptr, ec] = std::from_chars(value->data(), end, out);
    if (ec != std::errc() || ptr != end) {
        return std::nullopt;
    }
    return out;
}

Result<std::string> WmiObject::required_text(std::string_view name) const {
    if (auto value = text(name)) {
        return *value;
    }
    return fail(ErrorCode::provider,
                class_name + " instance has no value for " + std::string(name));
}

std::string to_cim_xml(const EmbeddedInstance& instance) {
    pugi::xml_document doc;
    auto root = doc.append_child("INSTANCE");
    root.append_attribute("CLASSNAME").set_value(instance.class_name.c_str());
    for (const auto& p : instance.properties) {
        auto prop = root.append_child(p.is_array ? "PROPERTY.ARRAY" : "PROPERTY");
        prop.append_attribute("NAME").set_value(p.name.c_str());
        prop.append_attribute("TYPE").set_value(p.cim_type.c_str());
        if (p.is_array) {
            auto array = prop.append_child("VALUE.ARRAY");
            for (const auto& v : p.values) {
                array.append_child("VALUE").text().set(v.c_str());
            }
        } else if (!p.values.empty()) {
            prop.append_child("VALUE").text().set(p.values.front().c_str());
        }
    }
    std::ostringstream out;
    doc.save(out, "", pugi::format_raw | pugi::format_no_declaration, pugi::encoding_utf8);
    return out.str();
}

std::string wql_quote(std::string_view value) {
    std::string out = "'";
    for (const char c : value) {
        if (c == '\\' || c == '\'') {
            out += '\\';
        }
        out += c;
    }
    out += '\'';
    return out;
}

} // namespace snapgov::providers::hyperv
