#pragma once
/// The libvirt calls behind `snapgov checkpoint create` and `revert`: an external checkpoint
/// whose memory libvirt writes into a path snapgov chooses (a FIFO that snapgov reads), and
/// a restore from a save image that snapgov feeds. Each call borrows its handles; none
/// starts a thread. The FIFO handling and encryption live in dumps/ (fifo_capture.hpp).

#include <string>
#include <vector>

#include "core/error.hpp"
#include "providers/libvirt/handles.hpp"

namespace snapgov::providers::libvirt {

/// What `checkpoint create` asks libvirt for.
struct ExternalCheckpointSpec {
    std::string name;
    std::string description;
    /// Where libvirt writes the memory (a FIFO); empty: a disk-only checkpoint.
    std::string memory_file;
};

/// The `<domainsnapshot>` XML for `spec`: external memory (or none), and no `<disks>`, so
/// libvirt takes every disk as an external overlay next to it (its default names).
[[nodiscard]] std::string external_checkpoint_xml(const ExternalCheckpointSpec& spec);

/// The domain called `name`; ErrorCode::not_found when there is none.
[[nodiscard]] Result<DomainHandle> find_domain_by_name(virConnectPtr conn, const std::string& name);

/// Whether `domain` has a checkpoint called `name` (a lookup failure other than "no such
/// snapshot" is an error).
[[nodiscard]] Result<bool> has_checkpoint(virDomainPtr domain, const std::string& name);

/// Takes the checkpoint (virDomainSnapshotCreateXML, DISK_ONLY when there is no memory file).
/// Blocks until libvirt is done: with a memory file, until the memory was written into it,
/// so whoever reads a FIFO there must have it open before this is called.
[[nodiscard]] Result<SnapshotHandle> create_external_checkpoint(virDomainPtr domain,
                                                                const ExternalCheckpointSpec& spec);

/// Asks libvirt to abort the domain's running job (virDomainAbortJob): a checkpoint being
/// written then fails and the VM resumes. Safe to call from another thread than the one
/// blocked in create_external_checkpoint().
[[nodiscard]] Result<void> abort_domain_job(virDomainPtr domain);

/// Removes the checkpoint's metadata only (VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY): the
/// disk overlays it made stay in use by the VM, its memory file is not touched.
[[nodiscard]] Result<void> forget_checkpoint(virDomainPtr domain, const std::string& name);

/// A disk of a checkpoint or a domain definition: its target (`vda`) and file.
struct DiskFile {
    std::string target;
    std::string file;
    std::string format; ///< the driver type (`qcow2`, `raw`); empty when not given
};

/// What a revert needs from a checkpoint's XML.
struct CheckpointFiles {
    std::string memory_file; ///< `<memory file=...>`; empty when it has no external memory
    /// The overlay each external disk got when the checkpoint was taken (`<disks>`).
    std::vector<DiskFile> disk_overlays;
};

/// The file-backed disks (`<disk type='file' device='disk'>`) of a domain definition, such as
/// the one a save image embeds. ErrorCode::provider when the XML does not parse.
[[nodiscard]] Result<std::vector<DiskFile>> domain_disk_files(const std::string& domain_xml);

/// `domain_xml` with the source file of each disk whose target is in `files` replaced by the
/// file given there (format qcow2).
[[nodiscard]] Result<std::string> retarget_disks(const std::string& domain_xml,
                                                 const std::vector<DiskFile>& files);

/// Reads the checkpoint `name` of `domain` (secure XML).
[[nodiscard]] Result<CheckpointFiles> checkpoint_files(virDomainPtr domain,
                                                       const std::string& name);

/// Whether the domain is active (running, paused...).
[[nodiscard]] Result<bool> domain_active(virDomainPtr domain);

/// Stops the domain at once (virDomainDestroy): what the guest had not written is lost.
[[nodiscard]] Result<void> destroy_domain(virDomainPtr domain);

/// Starts a domain from the save image readable at `image_path` (a FIFO works: libvirt opens
/// it once and reads it in order) with `domain_xml` as its definition
/// (virDomainRestoreFlags). Blocks until the domain runs or the restore failed.
[[nodiscard]] Result<void> restore_domain(virConnectPtr conn, const std::string& image_path,
                                          const std::string& domain_xml);

} // namespace snapgov::providers::libvirt
