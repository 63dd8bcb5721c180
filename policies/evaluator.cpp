#include "policies/evaluator.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <tuple>

namespace snapgov::policies {
namespace {

// Deletion causes in precedence order: the lower, the stronger.
enum class Cause { deny = 0, age = 1, count = 2 };

// The part of a checkpoint's verdict that decides its action.
struct Verdict {
    std::optional<Cause> cause;
    const Policy* delete_policy = nullptr;
    std::string delete_reason;
    MemoryState memory = MemoryState::keep;
    const Policy* memory_policy = nullptr;
};

// The state of a checkpoint's memory files taken together: any file in the clear (or not
// looked at) makes it plaintext; all encrypted makes it encrypted; otherwise some are gone.
DumpFileState memory_state_of(const Checkpoint& cp, const DumpFacts& facts) {
    if (cp.memory_files.empty()) {
        return DumpFileState::unknown;
    }
    bool all_encrypted = true;
    for (const auto& f : cp.memory_files) {
        const DumpFileState st = file_state(facts, f);
        if (st == DumpFileState::unknown || st == DumpFileState::plaintext) {
            return DumpFileState::plaintext;
        }
        all_encrypted = all_encrypted && st == DumpFileState::encrypted;
    }
    return all_encrypted ? DumpFileState::encrypted : DumpFileState::missing;
}

std::string file_list(const std::vector<std::string>& files, std::string_view suffix = "") {
    std::string out;
    for (const auto& f : files) {
        out += (out.empty() ? "" : ", ") + f + std::string(suffix);
    }
    return out.empty() ? std::string("(file unknown)") : out;
}

std::string restore_hint(const std::vector<std::string>& files) {
    std::string out;
    for (const auto& f : files) {
        out += (out.empty() ? "" : "; ") + std::string("snapgov dump decrypt -i IDENTITY_FILE ") +
               f + ".age -o " + f;
    }
    return out;
}

// The order in which enforce takes actions, strongest first: switching checkpoints off
// before deleting what a deny policy forbids, deletions before memory work (a deleted
// checkpoint needs none), and files nobody references last.
enum class Precedence {
    disable_checkpoints,
    delete_denied,
    delete_expired, // max_age, ttl, max_count
    memory_state,
    orphan_dump,
};

// Key that orders actions: precedence, then position in the inventory, deeper checkpoints
// first.
using SortKey = std::tuple<Precedence, std::size_t, std::size_t, int, std::string>;

// How far a checkpoint's creation time may be ahead of `now` (clocks of the hypervisor and
// of snapgov's host drift apart) before it is a finding of its own.
constexpr Seconds kClockSkew{5 * 60};

std::string ago(Seconds age) {
    return format_duration(age) + " ago";
}

// Reads `ttl=<duration>` from a description: the token starts the text or follows
// whitespace, and ends at whitespace, ',' or ';'.
std::optional<std::string> ttl_token(const std::string& description) {
    std::size_t pos = 0;
    while ((pos = description.find("ttl=", pos)) != std::string::npos) {
        if (pos == 0 || std::isspace(static_cast<unsigned char>(description[pos - 1])) != 0) {
            const std::size_t start = pos + 4;
            std::size_t end = start;
            while (end < description.size() &&
                   std::isspace(static_cast<unsigned char>(description[end])) == 0 &&
                   description[end] != ',' && description[end] != ';') {
                ++end;
            }
            return description.substr(start, end - start);
        }
        pos += 4;
    }
    return std::nullopt;
}

// Depth of each checkpoint in its VM's tree (roots are 0); cycles or missing parents end
// the walk, so malformed metadata cannot loop.
std::map<std::string, int> depths(const Vm& vm) {
    std::map<std::string, const Checkpoint*> by_name;
    for (const auto& cp : vm.checkpoints) {
        by_name[cp.name] = &cp;
    }
    std::map<std::string, int> out;
    for (const auto& cp : vm.checkpoints) {
        int depth = 0;
        const Checkpoint* at = &cp;
        while (at->parent && depth <= static_cast<int>(vm.checkpoints.size())) {
            const auto it = by_name.find(*at->parent);
            if (it == by_name.end()) {
                break;
            }
            at = it->second;
            ++depth;
        }
        out[cp.name] = depth;
    }
    return out;
}

class VmEvaluator {
public:
    VmEvaluator(const HostInventory& host, std::size_t host_index, const Vm& vm,
                std::size_t vm_index, const std::vector<Exemption>& exemptions, TimePoint now,
                const DumpFacts& dumps, Plan& plan, std::vector<SortKey>& keys)
        : host_(host), host_index_(host_index), vm_(vm), vm_index_(vm_index),
          exemptions_(exemptions), now_(now), dumps_(dumps), plan_(plan), keys_(keys),
          depth_(depths(vm)) {
        read_ttls();
        rank_by_age();
    }

