#include "daemon/reconciler.hpp"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <future>
#include <iterator>
#include <set>
#include <thread>

#include <sys/stat.h>

#include "core/log.hpp"
#include "dumps/dump_commands.hpp"
#include "policies/evaluator.hpp"

namespace snapgov::daemon {

using policies::ActionKind;
using policies::PlannedAction;

namespace {

namespace fs = std::filesystem;

/// A file younger than this under scan_paths may belong to a checkpoint being taken.
constexpr auto kRecentDump = std::chrono::minutes(10);

bool is_orphan_kind(ActionKind kind) {
    return kind == ActionKind::wipe_orphan || kind == ActionKind::encrypt_orphan;
}

bool is_dump_kind(ActionKind kind) {
    return is_orphan_kind(kind) || kind == ActionKind::encrypt_memory ||
           kind == ActionKind::wipe_memory;
}

// lstat: true when something exists under `path` (never follows a final symlink).
bool present(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

policies::DumpFileState file_state_on_disk(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        return policies::DumpFileState::plaintext;
    }
    if (errno != ENOENT) {
        return policies::DumpFileState::unknown; // cannot tell: treated as plaintext
    }
    if (::lstat((path + ".age").c_str(), &st) == 0) {
        return policies::DumpFileState::encrypted;
    }
    return errno == ENOENT ? policies::DumpFileState::missing : policies::DumpFileState::unknown;
}

// Classifies one file with the scanner's rules. Acting on a file is allowed only when this
// returns the expected kind: a checkpoint whose metadata names /etc/shadow as its memory
// file must not get /etc/shadow encrypted and wiped.
Result<dumps::FoundDump> classify_one(const std::string& path) {
    auto scanned = dumps::scan_dumps({path}, {});
    if (!scanned) {
        return tl::unexpected(scanned.error());
    }
    for (const auto* list : {&scanned->orphans, &scanned->protected_dumps}) {
        if (!list->empty()) {
            return list->front();
        }
    }
    return fail(ErrorCode::unsupported,
                path + " does not look like a VM memory dump (no LibvirtQemudSave header, no "
                       "Hyper-V saved-state name, no age header): refusing to touch it; check "
                       "the checkpoint's memory file in the hypervisor");
}

Result<void> expect_plain_dump(const std::string& path) {
    auto found = classify_one(path);
    if (!found) {
        return tl::unexpected(found.error());
    }
    if (found->kind == dumps::DumpKind::age_encrypted) {
        return fail(ErrorCode::unsupported, path + " is already an age file");
    }
    if (found->kind == dumps::DumpKind::libvirt_partial) {
        return fail(ErrorCode::unsupported,
                    path + " is an unfinished save (LibvirtQemudPart) that may still be written; "
                           "left alone");
    }
    return {};
}

std::string wipe_text(const dumps::WipeReport& w) {
    return "wiped " + w.path + " (" + std::to_string(w.bytes_overwritten) +
           " bytes overwritten, assurance " + std::string(dumps::to_string(w.storage.assurance)) +
           ": " + w.storage.reason + ")";
}

std::string protect_text(const dumps::ProtectReport& r) {
    std::string out = "encrypted " + r.plaintext_path + " to " + r.ciphertext_path + " (" +
                      std::to_string(r.ciphertext_bytes) + " bytes, verified)";
    if (r.wipe) {
        out += ", then " + wipe_text(*r.wipe);
    }
    return out;
}

} // namespace

std::string_view to_string(Outcome outcome) noexcept {
    switch (outcome) {
    case Outcome::done: return "done";
    case Outcome::failed: return "failed";
    case Outcome::not_verified: return "not_verified";
    case Outcome::skipped: return "skipped";
    case Outcome::dry_run: return "dry_run";
    }
    return "skipped";
}

int PassResult::exit_code() const {
    if (!provider_errors.empty()) {
        return 2;
    }
    const bool broken = std::any_of(results.begin(), results.end(), [](const ActionResult& r) {
        return r.outcome == Outcome::failed || r.outcome == Outcome::not_verified;
    });
    if (broken) {
        return 2;
    }
    return remaining().violations() > 0 ? 1 : 0;
}

/// A provider instance, shared with the collection thread that uses it: a thread whose
/// call hangs past its deadline is abandoned, not joined, and may outlive one pass.
struct ProviderHolder {
    std::unique_ptr<providers::Provider> provider;
};

/// One configured provider: its instance once connected, and its health.
struct Reconciler::Slot {
    providers::ProviderSpec spec;
    std::shared_ptr<ProviderHolder> holder = std::make_shared<ProviderHolder>();
    /// True while a collection thread runs; the provider is not touched meanwhile.
    std::shared_ptr<std::atomic<bool>> busy = std::make_shared<std::atomic<bool>>(false);
    unsigned failures = 0;
    std::chrono::steady_clock::time_point retry_at{};
    std::string error;
    bool up = false;

