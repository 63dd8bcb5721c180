#pragma once
/// The provider interface: one hypervisor connection that reports inventory and carries out
/// checkpoint actions. Adding a hypervisor is one folder with a `Provider`, its settings and a
/// `ProviderFactory`, plus one line in `providers/builtin.cpp` and one CMake option.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config_section.hpp"
#include "core/error.hpp"
#include "core/inventory.hpp"
#include "providers/provider_spec.hpp"

namespace snapgov::providers {

/// Signs of life of a provider call that may take long (collect()): the provider beats after
/// every answer it gets from the hypervisor, so whoever waits can tell a large, healthy host
/// (answers keep coming) from a stalled one (no answer for a read timeout). Thread-safe: a
/// provider may beat from several threads while another thread reads last().
class Heartbeat {
public:
    using Clock = std::chrono::steady_clock;

    /// Records an answer now.
    void beat() noexcept {
        last_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    }
    /// Starts a call: beats, and says whether the provider is still connecting (the connect
    /// timeout applies until connected() is called) or already connected (the read timeout).
    void start(bool connecting) noexcept {
        connecting_.store(connecting, std::memory_order_relaxed);
        beat();
    }
    /// The connection is up: from now on answers are due within the read timeout.
    void connected() noexcept {
        connecting_.store(false, std::memory_order_relaxed);
        beat();
    }
    /// When the last answer came (or the call started).
    [[nodiscard]] Clock::time_point last() const noexcept {
        return Clock::time_point(Clock::duration(last_.load(std::memory_order_relaxed)));
    }
    /// Whether the call is still connecting.
    [[nodiscard]] bool connecting() const noexcept {
        return connecting_.load(std::memory_order_relaxed);
    }

private:
    std::atomic<Clock::rep> last_{Clock::now().time_since_epoch().count()};
    std::atomic<bool> connecting_{false};
};

/// What a collection must return at least.
struct CollectScope {
    /// Only what `checkpoints: deny` policies act on (the daemon's fast pass). A provider
    /// that cannot switch checkpoints off (no `disable_checkpoints` capability) deletes
    /// checkpoints on sight and nothing else, so it may leave out VMs without checkpoints
    /// where the hypervisor filters them for it. A provider may always return more.
    bool deny_only = false;
    /// Whether Checkpoint::current must be right. Only the inventory shows it; policies and
    /// actions never read it, so a pass leaves it out. Without it a provider may report every
    /// checkpoint as not current, where knowing costs a call per VM (libvirt).
    bool mark_current = true;
};

/// A connection to one hypervisor. Not thread-safe: one pass uses it from one thread.
///
/// The public methods are the entry points every caller uses: they check the provider's
/// capabilities and add the provider's name and the object to every error, then call the
/// protected `do_*` hook that each provider implements. Actions return success only when the
/// hypervisor accepted them; whether the effect is visible is checked by the caller, which
/// collects again.
class Provider {
public:
    explicit Provider(std::string name) : name_(std::move(name)) {}
    virtual ~Provider() = default;
    Provider(const Provider&) = delete;
    Provider& operator=(const Provider&) = delete;

    /// The configured name (`lab`, `hv01`).
    [[nodiscard]] const std::string& name() const { return name_; }
    /// The provider type (`libvirt`, `hyperv`).
    [[nodiscard]] virtual std::string_view type() const = 0;
    /// What this provider can do; constant for its lifetime.
    [[nodiscard]] virtual Capabilities capabilities() const = 0;

    /// Reads every VM and checkpoint. On success the result is complete (`complete = true`);
    /// any failure that could hide a VM or a checkpoint is an error, never a partial list.
    /// `scope` may narrow what is read (see CollectScope); every VM by default.
    [[nodiscard]] Result<HostInventory> collect(const CollectScope& scope = {});

    /// Deletes one checkpoint (its metadata and, where the hypervisor does so, its data).
    [[nodiscard]] Result<void> delete_checkpoint(const Vm& vm, const Checkpoint& checkpoint);
    /// Turns off the VM's ability to take checkpoints. Fails with `unsupported` when the
    /// hypervisor has no such switch.
    [[nodiscard]] Result<void> disable_checkpoints(const Vm& vm);
    /// Drops the memory state of one checkpoint and keeps its disks.
    [[nodiscard]] Result<void> clear_memory_state(const Vm& vm, const Checkpoint& checkpoint);

