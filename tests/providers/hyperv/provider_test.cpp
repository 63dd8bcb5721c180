// The Hyper-V provider against the WS-Management test server: inventory mapping, actions
// seen by a second collection, job failures, factory validation.
#include <catch2/catch.hpp>

#include <fstream>

#include <sys/stat.h>

#include "providers/hyperv/hyperv_provider.hpp"
#include "providers/hyperv/wsman_client.hpp"
#include "tests/providers/hyperv/server_fixture.hpp"

using namespace snapgov;
using namespace snapgov::providers;
using namespace snapgov::providers::hyperv;
using snapgov::test::TestPki;
using snapgov::test::WsmanServer;

namespace {

std::unique_ptr<Provider> make_provider(const ProviderSpec& spec) {
    auto provider = HypervFactory().create(spec);
    if (!provider) {
        FAIL("create failed: " << provider.error().message);
    }
    return std::move(*provider);
}

HostInventory collect_ok(Provider& provider) {
    auto inventory = provider.collect();
    if (!inventory) {
        FAIL("collect failed: " << inventory.error().message);
    }
    return *inventory;
}

const Vm& vm_named(const HostInventory& host, const std::string& name) {
    for (const auto& vm : host.vms) {
        if (vm.name == name) {
            return vm;
        }
    }
    FAIL("no VM named " << name);
    throw std::logic_error("unreachable");
}

const Checkpoint* checkpoint_named(const Vm& vm, const std::string& name) {
    for (const auto& cp : vm.checkpoints) {
        if (cp.name == name) {
            return &cp;
        }
    }
    return nullptr;
}

} // namespace

TEST_CASE("collect maps VMs, labels, settings and checkpoints", "[provider]") {
    WsmanServer server;
    auto provider = make_provider(server.spec());
    const auto host = collect_ok(*provider);

    CHECK(host.provider == "hv-test");
    CHECK(host.type == "hyperv");
    CHECK(host.complete);
    CHECK(host.endpoint == server.url());
    CHECK(host.capabilities.delete_checkpoint);
    CHECK(host.capabilities.disable_checkpoints);
    CHECK(host.capabilities.clear_memory_state);

    // The host's own Msvm_ComputerSystem (HV01) is not a VM; VMs come sorted by name.
    REQUIRE(host.vms.size() == 4);
    CHECK(host.vms[0].name == "build-agent");
    CHECK(host.vms[1].name == "dev-web-01");
    CHECK(host.vms[2].name == "prod-db-01");
    CHECK(host.vms[3].name == "saved-vm");

    const auto& prod = vm_named(host, "prod-db-01");
    CHECK(prod.id == "4A1E5A6B-1111-4C2D-9E3F-000000000001");
    CHECK(prod.power == PowerState::running);
    CHECK(prod.checkpoint_setting == CheckpointSetting::standard);
    CHECK(prod.labels == std::map<std::string, std::string>{
                             {"tier", "production"}, {"owner", "dba team"}, {"zone", "eu-west"}});
    REQUIRE(prod.checkpoints.size() == 2);
    const auto& before = prod.checkpoints[0];
    CHECK(before.name == "before-patch");
    CHECK(before.id == "Microsoft:C0000001-AAAA-4BBB-8CCC-000000000001");
    CHECK(format_rfc3339(before.created) == "2024-03-10T07:15:30Z");
    CHECK_FALSE(before.parent.has_value());
    CHECK(before.memory == MemoryKind::external);
    CHECK(before.memory_files ==
          std::vector<std::string>{
              "E:\\Checkpoints\\prod-db-01\\Snapshots\\C0000001-AAAA-4BBB-8CCC-000000000001.vmrs"});
    CHECK_FALSE(before.current);
    const auto& after = prod.checkpoints[1];
    CHECK(after.name == "after-patch");
    CHECK(format_rfc3339(after.created) == "2024-03-11T14:00:00Z");
    CHECK(after.parent == std::optional<std::string>("before-patch"));
    CHECK(after.description == "ttl=24h");
    CHECK(after.memory == MemoryKind::none);
    CHECK(after.memory_files.empty());
    CHECK(after.current);

    const auto& dev = vm_named(host, "dev-web-01");
    CHECK(dev.power == PowerState::shutoff);
    CHECK(dev.checkpoint_setting == CheckpointSetting::production);
    CHECK(dev.labels == std::map<std::string, std::string>{{"tier", "dev"}});
    REQUIRE(dev.checkpoints.size() == 1);
    CHECK(format_rfc3339(dev.checkpoints[0].created) == "2024-03-01T10:00:00Z");

    const auto& agent = vm_named(host, "build-agent");
    CHECK(agent.power == PowerState::paused);
    CHECK(agent.checkpoint_setting == CheckpointSetting::disabled);
    CHECK(agent.labels.empty());
    CHECK(agent.checkpoints.empty());

    const auto& saved = vm_named(host, "saved-vm");
    CHECK(saved.power == PowerState::suspended);
    CHECK(saved.checkpoint_setting == CheckpointSetting::production_only);
    REQUIRE(saved.checkpoints.size() == 1);
    CHECK(format_rfc3339(saved.checkpoints[0].created) == "2024-02-29T18:29:59Z");
    // No SnapshotDataRoot in the fixture for this VM: the default data root is used.
    CHECK(saved.checkpoints[0].memory_files ==
          std::vector<std::string>{"C:\\ProgramData\\Microsoft\\Windows\\Hyper-V\\Snapshots\\"
                                   "7E0C1A55-0000-4000-8000-00000000F411.vmrs"});
}