    [[nodiscard]] providers::Provider* provider() const {
        return busy->load() ? nullptr : holder->provider.get();
    }
};

Reconciler::Reconciler(const policies::Config& config, const providers::ProviderRegistry& registry,
                       Seconds max_backoff)
    : config_(config), registry_(registry), max_backoff_(max_backoff) {
    for (const auto& spec : config_.providers) {
        auto s = std::make_unique<Slot>();
        s->spec = spec;
        slots_.push_back(std::move(s));
    }
}

Reconciler::~Reconciler() = default;

Reconciler::Slot* Reconciler::slot(const std::string& provider) {
    const auto it = std::find_if(slots_.begin(), slots_.end(),
                                 [&](const auto& s) { return s->spec.name == provider; });
    return it == slots_.end() ? nullptr : it->get();
}

std::vector<ProviderHealth> Reconciler::health() const {
    std::vector<ProviderHealth> out;
    for (const auto& s : slots_) {
        out.push_back({s->spec.name, s->spec.type, s->up, s->error, s->failures});
    }
    return out;
}

std::vector<policies::Policy> Reconciler::policies_for(PassScope scope) const {
    if (scope == PassScope::full) {
        return config_.policies;
    }
    std::vector<policies::Policy> deny;
    std::copy_if(config_.policies.begin(), config_.policies.end(), std::back_inserter(deny),
                 [](const policies::Policy& p) { return p.deny; });
    return deny;
}

Inventory Reconciler::collect() {
    using Clock = std::chrono::steady_clock;
    struct Job {
        Slot* slot;
        std::future<Result<HostInventory>> result;
        Clock::time_point deadline;
    };
    const auto start = Clock::now();
    std::vector<std::optional<Job>> jobs(slots_.size());
    std::vector<std::optional<Error>> skipped(slots_.size());

    for (std::size_t i = 0; i < slots_.size(); ++i) {
        Slot& s = *slots_[i];
        const std::string label = "provider " + s.spec.name;
        if (s.busy->load()) {
            skipped[i] = Error{ErrorCode::provider,
                               label + ": a previous call has not returned yet; no action "
                                       "this pass"};
            continue;
        }
        if (s.failures > 0 && start < s.retry_at) {
            const auto wait = std::chrono::ceil<Seconds>(s.retry_at - start);
            skipped[i] = Error{ErrorCode::provider, label + ": down, next retry in " +
                                                        format_duration(wait) +
                                                        " (last error: " + s.error + ")"};
            continue;
        }
        std::promise<Result<HostInventory>> promise;
        Job job{&s, promise.get_future(), start + s.spec.connect_timeout + s.spec.read_timeout};
        s.busy->store(true);
        std::thread([&registry = registry_, spec = s.spec, holder = s.holder, busy = s.busy,
                     sink = event_sink_, promise = std::move(promise)]() mutable {
            Result<HostInventory> result = fail(ErrorCode::internal, "not collected");
            if (!holder->provider) {
                auto created = registry.create(spec);
                if (created) {
                    holder->provider = std::move(*created);
                    if (sink) {
                        auto watching = holder->provider->watch(
                            [sink, name = spec.name](const std::string& vm) { sink(name, vm); });
                        if (!watching && watching.error().code != ErrorCode::unsupported) {
                            log::warning(watching.error().message);
                        }
                    }
                } else {
                    result = tl::unexpected(created.error());
                }
            }
            if (holder->provider) {
                result = holder->provider->collect();
            }
            // Released before the result is published: whoever sees the result may use
            // the provider at once, and this thread no longer touches it.
            busy->store(false);
            promise.set_value(std::move(result));
        }).detach();
        jobs[i] = std::move(job);
    }

    Inventory inventory;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        Slot& s = *slots_[i];
        Result<HostInventory> result = fail(ErrorCode::internal, "not collected");
        if (skipped[i]) {
            result = tl::unexpected(*skipped[i]);
        } else if (jobs[i]->result.wait_until(jobs[i]->deadline) != std::future_status::ready) {
            const auto limit = s.spec.connect_timeout + s.spec.read_timeout;
            result =
                fail(ErrorCode::provider,
                     "provider " + s.spec.name + ": no answer within " + format_duration(limit) +
                         " (connect_timeout + read_timeout); no action this pass");
        } else {
            result = jobs[i]->result.get();
        }
        if (result) {
            s.up = true;
            s.failures = 0;
            s.error.clear();
            inventory.hosts.push_back(std::move(*result));
            continue;
        }
        if (!skipped[i]) {
            ++s.failures;
            const auto backoff = std::min<Seconds>(
                max_backoff_, Seconds{std::int64_t{1} << std::min(s.failures - 1, 20u)});
            s.retry_at = Clock::now() + backoff;
        }
        s.up = false;
        s.error = result.error().message;
        HostInventory failed;
        failed.provider = s.spec.name;
        failed.type = s.spec.type;
        failed.endpoint = s.spec.endpoint();
        failed.error = result.error();
        inventory.hosts.push_back(std::move(failed));
    }
    return inventory;
}