    void apply(const Policy& policy) {
        if (policy.deny) {
            apply_deny(policy);
        }
        if (policy.max_age || policy.max_count) {
            apply_age(policy);
        }
        if (policy.max_count) {
            apply_count(policy);
        }
        if (policy.memory_state != MemoryState::keep) {
            apply_memory(policy);
        }
    }

    void plan_actions() {
        if (disable_policy_ != nullptr) {
            add_action(Precedence::disable_checkpoints, ActionKind::disable_checkpoints, nullptr,
                       *disable_policy_,
                       "policy " + disable_policy_->name +
                           ": checkpoints denied; turn off the "
                           "VM's checkpoint setting");
        }
        for (const auto& cp : vm_.checkpoints) {
            const auto it = verdicts_.find(cp.id);
            if (it == verdicts_.end()) {
                continue;
            }
            const Verdict& v = it->second;
            if (v.cause) {
                if (host_.capabilities.delete_checkpoint) {
                    add_action(*v.cause == Cause::deny ? Precedence::delete_denied
                                                       : Precedence::delete_expired,
                               ActionKind::delete_checkpoint, &cp, *v.delete_policy,
                               v.delete_reason);
                } else {
                    note("cannot delete checkpoint '" + cp.name + "'");
                }
                continue;
            }
            if (v.memory_policy == nullptr) {
                continue;
            }
            const std::string why = "policy " + v.memory_policy->name + ": memory_state " +
                                    std::string(to_string(v.memory));
            const auto& caps = host_.capabilities;
            const bool wipe = v.memory == MemoryState::wipe;
            if (cp.memory == MemoryKind::external && caps.local_memory_files &&
                (!wipe || caps.make_disk_only)) {
                if (wipe) {
                    add_action(Precedence::memory_state, ActionKind::wipe_memory, &cp,
                               *v.memory_policy,
                               why + "; the checkpoint is then redefined disk-only (it can "
                                     "still be reverted to, without its RAM)");
                } else {
                    add_action(Precedence::memory_state, ActionKind::encrypt_memory, &cp,
                               *v.memory_policy,
                               why + "; to revert to this checkpoint with its RAM, first run: " +
                                   restore_hint(cp.memory_files));
                }
            } else if (caps.clear_memory_state) {
                add_action(Precedence::memory_state, ActionKind::clear_memory_state, &cp,
                           *v.memory_policy, why);
            } else if (cp.memory == MemoryKind::external) {
                note(!caps.local_memory_files
                         ? "cannot " + std::string(to_string(v.memory)) +
                               " the memory dump of "
                               "checkpoint '" +
                               cp.name +
                               "': its files are on a remote host "
                               "(run snapgov on that host)"
                         : "cannot wipe the memory dump of checkpoint '" + cp.name +
                               "': the provider cannot redefine it disk-only, and wiping the "
                               "file alone would leave the checkpoint pointing at nothing");
            }
        }
    }

private:
    void read_ttls() {
        for (const auto& cp : vm_.checkpoints) {
            const auto token = ttl_token(cp.description);
            if (!token) {
                continue;
            }
            auto ttl = parse_duration(*token);
            if (ttl) {
                ttl_[cp.id] = *ttl;
            } else {
                note("ignoring 'ttl=" + *token + "' in the description of checkpoint '" + cp.name +
                     "': " + ttl.error().message);
            }
        }
    }

