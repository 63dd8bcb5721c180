// The guard: which planned actions may run, decided as a pure function.
#include <catch2/catch.hpp>

#include "engine/guard.hpp"

using namespace snapgov;
using namespace snapgov::engine;
using policies::ActionKind;
using policies::PlannedAction;

namespace {

PlannedAction on(const std::string& provider, ActionKind kind = ActionKind::delete_checkpoint) {
    PlannedAction a;
    a.kind = kind;
    a.provider = provider;
    a.vm = "vm";
    a.checkpoint = "cp";
    return a;
}

PlannedAction orphan(const std::string& path) {
    PlannedAction a;
    a.kind = ActionKind::wipe_orphan;
    a.path = path;
    return a;
}

HostInventory host(const std::string& name, bool complete) {
    HostInventory h;
    h.provider = name;
    h.complete = complete;
    return h;
}

} // namespace

TEST_CASE("guard admits actions up to the cap and no further", "[guard]") {
    Inventory inv;
    inv.hosts = {host("a", true)};
    const std::vector<PlannedAction> actions = {on("a"), on("a"), on("a")};
    const auto d = guard(actions, inv, {2, 0, false});
    REQUIRE(d.size() == 3);
    CHECK(d[0].verdict == GuardVerdict::run);
    CHECK(d[1].verdict == GuardVerdict::run);
    CHECK(d[2].verdict == GuardVerdict::over_cap);
    CHECK_THAT(explain(d[2], actions[2], 2), Catch::Contains("max_actions_per_run = 2"));
    CHECK(explain(d[0], actions[0], 2).empty());
}

TEST_CASE("guard counts actions already taken in the pass against the cap", "[guard]") {
    Inventory inv;
    inv.hosts = {host("a", true)};
    const auto d = guard({on("a"), on("a")}, inv, {3, 2, false});
    CHECK(d[0].verdict == GuardVerdict::run);
    CHECK(d[1].verdict == GuardVerdict::over_cap);
}

TEST_CASE("guard fails closed on a provider whose collection is incomplete or absent", "[guard]") {
    Inventory inv;
    inv.hosts = {host("up", true), host("down", false)};
    const std::vector<PlannedAction> actions = {on("down"), on("missing"), on("up")};
    const auto d = guard(actions, inv, {1, 0, false});
    CHECK(d[0].verdict == GuardVerdict::incomplete_provider);
    CHECK_THAT(explain(d[0], actions[0], 1), Catch::Contains("provider down"));
    CHECK(d[1].verdict == GuardVerdict::incomplete_provider);
    // Refused actions do not use up the cap.
    CHECK(d[2].verdict == GuardVerdict::run);
}

TEST_CASE("guard refuses orphan-file actions unless every provider is complete", "[guard]") {
    Inventory inv;
    inv.hosts = {host("up", true), host("down", false)};
    CHECK(guard({orphan("/x.mem")}, inv, {5, 0, false})[0].verdict ==
          GuardVerdict::incomplete_inventory);
    inv.hosts[1].complete = true;
    CHECK(guard({orphan("/x.mem")}, inv, {5, 0, false})[0].verdict == GuardVerdict::run);
}

TEST_CASE("guard marks admitted actions dry_run and still applies the cap", "[guard]") {
    Inventory inv;
    inv.hosts = {host("a", true)};
    const auto d = guard({on("a"), on("a", ActionKind::disable_checkpoints)}, inv, {1, 0, true});
    CHECK(d[0].verdict == GuardVerdict::dry_run);
    CHECK(d[0].admitted());
    CHECK(d[1].verdict == GuardVerdict::over_cap);
    CHECK_FALSE(d[1].admitted());
}

TEST_CASE("guard with a cap of zero admits nothing", "[guard]") {
    Inventory inv;
    inv.hosts = {host("a", true)};
    const auto d = guard({on("a")}, inv, {0, 0, false});
    CHECK(d[0].verdict == GuardVerdict::over_cap);
}
