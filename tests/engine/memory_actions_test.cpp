// The enforce pass carrying out memory-dump actions on a libvirt test-driver host whose
// checkpoints' memory files are real files in a temporary directory.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "dumps/age_keys.hpp"
#include "dumps/dump_commands.hpp"
#include "engine/engine.hpp"
#include "providers/builtin.hpp"
#include "providers/libvirt/libvirt_settings.hpp"
#include "tests/support/support.hpp"

namespace fs = std::filesystem;
using namespace snapgov;
using namespace snapgov::engine;
using policies::ActionKind;
using namespace snapgov::testing;

namespace {

const TimePoint kMemoryNow = parse_rfc3339("2026-11-24T12:00:00Z").value();

// A test-driver host: VM `vm1` with checkpoint `s1` (external memory in `mem1`) and VM `vm2`
// with checkpoint `s2` (external memory in `mem2`, a child `s2-child` that is current).
std::string host_xml(const std::string& mem1, const std::string& mem2) {
    auto domain = [](const std::string& name, const std::string& uuid,
                     const std::string& snapshots) {
        return "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
               "<name>" +
               name + "</name><uuid>" + uuid +
               "</uuid><memory unit='MiB'>64</memory>"
               "<os><type>hvm</type></os><test:runstate>1</test:runstate>" +
               snapshots + "</domain>";
    };
    auto snapshot = [](const std::string& vm, const std::string& uuid, const std::string& name,
                       const std::string& memory, const std::string& parent, bool active) {
        return "<test:domainsnapshot><name>" + name + "</name><state>" +
               (memory.empty() ? "disk-snapshot" : "running") + "</state>" +
               (parent.empty() ? "" : "<parent><name>" + parent + "</name></parent>") +
               "<creationTime>1795500000</creationTime>" +
               (memory.empty() ? "<memory snapshot='no'/>"
                               : "<memory snapshot='external' file='" + memory + "'/>") +
               "<active>" + (active ? "1" : "0") + "</active><domain type='test'><name>" + vm +
               "</name><uuid>" + uuid +
               "</uuid><memory unit='MiB'>64</memory><os><type>hvm"
               "</type></os></domain></test:domainsnapshot>";
    };
    const std::string u1 = "5a9e0000-0000-4000-8000-0000000000a1";
    const std::string u2 = "5a9e0000-0000-4000-8000-0000000000a2";
    return "<node>" + domain("vm1", u1, snapshot("vm1", u1, "s1", mem1, "", true)) +
           domain("vm2", u2,
                  snapshot("vm2", u2, "s2", mem2, "", false) +
                      snapshot("vm2", u2, "s2-child", "", "s2", true)) +
           "</node>";
}

struct MemoryFixture {
    TempDir dir;
    dumps::X25519Identity identity = dumps::X25519Identity::generate().value();
    std::string mem1 = dir.str("snapshots/vm1/s1.mem");
    std::string mem2 = dir.str("snapshots/vm2/s2.mem");
    std::string data1;
    std::string data2;
    policies::Config config;
    std::shared_ptr<const providers::ProviderRegistry> registry =
        std::make_shared<const providers::ProviderRegistry>(providers::builtin_registry().value());

    explicit MemoryFixture(policies::MemoryState state) {
        data1 = write_dump(mem1, 300 * 1024);
        data2 = write_dump(mem2, 70 * 1024);
        std::ofstream(dir.str("host.xml")) << host_xml(mem1, mem2);
        providers::ProviderSpec spec;
        spec.name = "lab";
        spec.type = "libvirt";
        spec.settings =
            std::make_shared<providers::libvirt::LibvirtSettings>("test://" + dir.str("host.xml"));
        config.path = dir.str("policy.yaml");
        config.providers = {spec};
        policies::Policy p;
        p.name = "mem";
        p.mode = policies::Mode::enforce;
        p.memory_state = state;
        config.policies = {p};
        config.memory_dumps.recipients = {identity.recipient().to_string()};
        config.state_dir = dir.str("state");
    }

    [[nodiscard]] PassResult enforce(bool dry_run = false) {
        Engine engine(std::make_shared<const policies::Config>(config), registry);
        PassOptions options;
        options.dry_run = dry_run;
        return engine.enforce(kMemoryNow, options);
    }

