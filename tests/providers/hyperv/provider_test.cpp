// The Hyper-V provider against the WS-Management test server: inventory mapping, actions
// seen by a second collection, job failures, factory validation.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <sys/stat.h>

#include "policies/config_loader.hpp"
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
    auto provider = HypervFactory().create(spec, {});
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
    const auto settings = server.settings();
    auto created = HypervFactory().create(spec, {});
    REQUIRE(created);
    const auto host = collect_ok(**created);
    // A provider with a short job bound, over its own connection to the same server.
    TransportOptions transport;
    transport.endpoint = settings.endpoint_url;
    transport.url = *parse_endpoint_url(settings.endpoint_url);
    transport.ca_file = settings.tls.ca_file;
    transport.username = snapgov::test::kUser;
    transport.password = snapgov::test::kPassword;
    auto http = HttpTransport::create(std::move(transport));
    REQUIRE(http);
    JobPolicy jobs;
    jobs.first_poll = std::chrono::milliseconds(50);
    jobs.max_poll = std::chrono::milliseconds(100);
    jobs.timeout = std::chrono::seconds(1);
    HypervProvider provider(
        "hv-test", std::make_unique<WsmanClient>(settings.endpoint_url, std::move(*http)), jobs);
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
    auto settings = server.settings();
    settings.auth.password_file = wrong_file;
    auto provider = make_provider(WsmanServer::spec_with(settings));
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
    auto settings = server.settings();
    settings.auth = AuthSettings{};
    settings.auth.method = "certificate";
    settings.auth.cert_file = TestPki::get().client_cert;
    settings.auth.key_file = TestPki::get().client_key;
    auto provider = make_provider(WsmanServer::spec_with(settings));
    CHECK(collect_ok(*provider).vms.size() == 4);

    // The same server refuses Basic credentials.
    auto basic = make_provider(server.spec());
    auto refused = basic->collect();
    REQUIRE_FALSE(refused);
    CHECK_THAT(refused.error().message, Catch::Contains("authentication failed"));
}

TEST_CASE("factory validation names the fix", "[provider][config]") {
    HypervFactory factory;
    // The spec holds the settings read-only; the test changes them through its own pointer.
    const auto settings = std::make_shared<HypervSettings>();
    ProviderSpec spec;
    spec.name = "hv01";
    spec.type = "hyperv";
    spec.origin = "policy.yaml:3:5";
    spec.settings = settings;
    settings->auth.method = "basic";
    settings->auth.username = "svc";
    settings->auth.password_file = "/nonexistent";

    auto r = factory.validate(spec);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::config);
    CHECK_THAT(r.error().message, Catch::StartsWith("policy.yaml:3:5: hyperv provider 'hv01'"));
    CHECK_THAT(r.error().message, Catch::Contains("needs 'endpoint'"));

    settings->endpoint_url = "http://hv01:5985/wsman";
    r = factory.validate(spec);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("insecure_http: true"));
    settings->insecure_http = true;
    CHECK(factory.validate(spec));

    settings->endpoint_url = "https://hv01/wsman";
    settings->auth.method = "digest";
    r = factory.validate(spec);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("basic, certificate, kerberos or ntlm"));

    // Kerberos and NTLM: https only, even with insecure_http (their authentication is bound
    // to the TLS channel); a keytab names its principal; NTLM has a user and a password.
    settings->auth.method = "kerberos";
    CHECK(factory.validate(spec)); // the environment's credential cache
    settings->auth.keytab = "/etc/snapgov/svc.keytab";
    r = factory.validate(spec);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("with auth.keytab needs auth.principal"));
    settings->auth.principal = "svc@EXAMPLE.ORG";
    CHECK(factory.validate(spec));
    settings->endpoint_url = "http://hv01:5985/wsman";
    r = factory.validate(spec);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("auth method kerberos needs an https:// "
                                                  "endpoint"));
    settings->endpoint_url = "https://hv01/wsman";
    settings->auth.method = "ntlm";
    settings->auth.password_file.clear();
    r = factory.validate(spec);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("auth method ntlm needs auth.username and "
                                                  "auth.password_file"));
    settings->auth.password_file = "/nonexistent";

    settings->auth.method = "certificate";
    settings->auth.cert_file = "/etc/snapgov/client.pem";
    r = factory.validate(spec);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("auth.key_file"));

    settings->auth.method = "basic";
    settings->auth.password_file.clear();
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
    auto settings = std::make_shared<HypervSettings>();
    settings->endpoint_url = "https://127.0.0.1:1/wsman";
    settings->auth.method = "basic";
    settings->auth.username = "svc";
    settings->auth.password_file = path;
    ProviderSpec spec;
    spec.name = "hv01";
    spec.type = "hyperv";
    spec.settings = settings;
    auto r = HypervFactory().create(spec, {});
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

