#include <catch2/catch.hpp>

#include <regex>
#include <sstream>

#include "daemon/metrics.hpp"

using namespace snapgov;
using namespace snapgov::daemon;
using namespace snapgov::engine;

namespace {

PassResult pass_with(std::vector<Outcome> outcomes, PassScope scope, double seconds,
                     std::vector<ProviderHealth> health = {}) {
    PassResult pass;
    pass.scope = scope;
    pass.duration = std::chrono::duration<double>(seconds);
    pass.health = std::move(health);
    pass.now = TimePoint{Seconds{1795521600}};
    HostInventory host;
    host.provider = "lab";
    host.complete = true;
    Vm vm;
    vm.name = "v";
    vm.checkpoints.resize(3);
    host.vms.push_back(vm);
    pass.inventory.hosts.push_back(host);
    policies::Finding f;
    f.policy = "we\"ird\\name";
    f.provider = "lab";
    pass.plan.findings = {f, f};
    for (const auto o : outcomes) {
        ActionResult r;
        r.action.kind = policies::ActionKind::delete_checkpoint;
        r.outcome = o;
        pass.results.push_back(r);
    }
    return pass;
}

} // namespace

TEST_CASE("metrics render valid exposition lines with escaped labels", "[daemon][metrics]") {
    Metrics m;
    REQUIRE(m.on_pass_end(
        pass_with({Outcome::done, Outcome::done, Outcome::failed}, PassScope::full, 0.3,
                  {{"lab", "libvirt", true, "", 0}, {"hv", "hyperv", false, "down", 2}})));
    const std::string text = m.render();
    CHECK_THAT(text, Catch::Contains("snapgov_provider_up{provider=\"lab\",type=\"libvirt\"} 1\n"));
    CHECK_THAT(text, Catch::Contains("snapgov_provider_up{provider=\"hv\",type=\"hyperv\"} 0\n"));
    CHECK_THAT(text, Catch::Contains("snapgov_checkpoints{provider=\"lab\"} 3\n"));
    CHECK_THAT(text, Catch::Contains(
                         "snapgov_violations{policy=\"we\\\"ird\\\\name\",provider=\"lab\"} 2\n"));
    CHECK_THAT(text, Catch::Contains(
                         "snapgov_actions_total{kind=\"delete_checkpoint\",outcome=\"done\"} 2\n"));
    CHECK_THAT(text, Catch::Contains("snapgov_passes_total{result=\"error\",scope=\"full\"} 1\n"));
    CHECK_THAT(text, Catch::Contains("snapgov_pass_duration_seconds_bucket{le=\"0.25\"} 0\n"));
    CHECK_THAT(text, Catch::Contains("snapgov_pass_duration_seconds_bucket{le=\"0.5\"} 1\n"));
    CHECK_THAT(text, Catch::Contains("snapgov_last_pass_timestamp_seconds 1795521600\n"));
    const std::regex sample(R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [-+0-9.eE]+(Inf)?$)");
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        INFO(line);
        CHECK(std::regex_match(line, sample));
    }
}

TEST_CASE("metrics: counters accumulate, a deny pass leaves the full-pass gauges alone",
          "[daemon][metrics]") {
    Metrics m;
    REQUIRE(m.on_pass_end(pass_with({Outcome::done}, PassScope::full, 1.0)));
    auto deny = pass_with({Outcome::done}, PassScope::deny, 0.1);
    deny.inventory.hosts[0].vms[0].checkpoints.clear();
    REQUIRE(m.on_pass_end(deny));
    const std::string text = m.render();
    CHECK_THAT(text, Catch::Contains(
                         "snapgov_actions_total{kind=\"delete_checkpoint\",outcome=\"done\"} 2\n"));
    CHECK_THAT(text, Catch::Contains("snapgov_checkpoints{provider=\"lab\"} 3\n"));
    CHECK_THAT(text, Catch::Contains("snapgov_pass_duration_seconds_count 2\n"));
}

TEST_CASE("metrics count the unsettled dump operations an enforcing pass found",
          "[daemon][metrics]") {
    Metrics m;
    CHECK_THAT(m.render(), Catch::Contains("snapgov_dump_operations_unsettled 0\n"));
    PassResult pass = pass_with({}, PassScope::deny, 0.1);
    pass.mode = PassMode::enforce;
    pass.unsettled = {"recovery of /d/a.mem: ...", "recovery of /d/b.mem: ..."};
    REQUIRE(m.on_pass_end(pass));
    CHECK_THAT(m.render(), Catch::Contains("# TYPE snapgov_dump_operations_unsettled gauge\n"
                                           "snapgov_dump_operations_unsettled 2\n"));
    pass.unsettled.clear();
    REQUIRE(m.on_pass_end(pass));
    CHECK_THAT(m.render(), Catch::Contains("snapgov_dump_operations_unsettled 0\n"));
}
