// The WS-Management client and transport against the test server: SOAP faults, TLS
// verification, timeouts, plain HTTP.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <unistd.h>

#include "providers/hyperv/hyperv_provider.hpp"
#include "providers/hyperv/wsman_client.hpp"
#include "tests/providers/hyperv/server_fixture.hpp"

using namespace snapgov;
using namespace snapgov::providers::hyperv;
using snapgov::providers::ProviderSpec;
using snapgov::test::TestPki;
using snapgov::test::WsmanServer;

namespace {

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
        ++n;
    }
    return n;
}

std::unique_ptr<WsmanClient> make_client(const WsmanServer& server, WsmanOptions wsman = {}) {
    const auto settings = server.settings();
    TransportOptions options;
    options.endpoint = settings.endpoint_url;
    options.url = *parse_endpoint_url(settings.endpoint_url);
    options.ca_file = settings.tls.ca_file;
    options.username = snapgov::test::kUser;
    options.password = snapgov::test::kPassword;
    options.connect_timeout = Seconds{5};
    options.read_timeout = Seconds{10};
    auto transport = HttpTransport::create(std::move(options));
    REQUIRE(transport);
    return std::make_unique<WsmanClient>(settings.endpoint_url, std::move(*transport), wsman);
}

Result<HostInventory> collect_with(const ProviderSpec& spec) {
    auto provider = HypervFactory().create(spec, {});
    if (!provider) {
        return tl::unexpected(provider.error());
    }
    return (*provider)->collect();
}

Result<HostInventory> collect_with(HypervSettings settings) {
    return collect_with(WsmanServer::spec_with(std::move(settings)));
}

} // namespace

TEST_CASE("Get with a wrong selector is wsman:InvalidSelectors", "[wsman][faults]") {
    WsmanServer server;
    auto client = make_client(server);
    auto r = client->get(ObjectRef{"Msvm_ComputerSystem", {{"Nmae", "x"}}});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::provider);
    CHECK_THAT(r.error().message, Catch::StartsWith("WS-Management endpoint " + server.url() +
                                                    ": Get Msvm_ComputerSystem: SOAP fault "
                                                    "wsman:InvalidSelectors"));
    CHECK_THAT(r.error().message, Catch::Contains("UnexpectedSelectors"));
}

TEST_CASE("Get of an instance that does not exist is wsa:DestinationUnreachable",
          "[wsman][faults]") {
    WsmanServer server;
    auto client = make_client(server);
    auto r = client->get(ObjectRef{"Msvm_ConcreteJob", {{"InstanceID", "no-such-job"}}});
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("wsa:DestinationUnreachable"));
    CHECK_THAT(r.error().message, Catch::Contains("WMI error 0x80041002"));
}

TEST_CASE("an unknown class or namespace is wsa:DestinationUnreachable with the WMI code",
          "[wsman][faults]") {
    WsmanServer server;
    auto client = make_client(server);
    auto r = client->query("SELECT * FROM Msvm_NoSuchClass");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("Enumerate Msvm_NoSuchClass"));
    CHECK_THAT(r.error().message, Catch::Contains("wsa:DestinationUnreachable"));
    CHECK_THAT(r.error().message, Catch::Contains("0x80041010"));

    r = client->enumerate_class("Msvm_ComputerSystem", "root/virtualization");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("wsa:DestinationUnreachable"));
    CHECK_THAT(r.error().message, Catch::Contains("0x8004100E"));
}

TEST_CASE("an invalid WQL query is wsen:CannotProcessFilter", "[wsman][faults]") {
    WsmanServer server;
    auto client = make_client(server);
    auto r = client->query("SELECT Name FROM Msvm_ComputerSystem WHERE");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("wsen:CannotProcessFilter"));
}

TEST_CASE("a Pull with an unknown context is wsen:InvalidEnumerationContext", "[wsman][faults]") {
    WsmanServer server;
    auto client = make_client(server);
    auto r = client->pull_context("uuid:00000000-0000-0000-0000-000000000000");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("wsen:InvalidEnumerationContext"));
}

TEST_CASE("a method call without its parameter is wsman:InvalidParameter", "[wsman][faults]") {
    WsmanServer server;
    auto client = make_client(server);
    auto services = client->query("SELECT * FROM Msvm_VirtualSystemSnapshotService");
    REQUIRE(services);
    REQUIRE(services->size() == 1);
    ObjectRef svc{"Msvm_VirtualSystemSnapshotService", {}};
    for (const char* key : {"CreationClassName", "Name", "SystemCreationClassName", "SystemName"}) {
        svc.selectors.emplace_back(key, *services->front().text(key));
    }
    auto r = client->invoke(svc, "DestroySnapshot", {});
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("wsman:InvalidParameter"));
    CHECK_THAT(r.error().message, Catch::Contains("AffectedSnapshot"));
}