PassResult Reconciler::plan(TimePoint now, PassScope scope) {
    PassResult pass;
    pass.now = now;
    pass.inventory = collect();
    for (const auto& host : pass.inventory.hosts) {
        if (!host.complete && host.error) {
            pass.provider_errors.push_back(*host.error);
        }
    }
    // Memory dumps are the business of full passes: the daemon's fast deny pass neither
    // scans the disk nor acts on dumps.
    if (scope == PassScope::full) {
        pass.dumps = gather_dump_facts(pass.inventory);
    }
    pass.plan = policies::evaluate(pass.inventory, policies_for(scope), config_.exemptions, now,
                                   pass.dumps);
    return pass;
}

policies::DumpFacts Reconciler::gather_dump_facts(const Inventory& inventory) const {
    policies::DumpFacts facts;
    facts.orphan_action = config_.memory_dumps.orphans;
    std::set<std::string> referenced;
    std::set<std::string> vm_names;
    for (const auto& host : inventory.hosts) {
        for (const auto& vm : host.vms) {
            vm_names.insert(vm.name);
            for (const auto& cp : vm.checkpoints) {
                for (const auto& f : cp.memory_files) {
                    referenced.insert(f);
                    if (host.complete && host.capabilities.local_memory_files) {
                        facts.files[f] = file_state_on_disk(f);
                    }
                }
            }
        }
    }
    const auto& paths = config_.memory_dumps.scan_paths;
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
                                     " does not exist (memory_dumps.scan_paths "
                                     "in " +
                                     config_.path + ")");
        }
    }
    facts.scanned = true;
    if (existing.empty()) {
        return facts;
    }
    auto scanned = dumps::scan_dumps(existing, referenced);
    if (!scanned) {
        // Without a complete scan no orphan is known, so none is acted on.
        facts.scanned = false;
        facts.warnings.push_back(scanned.error().message);
        return facts;
    }
    facts.warnings.insert(facts.warnings.end(), scanned->warnings.begin(), scanned->warnings.end());
    const auto file_now = fs::file_time_type::clock::now();
    for (const auto& d : scanned->orphans) {
        const fs::path p(d.path);
        // libvirt's managed save images are named VM.save and the inventory does not list
        // them: a dump with a known VM's name counts as referenced.
        if (p.extension() == ".save" && vm_names.count(p.stem().string()) != 0) {
            continue;
        }
        policies::OrphanDump o;
        o.path = d.path;
        o.kind = std::string(dumps::to_string(d.kind));
        o.size = d.size;
        std::error_code ec;
        const auto mtime = fs::last_write_time(p, ec);
        o.recent = ec || file_now - mtime < kRecentDump;
        facts.orphans.push_back(std::move(o));
    }
    return facts;
}

