// The observer seam: the engine reports each point of a pass, in order, and a failing
// observer is reported without stopping the pass.
#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/config.hpp"
#include "engine/engine.hpp"
#include "providers/builtin.hpp"
#include "tests/support/support.hpp"

using namespace snapgov;
using namespace snapgov::engine;

namespace {

const TimePoint kNow = parse_rfc3339("2026-11-24T12:00:00Z").value();

/// Writes down every hook call; fails the hooks named in `fail_in`.
class Recorder final : public PassObserver {
public:
    explicit Recorder(std::string fail_in = {}) : fail_in_(std::move(fail_in)) {}
    [[nodiscard]] std::string_view name() const override { return "recorder"; }

    Result<void> on_pass_start(const PassStart& s) override {
        calls.push_back("start " + std::string(to_string(s.mode)));
        sha = s.config_sha256;
        return maybe_fail("start");
    }
    Result<void> on_collection(const HostInventory& h, CollectionPhase phase) override {
        calls.push_back(std::string(phase == CollectionPhase::before ? "before " : "after ") +
                        h.provider + (h.complete ? " complete" : " incomplete"));
        return maybe_fail("collection");
    }
    Result<void> on_plan(const policies::Plan& plan,
                         const std::vector<GuardDecision>& decisions) override {
        calls.push_back("plan " + std::to_string(plan.actions.size()) + "/" +
                        std::to_string(decisions.size()));
        return maybe_fail("plan");
    }
    Result<void> on_action(const ActionResult& r) override {
        calls.push_back("action " + std::string(to_string(r.outcome)));
        return maybe_fail("action");
    }
    Result<void> on_pass_end(const PassResult& p) override {
        calls.push_back("end " + std::to_string(p.exit_code()));
        return maybe_fail("end");
    }
    Result<void> settle() override {
        calls.push_back("settle");
        return maybe_fail("settle");
    }

    std::vector<std::string> calls;
    std::string sha;

private:
    Result<void> maybe_fail(const std::string& hook) {
        if (hook == fail_in_) {
            return fail(ErrorCode::io, "disk full");
        }
        return {};
    }
    std::string fail_in_;
};

/// A policy over tests/data/libvirt_host.xml that deletes every checkpoint of `web-01`.
struct ObserverFixture {
    testing::TempDir dir;
    std::shared_ptr<const providers::ProviderRegistry> registry =
        std::make_shared<const providers::ProviderRegistry>(providers::builtin_registry().value());
    LoadedConfig loaded;

    explicit ObserverFixture(std::size_t cap = 20) {
        const std::string policy =
            "providers:\n"
            "  - {name: lab, type: libvirt, uri: 'test://" SNAPGOV_TEST_DATA "/libvirt_host.xml'}\n"
            "policies:\n"
            "  - {name: no-web, mode: enforce, match: {names: [web-01]}, checkpoints: deny}\n"
            "safety: {max_actions_per_run: " +
            std::to_string(cap) + "}\nstate_dir: " + dir.str("state") + "\n";
        auto l = load_config(dir.write("policy.yaml", policy).string(), *registry);
        REQUIRE(l);
        loaded = std::move(*l);
    }
};

} // namespace

TEST_CASE("enforce reports each point of the pass to its observers, in order",
          "[engine][observer]") {
    ObserverFixture f;
    Engine engine(f.loaded.config, f.registry, {.config_sha256 = f.loaded.sha256});
    auto rec = std::make_shared<Recorder>();
    engine.add_observer(rec);
    const PassResult pass = engine.enforce(kNow, {});
    REQUIRE(pass.results.size() >= 2);
    std::vector<std::string> want = {"start enforce", "before lab complete",
                                     "plan " + std::to_string(pass.plan.actions.size()) + "/" +
                                         std::to_string(pass.plan.actions.size()),
                                     "after lab complete"};
    for (std::size_t i = 0; i < pass.results.size(); ++i) {
        want.push_back("action done");
    }
    want.push_back("end " + std::to_string(pass.exit_code()));
    want.push_back("settle");
    CHECK(rec->calls == want);
    CHECK(rec->sha == f.loaded.sha256);
    CHECK(f.loaded.sha256.size() == 64);
    // One collection before acting and one after, no more.
    CHECK(pass.collections == 2);
}

