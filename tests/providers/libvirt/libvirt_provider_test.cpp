#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <sys/stat.h>
#include <unistd.h>

#include "policies/config_loader.hpp"
#include "providers/builtin.hpp"
#include "providers/libvirt/libvirt_provider.hpp"
#include "providers/libvirt/snapshot_xml.hpp"
#include "tests/support/support.hpp"

using namespace snapgov;
using namespace snapgov::providers;
using libvirt::disk_only_snapshot_xml;

namespace {

ProviderSpec spec(std::string uri) {
    ProviderSpec s;
    s.name = "lab";
    s.type = "libvirt";
    s.settings = std::make_shared<libvirt::LibvirtSettings>(std::move(uri));
    s.origin = "test.yaml:1:1";
    return s;
}

ProviderRegistry builtin() {
    return builtin_registry().value();
}

/// The diagnostics text of a policy file that does not load.
std::string load_error(const std::string& yaml) {
    auto r = policies::load_config_string(yaml, "p.yaml", builtin());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::config);
    return r.error().message;
}

std::unique_ptr<Provider> fixture_provider() {
    auto p =
        builtin().create(spec(std::string("test://") + SNAPGOV_TEST_DATA + "/libvirt_host.xml"));
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
    CHECK(web.labels ==
          std::map<std::string, std::string>{{"owner", "team-web"}, {"tier", "production"}});
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

TEST_CASE("libvirt: a provider made for collections only collects the same host and does not "
          "watch",
          "[providers][libvirt]") {
    const auto s = spec(std::string("test://") + SNAPGOV_TEST_DATA + "/libvirt_host.xml");
    auto full = builtin().create(s);
    auto lean = builtin().create(s, {.collect_only = true});
    REQUIRE(full.has_value());
    REQUIRE(lean.has_value());
    const auto a = (*full)->collect();
    const auto b = (*lean)->collect();
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    REQUIRE(a->vms.size() == b->vms.size());
    REQUIRE_FALSE(a->vms.empty());
    for (std::size_t i = 0; i < a->vms.size(); ++i) {
        CHECK(a->vms[i].id == b->vms[i].id);
        CHECK(a->vms[i].labels == b->vms[i].labels);
        REQUIRE(a->vms[i].checkpoints.size() == b->vms[i].checkpoints.size());
        for (std::size_t k = 0; k < a->vms[i].checkpoints.size(); ++k) {
            CHECK(a->vms[i].checkpoints[k].name == b->vms[i].checkpoints[k].name);
            CHECK(a->vms[i].checkpoints[k].current == b->vms[i].checkpoints[k].current);
        }
    }
    const auto refused = (*lean)->watch([](const std::string&) {});
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == ErrorCode::unsupported);
    CHECK_THAT(refused.error().message, Catch::Contains("collections only"));
    CHECK((*full)->watch([](const std::string&) {}).has_value());
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

TEST_CASE("libvirt: a collection that need not mark the current checkpoint marks none, and "
          "differs in nothing else",
          "[providers][libvirt]") {
    auto provider = fixture_provider();
    const auto marked = provider->collect();
    CollectScope pass;
    pass.mark_current = false;
    const auto unmarked = provider->collect(pass);
    REQUIRE(marked.has_value());
    REQUIRE(unmarked.has_value());
    REQUIRE(marked->vms.size() == unmarked->vms.size());
    std::size_t current = 0;
    for (std::size_t i = 0; i < marked->vms.size(); ++i) {
        const auto& a = marked->vms[i].checkpoints;
        const auto& b = unmarked->vms[i].checkpoints;
        REQUIRE(a.size() == b.size());
        for (std::size_t k = 0; k < a.size(); ++k) {
            current += a[k].current ? 1 : 0;
            CHECK_FALSE(b[k].current);
            CHECK(a[k].name == b[k].name);
            CHECK(a[k].created == b[k].created);
            CHECK(a[k].memory == b[k].memory);
            CHECK(a[k].memory_files == b[k].memory_files);
            CHECK(a[k].parent == b[k].parent);
        }
    }
    CHECK(current == 1); // the fixture has one current checkpoint: the test can fail
}

TEST_CASE("libvirt: a deny-only collection leaves out the domains without snapshots",
          "[providers][libvirt]") {
    auto provider = fixture_provider();
    auto all = provider->collect();
    CollectScope deny_only;
    deny_only.deny_only = true;
    auto some = provider->collect(deny_only);
    REQUIRE(all.has_value());
    REQUIRE(some.has_value());
    CHECK(some->complete);
    REQUIRE(all->vms.size() == 2);
    CHECK(all->vms[0].checkpoints.empty());
    // `bare` has no snapshot: a deny policy has nothing to delete there.
    REQUIRE(some->vms.size() == 1);
    const Vm& web = some->vms[0];
    CHECK(web.name == all->vms[1].name);
    CHECK(web.id == all->vms[1].id);
    CHECK(web.power == all->vms[1].power);
    CHECK(web.labels == all->vms[1].labels);
    REQUIRE(web.checkpoints.size() == all->vms[1].checkpoints.size());
    for (std::size_t i = 0; i < web.checkpoints.size(); ++i) {
        CHECK(web.checkpoints[i].name == all->vms[1].checkpoints[i].name);
        CHECK(web.checkpoints[i].current == all->vms[1].checkpoints[i].current);
        CHECK(web.checkpoints[i].memory_files == all->vms[1].checkpoints[i].memory_files);
    }
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
    auto p = builtin().create(spec("test:///nonexistent/host.xml"));
    REQUIRE_FALSE(p.has_value());
    CHECK(p.error().code == ErrorCode::provider);
    CHECK_THAT(p.error().message, Catch::Contains("provider lab"));
    CHECK_THAT(p.error().message, Catch::Contains("test:///nonexistent/host.xml"));
}

TEST_CASE("libvirt: the factory validates the URI without connecting", "[providers][libvirt]") {
    const auto registry = builtin();
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

TEST_CASE("libvirt: the parser reports a missing or bad uri at its position",
          "[providers][libvirt][config]") {
    auto msg = load_error("providers:\n"
                          "  - name: lab\n"
                          "    type: libvirt\n");
    CHECK_THAT(msg, Catch::Contains("p.yaml:2:5: error: libvirt provider 'lab' needs 'uri' (e.g. "
                                    "qemu:///system or test:///abs/path/host.xml)"));
    CHECK_THAT(msg, Catch::Contains("      - name: lab\n        ^"));

    msg = load_error("providers:\n"
                     "  - name: lab\n"
                     "    type: libvirt\n"
                     "    uri: test://relative/host.xml\n");
    CHECK_THAT(msg, Catch::Contains("p.yaml:4:10: error: libvirt provider 'lab': test driver URI "
                                    "'test://relative/host.xml' must be test:///default"));

    msg = load_error("providers: [{name: lab, type: libvirt, uri: [a, b]}]\n");
    CHECK_THAT(msg, Catch::Contains("p.yaml:1:45: error: 'uri' must be a string, not a list"));
}

TEST_CASE("libvirt: the parser warns about keys it does not know", "[providers][libvirt][config]") {
    auto r = policies::load_config_string("providers:\n"
                                          "  - name: lab\n"
                                          "    type: libvirt\n"
                                          "    uri: test:///default\n"
                                          "    endpoint: https://h/wsman\n"
                                          "policies: []\n",
                                          "p.yaml", builtin());
    REQUIRE(r.has_value());
    REQUIRE(r->warnings.size() == 1);
    CHECK(r->warnings[0].format() ==
          "p.yaml:5:5: warning: unknown key 'endpoint' in libvirt provider 'lab' is ignored "
          "(known: name, type, connect_timeout, read_timeout, uri, max_connections)");
    REQUIRE(r->config.providers.size() == 1);
    const auto* settings = r->config.providers[0].settings_as<libvirt::LibvirtSettings>();
    REQUIRE(settings != nullptr);
    CHECK(settings->uri == "test:///default");
}

TEST_CASE("libvirt: max_connections is read, bounded, and 4 by default",
          "[providers][libvirt][config]") {
    const auto settings_of = [](const std::string& yaml) {
        auto r = policies::load_config_string(yaml, "p.yaml", builtin());
        REQUIRE(r.has_value());
        const auto* s = r->config.providers.at(0).settings_as<libvirt::LibvirtSettings>();
        REQUIRE(s != nullptr);
        return *s;
    };
    CHECK(settings_of("providers: [{name: lab, type: libvirt, uri: 'test:///default'}]\n")
              .max_connections == 4);
    CHECK(settings_of("providers: [{name: lab, type: libvirt, uri: 'test:///default', "
                      "max_connections: 16}]\n")
              .max_connections == 16);
    auto msg = load_error("providers: [{name: lab, type: libvirt, uri: 'test:///default', "
                          "max_connections: 0}]\n");
    CHECK_THAT(msg, Catch::Contains("p.yaml:1:81: error: libvirt provider 'lab': "
                                    "'max_connections' must be 1 to 16"));
    msg = load_error("providers: [{name: lab, type: libvirt, uri: 'test:///default', "
                     "max_connections: 17}]\n");
    CHECK_THAT(msg, Catch::Contains("'max_connections' must be 1 to 16"));
    auto bad = spec("qemu:///system");
    auto settings = std::make_shared<libvirt::LibvirtSettings>("qemu:///system");
    settings->max_connections = 0;
    bad.settings = settings;
    CHECK_FALSE(builtin().validate(bad).has_value());
}

TEST_CASE("libvirt: a test-driver host is collected over its one connection, whatever "
          "max_connections says",
          "[providers][libvirt]") {
    // Each test-driver connection holds its own copy of the host: had the collection read
    // some domains over another connection, they would still show the deleted snapshots.
    snapgov::testing::TempDir dir;
    std::string xml = "<node>\n";
    for (int i = 0; i < 64; ++i) {
        const auto name = "vm-" + std::to_string(100 + i);
        const auto uuid = "0c5e0000-0000-4000-8000-000000000" + std::to_string(100 + i);
        xml += "<domain type='test'><name>" + name + "</name><uuid>" + uuid +
               "</uuid><memory unit='MiB'>64</memory><os><type>hvm</type></os>"
               "<test:domainsnapshot xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
               "<name>s</name><state>shutoff</state><creationTime>1795000000</creationTime>"
               "<memory snapshot='no'/><active>1</active><domain type='test'><name>" +
               name + "</name><uuid>" + uuid +
               "</uuid><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>"
               "</test:domainsnapshot></domain>\n";
    }
    xml += "</node>\n";
    auto s = spec("test://" + dir.write("host.xml", xml).string());
    auto settings = std::make_shared<libvirt::LibvirtSettings>(s.endpoint());
    settings->max_connections = 8;
    s.settings = settings;
    auto created = builtin().create(s);
    REQUIRE(created.has_value());
    auto& provider = *created;
    auto before = provider->collect();
    REQUIRE(before.has_value());
    REQUIRE(before->vms.size() == 64);
    for (const auto& vm : before->vms) {
        REQUIRE(vm.checkpoints.size() == 1);
        CHECK(vm.checkpoints[0].current);
        REQUIRE(provider->delete_checkpoint(vm, vm.checkpoints[0]).has_value());
    }
    auto after = provider->collect();
    REQUIRE(after.has_value());
    REQUIRE(after->vms.size() == 64);
    for (const auto& vm : after->vms) {
        CHECK(vm.checkpoints.empty());
    }
}

TEST_CASE("snapshot XML: older snapshots without <memory> infer internal memory from state",
          "[providers][libvirt][xml]") {
    auto running =
        libvirt::parse_snapshot_xml("<domainsnapshot><name>a</name><state>running</state>"
                                    "<creationTime>10</creationTime></domainsnapshot>");
    REQUIRE(running.has_value());
    CHECK(running->memory == MemoryKind::internal);
    auto off = libvirt::parse_snapshot_xml("<domainsnapshot><name>b</name><state>shutoff</state>"
                                           "<creationTime>10</creationTime></domainsnapshot>");
    REQUIRE(off.has_value());
    CHECK(off->memory == MemoryKind::none);
}

TEST_CASE("snapshot XML: malformed input is an error, not a guess", "[providers][libvirt][xml]") {
    CHECK_FALSE(
        libvirt::parse_snapshot_xml("<domainsnapshot><name>a</name></domainsnapshot>").has_value());
    CHECK_FALSE(libvirt::parse_snapshot_xml("<domainsnapshot><name>a</name><creationTime>1x"
                                            "</creationTime></domainsnapshot>")
                    .has_value());
    CHECK_FALSE(libvirt::parse_snapshot_xml("<domainsnapshot><name>").has_value());
    CHECK_FALSE(libvirt::parse_snapshot_xml("<other/>").has_value());
}

// --- disk-only redefine (after a memory dump is wiped) --------------------------------------

namespace {

const Vm& vm_named(const HostInventory& host, const std::string& name) {
    for (const auto& vm : host.vms) {
        if (vm.name == name) {
            return vm;
        }
    }
    FAIL("no VM " << name);
    throw std::logic_error("unreachable");
}

const Checkpoint& checkpoint_named(const Vm& vm, const std::string& name) {
    for (const auto& cp : vm.checkpoints) {
        if (cp.name == name) {
            return cp;
        }
    }
    FAIL("no checkpoint " << name);
    throw std::logic_error("unreachable");
}

} // namespace

TEST_CASE("snapshot XML: the disk-only form drops the memory file and the running state",
          "[providers][libvirt][xml]") {
    const auto xml = disk_only_snapshot_xml(
        "<domainsnapshot><name>s</name><state>running</state><creationTime>1</creationTime>"
        "<memory snapshot='external' file='/dumps/s.mem'/><disks><disk name='vda' "
        "snapshot='external'><source file='/d/s.qcow2'/></disk></disks>"
        "<domain type='kvm'><name>v</name></domain></domainsnapshot>");
    REQUIRE(xml.has_value());
    CHECK_THAT(*xml, Catch::Contains("<memory snapshot=\"no\" />") ||
                         Catch::Contains("<memory snapshot=\"no\"/>"));
    CHECK_THAT(*xml, !Catch::Contains("/dumps/s.mem"));
    CHECK_THAT(*xml, Catch::Contains("<state>disk-snapshot</state>"));
    CHECK_THAT(*xml, Catch::Contains("/d/s.qcow2"));
    const auto parsed = libvirt::parse_snapshot_xml(*xml);
    REQUIRE(parsed.has_value());
    CHECK(parsed->memory == MemoryKind::none);
    CHECK_FALSE(disk_only_snapshot_xml("<nope/>").has_value());
}

TEST_CASE("redefine journal: what is written is read back", "[providers][libvirt][xml]") {
    libvirt::RedefineJournal j;
    j.uri = "qemu:///system";
    j.domain_uuid = "0c5e0000-0000-4000-8000-000000000001";
    j.target = {"with <ram> & more", "<domainsnapshot><name>x</name></domainsnapshot>", true};
    j.children = {{"child", "<domainsnapshot><name>child</name></domainsnapshot>", false}};
    const auto back = libvirt::parse_journal_xml(libvirt::journal_to_xml(j));
    REQUIRE(back.has_value());
    CHECK(back->uri == j.uri);
    CHECK(back->domain_uuid == j.domain_uuid);
    CHECK(back->target.name == j.target.name);
    CHECK(back->target.xml == j.target.xml);
    CHECK(back->target.current);
    REQUIRE(back->children.size() == 1);
    CHECK(back->children[0].name == "child");
    CHECK_FALSE(back->children[0].current);
    CHECK_FALSE(libvirt::parse_journal_xml("<snapgov-redefine/>").has_value());
}

TEST_CASE("libvirt: make_disk_only keeps the checkpoint, its parent, children and current",
          "[providers][libvirt][memory]") {
    auto provider = fixture_provider();
    auto before = provider->collect();
    REQUIRE(before.has_value());
    CHECK(before->capabilities.make_disk_only);
    CHECK(before->capabilities.local_memory_files); // test:///path has no host part
    const Vm& vm = vm_named(*before, "web-01");
    const Checkpoint& with_ram = checkpoint_named(vm, "with-ram");
    REQUIRE(with_ram.memory == MemoryKind::external);

    const snapgov::testing::TempDir journal("snapgov-journal");
    REQUIRE(provider->make_disk_only(vm, with_ram, journal.path().string()).has_value());
    auto after = provider->collect();
    REQUIRE(after.has_value());
    const Vm& vm2 = vm_named(*after, "web-01");
    REQUIRE(vm2.checkpoints.size() == vm.checkpoints.size());
    const Checkpoint& redefined = checkpoint_named(vm2, "with-ram");
    CHECK(redefined.memory == MemoryKind::none);
    CHECK(redefined.memory_files.empty());
    CHECK(redefined.state == "disk-snapshot");
    CHECK(redefined.parent == std::optional<std::string>("base"));
    CHECK(redefined.created == with_ram.created);
    const Checkpoint& child = checkpoint_named(vm2, "internal");
    CHECK(child.parent == std::optional<std::string>("with-ram"));
    CHECK(child.current);
    CHECK(child.memory == MemoryKind::internal);

    // Internal memory cannot be separated from the disk image.
    const snapgov::testing::TempDir journal2("snapgov-journal");
    auto refused = provider->make_disk_only(vm2, child, journal2.path().string());
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == ErrorCode::unsupported);
}

TEST_CASE("libvirt: finish_disk_only redefines a checkpoint from an interrupted journal",
          "[providers][libvirt][memory]") {
    const std::string uri = std::string("test://") + SNAPGOV_TEST_DATA + "/libvirt_host.xml";
    auto created = builtin().create(spec(uri));
    REQUIRE(created.has_value());
    auto& provider = *created;
    auto before = provider->collect();
    REQUIRE(before.has_value());
    const Vm& vm = vm_named(*before, "web-01");

    // The state a crash leaves: journal written, metadata deleted, redefine not done.
    libvirt::RedefineJournal j;
    j.uri = uri;
    j.domain_uuid = vm.id;
    auto xml = libvirt::disk_only_snapshot_xml(
        "<domainsnapshot><name>with-ram</name><state>running</state><parent><name>base</name>"
        "</parent><creationTime>1795262400</creationTime><memory snapshot='external' "
        "file='/dumps/web-01.with-ram.mem'/><domain type='test'><name>web-01</name><uuid>" +
        vm.id +
        "</uuid><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>"
        "</domainsnapshot>");
    REQUIRE(xml.has_value());
    j.target = {"with-ram", *xml, false};
    const snapgov::testing::TempDir journal_folder("snapgov-journal");
    const std::string dir = journal_folder.path().string();
    const std::string journal = dir + "/libvirt-redefine-test.xml";
    { std::ofstream(journal) << libvirt::journal_to_xml(j); }
    // A journal of another connection is left alone.
    libvirt::RedefineJournal other = j;
    other.uri = "qemu+ssh://elsewhere/system";
    { std::ofstream(dir + "/libvirt-redefine-other.xml") << libvirt::journal_to_xml(other); }
    REQUIRE(provider->delete_checkpoint(vm, checkpoint_named(vm, "with-ram")).has_value());

    auto done = provider->finish_disk_only(dir);
    REQUIRE(done.has_value());
    REQUIRE(done->size() == 1);
    CHECK_THAT(done->front(), Catch::Contains("with-ram"));
    CHECK_FALSE(std::filesystem::exists(journal));
    CHECK(std::filesystem::exists(dir + "/libvirt-redefine-other.xml"));
    auto after = provider->collect();
    REQUIRE(after.has_value());
    const Checkpoint& back = checkpoint_named(vm_named(*after, "web-01"), "with-ram");
    CHECK(back.memory == MemoryKind::none);
    CHECK(back.parent == std::optional<std::string>("base"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("libvirt: finish_disk_only names a journal folder or journal it cannot read",
          "[providers][libvirt][memory][errors]") {
    auto provider = fixture_provider();
    const snapgov::testing::TempDir folder("snapgov-journal");
    const std::string dir = folder.path().string();
    SECTION("the journal folder is a file") {
        const std::string file = dir + "/state";
        { std::ofstream(file) << "x"; }
        auto r = provider->finish_disk_only(file);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::io);
        CHECK_THAT(r.error().message, Catch::Contains("journal directory " + file));
    }
    SECTION("a journal is a folder") {
        const std::string journal = dir + "/libvirt-redefine-folder.xml";
        std::filesystem::create_directory(journal);
        auto r = provider->finish_disk_only(dir);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::io);
        CHECK_THAT(r.error().message, Catch::Contains("cannot read journal " + journal));
    }
    SECTION("a journal another user owns is refused, not replayed") {
        const std::string journal = dir + "/libvirt-redefine-planted.xml";
        { std::ofstream(journal) << "<snapgov-redefine/>"; }
        REQUIRE(::chmod(journal.c_str(), 0600) == 0);
        if (::geteuid() == 0) {
            REQUIRE(::chown(journal.c_str(), 65534, 65534) == 0);
        } else {
            REQUIRE(::chmod(journal.c_str(), 0666) == 0); // the other half of the rule
        }
        auto r = provider->finish_disk_only(dir);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::config);
        CHECK_THAT(r.error().message,
                   Catch::Contains("journal " + journal) && Catch::Contains("is not used"));
        CHECK(std::filesystem::exists(journal));
    }
    SECTION("a journal folder that group or others can write is refused") {
        REQUIRE(::chmod(dir.c_str(), 0777) == 0);
        auto r = provider->finish_disk_only(dir);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::config);
        CHECK_THAT(r.error().message,
                   Catch::Contains("state directory " + dir) && Catch::Contains("chmod go-w"));
    }
    SECTION("a missing folder holds no journal") {
        auto r = provider->finish_disk_only(dir + "/missing");
        REQUIRE(r);
        CHECK(r->empty());
    }
}

