#include <catch2/catch.hpp>

#include "providers/libvirt/libvirt_provider.hpp"
#include "providers/libvirt/snapshot_xml.hpp"
#include "providers/registry.hpp"

using namespace snapgov;
using namespace snapgov::providers;

namespace {

ProviderSpec spec(std::string uri) {
    ProviderSpec s;
    s.name = "lab";
    s.type = "libvirt";
    s.uri = std::move(uri);
    s.origin = "test.yaml:1:1";
    return s;
}

std::unique_ptr<Provider> fixture_provider() {
    auto p = builtin_registry().create(spec(std::string("test://") + SNAPGOV_TEST_DATA +
                                            "/libvirt_host.xml"));
    REQUIRE(p.has_value());
    return std::move(*p);
}

} // namespace

TEST_CASE("libvirt: collect maps domains, labels, power state and snapshots",
          "[providers][libvirt]") {
    auto provider = fixture_provider();
    auto host = provider->collect();
    REQUIRE(host.has_value());
    CHECK(host->complete);
    CHECK(host->provider == "lab");
    CHECK(host->type == "libvirt");
    CHECK(host->capabilities.delete_checkpoint);
    CHECK_FALSE(host->capabilities.disable_checkpoints);
    REQUIRE(host->vms.size() == 2);

    // Sorted by name.
    const Vm& bare = host->vms[0];
    CHECK(bare.name == "bare");
    CHECK(bare.labels.empty());
    CHECK(bare.checkpoints.empty());
    CHECK(bare.power == PowerState::running); // the test driver starts domains by default

    const Vm& web = host->vms[1];
    CHECK(web.name == "web-01");
    CHECK(web.id == "0c5e0000-0000-4000-8000-000000000001");
    CHECK(web.power == PowerState::running);
    CHECK(web.labels == std::map<std::string, std::string>{{"owner", "team-web"},
                                                            {"tier", "production"}});
    REQUIRE(web.checkpoints.size() == 3);
    const Checkpoint& base = web.checkpoints[0];
    CHECK(base.name == "base");
    CHECK(base.description == "golden image");
    CHECK(base.created.time_since_epoch().count() == 1795000000);
    CHECK_FALSE(base.parent.has_value());
    CHECK(base.memory == MemoryKind::none);
    REQUIRE(base.disks.size() == 1);
    CHECK(base.disks[0].target == "vda");
    CHECK(base.disks[0].kind == "external");
    CHECK(base.disks[0].file == "/images/web-01.base.qcow2");

    const Checkpoint& ram = web.checkpoints[1];
    CHECK(ram.parent == "base");
    CHECK(ram.memory == MemoryKind::external);
    CHECK(ram.memory_files == std::vector<std::string>{"/dumps/web-01.with-ram.mem"});
    CHECK_FALSE(ram.current);

    const Checkpoint& internal = web.checkpoints[2];
    CHECK(internal.memory == MemoryKind::internal);
    CHECK(internal.parent == "with-ram");
    CHECK(internal.current);
}

TEST_CASE("libvirt: a deleted snapshot is gone on the next collect", "[providers][libvirt]") {
    auto provider = fixture_provider();
    auto before = provider->collect();
    REQUIRE(before.has_value());
    const Vm web = before->vms[1];
    REQUIRE(provider->delete_checkpoint(web, web.checkpoints[2]).has_value());
    auto after = provider->collect();
    REQUIRE(after.has_value());
    REQUIRE(after->vms[1].checkpoints.size() == 2);
    CHECK(after->vms[1].checkpoints[1].name == "with-ram");
    // Deleting what is already gone is not an error: the desired state holds.
    CHECK(provider->delete_checkpoint(web, web.checkpoints[2]).has_value());
}

TEST_CASE("libvirt: disabling checkpoints is refused as unsupported", "[providers][libvirt]") {
    auto provider = fixture_provider();
    auto host = provider->collect();
    REQUIRE(host.has_value());
    auto r = provider->disable_checkpoints(host->vms[0]);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::unsupported);
}

TEST_CASE("libvirt: a connection failure names the URI and libvirt's reason",
          "[providers][libvirt]") {
    auto p = builtin_registry().create(spec("test:///nonexistent/host.xml"));
    REQUIRE_FALSE(p.has_value());
    CHECK(p.error().code == ErrorCode::provider);
    CHECK_THAT(p.error().message, Catch::Contains("provider lab"));
    CHECK_THAT(p.error().message, Catch::Contains("test:///nonexistent/host.xml"));
}

TEST_CASE("libvirt: the factory validates the URI without connecting", "[providers][libvirt]") {
    const auto registry = builtin_registry();
    CHECK(registry.validate(spec("qemu:///system")).has_value());
    auto empty = registry.validate(spec(""));
    REQUIRE_FALSE(empty.has_value());
    CHECK_THAT(empty.error().message, Catch::StartsWith("test.yaml:1:1: libvirt provider 'lab' "
                                                        "needs 'uri'"));
    CHECK_FALSE(registry.validate(spec("test://relative/host.xml")).has_value());
    auto unknown = spec("x");
    unknown.type = "vmware";
    auto r = registry.validate(unknown);
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message, Catch::Contains("type 'vmware', which this build does not "
                                                  "include"));
}

TEST_CASE("snapshot XML: older snapshots without <memory> infer internal memory from state",
          "[providers][libvirt][xml]") {
    auto running = libvirt::parse_snapshot_xml(
        "<domainsnapshot><name>a</name><state>running</state>"
        "<creationTime>10</creationTime></domainsnapshot>");
    REQUIRE(running.has_value());
    CHECK(running->memory == MemoryKind::internal);
    auto off = libvirt::parse_snapshot_xml(
        "<domainsnapshot><name>b</name><state>shutoff</state>"
        "<creationTime>10</creationTime></domainsnapshot>");
    REQUIRE(off.has_value());
    CHECK(off->memory == MemoryKind::none);
}

TEST_CASE("snapshot XML: malformed input is an error, not a guess", "[providers][libvirt][xml]") {
    CHECK_FALSE(libvirt::parse_snapshot_xml("<domainsnapshot><name>a</name></domainsnapshot>")
                    .has_value());
    CHECK_FALSE(libvirt::parse_snapshot_xml("<domainsnapshot><name>a</name><creationTime>1x"
                                            "</creationTime></domainsnapshot>")
                    .has_value());
    CHECK_FALSE(libvirt::parse_snapshot_xml("<domainsnapshot><name>").has_value());
    CHECK_FALSE(libvirt::parse_snapshot_xml("<other/>").has_value());
}