TEST_CASE("plan collects once and reports no action outcome", "[engine][observer]") {
    ObserverFixture f;
    Engine engine(f.loaded.config, f.registry);
    auto rec = std::make_shared<Recorder>();
    engine.add_observer(rec);
    const PassResult pass = engine.plan(kNow);
    CHECK(pass.collections == 1);
    CHECK(pass.results.empty());
    REQUIRE(rec->calls.size() == 5);
    CHECK(rec->calls[0] == "start plan");
    CHECK(rec->calls[3] == "end 1");
    CHECK(rec->calls[4] == "settle");
}

TEST_CASE("a failing observer is reported and the pass carries on", "[engine][observer]") {
    ObserverFixture f;
    Engine engine(f.loaded.config, f.registry);
    auto failing = std::make_shared<Recorder>("action");
    auto healthy = std::make_shared<Recorder>();
    engine.add_observer(failing);
    engine.add_observer(healthy);
    const PassResult pass = engine.enforce(kNow, {});
    // Every action was carried out and verified although the first observer failed on each.
    REQUIRE_FALSE(pass.results.empty());
    for (const auto& r : pass.results) {
        CHECK(r.outcome == Outcome::done);
    }
    CHECK(healthy->calls.back() == "settle");
    CHECK(healthy->calls[healthy->calls.size() - 2] == "end 2");
    REQUIRE(pass.errors.size() == pass.results.size());
    CHECK_THAT(pass.errors.front().message, Catch::Contains("observer recorder (action)"));
    CHECK_THAT(pass.errors.front().message, Catch::Contains("disk full"));
    CHECK(pass.exit_code() == 2);
}

TEST_CASE("a dry run guards, acts on nothing and collects once", "[engine][observer]") {
    ObserverFixture f(1);
    Engine engine(f.loaded.config, f.registry);
    engine::PassOptions options;
    options.dry_run = true;
    const PassResult pass = engine.enforce(kNow, options);
    REQUIRE(pass.results.size() >= 2);
    CHECK(pass.results[0].outcome == Outcome::dry_run);
    CHECK(pass.results[1].outcome == Outcome::skipped);
    CHECK_THAT(pass.results[1].detail, Catch::Contains("blast-radius cap"));
    CHECK(pass.collections == 1);
}

TEST_CASE("an engine made for collections only plans and dry-runs, and refuses to enforce",
          "[engine][observer]") {
    ObserverFixture f(1);
    EngineOptions made;
    made.collect_only = true;
    Engine engine(f.loaded.config, f.registry, made);
    CHECK_FALSE(engine.plan(kNow).plan.actions.empty());
    engine::PassOptions options;
    options.dry_run = true;
    const PassResult dry = engine.enforce(kNow, options);
    REQUIRE_FALSE(dry.results.empty());
    CHECK(dry.results[0].outcome == Outcome::dry_run);
    options.dry_run = false;
    CHECK_THROWS_AS(engine.enforce(kNow, options), std::logic_error);
}

TEST_CASE("an observer that fails to settle fails the pass, at once or when the caller settles",
          "[engine][observer]") {
    ObserverFixture f;
    SECTION("enforce settles before it returns: the error is the pass's") {
        Engine engine(f.loaded.config, f.registry);
        auto rec = std::make_shared<Recorder>("settle");
        engine.add_observer(rec);
        const PassResult pass = engine.enforce(kNow, {});
        REQUIRE(pass.errors.size() == 1);
        CHECK_THAT(pass.errors[0].message, Catch::Contains("observer recorder (settle)"));
        CHECK(pass.exit_code() == 2);
        CHECK(rec->calls.back() == "settle");
    }
    SECTION("settle_later: enforce returns after on_pass_end, Engine::settle reports") {
        Engine engine(f.loaded.config, f.registry);
        auto rec = std::make_shared<Recorder>("settle");
        engine.add_observer(rec);
        PassOptions options;
        options.settle_later = true;
        const PassResult pass = engine.enforce(kNow, options);
        CHECK(pass.errors.empty());
        CHECK(rec->calls.back().rfind("end ", 0) == 0);
        const auto failed = engine.settle();
        REQUIRE(failed.size() == 1);
        CHECK_THAT(failed[0].message, Catch::Contains("disk full"));
        CHECK(rec->calls.back() == "settle");
    }
}