TEST_CASE("delete_checkpoint waits for the job and the checkpoint is gone", "[provider][actions]") {
    WsmanServer server;
    auto provider = make_provider(server.spec());
    const auto host = collect_ok(*provider);
    const auto& prod = vm_named(host, "prod-db-01");
    const auto* after = checkpoint_named(prod, "after-patch");
    REQUIRE(after != nullptr);

    auto ok = provider->delete_checkpoint(prod, *after);
    REQUIRE(ok);

    const auto again = collect_ok(*provider);
    const auto& prod2 = vm_named(again, "prod-db-01");
    CHECK(checkpoint_named(prod2, "after-patch") == nullptr);
    REQUIRE(checkpoint_named(prod2, "before-patch") != nullptr);
    // The VM now descends from the deleted checkpoint's parent.
    CHECK(checkpoint_named(prod2, "before-patch")->current);
    // The job was polled until it completed (the server completes it on the 2nd Get).
    const auto log = server.log();
    CHECK(log.find("DestroySnapshot") != std::string::npos);
    CHECK(log.find("Get http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/"
                   "Msvm_ConcreteJob") != std::string::npos);
}

TEST_CASE("clear_memory_state leaves a disk-only checkpoint", "[provider][actions]") {
    WsmanServer server;
    auto provider = make_provider(server.spec());
    const auto host = collect_ok(*provider);
    const auto& prod = vm_named(host, "prod-db-01");
    const auto* before = checkpoint_named(prod, "before-patch");
    REQUIRE(before != nullptr);
    REQUIRE(before->memory == MemoryKind::external);

    REQUIRE(provider->clear_memory_state(prod, *before));

    const auto again = collect_ok(*provider);
    const auto* cleared = checkpoint_named(vm_named(again, "prod-db-01"), "before-patch");
    REQUIRE(cleared != nullptr);
    CHECK(cleared->memory == MemoryKind::none);
    CHECK(cleared->memory_files.empty());
}