namespace {

/// Loads a policy file with the Hyper-V provider as the only known type.
Result<policies::LoadedConfig> load(const std::string& yaml, const std::string& name = "p.yaml") {
    ProviderRegistry registry;
    REQUIRE(registry.add(std::make_unique<HypervFactory>()));
    return policies::load_config_string(yaml, name, registry);
}

/// The test password file, as a YAML value.
std::string password() {
    return "'" + TestPki::get().password_file + "'";
}

std::string load_error(const std::string& yaml) {
    auto r = load(yaml);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::config);
    return r.error().message;
}

} // namespace

TEST_CASE("the parser reads every Hyper-V key", "[provider][config]") {
    const auto& pki = TestPki::get();
    auto r = load("providers:\n"
                  "  - name: hv01\n"
                  "    type: hyperv\n"
                  "    endpoint: https://hv01.example.org:5986/wsman\n"
                  "    auth: {method: certificate, cert_file: '${CONFIG_DIR}/client.pem', "
                  "key_file: '" +
                      pki.client_key +
                      "'}\n"
                      "    tls: {ca_file: '" +
                      pki.server_cert +
                      "', insecure: yes}\n"
                      "    connect_timeout: 3s\n"
                      "policies: []\n",
                  pki.dir + "/p.yaml");
    REQUIRE(r);
    CHECK(r->warnings.empty());
    const auto& spec = r->config.providers.at(0);
    CHECK(spec.connect_timeout == Seconds{3});
    CHECK(spec.endpoint() == "https://hv01.example.org:5986/wsman");
    const auto* settings = spec.settings_as<HypervSettings>();
    REQUIRE(settings != nullptr);
    CHECK(settings->auth.method == "certificate");
    CHECK(settings->auth.cert_file == pki.dir + "/client.pem");
    CHECK(settings->auth.key_file == pki.client_key);
    CHECK(settings->tls.ca_file == pki.server_cert);
    CHECK(settings->tls.insecure);
    CHECK_FALSE(settings->insecure_http);
    CHECK(HypervFactory().validate(spec));
}

TEST_CASE("the parser reads the kerberos and ntlm keys", "[provider][config]") {
    const auto& pki = TestPki::get();
    // A keytab is a secret: the test's password file stands in for one (mode 0600).
    auto r = load("providers:\n"
                  "  - name: hv01\n"
                  "    type: hyperv\n"
                  "    endpoint: https://hv01.example.org:5986/wsman\n"
                  "    auth: {method: kerberos, principal: svc-snapgov@EXAMPLE.ORG, keytab: '" +
                      pki.password_file +
                      "', spn: HTTP/alias.example.org, channel_binding: false}\n"
                      "  - name: hv02\n"
                      "    type: hyperv\n"
                      "    endpoint: https://hv02.example.org:5986/wsman\n"
                      "    auth: {method: ntlm, username: 'EXAMPLE\\svc-snapgov', "
                      "password_file: '" +
                      pki.password_file +
                      "'}\n"
                      "policies: []\n",
                  pki.dir + "/p.yaml");
    REQUIRE(r);
    CHECK(r->warnings.empty());
    const auto* kerberos = r->config.providers.at(0).settings_as<HypervSettings>();
    REQUIRE(kerberos != nullptr);
    CHECK(kerberos->auth.method == "kerberos");
    CHECK(kerberos->auth.principal == "svc-snapgov@EXAMPLE.ORG");
    CHECK(kerberos->auth.keytab == pki.password_file);
    CHECK(kerberos->auth.spn == "HTTP/alias.example.org");
    CHECK_FALSE(kerberos->auth.channel_binding);
    const auto* ntlm = r->config.providers.at(1).settings_as<HypervSettings>();
    REQUIRE(ntlm != nullptr);
    CHECK(ntlm->auth.username == "EXAMPLE\\svc-snapgov");
    CHECK(ntlm->auth.channel_binding); // on unless turned off
    CHECK(ntlm->auth.spn.empty());     // HTTP/<endpoint host> when the provider is made
    for (const auto& spec : r->config.providers) {
        CHECK(HypervFactory().validate(spec));
    }
}

