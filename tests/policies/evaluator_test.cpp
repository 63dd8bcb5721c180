#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "policies/evaluator.hpp"

using namespace snapgov;
using namespace snapgov::policies;
using std::chrono::hours;
using std::chrono::seconds;

namespace {

const TimePoint kNow = parse_rfc3339("2026-11-24T12:00:00Z").value();

Checkpoint cp(std::string name, seconds age, std::optional<std::string> parent = std::nullopt,
              MemoryKind memory = MemoryKind::none, std::string description = "") {
    Checkpoint c;
    c.id = name;
    c.name = std::move(name);
    c.created = kNow - age;
    c.parent = std::move(parent);
    c.memory = memory;
    if (memory == MemoryKind::external) {
        c.memory_files = {"/dumps/" + c.name + ".mem"};
    }
    c.description = std::move(description);
    return c;
}

Vm vm(std::string name, std::vector<Checkpoint> checkpoints,
      std::map<std::string, std::string> labels = {}) {
    Vm v;
    v.id = "id-" + name;
    v.name = std::move(name);
    v.labels = std::move(labels);
    v.checkpoints = std::move(checkpoints);
    return v;
}

// A local libvirt-like provider: deletes, has no checkpoint switch, and its memory files are
// on this machine (it can redefine a checkpoint disk-only).
constexpr Capabilities kLocal = {true, false, false, true, true};

Inventory inventory(std::vector<Vm> vms, Capabilities caps = kLocal, std::string provider = "lab") {
    HostInventory h;
    h.provider = std::move(provider);
    h.type = "libvirt";
    h.complete = true;
    h.capabilities = caps;
    h.vms = std::move(vms);
    Inventory inv;
    inv.hosts.push_back(std::move(h));
    return inv;
}

Policy policy(std::string name, Mode mode = Mode::enforce) {
    Policy p;
    p.name = std::move(name);
    p.mode = mode;
    return p;
}

std::vector<std::string> deleted(const Plan& plan) {
    std::vector<std::string> out;
    for (const auto& a : plan.actions) {
        if (a.kind == ActionKind::delete_checkpoint) {
            out.push_back(a.checkpoint);
        }
    }
    return out;
}

std::vector<std::string> rules(const Plan& plan) {
    std::vector<std::string> out;
    for (const auto& f : plan.findings) {
        out.push_back(f.policy + ":" + f.checkpoint + ":" + f.rule + (f.exempt ? ":exempt" : ""));
    }
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace

TEST_CASE("max_age: age equal to max_age is compliant, one second more violates",
          "[evaluator][max_age]") {
    struct Row {
        seconds age;
        bool violates;
    };
    const auto row = GENERATE(Row{hours{72} - seconds{1}, false}, Row{hours{72}, false},
                              Row{hours{72} + seconds{1}, true}, Row{hours{24 * 365}, true},
                              Row{seconds{0}, false});
    auto p = policy("retention");
    p.max_age = hours{72};
    const auto plan = evaluate(inventory({vm("dev-1", {cp("c", row.age)})}), {p}, {}, kNow);
    CAPTURE(row.age.count());
    CHECK(plan.violations() == (row.violates ? 1u : 0u));
    CHECK(deleted(plan) ==
          (row.violates ? std::vector<std::string>{"c"} : std::vector<std::string>{}));
}

TEST_CASE("an age just past max_age says by how much, not 'age 3d exceeds max_age 3d'",
          "[evaluator][max_age][messages]") {
    auto p = policy("retention");
    p.max_age = hours{72};
    const auto near =
        evaluate(inventory({vm("dev-1", {cp("c", hours{72} + seconds{3})})}), {p}, {}, kNow);
    REQUIRE(near.findings.size() == 1);
    CHECK(near.findings[0].detail == "age 3d + 3s exceeds max_age 3d");
    const auto far = evaluate(inventory({vm("dev-1", {cp("c", hours{75})})}), {p}, {}, kNow);
    REQUIRE(far.findings.size() == 1);
    CHECK(far.findings[0].detail == "age 3d3h exceeds max_age 3d");
}

TEST_CASE("max_count keeps the newest by creation time", "[evaluator][max_count]") {
    auto p = policy("count");
    p.max_count = 2;
    const auto plan =
        evaluate(inventory({vm("dev-1", {cp("old", hours{30}), cp("new", hours{1}),
                                         cp("mid", hours{10}), cp("oldest", hours{50})})}),
                 {p}, {}, kNow);
    CHECK(deleted(plan) == std::vector<std::string>{"old", "oldest"});
    CHECK(plan.findings.size() == 2);
}

TEST_CASE("max_count ties in creation time: a descendant is newer than its ancestor",
          "[evaluator][max_count]") {
    auto p = policy("count");
    p.max_count = 1;
    // Same second for all three; the chain root <- middle <- leaf decides, not the names.
    const auto plan =
        evaluate(inventory({vm("dev-1", {cp("z-root", hours{1}), cp("a-leaf", hours{1}, "m-middle"),
                                         cp("m-middle", hours{1}, "z-root")})}),
                 {p}, {}, kNow);
    auto d = deleted(plan);
    std::sort(d.begin(), d.end());
    CHECK(d == std::vector<std::string>{"m-middle", "z-root"});
    // Children are deleted before their parents.
    CHECK(deleted(plan) == std::vector<std::string>{"m-middle", "z-root"});
}

TEST_CASE("max_count ties without ancestry fall back to the name, deterministically",
          "[evaluator][max_count]") {
    auto p = policy("count");
    p.max_count = 1;
    const auto a = evaluate(inventory({vm("v", {cp("snap-a", hours{1}), cp("snap-b", hours{1})})}),
                            {p}, {}, kNow);
    const auto b = evaluate(inventory({vm("v", {cp("snap-b", hours{1}), cp("snap-a", hours{1})})}),
                            {p}, {}, kNow);
    CHECK(deleted(a) == std::vector<std::string>{"snap-a"});
    CHECK(deleted(b) == deleted(a));
}

TEST_CASE("ttl in a description shortens max_age but never lengthens it", "[evaluator][ttl]") {
    auto p = policy("retention");
    p.max_age = hours{72};
    const auto plan = evaluate(
        inventory({vm("dev-1", {cp("short", hours{7}, {}, MemoryKind::none, "scratch ttl=6h"),
                                cp("long", hours{80}, {}, MemoryKind::none, "ttl=30d"),
                                cp("fine", hours{5}, {}, MemoryKind::none, "ttl=6h"),
                                cp("bad", hours{1}, {}, MemoryKind::none, "ttl=soon")})}),
        {p}, {}, kNow);
    CHECK(rules(plan) == std::vector<std::string>{"retention:long:max_age", "retention:short:ttl"});
    REQUIRE(plan.notes.size() == 1);
    CHECK_THAT(plan.notes[0], Catch::Contains("ttl=soon"));
}

TEST_CASE("ttl needs a retention policy: it does not act under deny-only or memory policies",
          "[evaluator][ttl]") {
    auto p = policy("mem");
    p.memory_state = MemoryState::encrypt;
    const auto plan =
        evaluate(inventory({vm("dev-1", {cp("short", hours{7}, {}, MemoryKind::none, "ttl=1h")})}),
                 {p}, {}, kNow);
    CHECK(plan.findings.empty());
}

TEST_CASE("checkpoints: deny flags and deletes every checkpoint", "[evaluator][deny]") {
    auto p = policy("prod");
    p.deny = true;
    p.match.labels["tier"] = {"production"};
    const auto plan =
        evaluate(inventory({vm("prod-1", {cp("a", hours{1}), cp("b", seconds{0}, "a")},
                               {{"tier", "production"}}),
                            vm("dev-1", {cp("c", hours{1})}, {{"tier", "dev"}})}),
                 {p}, {}, kNow);
    CHECK(rules(plan) ==
          std::vector<std::string>{"prod:a:checkpoints_denied", "prod:b:checkpoints_denied"});
    CHECK(deleted(plan) == std::vector<std::string>{"b", "a"});
}

TEST_CASE("deny on a provider with a checkpoint switch also disables it, first",
          "[evaluator][deny]") {
    auto p = policy("prod");
    p.deny = true;
    auto v = vm("prod-1", {cp("a", hours{1})});
    v.checkpoint_setting = CheckpointSetting::standard;
    auto off = vm("prod-2", {});
    off.checkpoint_setting = CheckpointSetting::disabled;
    const auto plan = evaluate(inventory({v, off}, {true, true, true}), {p}, {}, kNow);
    REQUIRE(plan.actions.size() == 2);
    CHECK(plan.actions[0].kind == ActionKind::disable_checkpoints);
    CHECK(plan.actions[0].vm == "prod-1");
    CHECK(plan.actions[1].kind == ActionKind::delete_checkpoint);
    CHECK(rules(plan) ==
          std::vector<std::string>{"prod::checkpoint_setting", "prod:a:checkpoints_denied"});
}

TEST_CASE("audit mode reports findings and plans nothing", "[evaluator][mode]") {
    auto p = policy("watch", Mode::audit);
    p.deny = true;
    const auto plan = evaluate(inventory({vm("v", {cp("a", hours{1})})}), {p}, {}, kNow);
    CHECK(plan.violations() == 1);
    CHECK(plan.actions.empty());
}

TEST_CASE("exemptions: active before expiry, ignored from the expiry instant on",
          "[evaluator][exemptions]") {
    auto p = policy("prod");
    p.deny = true;
    Exemption e;
    e.policy = "prod";
    e.vm = "v";
    e.reason = "CHG-1";
    struct Row {
        seconds until_expiry;
        bool exempt;
    };
    const auto row =
        GENERATE(Row{seconds{1}, true}, Row{seconds{0}, false}, Row{seconds{-1}, false});
    e.expires = kNow + row.until_expiry;
    const auto plan = evaluate(inventory({vm("v", {cp("a", hours{1})})}), {p}, {e}, kNow);
    REQUIRE(plan.findings.size() == 1);
    CHECK(plan.findings[0].exempt == row.exempt);
    CHECK(plan.actions.size() == (row.exempt ? 0u : 1u));
    CHECK(plan.notes.size() == (row.exempt ? 0u : 1u));
    if (row.exempt) {
        CHECK_THAT(plan.findings[0].exemption, Catch::Contains("CHG-1"));
    } else {
        CHECK_THAT(plan.notes[0], Catch::Contains("expired"));
    }
}

TEST_CASE("a checkpoint exemption covers only that checkpoint of that VM and policy",
          "[evaluator][exemptions]") {
    auto p = policy("prod");
    p.deny = true;
    auto q = policy("other");
    q.max_count = 0;
    Exemption e{"prod", "v", std::string("keep-me"), "CHG-2", kNow + hours{1}, "x"};
    const auto plan = evaluate(inventory({vm("v", {cp("keep-me", hours{2}), cp("drop", hours{1})}),
                                          vm("w", {cp("keep-me", hours{1})})}),
                               {p, q}, {e}, kNow);
    CHECK(rules(plan) == std::vector<std::string>{"other:drop:max_count", "other:keep-me:max_count",
                                                  "other:keep-me:max_count",
                                                  "prod:drop:checkpoints_denied",
                                                  "prod:keep-me:checkpoints_denied",
                                                  "prod:keep-me:checkpoints_denied:exempt"});
    // The other enforce policy still deletes the exempted checkpoint: exemptions are per policy.
    CHECK(deleted(plan).size() == 3);
}

TEST_CASE("several matching policies: the strictest wins and the action names it",
          "[evaluator][strictest]") {
    auto deny = policy("prod-deny");
    deny.deny = true;
    deny.match.names = {"prod-*"};
    auto age = policy("all-retention");
    age.max_age = hours{1};
    auto audit = policy("audit-all", Mode::audit);
    audit.max_age = hours{1};
    const auto plan =
        evaluate(inventory({vm("prod-1", {cp("a", hours{5})}), vm("dev-1", {cp("b", hours{5})})}),
                 {age, deny, audit}, {}, kNow);
    REQUIRE(plan.actions.size() == 2);
    // deny outranks max_age even though the retention policy comes first in the file,
    // and deny-caused deletions come first in the plan.
    CHECK(plan.actions[0].checkpoint == "a");
    CHECK(plan.actions[0].policy == "prod-deny");
    CHECK(plan.actions[1].checkpoint == "b");
    CHECK(plan.actions[1].policy == "all-retention");
    // Every matching policy still reports its own finding.
    CHECK(plan.findings.size() == 5);
}

TEST_CASE("two retention policies: the shorter max_age deletes", "[evaluator][strictest]") {
    auto lax = policy("lax");
    lax.max_age = hours{48};
    auto strict = policy("strict");
    strict.max_age = hours{12};
    const auto plan = evaluate(inventory({vm("v", {cp("a", hours{24})})}), {lax, strict}, {}, kNow);
    REQUIRE(plan.actions.size() == 1);
    CHECK(plan.actions[0].policy == "strict");
}

TEST_CASE("memory_state: wipe outranks encrypt; internal memory cannot be separated",
          "[evaluator][memory]") {
    auto enc = policy("enc");
    enc.memory_state = MemoryState::encrypt;
    auto wipe = policy("wipe");
    wipe.memory_state = MemoryState::wipe;
    wipe.match.names = {"secret-*"};
    const auto plan =
        evaluate(inventory({vm("secret-1", {cp("ext", hours{1}, {}, MemoryKind::external)}),
                            vm("dev-1", {cp("ext2", hours{1}, {}, MemoryKind::external),
                                         cp("int", hours{1}, {}, MemoryKind::internal),
                                         cp("disk", hours{1})})}),
                 {enc, wipe}, {}, kNow);
    REQUIRE(plan.actions.size() == 2);
    CHECK(plan.actions[0].kind == ActionKind::wipe_memory);
    CHECK(plan.actions[0].checkpoint == "ext");
    CHECK(plan.actions[0].policy == "wipe");
    CHECK(plan.actions[1].kind == ActionKind::encrypt_memory);
    CHECK(plan.actions[1].checkpoint == "ext2");
    CHECK(rules(plan) == std::vector<std::string>{"enc:ext2:memory_state", "enc:ext:memory_state",
                                                  "enc:int:memory_state", "wipe:ext:memory_state"});
}

TEST_CASE("memory of a checkpoint that is deleted anyway gets no memory action",
          "[evaluator][memory]") {
    auto p = policy("p");
    p.memory_state = MemoryState::wipe;
    p.max_age = hours{1};
    const auto plan = evaluate(
        inventory({vm("v", {cp("old", hours{2}, {}, MemoryKind::external)})}), {p}, {}, kNow);
    REQUIRE(plan.actions.size() == 1);
    CHECK(plan.actions[0].kind == ActionKind::delete_checkpoint);
}

TEST_CASE("a provider that can clear memory state gets clear_memory_state", "[evaluator][memory]") {
    auto p = policy("p");
    p.memory_state = MemoryState::wipe;
    const auto plan = evaluate(
        inventory({vm("v", {cp("saved", hours{2}, {}, MemoryKind::internal)})}, {true, true, true}),
        {p}, {}, kNow);
    REQUIRE(plan.actions.size() == 1);
    CHECK(plan.actions[0].kind == ActionKind::clear_memory_state);
}

TEST_CASE("nothing is planned that the provider cannot do", "[evaluator][capabilities]") {
    auto p = policy("p");
    p.deny = true;
    const auto plan =
        evaluate(inventory({vm("v", {cp("a", hours{1})})}, {false, false, false}), {p}, {}, kNow);
    CHECK(plan.violations() == 1);
    CHECK(plan.actions.empty());
    REQUIRE(plan.notes.size() == 1);
    CHECK_THAT(plan.notes[0], Catch::Contains("cannot delete"));
}

TEST_CASE("match: labels accept any listed value, names are globs, providers are exact",
          "[evaluator][match]") {
    Match m;
    m.labels["tier"] = {"production", "prod"};
    m.names = {"db-*", "web-0?"};
    m.providers = {"lab"};
    CHECK(matches(m, "lab", "db-01", {{"tier", "prod"}}));
    CHECK(matches(m, "lab", "web-07", {{"tier", "production"}, {"x", "y"}}));
    CHECK_FALSE(matches(m, "lab", "web-170", {{"tier", "production"}}));
    CHECK_FALSE(matches(m, "lab", "db-01", {{"tier", "staging"}}));
    CHECK_FALSE(matches(m, "lab", "db-01", {}));
    CHECK_FALSE(matches(m, "other", "db-01", {{"tier", "prod"}}));
    CHECK(matches(Match{}, "any", "anything", {}));
}

TEST_CASE("the evaluator is deterministic and counts the summary", "[evaluator]") {
    auto p = policy("p");
    p.max_count = 1;
    const auto inv =
        inventory({vm("a", {cp("1", hours{1}), cp("2", hours{2})}), vm("b", {cp("3", hours{3})})});
    const auto x = evaluate(inv, {p}, {}, kNow);
    const auto y = evaluate(inv, {p}, {}, kNow);
    CHECK(rules(x) == rules(y));
    CHECK(x.vms == 2);
    CHECK(x.checkpoints == 3);
    CHECK(x.violations() == 1);
}

// --- memory dumps on disk (DumpFacts) ---------------------------------------------------------

namespace {

Policy memory_policy(std::string name, MemoryState state) {
    auto p = policy(std::move(name));
    p.memory_state = state;
    return p;
}

bool has_note(const Plan& plan, const std::string& text) {
    return std::any_of(plan.notes.begin(), plan.notes.end(),
                       [&](const std::string& n) { return n.find(text) != std::string::npos; });
}

} // namespace

TEST_CASE("an encrypted dump complies with memory_state: encrypt and says how to restore it",
          "[evaluator][memory][dumps]") {
    const auto inv = inventory({vm("v", {cp("ext", hours{1}, {}, MemoryKind::external)})});
    DumpFacts facts;
    facts.files["/dumps/ext.mem"] = DumpFileState::encrypted;
    const auto plan = evaluate(inv, {memory_policy("enc", MemoryState::encrypt)}, {}, kNow, facts);
    CHECK(plan.violations() == 0);
    CHECK(plan.actions.empty());
    CHECK(has_note(plan, "snapgov dump decrypt -i IDENTITY_FILE /dumps/ext.mem.age -o "
                         "/dumps/ext.mem"));

    // The same dump in the clear is a violation with an encrypt action naming the restore.
    facts.files["/dumps/ext.mem"] = DumpFileState::plaintext;
    const auto clear = evaluate(inv, {memory_policy("enc", MemoryState::encrypt)}, {}, kNow, facts);
    CHECK(clear.violations() == 1);
    REQUIRE(clear.actions.size() == 1);
    CHECK(clear.actions[0].kind == ActionKind::encrypt_memory);
    CHECK_THAT(clear.actions[0].reason,
               Catch::Contains("snapgov dump decrypt -i IDENTITY_FILE /dumps/ext.mem.age"));
    // It was written in plaintext first: the finding points at the command that avoids that.
    REQUIRE(clear.findings.size() == 1);
    CHECK_THAT(clear.findings[0].detail,
               Catch::StartsWith("memory dump /dumps/ext.mem is kept in the clear; the policy "
                                 "wants it encrypted (it was written in plaintext first: take "
                                 "the next checkpoints with 'snapgov checkpoint create'"));

    // Under wipe, the encrypted dump must still go.
    facts.files["/dumps/ext.mem"] = DumpFileState::encrypted;
    const auto wipe = evaluate(inv, {memory_policy("w", MemoryState::wipe)}, {}, kNow, facts);
    CHECK(wipe.violations() == 1);
    REQUIRE(wipe.actions.size() == 1);
    CHECK(wipe.actions[0].kind == ActionKind::wipe_memory);
    // A dump in the clear under wipe gets no create hint: its memory is to go, not be kept.
    facts.files["/dumps/ext.mem"] = DumpFileState::plaintext;
    const auto wipe_clear = evaluate(inv, {memory_policy("w", MemoryState::wipe)}, {}, kNow, facts);
    REQUIRE(wipe_clear.findings.size() == 1);
    CHECK_THAT(wipe_clear.findings[0].detail, !Catch::Contains("checkpoint create"));
}

TEST_CASE("a missing memory file: nothing to encrypt, but wipe still redefines the checkpoint",
          "[evaluator][memory][dumps]") {
    const auto inv = inventory({vm("v", {cp("ext", hours{1}, {}, MemoryKind::external)})});
    DumpFacts facts;
    facts.files["/dumps/ext.mem"] = DumpFileState::missing;
    const auto enc = evaluate(inv, {memory_policy("e", MemoryState::encrypt)}, {}, kNow, facts);
    CHECK(enc.violations() == 0);
    CHECK(enc.actions.empty());
    CHECK(has_note(enc, "which is missing"));
    const auto wipe = evaluate(inv, {memory_policy("w", MemoryState::wipe)}, {}, kNow, facts);
    CHECK(wipe.violations() == 1);
    REQUIRE(wipe.actions.size() == 1);
    CHECK(wipe.actions[0].kind == ActionKind::wipe_memory);
}

TEST_CASE("memory files on a remote host, or no disk-only redefine: no dump action",
          "[evaluator][memory][capabilities]") {
    const auto vms = std::vector<Vm>{vm("v", {cp("ext", hours{1}, {}, MemoryKind::external)})};
    const auto remote = evaluate(inventory(vms, {true, false, false, false, true}),
                                 {memory_policy("e", MemoryState::encrypt)}, {}, kNow);
    CHECK(remote.violations() == 1);
    CHECK(remote.actions.empty());
    CHECK(has_note(remote, "remote host"));
    // Encrypting needs only local files; wiping also needs the disk-only redefine.
    const auto no_redefine = inventory(vms, {true, false, false, true, false});
    CHECK(evaluate(no_redefine, {memory_policy("e", MemoryState::encrypt)}, {}, kNow)
              .actions.size() == 1);
    const auto wipe = evaluate(no_redefine, {memory_policy("w", MemoryState::wipe)}, {}, kNow);
    CHECK(wipe.actions.empty());
    CHECK(has_note(wipe, "cannot redefine"));
}

TEST_CASE("orphan dumps: report is audit-only, wipe and encrypt plan actions after all others",
          "[evaluator][orphans]") {
    auto p = policy("p");
    p.max_age = hours{1};
    const auto inv = inventory({vm("v", {cp("old", hours{2})})});
    DumpFacts facts;
    facts.scanned = true;
    facts.orphans = {{"/dumps/a.mem", "libvirt-save", 100, false},
                     {"/dumps/b.vmrs", "hyperv-state", 200, false}};

    facts.orphan_action = OrphanAction::report;
    const auto report = evaluate(inv, {p}, {}, kNow, facts);
    CHECK(report.actions.size() == 1); // only the deletion
    CHECK(rules(report) == std::vector<std::string>{"memory_dumps.orphans::orphan_dump",
                                                    "memory_dumps.orphans::orphan_dump",
                                                    "p:old:max_age"});
    for (const auto& f : report.findings) {
        if (f.rule == "orphan_dump") {
            CHECK(f.mode == Mode::audit);
            CHECK(f.provider.empty());
            CHECK_FALSE(f.path.empty());
        }
    }

    facts.orphan_action = OrphanAction::wipe;
    const auto wipe = evaluate(inv, {p}, {}, kNow, facts);
    REQUIRE(wipe.actions.size() == 3);
    CHECK(wipe.actions[0].kind == ActionKind::delete_checkpoint);
    CHECK(wipe.actions[1].kind == ActionKind::wipe_orphan);
    CHECK(wipe.actions[1].path == "/dumps/a.mem");
    CHECK(wipe.actions[2].path == "/dumps/b.vmrs");

    facts.orphan_action = OrphanAction::encrypt;
    const auto enc = evaluate(inv, {p}, {}, kNow, facts);
    REQUIRE(enc.actions.size() == 3);
    CHECK(enc.actions[1].kind == ActionKind::encrypt_orphan);
    CHECK_THAT(enc.actions[1].reason, Catch::Contains("snapgov dump decrypt"));

    // Not scanned: nothing known, nothing reported.
    facts.scanned = false;
    CHECK(evaluate(inv, {p}, {}, kNow, facts).findings.size() == 1);
}

TEST_CASE("orphan dumps are never acted on when in doubt", "[evaluator][orphans]") {
    DumpFacts facts;
    facts.scanned = true;
    facts.orphan_action = OrphanAction::wipe;
    facts.orphans = {{"/dumps/new.mem", "libvirt-save", 1, true},
                     {"/dumps/part.mem", "libvirt-partial", 1, false},
                     {"/dumps/old.mem", "libvirt-save", 1, false}};
    auto inv = inventory({vm("v", {})});
    const auto plan = evaluate(inv, {}, {}, kNow, facts);
    CHECK(plan.violations() == 3);
    REQUIRE(plan.actions.size() == 1); // neither the recent one nor the partial save
    CHECK(plan.actions[0].path == "/dumps/old.mem");

    // A provider that was not collected completely could reference any of them.
    HostInventory down;
    down.provider = "down";
    down.complete = false;
    inv.hosts.push_back(down);
    const auto doubtful = evaluate(inv, {}, {}, kNow, facts);
    CHECK(doubtful.violations() == 3);
    CHECK(doubtful.actions.empty());
    CHECK(has_note(doubtful, "down"));
}

TEST_CASE("a checkpoint from the future is a finding of its own, never compliant",
          "[evaluator][max_age][time]") {
    auto p = policy("retention");
    p.max_age = hours{72};
    // Year 2100: its age was negative, so it stayed under max_age without a word.
    Checkpoint future = cp("future", seconds{0});
    future.created = parse_rfc3339("2100-01-01T00:00:00Z").value();
    // Within the clock-skew allowance (5 minutes ahead) it is simply new.
    const auto plan =
        evaluate(inventory({vm("dev-1", {future, cp("skewed", -seconds{299})})}), {p}, {}, kNow);
    CHECK(rules(plan) == std::vector<std::string>{"retention:future:future_checkpoint"});
    CHECK(plan.violations() == 1u);
    CHECK(plan.actions.empty()); // a wrong clock is no reason to delete anything
    CHECK_THAT(plan.findings.at(0).detail,
               Catch::StartsWith("created 2100-01-01T00:00:00Z, ") &&
                   Catch::Contains("in the future (more than the 5m allowed for clock skew)"));

    // A max_count policy would keep it as the newest: it is reported there too.
    auto count = policy("count");
    count.max_count = 5;
    const auto counted = evaluate(inventory({vm("dev-1", {future})}), {count}, {}, kNow);
    CHECK(rules(counted) == std::vector<std::string>{"count:future:future_checkpoint"});
}

TEST_CASE("creation times at the limits of 64-bit seconds do not overflow",
          "[evaluator][max_age][time]") {
    auto p = policy("retention");
    p.max_age = hours{72};
    Checkpoint ancient = cp("ancient", seconds{0});
    ancient.created = TimePoint{seconds{std::numeric_limits<std::int64_t>::min() + 1}};
    Checkpoint far = cp("far", seconds{0});
    far.created = TimePoint{seconds::max()};
    const auto plan = evaluate(inventory({vm("dev-1", {ancient, far})}), {p}, {}, kNow);
    // The ancient one was -(huge) seconds old after the overflow and escaped max_age.
    CHECK(rules(plan) ==
          std::vector<std::string>{"retention:ancient:max_age", "retention:far:future_checkpoint"});
    CHECK(deleted(plan) == std::vector<std::string>{"ancient"});
}

TEST_CASE("where() spells a checkpoint, a VM and an orphan file as every output does",
          "[plan][messages]") {
    PlannedAction a;
    a.provider = "lab";
    a.vm = "dev-1";
    a.checkpoint = "c1";
    CHECK(where(a) == "lab/dev-1 @ c1");
    a.checkpoint.clear();
    CHECK(where(a) == "lab/dev-1");
    PlannedAction orphan;
    orphan.kind = ActionKind::wipe_orphan;
    orphan.path = "/var/lib/libvirt/qemu/snapshot/x.mem";
    CHECK(where(orphan) == "/var/lib/libvirt/qemu/snapshot/x.mem");
}
