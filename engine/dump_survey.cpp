#include "engine/dump_survey.hpp"

#include <cerrno>
#include <filesystem>
#include <vector>

#include <sys/stat.h>

#include "dumps/dump_commands.hpp"

namespace snapgov::engine {
namespace {

namespace fs = std::filesystem;

/// A file younger than this under scan_paths may belong to a checkpoint being taken.
constexpr auto kRecentDump = std::chrono::minutes(10);

policies::DumpFileState file_state_on_disk(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        // A FIFO holds nothing at rest: `snapgov checkpoint create` streams the memory through
        // one at this path into FILE.age, and a killed run may leave it behind.
        if (!S_ISFIFO(st.st_mode)) {
            return policies::DumpFileState::plaintext;
        }
    } else if (errno != ENOENT) {
        return policies::DumpFileState::unknown; // cannot tell: treated as plaintext
    }
    if (::lstat((path + ".age").c_str(), &st) == 0) {
        return policies::DumpFileState::encrypted;
    }
    return errno == ENOENT ? policies::DumpFileState::missing : policies::DumpFileState::unknown;
}

} // namespace

ReferencedDumps::ReferencedDumps(const Inventory& inventory) {
    for (const auto& host : inventory.hosts) {
        for (const auto& vm : host.vms) {
            vm_names_.insert(vm.name);
            for (const auto& cp : vm.checkpoints) {
                files_.insert(cp.memory_files.begin(), cp.memory_files.end());
            }
        }
    }
}

bool ReferencedDumps::references(const std::string& path) const {
    if (files_.count(path) != 0) {
        return true;
    }
    const fs::path p(path);
    return p.extension() == ".save" && vm_names_.count(p.stem().string()) != 0;
}

policies::DumpFacts survey_dumps(const Inventory& inventory, const policies::Config& config) {
    policies::DumpFacts facts;
    facts.orphan_action = config.memory_dumps.orphans;
    for (const auto& host : inventory.hosts) {
        if (!host.complete || !host.capabilities.local_memory_files) {
            continue;
        }
        for (const auto& vm : host.vms) {
            for (const auto& cp : vm.checkpoints) {
                for (const auto& f : cp.memory_files) {
                    facts.files[f] = file_state_on_disk(f);
                }
            }
        }
    }
    const auto& paths = config.memory_dumps.scan_paths;
    if (paths.empty()) {
        return facts;
    }
    std::vector<std::string> existing;
    for (const auto& p : paths) {
        std::error_code ec;
        if (fs::exists(fs::symlink_status(p, ec))) {
            existing.push_back(p);
        } else {
            facts.warnings.push_back("scan path " + p +
                                     " does not exist (memory_dumps.scan_paths in " + config.path +
                                     ")");
        }
    }
    facts.scanned = true;
    if (existing.empty()) {
        return facts;
    }
    const ReferencedDumps referenced(inventory);
    auto scanned = dumps::scan_dumps(existing, referenced.files());
    if (!scanned) {
        // Without a complete scan no orphan is known, so none is acted on.
        facts.scanned = false;
        facts.warnings.push_back(scanned.error().message);
        return facts;
    }
    facts.warnings.insert(facts.warnings.end(), scanned->warnings.begin(), scanned->warnings.end());
    const auto file_now = fs::file_time_type::clock::now();
    for (const auto& d : scanned->orphans) {
        if (referenced.references(d.path)) {
            continue;
        }
        policies::OrphanDump o;
        o.path = d.path;
        o.kind = std::string(dumps::to_string(d.kind));
        o.size = d.size;
        o.identified_by_content = dumps::identified_by_content(d.kind);
        std::error_code ec;
        const auto mtime = fs::last_write_time(fs::path(d.path), ec);
        o.recent = ec || file_now - mtime < kRecentDump;
        facts.orphans.push_back(std::move(o));
    }
    return facts;
}

} // namespace snapgov::engine