bool Reconciler::recover_interrupted(const Inventory& inventory, std::vector<std::string>& notes,
                                     std::vector<Error>& errors) {
    auto recovered = dumps::recover_dumps(config_.state_dir);
    if (!recovered) {
        errors.push_back(recovered.error().with_context("recovering dump operations"));
    } else {
        for (const auto& a : *recovered) {
            const std::string line = "recovery of " + a.plaintext_path + ": " + a.detail;
            notes.push_back(line);
            if (a.outcome == dumps::RecoveryAction::Outcome::needs_attention) {
                errors.push_back(Error{ErrorCode::io, line});
            }
        }
    }
    bool redefined = false;
    for (const auto& host : inventory.hosts) {
        Slot* s = slot(host.provider);
        providers::Provider* provider = s != nullptr ? s->provider() : nullptr;
        if (!host.complete || provider == nullptr) {
            continue;
        }
        auto done = provider->finish_disk_only(config_.state_dir);
        if (!done) {
            errors.push_back(done.error());
            continue;
        }
        for (const auto& line : *done) {
            notes.push_back("provider " + host.provider + ": " + line);
            redefined = true;
        }
    }
    return redefined || (recovered && !recovered->empty());
}

PassResult Reconciler::enforce(TimePoint now, const PassOptions& options) {
    PassResult pass = plan(now, options.scope);
    if (!options.dry_run) {
        std::vector<std::string> notes;
        std::vector<Error> errors;
        if (recover_interrupted(pass.inventory, notes, errors)) {
            // Something changed on disk or in the hypervisor: plan on what is there now.
            pass = plan(now, options.scope);
        }
        pass.plan.notes.insert(pass.plan.notes.end(), notes.begin(), notes.end());
        pass.provider_errors.insert(pass.provider_errors.end(), errors.begin(), errors.end());
    }
    const bool all_complete = std::all_of(pass.inventory.hosts.begin(), pass.inventory.hosts.end(),
                                          [](const HostInventory& h) { return h.complete; });
    const std::size_t cap = config_.safety.max_actions_per_run;
    std::size_t attempted = 0;
    for (const auto& action : pass.plan.actions) {
        ActionResult r;
        r.action = action;
        const HostInventory* host = pass.inventory.host(action.provider);
        if (is_orphan_kind(action.kind) && !all_complete) {
            // An incomplete inventory could make a referenced dump look orphaned.
            r.outcome = Outcome::skipped;
            r.detail = "not every provider was collected completely; orphan dumps are left "
                       "alone this pass";
        } else if (!is_orphan_kind(action.kind) && (host == nullptr || !host->complete)) {
            // Fail closed: an incomplete inventory could hide why an action is wrong.
            r.outcome = Outcome::skipped;
            r.detail = "provider " + action.provider +
                       " could not be collected completely; no action this pass";
        } else if (options.cancel != nullptr && options.cancel->load()) {
            r.outcome = Outcome::skipped;
            r.detail = "shutting down: no new action started";
        } else if (attempted >= cap) {
            r.outcome = Outcome::skipped;
            r.detail =
                "blast-radius cap reached (safety.max_actions_per_run = " + std::to_string(cap) +
                ")";
        } else if (options.dry_run) {
            ++attempted;
            r.outcome = Outcome::dry_run;
            r.detail = "dry run: not carried out";
        } else {
            ++attempted;
            r = execute(action, pass.inventory);
        }
        pass.results.push_back(std::move(r));
    }
    const bool acted =
        std::any_of(pass.results.begin(), pass.results.end(),
                    [](const ActionResult& r) { return r.outcome == Outcome::done; });
    if (!acted) {
        return pass;
    }
    verify(pass, options.scope);
    // Deleting a checkpoint leaves its external memory file behind (libvirt 9): the
    // re-evaluation sees it as an orphan. Handle those files in this pass, under the same
    // cap, when every provider answered both collections; other orphans wait for the next.
    std::set<std::string> freed;
    for (const auto& r : pass.results) {
        if (r.outcome != Outcome::done || r.action.kind != ActionKind::delete_checkpoint) {
            continue;
        }
        const HostInventory* host = pass.inventory.host(r.action.provider);
        const Vm* vm = host != nullptr ? find_vm(*host, r.action.vm_id) : nullptr;
        const Checkpoint* cp =
            vm != nullptr ? find_checkpoint(*vm, r.action.checkpoint_id) : nullptr;
        if (cp != nullptr) {
            freed.insert(cp->memory_files.begin(), cp->memory_files.end());
        }
    }
    if (freed.empty() || !all_complete || !pass.provider_errors.empty() || !pass.after) {
        return pass;
    }
    bool followed_up = false;
    for (const auto& action : pass.after->actions) {
        if (!is_orphan_kind(action.kind) || freed.count(action.path) == 0 || attempted >= cap ||
            (options.cancel != nullptr && options.cancel->load())) {
            continue;
        }
        ++attempted;
        ActionResult r = execute(action, pass.inventory);
        r.detail += " (memory file of a checkpoint deleted in this pass)";
        followed_up = followed_up || r.outcome == Outcome::done;
        pass.results.push_back(std::move(r));
    }
    if (followed_up) {
        verify(pass, options.scope);
    }
    return pass;
}