    [[nodiscard]] std::string decrypt(const std::string& age_file) const {
        const std::string key = dir.str("key.txt");
        if (!fs::exists(key)) {
            std::ofstream(key) << identity.to_string() << "\n";
            ::chmod(key.c_str(), 0600);
        }
        const std::string out = dir.str("restored-" + fs::path(age_file).stem().string());
        auto r = dumps::decrypt_file(age_file, key, out);
        REQUIRE(r.has_value());
        return slurp(out);
    }
};

const ActionResult& result_for(const PassResult& pass, ActionKind kind,
                               const std::string& checkpoint = "") {
    for (const auto& r : pass.results) {
        if (r.action.kind == kind && (checkpoint.empty() || r.action.checkpoint == checkpoint)) {
            return r;
        }
    }
    FAIL("no result for " << policies::to_string(kind) << " " << checkpoint);
    throw std::logic_error("unreachable");
}

const Checkpoint* find(const Inventory& inv, const std::string& vm, const std::string& cp) {
    for (const auto& h : inv.hosts) {
        for (const auto& v : h.vms) {
            for (const auto& c : v.checkpoints) {
                if (v.name == vm && c.name == cp) {
                    return &c;
                }
            }
        }
    }
    return nullptr;
}

} // namespace

TEST_CASE("enforce encrypts memory dumps; the violation is gone and the dump decrypts",
          "[engine][memory]") {
    MemoryFixture f(policies::MemoryState::encrypt);
    const PassResult pass = f.enforce();
    REQUIRE(pass.results.size() == 2);
    for (const auto& r : pass.results) {
        INFO(r.summary());
        CHECK(r.action.kind == ActionKind::encrypt_memory);
        CHECK(r.outcome == Outcome::done);
        CHECK_THAT(r.summary(), Catch::Contains("verified"));
        CHECK_THAT(r.summary(), Catch::Contains("snapgov dump decrypt -i IDENTITY_FILE"));
    }
    CHECK_FALSE(fs::exists(f.mem1));
    CHECK_FALSE(fs::exists(f.mem2));
    REQUIRE(pass.after.has_value());
    CHECK(pass.after->violations() == 0);
    CHECK(pass.exit_code() == 0);
    CHECK(f.decrypt(f.mem1 + ".age") == f.data1);
    CHECK(f.decrypt(f.mem2 + ".age") == f.data2);

    // A new pass (the test driver starts again from host.xml, which still names the plaintext
    // files): only FILE.age exists, which complies; the plan says how to restore it.
    const PassResult again = f.enforce();
    CHECK(again.plan.violations() == 0);
    CHECK(again.results.empty());
    CHECK(again.exit_code() == 0);
    bool hint = false;
    for (const auto& n : again.plan.notes) {
        hint = hint || n.find("snapgov dump decrypt -i IDENTITY_FILE " + f.mem1 + ".age -o " +
                              f.mem1) != std::string::npos;
    }
    CHECK(hint);
}

TEST_CASE("a FIFO at a memory path (snapgov checkpoint create streaming) beside FILE.age counts "
          "as encrypted, and nothing acts on it",
          "[engine][memory]") {
    MemoryFixture f(policies::MemoryState::encrypt);
    fs::remove(f.mem1);
    REQUIRE(::mkfifo(f.mem1.c_str(), 0600) == 0);
    std::ofstream(f.mem1 + ".age") << "age-encryption.org/v1\n";
    const PassResult pass = f.enforce(true);
    CHECK(pass.plan.violations() == 1); // s2's dump, in the clear
    for (const auto& r : pass.results) {
        CHECK(r.action.checkpoint != "s1");
    }
    CHECK(fs::is_fifo(f.mem1));
}

TEST_CASE("enforce wipes memory dumps and redefines the checkpoints disk-only",
          "[engine][memory]") {
    MemoryFixture f(policies::MemoryState::wipe);
    Engine engine(std::make_shared<const policies::Config>(f.config), f.registry);
    const PassResult pass = engine.enforce(kMemoryNow, {});
    REQUIRE(pass.results.size() == 2);
    for (const auto& r : pass.results) {
        INFO(r.summary());
        CHECK(r.action.kind == ActionKind::wipe_memory);
        CHECK(r.outcome == Outcome::done);
        CHECK_THAT(r.summary(), Catch::Contains("assurance"));
        CHECK_THAT(r.summary(), Catch::Contains("disk-only"));
    }
    CHECK_FALSE(fs::exists(f.mem1));
    CHECK_FALSE(fs::exists(f.mem2));
    CHECK(pass.exit_code() == 0);
    // The same connection (the test driver's state) shows disk-only checkpoints, with the
    // tree and the current checkpoint unchanged.
    const Inventory now = engine.collect();
    const Checkpoint* s2 = find(now, "vm2", "s2");
    REQUIRE(s2 != nullptr);
    CHECK(s2->memory == MemoryKind::none);
    CHECK(s2->state == "disk-snapshot");
    const Checkpoint* child = find(now, "vm2", "s2-child");
    REQUIRE(child != nullptr);
    CHECK(child->parent == std::optional<std::string>("s2"));
    CHECK(child->current);
    REQUIRE(find(now, "vm1", "s1") != nullptr);
    CHECK(find(now, "vm1", "s1")->current);
}