TEST_CASE("disable_checkpoints sets UserSnapshotType to disabled", "[provider][actions]") {
    WsmanServer server;
    auto provider = make_provider(server.spec());
    const auto host = collect_ok(*provider);
    const auto& prod = vm_named(host, "prod-db-01");
    REQUIRE(prod.checkpoint_setting == CheckpointSetting::standard);

    REQUIRE(provider->disable_checkpoints(prod));

    const auto again = collect_ok(*provider);
    const auto& prod2 = vm_named(again, "prod-db-01");
    CHECK(prod2.checkpoint_setting == CheckpointSetting::disabled);
    // Notes were not sent, so the labels are intact.
    CHECK(prod2.labels.at("tier") == "production");
    // The other VMs are untouched.
    CHECK(vm_named(again, "dev-web-01").checkpoint_setting == CheckpointSetting::production);
}

TEST_CASE("a failed job is an error with its description, and nothing changes",
          "[provider][actions]") {
    WsmanServer server;
    auto provider = make_provider(server.spec());
    const auto host = collect_ok(*provider);
    const auto& saved = vm_named(host, "saved-vm");
    const auto* locked = checkpoint_named(saved, "locked");
    REQUIRE(locked != nullptr);

    auto result = provider->delete_checkpoint(saved, *locked);
    REQUIRE_FALSE(result);
    CHECK(result.error().code == ErrorCode::provider);
    const auto& message = result.error().message;
    CHECK_THAT(message, Catch::Contains("provider hv-test: delete checkpoint 'locked' of VM "
                                        "'saved-vm'"));
    CHECK_THAT(message, Catch::Contains("JobState 10 Exception"));
    CHECK_THAT(message, Catch::Contains("in use by a backup"));

    const auto again = collect_ok(*provider);
    CHECK(checkpoint_named(vm_named(again, "saved-vm"), "locked") != nullptr);
}

TEST_CASE("deleting a checkpoint that is already gone succeeds", "[provider][actions]") {
    WsmanServer server;
    auto provider = make_provider(server.spec());
    const auto host = collect_ok(*provider);
    const auto& prod = vm_named(host, "prod-db-01");
    Checkpoint ghost = prod.checkpoints.front();
    ghost.id = "Microsoft:00000000-0000-0000-0000-000000000000";
    ghost.name = "ghost";

    REQUIRE(provider->delete_checkpoint(prod, ghost));
    CHECK(server.log().find("DestroySnapshot") == std::string::npos);
    CHECK(collect_ok(*provider).vms.size() == 4);
}

TEST_CASE("clearing the memory of an unknown checkpoint names the fault", "[provider][actions]") {
    WsmanServer server;
    auto provider = make_provider(server.spec());
    const auto host = collect_ok(*provider);
    const auto& prod = vm_named(host, "prod-db-01");
    Checkpoint ghost = prod.checkpoints.front();
    ghost.id = "Microsoft:00000000-0000-0000-0000-000000000000";
    ghost.name = "ghost";

    auto result = provider->clear_memory_state(prod, ghost);
    REQUIRE_FALSE(result);
    const auto& message = result.error().message;
    CHECK_THAT(message, Catch::Contains("provider hv-test: clear memory state of checkpoint "
                                        "'ghost' of VM 'prod-db-01'"));
    CHECK_THAT(message,
               Catch::Contains("Invoke Msvm_VirtualSystemSnapshotService.ClearSnapshotState"));
    CHECK_THAT(message, Catch::Contains("wsman:InvalidParameter"));
    CHECK_THAT(message, Catch::Contains("0x80041002"));
}

TEST_CASE("a job that does not end in time is a timeout error", "[provider][actions]") {
    WsmanServer::Options options;
    options.job_polls = 1000;
    WsmanServer server(options);
    const auto spec = server.spec();
    auto created = HypervFactory().create(spec);
    REQUIRE(created);
    const auto host = collect_ok(**created);
    // A provider with a short job bound, over its own connection to the same server.
    TransportOptions transport;
    transport.endpoint = spec.endpoint;
    transport.url = *parse_endpoint_url(spec.endpoint);
    transport.ca_file = spec.tls.ca_file;
    transport.username = snapgov::test::kUser;
    transport.password = snapgov::test::kPassword;
    auto http = HttpTransport::create(std::move(transport));
    REQUIRE(http);
    JobPolicy jobs;
    jobs.first_poll = std::chrono::milliseconds(50);
    jobs.max_poll = std::chrono::milliseconds(100);
    jobs.timeout = std::chrono::seconds(1);
    HypervProvider provider("hv-test",
                            std::make_unique<WsmanClient>(spec.endpoint, std::move(*http)), jobs);
    const auto& prod = vm_named(host, "prod-db-01");

    const auto start = std::chrono::steady_clock::now();
    auto r = provider.disable_checkpoints(prod);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("ModifySystemSettings job"));
    CHECK_THAT(r.error().message, Catch::Contains("still Running after 1s"));
    // The job never ends: anything bounded proves the timeout; 10 s leaves room for load.
    CHECK(elapsed < std::chrono::seconds(10));
}