TEST_CASE("WQL filters select instances, and nulls, arrays and datetimes are kept", "[wsman]") {
    WsmanServer server;
    auto client = make_client(server);
    auto r = client->query("SELECT * FROM Msvm_VirtualSystemSettingData WHERE "
                           "VirtualSystemType = 'Microsoft:Hyper-V:System:Realized' AND "
                           "ElementName = " +
                           wql_quote("prod-db-01"));
    REQUIRE(r);
    REQUIRE(r->size() == 1);
    const auto& s = r->front();
    CHECK(s.class_name == "Msvm_VirtualSystemSettingData");
    CHECK(s.texts("Notes").size() == 5);
    CHECK(s.find("CreationTime")->is_datetime);
    CHECK(s.find("Parent")->is_null == false);
    auto built = client->query("SELECT * FROM Msvm_VirtualSystemSettingData WHERE "
                               "ElementName = 'build-agent'");
    REQUIRE(built);
    REQUIRE(built->size() == 1);
    CHECK(built->front().find("Parent")->is_null);
    CHECK(built->front().find("Notes")->is_null);
}

TEST_CASE("a server that stops answering is a timeout within the configured bound",
          "[wsman][timeout]") {
    WsmanServer::Options options;
    options.delay = 30;
    options.delay_after = 1; // the first Enumerate is answered, then the host hangs
    WsmanServer server(options);
    auto spec = server.spec();
    spec.read_timeout = Seconds{1};
    const auto start = std::chrono::steady_clock::now();
    auto r = collect_with(spec);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("timed out after 1s"));
    CHECK_THAT(r.error().message, Catch::Contains("Enumerate Msvm_VirtualSystemSettingData"));
    // Far below the server's 30 s stall, with room for a loaded CI machine.
    CHECK(elapsed < std::chrono::seconds(10));
}

TEST_CASE("a certificate from another CA is a TLS error, and insecure: true connects",
          "[wsman][tls]") {
    WsmanServer server;
    auto settings = server.settings();
    settings.tls.ca_file = TestPki::get().other_cert;
    auto r = collect_with(settings);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("TLS handshake with 127.0.0.1"));
    CHECK_THAT(r.error().message, Catch::Contains("certificate not trusted"));
    CHECK_THAT(r.error().message, Catch::Contains("tls.ca_file"));

    settings.tls.insecure = true;
    auto ok = collect_with(settings);
    REQUIRE(ok);
    CHECK(ok->vms.size() == 4);
}

TEST_CASE("the system store does not trust a test certificate", "[wsman][tls]") {
    WsmanServer server;
    auto settings = server.settings();
    settings.tls.ca_file.clear();
    auto r = collect_with(settings);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("TLS handshake"));
}

TEST_CASE("a certificate for another host name is a TLS error", "[wsman][tls]") {
    WsmanServer::Options options;
    options.cert = TestPki::get().wrong_name_cert;
    options.key = TestPki::get().wrong_name_key;
    WsmanServer server(options);
    auto settings = server.settings();
    settings.tls.ca_file = TestPki::get().wrong_name_cert;
    auto r = collect_with(settings);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("TLS handshake"));
    CHECK_THAT(r.error().message, Catch::Contains("not issued for '127.0.0.1'"));
}

TEST_CASE("a host name endpoint is verified against the certificate's DNS name", "[wsman][tls]") {
    WsmanServer server;
    auto settings = server.settings();
    settings.endpoint_url = server.url("localhost");
    auto r = collect_with(settings);
    REQUIRE(r);
    CHECK(r->vms.size() == 4);
}

TEST_CASE("plain http works only when insecure_http is set", "[wsman]") {
    WsmanServer::Options options;
    options.plain_http = true;
    WsmanServer server(options);
    auto settings = server.settings();
    auto r = collect_with(settings);
    REQUIRE(r);
    CHECK(r->vms.size() == 4);
    settings.insecure_http = false;
    auto refused = collect_with(settings);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::config);
}

