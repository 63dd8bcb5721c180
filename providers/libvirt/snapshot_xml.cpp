#include "providers/libvirt/snapshot_xml.hpp"

#include <charconv>
#include <cstring>
#include <sstream>

#include <pugixml.hpp>

namespace snapgov::providers::libvirt {
namespace {

std::string_view local_name(const char* qualified) {
    const char* colon = std::strchr(qualified, ':');
    return colon == nullptr ? std::string_view(qualified) : std::string_view(colon + 1);
}

Result<pugi::xml_document> parse(std::string_view xml, std::string_view what) {
    pugi::xml_document doc;
    const auto status =
        doc.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8);
    if (!status) {
        return fail(ErrorCode::provider, "malformed " + std::string(what) + " XML at offset " +
                                             std::to_string(status.offset) + ": " +
                                             status.description());
    }
    return doc;
}

} // namespace

Result<Checkpoint> parse_snapshot_xml(std::string_view xml) {
    auto doc = parse(xml, "snapshot");
    if (!doc) {
        return tl::unexpected(doc.error());
    }
    const auto root = doc->child("domainsnapshot");
    if (!root) {
        return fail(ErrorCode::provider, "snapshot XML has no <domainsnapshot> root");
    }
    Checkpoint cp;
    cp.name = root.child_value("name");
    if (cp.name.empty()) {
        return fail(ErrorCode::provider, "snapshot XML has no <name>");
    }
    cp.id = cp.name;
    cp.description = root.child_value("description");
    cp.state = root.child_value("state");

    const std::string_view created = root.child_value("creationTime");
    long long seconds = 0;
    const auto [ptr, ec] =
        std::from_chars(created.data(), created.data() + created.size(), seconds);
    if (created.empty() || ec != std::errc{} || ptr != created.data() + created.size()) {
        return fail(ErrorCode::provider, "snapshot '" + cp.name + "' has no valid <creationTime>");
    }
    cp.created = TimePoint{Seconds{seconds}};

    if (const auto parent = root.child("parent")) {
        cp.parent = parent.child_value("name");
    }

    if (const auto memory = root.child("memory")) {
        const std::string_view kind = memory.attribute("snapshot").as_string();
        if (kind == "internal") {
            cp.memory = MemoryKind::internal;
        } else if (kind == "external") {
            cp.memory = MemoryKind::external;
            if (const char* file = memory.attribute("file").as_string(); *file != '\0') {
                cp.memory_files.emplace_back(file);
            }
        }
    } else if (cp.state == "running" || cp.state == "paused" || cp.state == "blocked") {
        cp.memory = MemoryKind::internal;
    }

    for (const auto disk : root.child("disks").children("disk")) {
        DiskSnapshot d;
        d.target = disk.attribute("name").as_string();
        d.kind = disk.attribute("snapshot").as_string();
        d.file = disk.child("source").attribute("file").as_string();
        cp.disks.push_back(std::move(d));
    }
    return cp;
}

Result<std::map<std::string, std::string>> parse_labels_xml(std::string_view xml) {
    auto doc = parse(xml, "labels metadata");
    if (!doc) {
        return tl::unexpected(doc.error());
    }
    std::map<std::string, std::string> labels;
    const auto root = doc->document_element();
    for (const auto child : root.children()) {
        if (child.type() != pugi::node_element) {
            continue;
        }
        labels[std::string(local_name(child.name()))] = child.text().as_string();
    }
    return labels;
}

Result<std::string> disk_only_snapshot_xml(std::string_view xml) {
    auto doc = parse(xml, "snapshot");
    if (!doc) {
        return tl::unexpected(doc.error());
    }
    auto root = doc->child("domainsnapshot");
    if (!root) {
        return fail(ErrorCode::provider, "snapshot XML has no <domainsnapshot> root");
    }
    auto memory = root.child("memory");
    if (!memory) {
        memory = root.append_child("memory");
    }
    memory.remove_attributes();
    memory.append_attribute("snapshot") = "no";
    auto state = root.child("state");
    if (!state) {
        state = root.append_child("state");
    }
    state.text().set("disk-snapshot");
    std::ostringstream out;
    doc->save(out, "  ", pugi::format_default | pugi::format_no_declaration);
    return out.str();
}

std::string journal_to_xml(const RedefineJournal& journal) {
    pugi::xml_document doc;
    auto root = doc.append_child("snapgov-redefine");
    root.append_attribute("uri") = journal.uri.c_str();
    root.append_attribute("domain") = journal.domain_uuid.c_str();
    auto add = [&](const char* element, const JournaledSnapshot& s) {
        auto node = root.append_child(element);
        node.append_attribute("name") = s.name.c_str();
        node.append_attribute("current") = s.current;
        node.text().set(s.xml.c_str());
    };
    add("target", journal.target);
    for (const auto& c : journal.children) {
        add("child", c);
    }
    std::ostringstream out;
    doc.save(out, "  ");
    return out.str();
}

Result<RedefineJournal> parse_journal_xml(std::string_view xml) {
    auto doc = parse(xml, "redefine journal");
    if (!doc) {
        return tl::unexpected(doc.error());
    }
    const auto root = doc->child("snapgov-redefine");
    const auto target = root.child("target");
    if (!root || !target || root.attribute("domain").empty()) {
        return fail(ErrorCode::provider, "redefine journal lacks <snapgov-redefine domain=...> "
                                         "or <target>");
    }
    auto read = [](pugi::xml_node node) {
        return JournaledSnapshot{node.attribute("name").as_string(), node.text().as_string(),
                                 node.attribute("current").as_bool()};
    };
    RedefineJournal j;
    j.uri = root.attribute("uri").as_string();
    j.domain_uuid = root.attribute("domain").as_string();
    j.target = read(target);
    for (const auto c : root.children("child")) {
        j.children.push_back(read(c));
    }
    if (j.target.name.empty() || j.target.xml.empty()) {
        return fail(ErrorCode::provider, "redefine journal has an empty <target>");
    }
    return j;
}

} // namespace snapgov::providers::libvirt