TEST_CASE("kerberos over http:// and a keytab others can read are refused at their key",
          "[provider][config]") {
    auto msg = load_error("providers:\n"
                          "  - name: hv01\n"
                          "    type: hyperv\n"
                          "    endpoint: http://hv01.example.org:5985/wsman\n"
                          "    insecure_http: true\n"
                          "    auth: {method: kerberos}\n");
    CHECK_THAT(msg, Catch::StartsWith("p.yaml:4:15: error: hyperv provider 'hv01': auth method "
                                      "kerberos needs an https:// endpoint"));
    const auto keytab = TestPki::get().dir + "/readable.keytab";
    {
        std::ofstream out(keytab);
        out << "not a keytab, but the mode is what counts";
    }
    ::chmod(keytab.c_str(), 0644);
    msg = load_error("providers:\n"
                     "  - name: hv01\n"
                     "    type: hyperv\n"
                     "    endpoint: https://hv01.example.org:5986/wsman\n"
                     "    auth: {method: kerberos, principal: svc@EXAMPLE.ORG, keytab: '" +
                     keytab + "'}\n");
    CHECK_THAT(msg, Catch::StartsWith("p.yaml:5:66: error: 'keytab': "));
    CHECK_THAT(msg, Catch::Contains("accessible by group or others (mode 0644); run chmod 600"));
    std::filesystem::remove(keytab);
}

TEST_CASE("inline passwords are refused", "[provider][config]") {
    const auto msg = load_error("providers:\n"
                                "  - name: hv\n"
                                "    type: hyperv\n"
                                "    endpoint: https://hv:5986/wsman\n"
                                "    auth: {method: basic, username: u, password: hunter2}\n");
    CHECK_THAT(msg, Catch::Contains("p.yaml:5:40: error: passwords are not accepted inline"));
    CHECK_THAT(msg, !Catch::Contains("error: hunter2"));
}

TEST_CASE("an unknown auth method is reported at its value by the parser", "[provider][config]") {
    const auto msg = load_error("providers:\n"
                                "  - name: hv01\n"
                                "    type: hyperv\n"
                                "    endpoint: https://hv01/wsman\n"
                                "    auth:\n"
                                "      method: digest\n");
    CHECK_THAT(msg,
               Catch::StartsWith("p.yaml:6:15: error: hyperv provider 'hv01': auth.method must "
                                 "be basic, certificate, kerberos or ntlm (got 'digest')\n"
                                 "          method: digest\n"
                                 "                  ^"));
}

TEST_CASE("settings that cannot work are errors at the key to change", "[provider][config]") {
    // Plain http without insecure_http: at the endpoint.
    auto msg = load_error("providers: [{name: x, type: hyperv, endpoint: http://h/wsman, auth: "
                          "{method: basic, username: u, password_file: " +
                          password() + "}}]\n");
    CHECK_THAT(msg, Catch::StartsWith("p.yaml:1:47: error: hyperv provider 'x': endpoint uses "
                                      "plain http, which exposes credentials; use https:// or "
                                      "set insecure_http: true"));
    // No endpoint: at the entry. Basic without a password file: at 'auth'.
    msg = load_error("providers:\n"
                     "  - name: x\n"
                     "    type: hyperv\n"
                     "    auth: {method: basic, username: u}\n");
    CHECK_THAT(msg, Catch::Contains("p.yaml:2:5: error: hyperv provider 'x' needs 'endpoint'"));
    CHECK_THAT(msg, Catch::Contains("p.yaml:4:11: error: hyperv provider 'x': auth method basic "
                                    "needs auth.username and auth.password_file"));
    // No auth at all: at the entry.
    msg = load_error("providers: [{name: x, type: hyperv, endpoint: 'https://h/wsman'}]\n");
    CHECK_THAT(msg, Catch::Contains("p.yaml:1:13: error: hyperv provider 'x': auth.method must be "
                                    "basic, certificate, kerberos or ntlm (missing)"));
    // A wrong type is reported once, as a type error.
    msg = load_error("providers: [{name: x, type: hyperv, endpoint: https://h/wsman, "
                     "insecure_http: maybe, auth: {method: basic, username: u, "
                     "password_file: " +
                     password() + "}}]\n");
    CHECK_THAT(msg, Catch::StartsWith("p.yaml:1:79: error: 'insecure_http' must be true or "
                                      "false\n"));
    CHECK_THAT(msg, !Catch::Contains("error: hyperv provider"));
}