TEST_CASE("nothing listening is a connection error naming the endpoint", "[wsman]") {
    std::string url;
    {
        WsmanServer server;
        url = server.url();
    } // stopped: the port is (very likely) closed now
    WsmanServer other;
    auto settings = other.settings();
    settings.endpoint_url = url;
    auto r = collect_with(settings);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("cannot connect to 127.0.0.1"));
    CHECK_THAT(r.error().message, Catch::Contains(url));
}

TEST_CASE("one connection carries a whole collection (keep-alive)", "[wsman][http]") {
    WsmanServer server;
    REQUIRE(collect_with(server.spec()));
    const auto log = server.log();
    CHECK(count(log, "Enumerate ") == 3);
    CHECK(count(log, "CONNECT ") == 1);
}

TEST_CASE("a keep-alive connection the server dropped is reopened once", "[wsman][http]") {
    WsmanServer::Options options;
    options.drop_idle = true;
    WsmanServer server(options);
    auto r = collect_with(server.spec());
    REQUIRE(r);
    CHECK(r->vms.size() == 4);
    const auto log = server.log();
    CHECK(count(log, "Enumerate ") == 3); // no request was sent twice to the service
    CHECK(count(log, "CONNECT ") == 3);
}

TEST_CASE("an enumeration abandoned on an error is released", "[wsman][paging]") {
    WsmanServer::Options options;
    options.world = "many_vms.json";
    options.page_size = 20;
    WsmanServer server(options);
    WsmanOptions wsman;
    wsman.max_items = 30;
    auto client = make_client(server, wsman);
    auto r = client->query("SELECT * FROM Msvm_ComputerSystem");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("more than 30 items"));
    const auto log = server.log();
    CHECK(count(log, "Pull ") == 1);
    CHECK(count(log, "Release ") == 1);
    CHECK(count(log, "FAULT") == 0); // the context was still valid when released
}

TEST_CASE("a reply larger than MaxEnvelopeSize is wsman:EncodingLimit", "[wsman][faults]") {
    WsmanServer::Options options;
    options.world = "many_vms.json";
    WsmanServer server(options);
    WsmanOptions wsman;
    wsman.max_envelope_size = 8192;
    auto client = make_client(server, wsman);
    auto r = client->query("SELECT * FROM Msvm_VirtualSystemSettingData");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("wsman:EncodingLimit"));
}

TEST_CASE("TLS files that are a folder, a dangling link or missing are named", "[wsman][tls]") {
    struct Folder {
        std::string path;
        Folder() {
            std::string name = std::filesystem::temp_directory_path() / "snapgov-tls-XXXXXX";
            REQUIRE(::mkdtemp(name.data()) != nullptr);
            path = name;
        }
        ~Folder() {
            std::error_code ignored;
            std::filesystem::remove_all(path, ignored);
        }
    } folder;
    const std::string& dir = folder.path;
    const std::string dangling = dir + "/dangling.pem";
    REQUIRE(::symlink((dir + "/gone.pem").c_str(), dangling.c_str()) == 0);
    const int which = GENERATE(0, 1, 2);
    const std::string bad = which == 0 ? dir : which == 1 ? dangling : dir + "/missing.pem";
    auto options = [] {
        TransportOptions o;
        o.endpoint = "https://127.0.0.1:1/wsman";
        o.url = *parse_endpoint_url(o.endpoint);
        return o;
    };
    SECTION("tls.ca_file") {
        auto o = options();
        o.ca_file = bad;
        o.username = snapgov::test::kUser;
        o.password = snapgov::test::kPassword;
        auto r = HttpTransport::create(std::move(o));
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::config);
        CHECK_THAT(r.error().message, Catch::StartsWith("cannot load tls.ca_file '" + bad + "'"));
    }
    SECTION("auth.cert_file") {
        auto o = options();
        o.ca_file = TestPki::get().server_cert;
        o.auth = AuthMethod::certificate;
        o.cert_file = bad;
        o.key_file = TestPki::get().client_key;
        auto r = HttpTransport::create(std::move(o));
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::config);
        CHECK_THAT(r.error().message,
                   Catch::StartsWith("cannot load auth.cert_file '" + bad + "'"));
    }
    SECTION("auth.key_file") {
        auto o = options();
        o.ca_file = TestPki::get().server_cert;
        o.auth = AuthMethod::certificate;
        o.cert_file = TestPki::get().client_cert;
        o.key_file = bad;
        auto r = HttpTransport::create(std::move(o));
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::config);
        CHECK_THAT(r.error().message, Catch::StartsWith("cannot load auth.key_file '" + bad + "'"));
    }
}