TEST_CASE("a method's error return code is reported by name", "[provider][actions]") {
    WsmanServer::Options options;
    options.method_return = "ClearSnapshotState=32775";
    WsmanServer server(options);
    auto provider = make_provider(server.spec());
    const auto host = collect_ok(*provider);
    const auto& prod = vm_named(host, "prod-db-01");
    auto r = provider->clear_memory_state(prod, prod.checkpoints.front());
    REQUIRE_FALSE(r);
    CHECK_THAT(
        r.error().message,
        Catch::Contains("ClearSnapshotState returned 32775 (invalid state for this operation)"));
}

TEST_CASE("paging: 250 VMs arrive through pages of 20", "[provider][paging]") {
    WsmanServer::Options options;
    options.world = "many_vms.json";
    options.page_size = 20;
    WsmanServer server(options);
    auto provider = make_provider(server.spec());
    const auto host = collect_ok(*provider);

    REQUIRE(host.vms.size() == 250);
    CHECK(host.vms.front().name == "bulk-000");
    CHECK(host.vms.back().name == "bulk-249");
    std::size_t checkpoints = 0;
    for (const auto& vm : host.vms) {
        checkpoints += vm.checkpoints.size();
        REQUIRE(vm.labels.count("index") == 1);
        CHECK(vm.name ==
              "bulk-" +
                  std::string(3 - std::min<std::size_t>(3, vm.labels.at("index").size()), '0') +
                  vm.labels.at("index"));
    }
    CHECK(checkpoints == 25);

    // 251 systems (with the host) and 250 settings take 13 pages each (12 Pulls), 25
    // checkpoints 2 pages (1 Pull): every page was pulled, none skipped.
    const auto log = server.log();
    std::size_t pulls = 0;
    for (auto at = log.find("Pull "); at != std::string::npos; at = log.find("Pull ", at + 1)) {
        ++pulls;
    }
    CHECK(pulls == 25);
    CHECK(log.find("FAULT") == std::string::npos);
}

TEST_CASE("an enumeration context the server forgot is a clear collect error",
          "[provider][faults]") {
    WsmanServer::Options options;
    options.page_size = 2;
    options.drop_contexts = true;
    WsmanServer server(options);
    auto provider = make_provider(server.spec());
    auto result = provider->collect();
    REQUIRE_FALSE(result);
    CHECK_THAT(result.error().message, Catch::Contains("provider hv-test: collect"));
    CHECK_THAT(result.error().message, Catch::Contains("Enumerate Msvm_ComputerSystem (Pull)"));
    CHECK_THAT(result.error().message, Catch::Contains("wsen:InvalidEnumerationContext"));
}

TEST_CASE("wrong credentials: authentication failed, no password in the message",
          "[provider][auth]") {
    WsmanServer server;
    const auto dir = TestPki::get().dir;
    const std::string wrong_file = dir + "/wrong-password";
    {
        std::ofstream out(wrong_file);
        out << "not-the-Password-42\n";
    }
    ::chmod(wrong_file.c_str(), 0600);
    auto spec = server.spec();
    spec.auth.password_file = wrong_file;
    auto provider = make_provider(spec);
    auto result = provider->collect();
    REQUIRE_FALSE(result);
    CHECK_THAT(result.error().message, Catch::Contains("authentication failed"));
    CHECK_THAT(result.error().message, !Catch::Contains("not-the-Password-42"));
    CHECK_THAT(result.error().message, !Catch::Contains(snapgov::test::kPassword));
    CHECK_THAT(result.error().message, Catch::Contains(server.url()));
}