TEST_CASE("libvirt: memory files are local only for a URI without a host part",
          "[providers][libvirt][memory]") {
    using libvirt::memory_files_are_local;
    CHECK(memory_files_are_local("qemu:///system"));
    CHECK(memory_files_are_local("qemu:///session"));
    CHECK(memory_files_are_local("test:///abs/host.xml"));
    // A local UNIX socket named in the query (a private libvirtd) is still this machine.
    CHECK(memory_files_are_local("qemu+unix:///system"));
    CHECK(memory_files_are_local("qemu+unix:///system?socket=/tmp/lv/sock/libvirt-sock"));
    CHECK(memory_files_are_local("qemu:///system?socket=/tmp/lv/sock/libvirt-sock"));
    // A host part, even localhost, or a transport that reaches elsewhere: remote.
    CHECK_FALSE(memory_files_are_local("qemu+unix://localhost/system"));
    CHECK_FALSE(memory_files_are_local("qemu+unix://host/system?socket=/x"));
    CHECK_FALSE(memory_files_are_local("qemu://host/system"));
    CHECK_FALSE(memory_files_are_local("qemu+ssh://host/system"));
    CHECK_FALSE(memory_files_are_local("qemu+ssh:///system"));
    CHECK_FALSE(memory_files_are_local("qemu+tcp:///system"));
    CHECK_FALSE(memory_files_are_local("qemu+tls:///system"));
    CHECK_FALSE(memory_files_are_local("qemu+ext:///system?command=/bin/x"));
    CHECK_FALSE(memory_files_are_local("qemu+libssh2:///system"));
    CHECK_FALSE(memory_files_are_local("qemu+unixfoo:///system"));
    CHECK_FALSE(memory_files_are_local("qemu"));
    CHECK_FALSE(memory_files_are_local(""));
    CHECK_FALSE(memory_files_are_local("qemu:/system"));
    CHECK(memory_files_are_local("test:///abs/a+unix.xml")); // a + in the path is no transport
}
