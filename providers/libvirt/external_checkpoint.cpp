#include "providers/libvirt/external_checkpoint.hpp"

#include <sstream>

#include <libvirt/virterror.h>
#include <pugixml.hpp>

namespace snapgov::providers::libvirt {
namespace {

Error call_failed(const std::string& what) {
    const char* message = virGetLastErrorMessage();
    return Error{ErrorCode::provider,
                 what + ": " + (message != nullptr ? message : "unknown libvirt error")};
}

} // namespace

std::string external_checkpoint_xml(const ExternalCheckpointSpec& spec) {
    pugi::xml_document doc;
    auto root = doc.append_child("domainsnapshot");
    root.append_child("name").text().set(spec.name.c_str());
    if (!spec.description.empty()) {
        root.append_child("description").text().set(spec.description.c_str());
    }
    if (!spec.memory_file.empty()) {
        auto memory = root.append_child("memory");
        memory.append_attribute("snapshot") = "external";
        memory.append_attribute("file") = spec.memory_file.c_str();
    }
    std::ostringstream out;
    doc.save(out, "  ", pugi::format_default | pugi::format_no_declaration);
    return out.str();
}

Result<DomainHandle> find_domain_by_name(virConnectPtr conn, const std::string& name) {
    DomainHandle domain(virDomainLookupByName(conn, name.c_str()));
    if (!domain) {
        const virErrorPtr e = virGetLastError();
        if (e != nullptr && e->code == VIR_ERR_NO_DOMAIN) {
            return fail(ErrorCode::not_found, "no VM called '" + name + "' on this connection");
        }
        return tl::unexpected(call_failed("cannot look up VM '" + name + "'"));
    }
    return domain;
}

Result<bool> has_checkpoint(virDomainPtr domain, const std::string& name) {
    const SnapshotHandle snap(virDomainSnapshotLookupByName(domain, name.c_str(), 0));
    if (snap) {
        return true;
    }
    const virErrorPtr e = virGetLastError();
    if (e != nullptr && e->code == VIR_ERR_NO_DOMAIN_SNAPSHOT) {
        return false;
    }
    return tl::unexpected(call_failed("cannot look up checkpoint '" + name + "'"));
}

Result<SnapshotHandle> create_external_checkpoint(virDomainPtr domain,
                                                  const ExternalCheckpointSpec& spec) {
    const unsigned flags =
        spec.memory_file.empty() ? static_cast<unsigned>(VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY) : 0U;
    const std::string xml = external_checkpoint_xml(spec);
    SnapshotHandle snap(virDomainSnapshotCreateXML(domain, xml.c_str(), flags));
    if (!snap) {
        return tl::unexpected(call_failed("libvirt could not take checkpoint '" + spec.name + "'"));
    }
    return snap;
}

Result<void> abort_domain_job(virDomainPtr domain) {
    if (virDomainAbortJob(domain) != 0) {
        return tl::unexpected(call_failed("cannot abort the VM's job"));
    }
    return {};
}

Result<void> forget_checkpoint(virDomainPtr domain, const std::string& name) {
    const SnapshotHandle snap(virDomainSnapshotLookupByName(domain, name.c_str(), 0));
    if (!snap) {
        return tl::unexpected(call_failed("cannot look up checkpoint '" + name + "'"));
    }
    if (virDomainSnapshotDelete(snap.get(), VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY) != 0) {
        return tl::unexpected(
            call_failed("cannot delete the metadata of checkpoint '" + name + "'"));
    }
    return {};
}

Result<CheckpointFiles> checkpoint_files(virDomainPtr domain, const std::string& name) {
    const SnapshotHandle snap(virDomainSnapshotLookupByName(domain, name.c_str(), 0));
    if (!snap) {
        return tl::unexpected(call_failed("cannot look up checkpoint '" + name + "'"));
    }
    const CString xml(virDomainSnapshotGetXMLDesc(snap.get(), VIR_DOMAIN_SNAPSHOT_XML_SECURE));
    if (!xml) {
        return tl::unexpected(call_failed("cannot read the XML of checkpoint '" + name + "'"));
    }
    pugi::xml_document doc;
    if (!doc.load_string(xml.get())) {
        return fail(ErrorCode::provider,
                    "libvirt gave unreadable XML for checkpoint '" + name + "'");
    }
    CheckpointFiles files;
    const auto root = doc.child("domainsnapshot");
    const auto memory = root.child("memory");
    if (std::string(memory.attribute("snapshot").value()) == "external") {
        files.memory_file = memory.attribute("file").value();
    }
    for (const auto disk : root.child("disks").children("disk")) {
        if (std::string(disk.attribute("snapshot").value()) == "external") {
            const std::string file = disk.child("source").attribute("file").value();
            if (!file.empty()) {
                files.disk_overlays.push_back({disk.attribute("name").value(), file,
                                               disk.child("driver").attribute("type").value()});
            }
        }
    }
    return files;
}

namespace {

Result<pugi::xml_document> parse_domain(const std::string& domain_xml) {
    pugi::xml_document doc;
    if (!doc.load_string(domain_xml.c_str()) || !doc.child("domain")) {
        return fail(ErrorCode::provider, "the domain XML in the save image does not parse");
    }
    return doc;
}

bool is_file_disk(const pugi::xml_node& disk) {
    return std::string(disk.attribute("type").value()) == "file" &&
           std::string(disk.attribute("device").value()) == "disk";
}

} // namespace

Result<std::vector<DiskFile>> domain_disk_files(const std::string& domain_xml) {
    auto doc = parse_domain(domain_xml);
    if (!doc) {
        return tl::unexpected(doc.error());
    }
    std::vector<DiskFile> out;
    for (const auto disk : doc->child("domain").child("devices").children("disk")) {
        if (is_file_disk(disk)) {
            out.push_back({disk.child("target").attribute("dev").value(),
                           disk.child("source").attribute("file").value(),
                           disk.child("driver").attribute("type").value()});
        }
    }
    return out;
}

Result<std::string> retarget_disks(const std::string& domain_xml,
                                   const std::vector<DiskFile>& files) {
    auto doc = parse_domain(domain_xml);
    if (!doc) {
        return tl::unexpected(doc.error());
    }
    for (auto disk : doc->child("domain").child("devices").children("disk")) {
        const std::string target = disk.child("target").attribute("dev").value();
        for (const auto& f : files) {
            if (is_file_disk(disk) && f.target == target) {
                disk.child("source").attribute("file").set_value(f.file.c_str());
                auto driver = disk.child("driver");
                if (!driver) {
                    driver = disk.prepend_child("driver");
                    driver.append_attribute("name") = "qemu";
                }
                if (!driver.attribute("type")) {
                    driver.append_attribute("type");
                }
                driver.attribute("type").set_value("qcow2");
            }
        }
    }
    std::ostringstream out;
    doc->save(out, "  ", pugi::format_default | pugi::format_no_declaration);
    return out.str();
}

Result<bool> domain_active(virDomainPtr domain) {
    const int active = virDomainIsActive(domain);
    if (active < 0) {
        return tl::unexpected(call_failed("cannot read the VM's state"));
    }
    return active == 1;
}

Result<void> destroy_domain(virDomainPtr domain) {
    if (virDomainDestroy(domain) != 0) {
        return tl::unexpected(call_failed("cannot stop the VM"));
    }
    return {};
}

Result<void> restore_domain(virConnectPtr conn, const std::string& image_path,
                            const std::string& domain_xml) {
    if (virDomainRestoreFlags(conn, image_path.c_str(), domain_xml.c_str(), 0) != 0) {
        return tl::unexpected(call_failed("libvirt could not restore from " + image_path));
    }
    return {};
}

} // namespace snapgov::providers::libvirt
