// The evidence observer in real passes over the libvirt test driver: what enforce and
// dry-run record, identical passes summarised, fail closed, and plan recording nothing.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include <boost/json.hpp>

#include "engine/config.hpp"
#include "engine/engine.hpp"
#include "evidence/recorder.hpp"
#include "evidence/signing_key.hpp"
#include "evidence/sqlite_store.hpp"
#include "evidence/verify.hpp"
#include "providers/builtin.hpp"
#include "tests/support/support.hpp"

using namespace snapgov;
using namespace snapgov::engine;
namespace json = boost::json;

namespace {

const TimePoint kNow = parse_rfc3339("2026-11-24T12:00:00Z").value();

/// A policy over tests/data/libvirt_host.xml that deletes every checkpoint of `web-01`, with
/// an `evidence:` section of `evidence_yaml`.
struct RecorderFixture {
    testing::TempDir dir;
    std::shared_ptr<const providers::ProviderRegistry> registry =
        std::make_shared<const providers::ProviderRegistry>(providers::builtin_registry().value());
    LoadedConfig loaded;

    explicit RecorderFixture(const std::string& evidence_yaml = "{host_id: test-host}") {
        const std::string policy =
            "providers:\n"
            "  - {name: lab, type: libvirt, uri: 'test://" SNAPGOV_TEST_DATA "/libvirt_host.xml'}\n"
            "policies:\n"
            "  - {name: no-web, mode: enforce, match: {names: [web-01]}, checkpoints: deny}\n"
            "state_dir: " +
            dir.str("state") + "\nevidence: " + evidence_yaml + "\n";
        auto l = load_config(dir.write("policy.yaml", policy).string(), *registry);
        INFO((l ? std::string() : l.error().message));
        REQUIRE(l);
        loaded = std::move(*l);
    }

    PassResult run(bool dry_run) {
        Engine engine(loaded.config, registry, {.config_sha256 = loaded.sha256});
        engine.add_observer(evidence::make_recorder(loaded.config));
        PassOptions options;
        options.dry_run = dry_run;
        return engine.enforce(kNow, options);
    }

    /// Records by type.
    std::map<std::string, int> counts() const {
        std::map<std::string, int> out;
        auto store = evidence::SqliteStore::open(loaded.config->evidence.path,
                                                 evidence::SqliteStore::Mode::read);
        REQUIRE(store);
        REQUIRE((*store)->read("test-host", 1, UINT64_MAX, [&](const evidence::Record& r) {
            ++out[r.type];
            ++out["all"];
            return true;
        }));
        return out;
    }
};

} // namespace

TEST_CASE("the default ledger is <state_dir>/evidence.db", "[evidence]") {
    RecorderFixture f("{}");
    CHECK(f.loaded.config->evidence.path == f.dir.str("state") + "/evidence.db");
    CHECK(f.loaded.config->evidence.enabled);
    CHECK(f.loaded.config->evidence.heartbeat == Seconds(3600));
    CHECK_FALSE(f.loaded.config->evidence.host_id.empty());
}

TEST_CASE("enforce records the pass, its findings and actions, and a signed head", "[evidence]") {
    testing::TempDir keys;
    const auto key = evidence::SigningKey::generate().value();
    REQUIRE(key.write_private(keys.str("key.pem")));
    RecorderFixture f("{host_id: test-host, signing_key: " + keys.str("key.pem") + "}");
    const PassResult pass = f.run(false);
    REQUIRE(pass.count(Outcome::done) >= 2);
    CHECK(pass.errors.empty());
    auto c = f.counts();
    CHECK(c["pass_start"] == 1);
    CHECK(c["pass_end"] == 1);
    CHECK(c["collection"] == 2); // before and after acting
    CHECK(c["finding"] == static_cast<int>(pass.plan.findings.size()));
    CHECK(c["action"] == static_cast<int>(pass.results.size()));

    auto store = evidence::SqliteStore::open(f.loaded.config->evidence.path,
                                             evidence::SqliteStore::Mode::read)
                     .value();
    evidence::VerifyOptions options;
    options.public_key = &key;
    const auto reports = evidence::verify(*store, options).value();
    REQUIRE(reports.size() == 1);
    CHECK(reports[0].ok);
    // Recorded before acting and at the end: two signed heads, the last one is the head.
    CHECK(reports[0].signatures == 2);
    CHECK(reports[0].last_signed_seq == reports[0].head.seq);

    // The action records say what was done and how it was verified.
    bool seen = false;
    REQUIRE(store->read("test-host", 1, UINT64_MAX, [&](const evidence::Record& r) {
        if (r.type == "action") {
            const auto body = json::parse(r.body).as_object();
            CHECK(body.at("outcome").as_string() == "done");
            CHECK_FALSE(body.at("verification").as_string().empty());
            seen = true;
        }
        return true;
    }));
    CHECK(seen);
}

TEST_CASE("identical passes add no rows until a heartbeat counts them", "[evidence]") {
    RecorderFixture f("{host_id: test-host, heartbeat: 1h}");
    f.run(true);
    const auto first = f.counts();
    CHECK(first.at("finding") > 0);
    f.run(true);
    f.run(true);
    CHECK(f.counts() == first);
    {
        auto store = evidence::SqliteStore::open(f.loaded.config->evidence.path,
                                                 evidence::SqliteStore::Mode::read)
                         .value();
        CHECK(store->idle("test-host#full").value().identical == 2);
    }
    // A different pass (this one acts) is recorded in full, after one heartbeat record for
    // the two identical passes before it.
    f.run(false);
    auto after = f.counts();
    CHECK(after["heartbeat"] == 1);
    CHECK(after["pass_start"] == 2);
    auto store = evidence::SqliteStore::open(f.loaded.config->evidence.path,
                                             evidence::SqliteStore::Mode::read)
                     .value();
    REQUIRE(store->read("test-host", 1, UINT64_MAX, [&](const evidence::Record& r) {
        if (r.type == "heartbeat") {
            CHECK(json::parse(r.body).at("identical_passes").as_int64() == 2);
        }
        return true;
    }));
    const auto reports = evidence::verify(*store, {}).value();
    REQUIRE(reports.size() == 1);
    CHECK(reports[0].ok);
}