ActionResult Reconciler::execute(const PlannedAction& action, const Inventory& inventory) {
    ActionResult r;
    r.action = action;
    if (is_orphan_kind(action.kind)) {
        auto done = execute_dump_action(action, nullptr, nullptr, nullptr);
        r.outcome = done ? Outcome::done : Outcome::failed;
        r.detail = done ? *done : done.error().message;
        if (!done) {
            log::error(r.detail);
        }
        return r;
    }
    Slot* s = slot(action.provider);
    providers::Provider* provider = s != nullptr ? s->provider() : nullptr;
    const HostInventory* host = inventory.host(action.provider);
    const Vm* vm = host != nullptr ? find_vm(*host, action.vm_id) : nullptr;
    if (provider == nullptr || vm == nullptr) {
        r.outcome = Outcome::failed;
        r.detail = "internal error: the action names an object the inventory does not hold";
        return r;
    }
    const Checkpoint* cp =
        action.checkpoint_id.empty() ? nullptr : find_checkpoint(*vm, action.checkpoint_id);
    Result<void> outcome;
    switch (action.kind) {
    case ActionKind::delete_checkpoint:
        outcome = cp != nullptr
                      ? provider->delete_checkpoint(*vm, *cp)
                      : Result<void>(fail(ErrorCode::internal, "checkpoint not in inventory"));
        break;
    case ActionKind::disable_checkpoints: outcome = provider->disable_checkpoints(*vm); break;
    case ActionKind::clear_memory_state:
        outcome = cp != nullptr
                      ? provider->clear_memory_state(*vm, *cp)
                      : Result<void>(fail(ErrorCode::internal, "checkpoint not in inventory"));
        break;
    case ActionKind::encrypt_memory:
    case ActionKind::wipe_memory:
    case ActionKind::wipe_orphan:
    case ActionKind::encrypt_orphan: {
        if (cp == nullptr) {
            outcome = fail(ErrorCode::internal, "checkpoint not in inventory");
            break;
        }
        auto done = execute_dump_action(action, provider, vm, cp);
        if (!done) {
            outcome = tl::unexpected(done.error());
            break;
        }
        r.outcome = Outcome::done; // confirmed or not by verify()
        r.detail = *done;
        return r;
    }
    }
    if (!outcome) {
        r.outcome = Outcome::failed;
        r.detail = outcome.error().message;
        log::error(r.detail);
        return r;
    }
    // Counted as done only once verification sees the effect.
    r.outcome = Outcome::done;
    r.detail = "accepted by the provider";
    return r;
}