TEST_CASE("an unknown Hyper-V key is a warning at its position", "[provider][config]") {
    auto r = load("providers:\n"
                  "  - name: hv01\n"
                  "    type: hyperv\n"
                  "    endpoint: https://hv01/wsman\n"
                  "    auth: {method: basic, username: u, password_file: " +
                  password() +
                  "}\n"
                  "    uri: qemu:///system\n"
                  "    tls: {ca_flie: /ca.pem}\n"
                  "policies: []\n");
    REQUIRE(r);
    REQUIRE(r->warnings.size() == 2);
    CHECK(r->warnings[0].format() ==
          "p.yaml:6:5: warning: unknown key 'uri' in hyperv provider 'hv01' is ignored (known: "
          "name, type, connect_timeout, read_timeout, endpoint, auth, tls, insecure_http)");
    CHECK(r->warnings[1].format() ==
          "p.yaml:7:11: warning: unknown key 'ca_flie' in 'tls' is ignored (known: ca_file, "
          "insecure)");
}

TEST_CASE("files the Hyper-V settings name are checked at load, at their key",
          "[provider][config][files]") {
    const auto& pki = TestPki::get();
    const std::string head = "providers:\n"
                             "  - name: hv01\n"
                             "    type: hyperv\n"
                             "    endpoint: https://hv01/wsman\n";
    // A directory as the password file passed `policy check`, then every command crashed.
    auto msg = load_error(head + "    auth: {method: basic, username: u, password_file: '" +
                          pki.dir + "'}\n");
    CHECK_THAT(msg, Catch::StartsWith("p.yaml:5:55: error: 'password_file': '" + pki.dir +
                                      "' is a directory; give the path of a file"));

    // A TLS key of mode 0640 was accepted while a password file of 0640 was refused.
    const std::string key = pki.dir + "/key-0640.pem";
    std::filesystem::copy_file(pki.client_key, key,
                               std::filesystem::copy_options::overwrite_existing);
    ::chmod(key.c_str(), 0640);
    msg = load_error(head + "    auth: {method: certificate, cert_file: '" + pki.client_cert +
                     "', key_file: '" + key + "'}\n");
    CHECK_THAT(msg, Catch::Contains("error: 'key_file': '" + key +
                                    "' holds a secret but is accessible by group or others "
                                    "(mode 0640); run chmod 600 on it"));

    // A 0600 password file owned by someone else was accepted.
    const std::string foreign = pki.dir + "/foreign-password";
    std::filesystem::copy_file(pki.password_file, foreign,
                               std::filesystem::copy_options::overwrite_existing);
    ::chmod(foreign.c_str(), 0600);
    REQUIRE(::chown(foreign.c_str(), 65534, 65534) == 0);
    msg = load_error(head + "    auth: {method: basic, username: u, password_file: '" + foreign +
                     "'}\n");
    CHECK_THAT(msg, Catch::Contains("is owned by uid 65534"));

    // A CA file that does not exist: at tls.ca_file.
    msg = load_error(head + "    auth: {method: basic, username: u, password_file: " + password() +
                     "}\n    tls: {ca_file: /nonexistent/ca.pem}\n");
    CHECK_THAT(msg, Catch::Contains("p.yaml:6:20: error: 'ca_file': '/nonexistent/ca.pem' does "
                                    "not exist"));

    // The same rule when the provider reads the key later (the file may have changed).
    auto settings = std::make_shared<HypervSettings>();
    settings->endpoint_url = "https://127.0.0.1:1/wsman";
    settings->auth.method = "certificate";
    settings->auth.cert_file = pki.client_cert;
    settings->auth.key_file = key;
    ProviderSpec spec;
    spec.name = "hv01";
    spec.type = "hyperv";
    spec.settings = settings;
    auto created = HypervFactory().create(spec, {});
    REQUIRE_FALSE(created);
    CHECK_THAT(created.error().message, Catch::Contains("mode 0640"));
}