    void rank_by_age() {
        std::vector<const Checkpoint*> order;
        for (const auto& cp : vm_.checkpoints) {
            order.push_back(&cp);
        }
        std::sort(order.begin(), order.end(), [&](const Checkpoint* a, const Checkpoint* b) {
            if (a->created != b->created) {
                return a->created > b->created;
            }
            const int da = depth_.at(a->name);
            const int db = depth_.at(b->name);
            if (da != db) {
                return da > db;
            }
            return a->name > b->name;
        });
        for (std::size_t i = 0; i < order.size(); ++i) {
            rank_[order[i]->id] = i;
        }
    }

    void note(const std::string& text) {
        plan_.notes.push_back(host_.provider + "/" + vm_.name + ": " + text);
    }

    // Returns the exemption text when an active exemption covers this finding.
    std::optional<std::string> exemption_for(const Policy& policy, const Checkpoint* cp) const {
        for (const auto& e : exemptions_) {
            if (e.policy != policy.name || e.vm != vm_.name || !e.active(now_)) {
                continue;
            }
            if (e.checkpoint && (cp == nullptr || *e.checkpoint != cp->name)) {
                continue;
            }
            return e.reason + " (until " + format_rfc3339(e.expires) + ")";
        }
        return std::nullopt;
    }

    // Records a finding; returns true when it should lead to an action.
    bool report(const Policy& policy, const Checkpoint* cp, std::string_view rule_name,
                std::string detail) {
        Finding f;
        f.policy = policy.name;
        f.mode = policy.mode;
        f.provider = host_.provider;
        f.vm = vm_.name;
        f.vm_id = vm_.id;
        if (cp != nullptr) {
            f.checkpoint = cp->name;
            f.checkpoint_id = cp->id;
        }
        f.rule = rule_name;
        f.detail = std::move(detail);
        if (auto e = exemption_for(policy, cp)) {
            f.exempt = true;
            f.exemption = std::move(*e);
        }
        const bool act = !f.exempt && policy.mode == Mode::enforce;
        plan_.findings.push_back(std::move(f));
        return act;
    }

    void want_delete(const Checkpoint& cp, Cause cause, const Policy& policy, std::string reason) {
        Verdict& v = verdicts_[cp.id];
        if (!v.cause || cause < *v.cause) {
            v.cause = cause;
            v.delete_policy = &policy;
            v.delete_reason = "policy " + policy.name + ": " + std::move(reason);
        }
    }

    void apply_deny(const Policy& policy) {
        if (host_.capabilities.disable_checkpoints &&
            vm_.checkpoint_setting != CheckpointSetting::disabled) {
            const std::string detail = "the VM allows new checkpoints (setting: " +
                                       std::string(to_string(vm_.checkpoint_setting)) +
                                       "); the policy denies them";
            if (report(policy, nullptr, rule::kSetting, detail) && disable_policy_ == nullptr) {
                disable_policy_ = &policy;
            }
        }
        for (const auto& cp : vm_.checkpoints) {
            const std::string detail = "checkpoints are denied on this VM; created " +
                                       format_rfc3339(cp.created) + " (" +
                                       ago(elapsed(cp.created, now_)) + ")";
            if (report(policy, &cp, rule::kDenied, detail)) {
                want_delete(cp, Cause::deny, policy, "checkpoints denied");
            }
        }
    }