Result<std::string> Reconciler::execute_dump_action(const PlannedAction& action,
                                                    providers::Provider* provider, const Vm* vm,
                                                    const Checkpoint* cp) {
    const auto& md = config_.memory_dumps;
    const std::string where = is_orphan_kind(action.kind)
                                  ? "orphan dump " + action.path
                                  : "checkpoint '" + action.checkpoint + "' of VM '" + action.vm +
                                        "' (provider " + action.provider + ")";
    auto in_context = [&](const Error& e) {
        return tl::unexpected(
            e.with_context(std::string(policies::to_string(action.kind)) + " on " + where));
    };
    auto encrypt = [&](const std::string& file) -> Result<std::string> {
        if (auto ok = expect_plain_dump(file); !ok) {
            return tl::unexpected(ok.error());
        }
        auto report = dumps::encrypt_file(file, md.recipients, /*keep=*/false, config_.state_dir);
        if (!report) {
            return tl::unexpected(report.error());
        }
        return protect_text(*report);
    };
    auto wipe = [&](const std::string& file, bool encrypted) -> Result<std::string> {
        auto found = classify_one(file);
        if (!found) {
            return tl::unexpected(found.error());
        }
        if (encrypted != (found->kind == dumps::DumpKind::age_encrypted)) {
            return fail(ErrorCode::unsupported,
                        file + ": expected " + (encrypted ? "an age file" : "a memory dump") +
                            ", found " + std::string(dumps::to_string(found->kind)) +
                            "; left alone");
        }
        auto report = dumps::wipe_dump(file);
        if (!report) {
            return tl::unexpected(report.error());
        }
        return wipe_text(*report);
    };

    std::string detail;
    auto append = [&](const std::string& text) { detail += (detail.empty() ? "" : "; ") + text; };
    switch (action.kind) {
    case ActionKind::encrypt_orphan:
    case ActionKind::wipe_orphan: {
        if (auto ok = expect_plain_dump(action.path); !ok) {
            return in_context(ok.error());
        }
        auto done = action.kind == ActionKind::wipe_orphan ? wipe(action.path, false)
                                                           : encrypt(action.path);
        if (!done) {
            return in_context(done.error());
        }
        return *done;
    }
    case ActionKind::encrypt_memory:
        for (const auto& file : cp->memory_files) {
            if (!present(file) && present(file + ".age")) {
                append(file + " was already encrypted");
                continue;
            }
            auto done = encrypt(file);
            if (!done) {
                return in_context(done.error());
            }
            append(*done);
            append("before reverting to this checkpoint run: snapgov dump decrypt -i "
                   "IDENTITY_FILE " +
                   file + ".age -o " + file);
        }
        return detail;
    case ActionKind::wipe_memory:
        // Wipe only where the checkpoint can then be redefined, so the hypervisor is never
        // left pointing at a file that is gone for good.
        if (!provider->capabilities().make_disk_only) {
            return in_context(Error{ErrorCode::unsupported,
                                    "the provider cannot redefine the checkpoint disk-only; "
                                    "nothing was wiped"});
        }
        for (const auto& file : cp->memory_files) {
            for (const bool encrypted : {false, true}) {
                const std::string target = encrypted ? file + ".age" : file;
                if (!present(target)) {
                    continue;
                }
                auto done = wipe(target, encrypted);
                if (!done) {
                    return in_context(done.error());
                }
                append(*done);
            }
        }
        if (auto ok = provider->make_disk_only(*vm, *cp, config_.state_dir); !ok) {
            return tl::unexpected(ok.error());
        }
        append("checkpoint redefined disk-only");
        return detail;
    default: break;
    }
    return fail(ErrorCode::internal, "not a memory-dump action");
}

