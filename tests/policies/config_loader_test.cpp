#include <catch2/catch.hpp>

#include "policies/config_loader.hpp"
#include "providers/builtin.hpp"
#include "tests/support/support.hpp"

using namespace snapgov;
using namespace snapgov::policies;

namespace {

// The loader is tested with the real built-in providers (this file is built with libvirt).
const providers::ProviderRegistry& registry() {
    static const auto builtin = providers::builtin_registry().value();
    return builtin;
}

Result<LoadedConfig> load_config_string(std::string_view yaml, const std::string& name) {
    return policies::load_config_string(yaml, name, registry());
}

const char* const kValid = R"(providers:
  - name: lab
    type: libvirt
    uri: test:///default
policies:
  - name: prod
    mode: enforce
    match:
      labels: {tier: [production, prod]}
      names: ["prod-*"]
      providers: [lab]
    checkpoints: deny
  - name: dev
    mode: audit
    match: {names: ["dev-*"]}
    max_age: 72h
    max_count: 3
    memory_state: wipe
exemptions:
  - policy: prod
    vm: prod-db-01
    checkpoint: before-patch
    reason: CHG-1234
    expires: 2026-12-01T00:00:00Z
safety: {max_actions_per_run: 5}
daemon: {interval: 10m, deny_interval: 5s, metrics_listen: ""}
)";

std::string error_of(const std::string& yaml) {
    auto r = load_config_string(yaml, "p.yaml");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::config);
    return r.error().message;
}

} // namespace

TEST_CASE("a valid policy file loads into typed values", "[policies][loader]") {
    auto r = load_config_string(kValid, "p.yaml");
    REQUIRE(r.has_value());
    CHECK(r->warnings.empty());
    const Config& c = r->config;
    REQUIRE(c.providers.size() == 1);
    CHECK(c.providers[0].endpoint() == "test:///default");
    CHECK(c.providers[0].origin == "p.yaml:2:5");
    REQUIRE(c.policies.size() == 2);
    CHECK(c.policies[0].deny);
    CHECK(c.policies[0].mode == Mode::enforce);
    CHECK(c.policies[0].match.labels.at("tier") == std::vector<std::string>{"production", "prod"});
    CHECK(c.policies[1].max_age == std::chrono::seconds{72 * 3600});
    CHECK(c.policies[1].max_count == 3u);
    CHECK(c.policies[1].memory_state == MemoryState::wipe);
    REQUIRE(c.exemptions.size() == 1);
    CHECK(c.exemptions[0].checkpoint == "before-patch");
    CHECK(format_rfc3339(c.exemptions[0].expires) == "2026-12-01T00:00:00Z");
    CHECK(c.safety.max_actions_per_run == 5);
    CHECK(c.daemon.interval == std::chrono::seconds{600});
    CHECK(c.daemon.metrics_listen.empty());
}

TEST_CASE("a type error reports the exact line and column of the value", "[policies][loader]") {
    const std::string yaml = "providers:\n"
                             "  - {name: lab, type: libvirt, uri: 'test:///default'}\n"
                             "policies:\n"
                             "  - name: p\n"
                             "    mode: enforse\n"
                             "    max_count: three\n";
    const auto msg = error_of(yaml);
    CHECK_THAT(msg, Catch::Contains("p.yaml:5:11: error: 'mode' must be one of audit | enforce, "
                                    "not 'enforse'"));
    CHECK_THAT(msg, Catch::Contains("p.yaml:6:16: error: 'max_count' must be a whole number"));
    // The offending line is quoted with a caret under the column.
    CHECK_THAT(msg, Catch::Contains("    mode: enforse\n              ^"));
}

TEST_CASE("a bad duration names its position and the units", "[policies][loader]") {
    const auto msg = error_of("providers: [{name: a, type: libvirt, uri: 'test:///default'}]\n"
                              "policies:\n"
                              "  - {name: p, mode: enforce, max_age: 3 days}\n");
    CHECK_THAT(
        msg, Catch::Contains("p.yaml:3:39: error: 'max_age': duration '3 days' contains a space"));
}

TEST_CASE("unknown keys are warnings with their position, not errors", "[policies][loader]") {
    auto r = load_config_string("providers: [{name: a, type: libvirt, uri: 'test:///default'}]\n"
                                "policies:\n"
                                "  - name: p\n"
                                "    mode: audit\n"
                                "    max_age: 1d\n"
                                "    max_agee: 2d\n",
                                "p.yaml");
    REQUIRE(r.has_value());
    REQUIRE(r->warnings.size() == 1);
    CHECK(r->warnings[0].line == 6);
    CHECK(r->warnings[0].column == 5);
    CHECK_THAT(r->warnings[0].format(), Catch::StartsWith("p.yaml:6:5: warning: unknown key "
                                                          "'max_agee'"));
}