    void apply_age(const Policy& policy) {
        for (const auto& cp : vm_.checkpoints) {
            const Seconds age = elapsed(cp.created, now_);
            if (age < -kClockSkew) {
                // Its age cannot be judged, and max_count would keep it as the newest: a
                // finding of its own, never compliant, and no action on a wrong clock.
                report(policy, &cp, rule::kFutureCheckpoint,
                       "created " + format_rfc3339(cp.created) + ", " +
                           format_duration(elapsed(now_, cp.created)) +
                           " in the future (more than the " + format_duration(kClockSkew) +
                           " allowed for clock skew); its age cannot be judged: check the "
                           "clocks of this host and the hypervisor");
                continue;
            }
            std::optional<Seconds> limit = policy.max_age;
            bool from_ttl = false;
            if (const auto it = ttl_.find(cp.id); it != ttl_.end()) {
                if (!limit || it->second < *limit) {
                    limit = it->second;
                    from_ttl = true;
                }
            }
            if (!limit || age <= *limit) {
                continue;
            }
            // Rounded to two units an age just past the limit would read as the limit
            // itself ("age 3d exceeds max_age 3d"): then say by how much it is past.
            const std::string age_text =
                format_duration(age) == format_duration(*limit)
                    ? format_duration(*limit) + " + " + format_duration(age - *limit)
                    : format_duration(age);
            std::string detail = "age " + age_text + " exceeds ";
            if (from_ttl) {
                detail += "ttl=" + format_duration(*limit) + " from its description";
                if (policy.max_age) {
                    detail += " (policy max_age " + format_duration(*policy.max_age) + ")";
                }
            } else {
                detail += "max_age " + format_duration(*limit);
            }
            if (report(policy, &cp, from_ttl ? rule::kTtl : rule::kMaxAge, detail)) {
                want_delete(cp, Cause::age, policy,
                            (from_ttl ? "ttl " : "max_age ") + format_duration(*limit) +
                                " exceeded (age " + age_text + ")");
            }
        }
    }

    void apply_count(const Policy& policy) {
        const std::size_t keep = *policy.max_count;
        const std::size_t total = vm_.checkpoints.size();
        for (const auto& cp : vm_.checkpoints) {
            const std::size_t rank = rank_.at(cp.id);
            if (rank < keep) {
                continue;
            }
            const std::string detail = "number " + std::to_string(rank + 1) + " of " +
                                       std::to_string(total) + " from the newest; max_count " +
                                       std::to_string(keep) + " keeps the newest " +
                                       std::to_string(keep);
            if (report(policy, &cp, rule::kMaxCount, detail)) {
                want_delete(cp, Cause::count, policy,
                            "max_count " + std::to_string(keep) + " exceeded (number " +
                                std::to_string(rank + 1) + " of " + std::to_string(total) + ")");
            }
        }
    }

    void apply_memory(const Policy& policy) {
        for (const auto& cp : vm_.checkpoints) {
            if (cp.memory == MemoryKind::none) {
                continue;
            }
            std::string detail;
            const bool wipe = policy.memory_state == MemoryState::wipe;
            if (cp.memory == MemoryKind::external) {
                const DumpFileState st = memory_state_of(cp, dumps_);
                if (st == DumpFileState::encrypted) {
                    if (!wipe) {
                        continue; // encrypted: what the policy asks for
                    }
                    detail = "memory dump " + file_list(cp.memory_files, ".age") +
                             " is kept (encrypted); the policy wants it wiped";
                } else if (st == DumpFileState::missing) {
                    if (!wipe) {
                        continue; // nothing in the clear; plan_notes() reports the dangling file
                    }
                    detail = "memory file " + file_list(cp.memory_files) +
                             " is missing but the checkpoint still references it; the policy "
                             "wants a disk-only checkpoint";
                } else {
                    detail = "memory dump " + file_list(cp.memory_files) +
                             " is kept in the clear; the policy wants it " +
                             (wipe ? "wiped" : "encrypted");
                    if (!wipe && host_.type == "libvirt") {
                        // Encrypting afterwards leaves the plaintext on disk for a while,
                        // and an overwrite may not reach it on SSDs or copy-on-write storage.
                        detail += " (it was written in plaintext first: take the next "
                                  "checkpoints with 'snapgov checkpoint create', which "
                                  "encrypts the memory as libvirt writes it)";
                    }
                }
            } else if (host_.capabilities.clear_memory_state) {
                detail =
                    "the checkpoint holds the VM's memory; the policy wants it " +
                    std::string(policy.memory_state == MemoryState::wipe ? "wiped" : "encrypted");
            } else {
                detail = "memory is stored inside the disk image (internal snapshot) and cannot "
                         "be encrypted or wiped on its own; delete the checkpoint (a retention "
                         "rule) or exempt it";
            }
            if (report(policy, &cp, rule::kMemoryState, detail)) {
                Verdict& v = verdicts_[cp.id];
                if (v.memory_policy == nullptr || policy.memory_state > v.memory) {
                    v.memory = policy.memory_state;
                    v.memory_policy = &policy;
                }
            }
        }
    }