void Reconciler::verify(PassResult& pass, PassScope scope) {
    Inventory after = collect();
    for (const auto& host : after.hosts) {
        const HostInventory* before = pass.inventory.host(host.provider);
        // A provider that was already down is reported once, from the first collection.
        if (!host.complete && host.error && before != nullptr && before->complete) {
            pass.provider_errors.push_back(host.error->with_context("after acting"));
        }
    }
    for (auto& r : pass.results) {
        if (r.outcome != Outcome::done) {
            continue;
        }
        if (is_orphan_kind(r.action.kind)) {
            const bool seen =
                !present(r.action.path) &&
                (r.action.kind == ActionKind::wipe_orphan || present(r.action.path + ".age"));
            if (seen) {
                r.detail += "; verified on disk";
            } else {
                r.outcome = Outcome::not_verified;
                r.detail += "; but on disk " + r.action.path +
                            " is still there or its .age is "
                            "missing";
            }
            continue;
        }
        const HostInventory* host = after.host(r.action.provider);
        if (host == nullptr || !host->complete) {
            r.outcome = Outcome::not_verified;
            r.detail = "the provider could not be read again to confirm the effect";
            continue;
        }
        const Vm* vm = find_vm(*host, r.action.vm_id);
        bool seen = false;
        switch (r.action.kind) {
        case ActionKind::delete_checkpoint:
            seen = vm == nullptr || find_checkpoint(*vm, r.action.checkpoint_id) == nullptr;
            break;
        case ActionKind::disable_checkpoints:
            seen = vm != nullptr && vm->checkpoint_setting == CheckpointSetting::disabled;
            break;
        case ActionKind::clear_memory_state: {
            const Checkpoint* cp =
                vm == nullptr ? nullptr : find_checkpoint(*vm, r.action.checkpoint_id);
            seen = cp == nullptr || cp->memory == MemoryKind::none;
            break;
        }
        case ActionKind::encrypt_memory:
        case ActionKind::wipe_memory: {
            // The checkpoint as it was: its files are what the action worked on.
            const HostInventory* was = pass.inventory.host(r.action.provider);
            const Vm* old_vm = was != nullptr ? find_vm(*was, r.action.vm_id) : nullptr;
            const Checkpoint* old_cp =
                old_vm != nullptr ? find_checkpoint(*old_vm, r.action.checkpoint_id) : nullptr;
            const Checkpoint* cp =
                vm == nullptr ? nullptr : find_checkpoint(*vm, r.action.checkpoint_id);
            seen = old_cp != nullptr;
            for (const auto& f :
                 old_cp != nullptr ? old_cp->memory_files : std::vector<std::string>{}) {
                seen = seen && !present(f) &&
                       (r.action.kind == ActionKind::wipe_memory ? !present(f + ".age")
                                                                 : present(f + ".age"));
            }
            if (r.action.kind == ActionKind::wipe_memory) {
                seen = seen && (cp == nullptr || cp->memory == MemoryKind::none);
            }
            break;
        }
        default: break;
        }
        if (is_dump_kind(r.action.kind) && seen) {
            r.detail += "; verified: " + std::string(r.action.kind == ActionKind::wipe_memory
                                                         ? "file gone and checkpoint disk-only"
                                                         : "plaintext gone, .age present");
        } else if (seen) {
            r.detail = "verified: effect seen on re-collection";
        } else {
            r.outcome = Outcome::not_verified;
            r.detail = "the provider accepted the action but the effect is not visible";
            log::error("provider " + r.action.provider + ": " +
                       std::string(policies::to_string(r.action.kind)) + " on " + r.action.vm +
                       " " + r.action.checkpoint + ": " + r.detail);
        }
    }
    const policies::DumpFacts facts =
        scope == PassScope::full ? gather_dump_facts(after) : policies::DumpFacts{};
    pass.after =
        policies::evaluate(after, policies_for(scope), config_.exemptions, pass.now, facts);
}

} // namespace snapgov::daemon