TEST_CASE("a memory file that is not a memory dump is neither encrypted nor wiped",
          "[engine][memory][safety]") {
    for (const auto state : {policies::MemoryState::encrypt, policies::MemoryState::wipe}) {
        MemoryFixture f(state);
        const std::string impostor = write_dump(f.mem1, 4096, /*magic=*/false);
        const PassResult pass = f.enforce();
        const auto& r =
            result_for(pass,
                       state == policies::MemoryState::wipe ? ActionKind::wipe_memory
                                                            : ActionKind::encrypt_memory,
                       "s1");
        CHECK(r.outcome == Outcome::failed);
        CHECK_THAT(r.summary(), Catch::Contains(f.mem1));
        CHECK_THAT(r.summary(), Catch::Contains("does not look like a VM memory dump"));
        CHECK(slurp(f.mem1) == impostor);
        CHECK_FALSE(fs::exists(f.mem1 + ".age"));
        CHECK(pass.exit_code() == 2);
    }
}

TEST_CASE("memory actions stay under the blast-radius cap; dry-run touches nothing",
          "[engine][memory][safety]") {
    MemoryFixture f(policies::MemoryState::encrypt);
    const PassResult dry = f.enforce(/*dry_run=*/true);
    REQUIRE(dry.results.size() == 2);
    CHECK(dry.results[0].outcome == Outcome::dry_run);
    CHECK(fs::exists(f.mem1));
    CHECK(fs::exists(f.mem2));

    f.config.safety.max_actions_per_run = 1;
    const PassResult capped = f.enforce();
    REQUIRE(capped.results.size() == 2);
    CHECK(capped.results[0].outcome == Outcome::done);
    CHECK(capped.results[1].outcome == Outcome::skipped);
    CHECK(fs::exists(f.mem1) != fs::exists(f.mem2)); // exactly one was encrypted
    CHECK(capped.exit_code() == 1);
}

TEST_CASE("orphan dumps are wiped only when every provider was collected, and not if recent",
          "[engine][orphans]") {
    MemoryFixture f(policies::MemoryState::keep);
    const std::string old_orphan = f.dir.str("snapshots/left/old.mem");
    write_dump(old_orphan, 8192);
    const std::string fresh = f.dir.str("snapshots/left/fresh.mem");
    write_dump(fresh, 8192);
    fs::last_write_time(fresh, fs::file_time_type::clock::now());
    // A managed save image of a known VM is not an orphan.
    const std::string managed = f.dir.str("snapshots/vm1.save");
    write_dump(managed, 8192);
    f.config.memory_dumps.scan_paths = {f.dir.str("snapshots")};
    f.config.memory_dumps.orphans = policies::OrphanAction::wipe;

    // A second provider that cannot be collected: a dump it references would look orphaned.
    providers::ProviderSpec broken = f.config.providers.front();
    broken.name = "broken";
    broken.settings =
        std::make_shared<providers::libvirt::LibvirtSettings>("test:///nonexistent/host.xml");
    f.config.providers.push_back(broken);
    const PassResult doubtful = f.enforce();
    CHECK(doubtful.plan.actions.empty());
    CHECK(fs::exists(old_orphan));
    CHECK(doubtful.exit_code() == 2);

    f.config.providers.pop_back();
    const PassResult pass = f.enforce();
    REQUIRE(pass.results.size() == 1);
    const auto& r = pass.results.front();
    CHECK(r.action.kind == ActionKind::wipe_orphan);
    CHECK(r.action.path == old_orphan);
    CHECK(r.outcome == Outcome::done);
    CHECK_THAT(r.summary(), Catch::Contains("verified"));
    CHECK_FALSE(fs::exists(old_orphan));
    CHECK(fs::exists(fresh));
    CHECK(fs::exists(managed));
    CHECK(fs::exists(f.mem1)); // referenced by a checkpoint
    // The fresh one remains a (reported) finding: exit 1.
    REQUIRE(pass.after.has_value());
    CHECK(pass.after->violations() == 1);
    CHECK(pass.exit_code() == 1);
}