TEST_CASE("exemptions need a reason and an expiry", "[policies][loader]") {
    const auto msg = error_of("providers: [{name: a, type: libvirt, uri: 'test:///default'}]\n"
                              "policies: [{name: p, mode: enforce, checkpoints: deny}]\n"
                              "exemptions:\n"
                              "  - policy: p\n"
                              "    vm: x\n");
    CHECK_THAT(msg, Catch::Contains("p.yaml:4:5: error: an exemption is missing 'reason'"));
    CHECK_THAT(msg, Catch::Contains("p.yaml:4:5: error: an exemption is missing 'expires'"));
}

TEST_CASE("dangling references and duplicates are errors", "[policies][loader]") {
    const auto msg =
        error_of("providers:\n"
                 "  - {name: a, type: libvirt, uri: 'test:///default'}\n"
                 "  - {name: a, type: libvirt, uri: 'test:///default'}\n"
                 "policies:\n"
                 "  - {name: p, mode: enforce, checkpoints: deny, match: {providers: [b]}}\n"
                 "exemptions:\n"
                 "  - {policy: q, vm: x, reason: r, expires: '2026-01-01T00:00:00Z'}\n");
    CHECK_THAT(msg, Catch::Contains("p.yaml:3:12: error: provider name 'a' is used twice"));
    CHECK_THAT(msg, Catch::Contains("p.yaml:5:69: error: match names provider 'b'"));
    CHECK_THAT(msg, Catch::Contains("p.yaml:7:14: error: exemption names policy 'q'"));
}

TEST_CASE("YAML syntax errors carry the parser's position", "[policies][loader]") {
    const auto msg = error_of("providers:\n  - name: [unclosed\n");
    CHECK_THAT(msg, Catch::StartsWith("p.yaml:"));
    CHECK_THAT(msg, Catch::Contains("YAML syntax error"));
}

TEST_CASE("encryption without recipients is refused where it is asked for", "[policies][loader]") {
    const auto msg = error_of("providers: [{name: a, type: libvirt, uri: 'test:///default'}]\n"
                              "policies:\n"
                              "  - {name: p, mode: enforce, memory_state: encrypt}\n");
    CHECK_THAT(msg, Catch::Contains("p.yaml:3:44: error: encryption needs at least one age"));
}

TEST_CASE("provider timeouts must be longer than 0s", "[policies][loader]") {
    const auto msg = error_of("providers:\n"
                              "  - {name: a, type: libvirt, uri: 'test:///default', "
                              "read_timeout: 0s}\n");
    CHECK_THAT(msg, Catch::Contains("p.yaml:2:68: error: 'read_timeout' must be longer than 0s"));
}

TEST_CASE("a provider whose settings are refused is still defined for references",
          "[policies][loader]") {
    const auto msg = error_of("providers: [{name: a, type: libvirt}]\n"
                              "policies: [{name: p, mode: audit, checkpoints: deny, "
                              "match: {providers: [a]}}]\n");
    CHECK_THAT(msg, Catch::Contains("p.yaml:1:13: error: libvirt provider 'a' needs 'uri'"));
    CHECK_THAT(msg, !Catch::Contains("match names provider"));
}

TEST_CASE("a policy without mode runs in audit mode and says so", "[policies][loader]") {
    auto r = load_config_string("providers: [{name: a, type: libvirt, uri: 'test:///default'}]\n"
                                "policies: [{name: p, checkpoints: deny}]\n",
                                "p.yaml");
    REQUIRE(r.has_value());
    CHECK(r->config.policies[0].mode == Mode::audit);
    REQUIRE(r->warnings.size() == 1);
    CHECK_THAT(r->warnings[0].message, Catch::Contains("audit mode"));
}

TEST_CASE("${CONFIG_DIR} in a URI becomes the policy file's absolute folder",
          "[policies][loader]") {
    testing::TempDir dir("snapgov-loader");
    dir.write("host.xml", "<node/>");
    auto r = load_config_string("providers: [{name: a, type: libvirt, "
                                "uri: 'test://${CONFIG_DIR}/host.xml'}]\n",
                                dir.str("policy.yaml"));
    REQUIRE(r.has_value());
    CHECK(r->config.providers[0].endpoint() == "test://" + dir.str("host.xml"));
}

TEST_CASE("a test-driver host file is checked at load, at the URI", "[policies][loader][files]") {
    testing::TempDir dir("snapgov-loader");
    const auto msg = error_of("providers:\n"
                              "  - {name: a, type: libvirt, uri: 'test:///nonexistent/host.xml'}\n"
                              "  - {name: b, type: libvirt, uri: 'test://" +
                              dir.path().string() + "'}\n");
    CHECK_THAT(msg, Catch::Contains("p.yaml:2:35: error: libvirt provider 'a': the test "
                                    "driver's host description '/nonexistent/host.xml' does not "
                                    "exist"));
    CHECK_THAT(msg, Catch::Contains("p.yaml:3:35: error: libvirt provider 'b': the test "
                                    "driver's host description '" +
                                    dir.path().string() + "' is a directory"));
}