TEST_CASE("with heartbeat 0s every identical pass is one heartbeat record", "[evidence]") {
    RecorderFixture f("{host_id: test-host, heartbeat: 0s}");
    f.run(true);
    const int base = f.counts()["all"];
    f.run(true);
    f.run(true);
    auto c = f.counts();
    CHECK(c["all"] == base + 2);
    CHECK(c["heartbeat"] == 2);
}

TEST_CASE("a ledger that cannot be written stops every action (fail closed)", "[evidence]") {
    testing::TempDir other;
    const std::string blocked = other.write("not-a-folder", "x").string() + "/evidence.db";
    RecorderFixture f("{host_id: test-host, path: " + blocked + "}");
    const PassResult pass = f.run(false);
    CHECK(pass.count(Outcome::done) == 0);
    REQUIRE_FALSE(pass.results.empty());
    for (const auto& r : pass.results) {
        CHECK(r.outcome == Outcome::skipped);
        CHECK_THAT(r.detail, Catch::Contains("evidence"));
    }
    REQUIRE_FALSE(pass.errors.empty());
    CHECK_THAT(pass.errors.front().message, Catch::Contains("observer evidence"));
    CHECK_THAT(pass.errors.front().message, Catch::Contains("fail closed"));
    CHECK(pass.exit_code() == 2);
}

TEST_CASE("plan records nothing, and evidence can be turned off", "[evidence]") {
    RecorderFixture f;
    Engine engine(f.loaded.config, f.registry, {.config_sha256 = f.loaded.sha256});
    engine.add_observer(evidence::make_recorder(f.loaded.config));
    (void)engine.plan(kNow);
    CHECK_FALSE(std::filesystem::exists(f.loaded.config->evidence.path));

    RecorderFixture off("{enabled: false}");
    CHECK(evidence::make_recorder(off.loaded.config) == nullptr);
    (void)off.run(false);
    CHECK_FALSE(std::filesystem::exists(off.loaded.config->evidence.path));
}

TEST_CASE("mistakes in the evidence section are reported at FILE:LINE:COL", "[evidence]") {
    testing::TempDir dir;
    auto registry = providers::builtin_registry().value();
    const auto path =
        dir.write("policy.yaml", "providers:\n"
                                 "  - {name: lab, type: libvirt, uri: 'test://" SNAPGOV_TEST_DATA
                                 "/libvirt_host.xml'}\n"
                                 "evidence:\n"
                                 "  enabled: perhaps\n"
                                 "  heartbeat: often\n"
                                 "  host_id: 'two words'\n"
                                 "  signing_key: " +
                                     dir.str("missing.pem") + "\n")
            .string();
    const auto r = load_config(path, registry);
    REQUIRE_FALSE(r);
    const std::string& m = r.error().message;
    CHECK_THAT(m, Catch::Contains(path + ":4:12: error"));
    CHECK_THAT(m, Catch::Contains(path + ":5:14: error"));
    CHECK_THAT(m, Catch::Contains(path + ":6:12: error: 'host_id'"));
    CHECK_THAT(m, Catch::Contains(path + ":7:16: error"));
}

TEST_CASE("a record body stays valid JSON when a string holds bytes that are not UTF-8",
          "[evidence]") {
    // A file name or a hypervisor's message may hold any bytes; Boost.JSON writes them through.
    const json::object o{{"path", "/dumps/vm-\xff\xfe.mem"}, {"ok", "caf\xc3\xa9"}};
    const std::string body = evidence::body_text(o);
    CHECK(body == R"({"path":"/dumps/vm-\u00ff\u00fe.mem","ok":"café"})");
    boost::system::error_code ec;
    const auto parsed = json::parse(body, ec);
    REQUIRE_FALSE(ec);
    CHECK(parsed.at("path").as_string() == "/dumps/vm-\u00ff\u00fe.mem");
}

TEST_CASE("a pass's end is committed on a thread of its own: settle and the next pass wait",
          "[evidence]") {
    RecorderFixture f;
    Engine engine(f.loaded.config, f.registry, {.config_sha256 = f.loaded.sha256});
    engine.add_observer(evidence::make_recorder(f.loaded.config));
    PassOptions options;
    options.dry_run = true;
    options.settle_later = true;
    const PassResult first = engine.enforce(kNow, options);
    CHECK(first.errors.empty());
    // Not settled: the next pass waits for the first one's commit before it starts.
    options.dry_run = false;
    const PassResult second = engine.enforce(kNow, options);
    CHECK(second.errors.empty());
    CHECK(engine.settle().empty());
    CHECK(engine.settle().empty()); // nothing left: a second settle is a no-op
    auto c = f.counts();
    CHECK(c["pass_start"] == 2);
    CHECK(c["pass_end"] == 2);
    CHECK(c["action"] == static_cast<int>(first.results.size() + second.results.size()));
    auto store = evidence::SqliteStore::open(f.loaded.config->evidence.path,
                                             evidence::SqliteStore::Mode::read)
                     .value();
    const auto reports = evidence::verify(*store, {}).value();
    REQUIRE(reports.size() == 1);
    CHECK(reports[0].ok);
}