TEST_CASE("certificate authentication", "[provider][auth]") {
    WsmanServer::Options options;
    options.client_ca = true;
    WsmanServer server(options);
    auto spec = server.spec();
    spec.auth =
        AuthSpec{"certificate", "", "", TestPki::get().client_cert, TestPki::get().client_key};
    auto provider = make_provider(spec);
    CHECK(collect_ok(*provider).vms.size() == 4);

    // The same server refuses Basic credentials.
    auto basic = make_provider(server.spec());
    auto refused = basic->collect();
    REQUIRE_FALSE(refused);
    CHECK_THAT(refused.error().message, Catch::Contains("authentication failed"));
}

TEST_CASE("factory validation names the fix", "[provider][config]") {
    HypervFactory factory;
    ProviderSpec spec;
    spec.name = "hv01";
    spec.type = "hyperv";
    spec.origin = "policy.yaml:3:5";
    spec.auth.method = "basic";
    spec.auth.username = "svc";
    spec.auth.password_file = "/nonexistent";

    auto r = factory.validate(spec);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::config);
    CHECK_THAT(r.error().message, Catch::StartsWith("policy.yaml:3:5: hyperv provider 'hv01'"));
    CHECK_THAT(r.error().message, Catch::Contains("needs 'endpoint'"));

    spec.endpoint = "http://hv01:5985/wsman";
    r = factory.validate(spec);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("insecure_http: true"));
    spec.insecure_http = true;
    CHECK(factory.validate(spec));

    spec.endpoint = "https://hv01/wsman";
    spec.auth.method = "kerberos";
    r = factory.validate(spec);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("basic or certificate"));

    spec.auth.method = "certificate";
    spec.auth.cert_file = "/etc/snapgov/client.pem";
    r = factory.validate(spec);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("auth.key_file"));

    spec.auth.method = "basic";
    spec.auth.password_file.clear();
    r = factory.validate(spec);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("auth.password_file"));
}

TEST_CASE("a password file readable by others is refused", "[provider][config]") {
    const std::string path = TestPki::get().dir + "/loose-password";
    {
        std::ofstream out(path);
        out << "whatever\n";
    }
    ::chmod(path.c_str(), 0644);
    ProviderSpec spec;
    spec.name = "hv01";
    spec.type = "hyperv";
    spec.endpoint = "https://127.0.0.1:1/wsman";
    spec.auth = AuthSpec{"basic", "svc", path, "", ""};
    auto r = HypervFactory().create(spec);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::config);
    CHECK_THAT(r.error().message, Catch::Contains("mode 0644"));
    CHECK_THAT(r.error().message, Catch::Contains("chmod 600"));
    CHECK_THAT(r.error().message, !Catch::Contains("whatever"));
}

TEST_CASE("a ReturnValue that is not a 32-bit unsigned number is a provider error",
          "[provider][actions][errors]") {
    // std::stoul took "-1" for 2^64-1 and threw on garbage; the reply is input, so neither
    // a sign nor an overflow may pass, and nothing may throw.
    const auto code = GENERATE(std::string("-1"), std::string("4294967296"));
    WsmanServer::Options options;
    options.method_return = "ClearSnapshotState=" + code;
    WsmanServer server(options);
    auto provider = make_provider(server.spec());
    const auto host = collect_ok(*provider);
    const auto& prod = vm_named(host, "prod-db-01");
    auto r = provider->clear_memory_state(prod, prod.checkpoints.front());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::provider);
    CHECK_THAT(r.error().message,
               Catch::Contains("Invoke Msvm_VirtualSystemSnapshotService.ClearSnapshotState") &&
                   Catch::Contains("the reply has no valid ReturnValue ('" + code + "')"));
}