TEST_CASE("an exemption reason of spaces only is refused like an empty one", "[policies][loader]") {
    const auto msg = error_of("providers: [{name: a, type: libvirt, uri: 'test:///default'}]\n"
                              "policies: [{name: p, mode: enforce, checkpoints: deny}]\n"
                              "exemptions:\n"
                              "  - {policy: p, vm: x, reason: '  \t ', expires: "
                              "'2030-01-01T00:00:00Z'}\n");
    CHECK_THAT(msg, Catch::Contains("p.yaml:4:32: error: 'reason' must not be empty or only "
                                    "spaces"));
}

TEST_CASE("a label key given twice is an error, not last-wins", "[policies][loader]") {
    const auto msg = error_of("providers: [{name: a, type: libvirt, uri: 'test:///default'}]\n"
                              "policies:\n"
                              "  - name: p\n"
                              "    mode: enforce\n"
                              "    checkpoints: deny\n"
                              "    match: {labels: {tier: production, tier: dev}}\n");
    CHECK_THAT(msg, Catch::Contains("p.yaml:6:40: error: duplicate key 'tier'"));
}

TEST_CASE("max_count 0 and max_age 0s need allow_delete_all", "[policies][loader]") {
    const std::string head = "providers: [{name: a, type: libvirt, uri: 'test:///default'}]\n"
                             "policies:\n";
    auto msg = error_of(head + "  - {name: p, mode: enforce, max_count: 0}\n"
                               "  - {name: q, mode: enforce, max_age: 0s}\n"
                               "  - {name: r, mode: enforce, max_age: 0h0m}\n");
    CHECK_THAT(msg, Catch::Contains("p.yaml:3:41: error: 'max_count: 0' makes every checkpoint "
                                    "of the matched VMs a violation (enforce deletes them all); "
                                    "if that is meant, add 'allow_delete_all: true'"));
    CHECK_THAT(msg, Catch::Contains("p.yaml:4:39: error: 'max_age: 0s' makes every checkpoint"));
    CHECK_THAT(msg, Catch::Contains("p.yaml:5:39: error: 'max_age: 0s' makes every checkpoint"));

    auto r = load_config_string(
        head + "  - {name: p, mode: enforce, max_count: 0, allow_delete_all: true}\n"
               "  - {name: q, mode: enforce, max_count: 1, allow_delete_all: true}\n",
        "p.yaml");
    REQUIRE(r.has_value());
    CHECK(r->config.policies[0].max_count == 0u);
    REQUIRE(r->warnings.size() == 1);
    CHECK_THAT(r->warnings[0].format(),
               Catch::StartsWith("p.yaml:4:62: warning: 'allow_delete_all' has no effect"));
}

TEST_CASE("metrics_listen must be IP:PORT", "[policies][loader]") {
    const std::string head = "providers: [{name: a, type: libvirt, uri: 'test:///default'}]\n"
                             "daemon: {metrics_listen: '";
    for (const char* bad : {"0.0.0.0", "0.0.0.0:", "localhost:9464", "1.2.3.4:65536", "::1:9464",
                            "[::1]", "[nope]:1", ":9464"}) {
        CAPTURE(bad);
        CHECK_THAT(error_of(head + bad + "'}\n"),
                   Catch::Contains("p.yaml:2:26: error: 'metrics_listen'") &&
                       Catch::Contains("give IP:PORT, e.g. 127.0.0.1:9464"));
    }
    for (const char* good :
         {"0.0.0.0:9464", "127.0.0.1:1", "127.0.0.1:0", "[::1]:9464", "[::]:65535", ""}) {
        CAPTURE(good);
        CHECK(load_config_string(head + good + "'}\n", "p.yaml").has_value());
    }
}

TEST_CASE("an empty provider list is refused", "[policies][loader]") {
    const auto msg = error_of("providers: []\npolicies: [{name: p, mode: audit, "
                              "checkpoints: deny}]\n");
    CHECK_THAT(msg, Catch::Contains("p.yaml:1:12: error: 'providers:' is empty; add at least "
                                    "one"));
}

TEST_CASE("recipients are checked by the check the caller hands in, at their position",
          "[policies][loader]") {
    LoadChecks checks;
    checks.recipient = [](const std::string& text) {
        return text == "age1good" ? std::string() : std::string("not an age key");
    };
    auto r = policies::load_config_string(
        "providers: [{name: a, type: libvirt, uri: 'test:///default'}]\n"
        "memory_dumps: {recipients: [age1good, age1notakey]}\n",
        "p.yaml", registry(), checks);
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message,
               Catch::Contains("p.yaml:2:39: error: recipient: not an age key; make a key pair "
                               "with age-keygen"));
}

TEST_CASE("a missing file is a clear error", "[policies][loader]") {
    auto r = load_config_file("/nonexistent/snapgov.yaml", registry());
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message, Catch::Contains("/nonexistent/snapgov.yaml: cannot read"));
}