TEST_CASE("orphans: encrypt turns an orphan into FILE.age", "[engine][orphans]") {
    MemoryFixture f(policies::MemoryState::keep);
    const std::string orphan = f.dir.str("snapshots/left/old.mem");
    const std::string data = write_dump(orphan, 100 * 1024);
    f.config.memory_dumps.scan_paths = {f.dir.str("snapshots/left")};
    f.config.memory_dumps.orphans = policies::OrphanAction::encrypt;
    const PassResult pass = f.enforce();
    REQUIRE(pass.results.size() == 1);
    CHECK(pass.results[0].action.kind == ActionKind::encrypt_orphan);
    CHECK(pass.results[0].outcome == Outcome::done);
    CHECK_FALSE(fs::exists(orphan));
    CHECK(f.decrypt(orphan + ".age") == data);
    CHECK(pass.exit_code() == 0);
}

TEST_CASE("the memory file of a checkpoint deleted by the pass is handled in the same pass",
          "[engine][orphans]") {
    MemoryFixture f(policies::MemoryState::keep);
    policies::Policy deny;
    deny.name = "deny-vm1";
    deny.mode = policies::Mode::enforce;
    deny.deny = true;
    deny.match.names = {"vm1"};
    f.config.policies.push_back(deny);
    f.config.memory_dumps.scan_paths = {f.dir.str("snapshots")};

    SECTION("orphans: wipe wipes it, after the deletion, within the pass") {
        f.config.memory_dumps.orphans = policies::OrphanAction::wipe;
        const PassResult pass = f.enforce();
        REQUIRE(pass.results.size() == 2);
        CHECK(pass.results[0].action.kind == ActionKind::delete_checkpoint);
        CHECK(pass.results[1].action.kind == ActionKind::wipe_orphan);
        CHECK(pass.results[1].action.path == f.mem1);
        CHECK(pass.results[1].outcome == Outcome::done);
        CHECK_FALSE(fs::exists(f.mem1));
        CHECK(fs::exists(f.mem2)); // still referenced by vm2's checkpoint
        CHECK(pass.exit_code() == 0);
    }
    SECTION("the blast-radius cap counts the follow-up too") {
        f.config.memory_dumps.orphans = policies::OrphanAction::wipe;
        f.config.safety.max_actions_per_run = 1;
        const PassResult pass = f.enforce();
        REQUIRE(pass.results.size() == 1);
        CHECK(fs::exists(f.mem1));
        CHECK(pass.exit_code() == 1);
    }
    SECTION("orphans: report leaves it, as a finding") {
        const PassResult pass = f.enforce();
        REQUIRE(pass.results.size() == 1);
        CHECK(fs::exists(f.mem1));
        REQUIRE(pass.after.has_value());
        CHECK(pass.after->violations() == 1);
    }
}

TEST_CASE("an orphan known only by a Hyper-V name is reported with the reason, never wiped or "
          "encrypted",
          "[engine][orphans][safety]") {
    for (const auto action : {policies::OrphanAction::wipe, policies::OrphanAction::encrypt}) {
        INFO("orphans: " << policies::to_string(action));
        MemoryFixture f(policies::MemoryState::keep);
        // A 19-byte text file named like Hyper-V saved state, old enough to be acted on.
        const std::string report = f.dir.str("snapshots/left/Report.VSV");
        const std::string content = write_dump(report, 19, /*magic=*/false);
        const std::string dump = f.dir.str("snapshots/left/old.mem");
        write_dump(dump, 8192);
        f.config.memory_dumps.scan_paths = {f.dir.str("snapshots/left")};
        f.config.memory_dumps.orphans = action;
        const PassResult pass = f.enforce();
        // The real dump (identified by its header) is acted on; the name-only one is not.
        REQUIRE(pass.results.size() == 1);
        CHECK(pass.results[0].action.path == dump);
        for (const auto& a : pass.plan.actions) {
            CHECK(a.path != report);
        }
        const policies::Finding* finding = nullptr;
        for (const auto& fi : pass.plan.findings) {
            if (fi.path == report) {
                finding = &fi;
            }
        }
        REQUIRE(finding != nullptr);
        CHECK(finding->mode == policies::Mode::audit);
        CHECK_THAT(finding->detail, Catch::Contains("hyperv-state") &&
                                        Catch::Contains("file name only") &&
                                        Catch::Contains("never wiped or encrypted"));
        CHECK(slurp(report) == content);
        CHECK_FALSE(fs::exists(report + ".age"));
    }
}