    void add_action(Precedence precedence, ActionKind kind, const Checkpoint* cp,
                    const Policy& policy, std::string reason) {
        PlannedAction a;
        a.kind = kind;
        a.provider = host_.provider;
        a.vm = vm_.name;
        a.vm_id = vm_.id;
        int depth = 0;
        std::string name;
        if (cp != nullptr) {
            a.checkpoint = cp->name;
            a.checkpoint_id = cp->id;
            depth = depth_.at(cp->name);
            name = cp->name;
        }
        a.policy = policy.name;
        a.reason = std::move(reason);
        plan_.actions.push_back(std::move(a));
        keys_.emplace_back(precedence, host_index_, vm_index_, -depth, name);
    }

    const HostInventory& host_;
    std::size_t host_index_;
    const Vm& vm_;
    std::size_t vm_index_;
    const std::vector<Exemption>& exemptions_;
    TimePoint now_;
    const DumpFacts& dumps_;
    Plan& plan_;
    std::vector<SortKey>& keys_;
    std::map<std::string, int> depth_;
    std::map<std::string, Seconds> ttl_;
    std::map<std::string, std::size_t> rank_;
    std::map<std::string, Verdict> verdicts_;
    const Policy* disable_policy_ = nullptr;
};

// Notes about memory files whatever the policies: how to restore an encrypted dump before a
// revert, and files a checkpoint references that are gone.
void memory_notes(const HostInventory& host, const DumpFacts& dumps, Plan& plan) {
    for (const auto& vm : host.vms) {
        for (const auto& cp : vm.checkpoints) {
            if (cp.memory != MemoryKind::external) {
                continue;
            }
            const DumpFileState st = memory_state_of(cp, dumps);
            const std::string where =
                host.provider + "/" + vm.name + ": checkpoint '" + cp.name + "'";
            if (st == DumpFileState::encrypted) {
                plan.notes.push_back(
                    where + ": its memory dump is encrypted (" +
                    file_list(cp.memory_files, ".age") +
                    "); before reverting to it run: " + restore_hint(cp.memory_files));
            } else if (st == DumpFileState::missing) {
                plan.notes.push_back(where + " references memory file " +
                                     file_list(cp.memory_files) +
                                     ", which is missing (no .age either): a revert with its RAM "
                                     "will fail; delete the checkpoint or make it disk-only "
                                     "(memory_state: wipe)");
            }
        }
    }
}

// Orphan dumps: findings, and actions only when it is safe to tell an orphan from a dump an
// unseen checkpoint references.
void plan_orphans(const Inventory& inventory, const DumpFacts& dumps, Plan& plan,
                  std::vector<SortKey>& keys) {
    if (!dumps.scanned) {
        return;
    }
    std::string incomplete;
    for (const auto& h : inventory.hosts) {
        if (!h.complete) {
            incomplete += (incomplete.empty() ? "" : ", ") + h.provider;
        }
    }
    const bool act = dumps.orphan_action != OrphanAction::report;
    if (act && !incomplete.empty() && !dumps.orphans.empty()) {
        plan.notes.push_back(
            "orphan dumps are not " +
            std::string(dumps.orphan_action == OrphanAction::wipe ? "wiped" : "encrypted") +
            " this pass: provider(s) " + incomplete +
            " were not collected completely, and a dump their checkpoints "
            "reference would look orphaned");
    }
    for (std::size_t i = 0; i < dumps.orphans.size(); ++i) {
        const OrphanDump& o = dumps.orphans[i];
        Finding f;
        f.policy = kOrphanPolicy;
        f.mode = act ? Mode::enforce : Mode::audit;
        f.rule = rule::kOrphanDump;
        f.path = o.path;
        f.detail = o.kind + " memory dump of " + std::to_string(o.size) +
                   " bytes that no checkpoint references (orphans: " +
                   std::string(to_string(dumps.orphan_action)) + ")";
        if (!o.identified_by_content) {
            f.mode = Mode::audit;
            f.detail += "; recognised by its file name only (Hyper-V's saved-state formats have "
                        "no published header to confirm it): reported, never wiped or encrypted "
                        "automatically; check it in Hyper-V and remove it there";
        } else if (o.recent) {
            f.detail += "; modified in the last minutes, so it may belong to a checkpoint being "
                        "taken: left alone this pass";
        } else if (o.kind == "libvirt-partial") {
            f.detail += "; an unfinished save (LibvirtQemudPart), possibly still being written: "
                        "left alone";
        }
        plan.findings.push_back(std::move(f));
        if (!act || !incomplete.empty() || o.recent || o.kind == "libvirt-partial" ||
            !o.identified_by_content) {
            continue;
        }
        PlannedAction a;
        a.kind = dumps.orphan_action == OrphanAction::wipe ? ActionKind::wipe_orphan
                                                           : ActionKind::encrypt_orphan;
        a.policy = kOrphanPolicy;
        a.path = o.path;
        a.reason = std::string(kOrphanPolicy) + ": " + std::string(to_string(dumps.orphan_action)) +
                   " " + o.path + " (referenced by no checkpoint)";
        if (a.kind == ActionKind::encrypt_orphan) {
            a.reason += "; to read it later: snapgov dump decrypt -i IDENTITY_FILE " + o.path +
                        ".age -o " + o.path;
        }
        plan.actions.push_back(std::move(a));
        keys.emplace_back(Precedence::orphan_dump, inventory.hosts.size(), i, 0, o.path);
    }
}

} // namespace

Plan evaluate(const Inventory& inventory, const std::vector<Policy>& policies,
              const std::vector<Exemption>& exemptions, TimePoint now) {
    return evaluate(inventory, policies, exemptions, now, DumpFacts{});
}

Plan evaluate(const Inventory& inventory, const std::vector<Policy>& policies,
              const std::vector<Exemption>& exemptions, TimePoint now, const DumpFacts& dumps) {
    Plan plan;
    plan.vms = inventory.vm_count();
    plan.checkpoints = inventory.checkpoint_count();
    for (const auto& e : exemptions) {
        if (!e.active(now)) {
            plan.notes.push_back("exemption at " + e.origin + " (policy " + e.policy + ", VM " +
                                 e.vm + (e.checkpoint ? ", checkpoint " + *e.checkpoint : "") +
                                 ": " + e.reason + ") expired at " + format_rfc3339(e.expires) +
                                 " and is ignored");
        }
    }
    std::vector<SortKey> keys;
    for (std::size_t h = 0; h < inventory.hosts.size(); ++h) {
        const auto& host = inventory.hosts[h];
        for (std::size_t v = 0; v < host.vms.size(); ++v) {
            const auto& vm = host.vms[v];
            std::vector<const Policy*> applicable;
            for (const auto& policy : policies) {
                if (matches(policy.match, host.provider, vm.name, vm.labels)) {
                    applicable.push_back(&policy);
                }
            }
            if (applicable.empty()) {
                continue;
            }
            VmEvaluator evaluator(host, h, vm, v, exemptions, now, dumps, plan, keys);
            for (const Policy* policy : applicable) {
                evaluator.apply(*policy);
            }
            evaluator.plan_actions();
        }
    }
    for (const auto& host : inventory.hosts) {
        memory_notes(host, dumps, plan);
    }
    plan_orphans(inventory, dumps, plan, keys);
    for (const auto& w : dumps.warnings) {
        plan.notes.push_back("memory dump scan: " + w);
    }
    // Order actions by their keys; indices keep the sort stable and cheap.
    std::vector<std::size_t> index(plan.actions.size());
    for (std::size_t i = 0; i < index.size(); ++i) {
        index[i] = i;
    }
    std::stable_sort(index.begin(), index.end(),
                     [&](std::size_t a, std::size_t b) { return keys[a] < keys[b]; });
    std::vector<PlannedAction> ordered;
    ordered.reserve(plan.actions.size());
    for (const auto i : index) {
        ordered.push_back(std::move(plan.actions[i]));
    }
    plan.actions = std::move(ordered);
    return plan;
}

} // namespace snapgov::policies
