#include "providers/libvirt/snapshot_xml.hpp"

#include <charconv>
#include <cstring>

#include <pugixml.hpp>

namespace snapgov::providers::libvirt {
namespace {

std::string_view local_name(const char* qualified) {
    const char* colon = std::strchr(qualified, ':');
    return colon == nullptr ? std::string_view(qualified) : std::string_view(colon + 1);
}

Result<pugi::xml_document> parse(std::string_view xml, std::string_view what) {
    pugi::xml_document doc;
    const auto status = doc.load_buffer(xml.data(), xml.size(), pugi::parse_default,
                                        pugi::encoding_utf8);
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
    const auto [ptr, ec] = std::from_chars(created.data(), created.data() + created.size(), seconds);
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

} // namespace snapgov::providers::libvirt