    /// Turns a checkpoint with external memory into a disk-only checkpoint, after its memory
    /// file was wiped or encrypted away, so that the hypervisor no longer references the
    /// file. Steps that could leave the checkpoint undefined are journaled first in
    /// `journal_dir` (created 0700 if missing); finish_disk_only() completes them after a
    /// crash. Fails with `unsupported` when the provider cannot (capability make_disk_only).
    [[nodiscard]] Result<void> make_disk_only(const Vm& vm, const Checkpoint& checkpoint,
                                              const std::string& journal_dir);
    /// Completes make_disk_only() operations of this provider that a crash interrupted, from
    /// their journals in `journal_dir`; returns one line per operation it completed. Nothing
    /// to do (and success) for providers without the capability or without journals.
    [[nodiscard]] Result<std::vector<std::string>> finish_disk_only(const std::string& journal_dir);

    /// Called with a VM's name when the hypervisor reports a change to it (lifecycle,
    /// define, undefine, revert). Runs on a provider-owned thread: keep it short and
    /// thread-safe (post the work elsewhere).
    using EventSink = std::function<void(const std::string& vm_name)>;
    /// Subscribes to the hypervisor's VM events, if it has any; `unsupported` otherwise.
    /// The subscription lasts as long as the provider, across reconnects.
    [[nodiscard]] virtual Result<void> watch(EventSink sink);

    /// Where collect() reports its progress (see Heartbeat); shared with whoever waits on the
    /// provider, which may be another thread. Null (the default): progress goes nowhere.
    void set_heartbeat(std::shared_ptr<Heartbeat> heartbeat) { heartbeat_ = std::move(heartbeat); }

protected:
    /// Reports an answer from the hypervisor to the heartbeat, if there is one. Safe to call
    /// from several threads of one collect().
    void beat() const noexcept {
        if (heartbeat_) {
            heartbeat_->beat();
        }
    }

    [[nodiscard]] virtual Result<HostInventory> do_collect(const CollectScope& scope) = 0;
    [[nodiscard]] virtual Result<void> do_delete_checkpoint(const Vm& vm,
                                                            const Checkpoint& checkpoint) = 0;
    [[nodiscard]] virtual Result<void> do_disable_checkpoints(const Vm& vm);
    [[nodiscard]] virtual Result<void> do_clear_memory_state(const Vm& vm,
                                                             const Checkpoint& checkpoint);
    [[nodiscard]] virtual Result<void> do_make_disk_only(const Vm& vm, const Checkpoint& checkpoint,
                                                         const std::string& journal_dir);
    [[nodiscard]] virtual Result<std::vector<std::string>>
    do_finish_disk_only(const std::string& journal_dir);

private:
    std::string name_;
    std::shared_ptr<Heartbeat> heartbeat_;
};

/// How the engine will use a provider it creates: what the provider may leave out.
struct ProviderUse {
    /// Collections only, no actions and no watch() (`plan`, `inventory`): the provider may
    /// skip what only those need, such as libvirt's event loop, which wakes on every call to
    /// drive keepalive and events. Each collection stays bounded by the engine's progress
    /// deadline (see Heartbeat).
    bool collect_only = false;
};

/// Reads the settings of one provider type and creates providers of that type from them.
/// Stateless: one factory serves every provider entry of its type.
class ProviderFactory {
public:
    virtual ~ProviderFactory() = default;
    /// The `type:` value this factory answers to.
    [[nodiscard]] virtual std::string_view type() const = 0;
    /// Reads this type's keys from one `providers:` entry. `entry` is the whole entry: the
    /// policy loader has read the common keys (name, type, connect_timeout, read_timeout),
    /// which entry.check_keys() accepts, and names the entry `TYPE provider 'NAME'` in
    /// messages (entry.what()). Reports every problem into the entry's file at its position:
    /// unknown keys are warnings; wrong types, missing keys and settings that cannot work
    /// (what validate() checks) are errors. Reads no file and connects nowhere. Returns
    /// nullptr when it reported an error.
    [[nodiscard]] virtual std::shared_ptr<const ProviderSettings>
    parse(const ConfigSection& entry) const = 0;
    /// Checks that `spec.settings` are this type's and can work, without I/O: what parse()
    /// already checked for a spec the policy loader made, for specs built in code. The error
    /// names `spec.origin` and the fix.
    [[nodiscard]] virtual Result<void> validate(const ProviderSpec& spec) const = 0;
    /// Validates, then connects (or prepares to, on first use), for the `use` the caller
    /// promises. The provider owns its connection. `spec.type` must be this factory's type.
    [[nodiscard]] virtual Result<std::unique_ptr<Provider>>
    create(const ProviderSpec& spec, const ProviderUse& use) const = 0;
};

} // namespace snapgov::providers
