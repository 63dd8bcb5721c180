// `snapgov evidence ...` run as an auditor runs it: the real binary, the demo host on the
// libvirt test driver, a real ledger file tampered with through SQLite.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <sys/stat.h>

#include <filesystem>
#include <regex>
#include <string>

#include <boost/json.hpp>

#include "tests/support/support.hpp"

namespace json = boost::json;
using namespace snapgov::testing;

namespace {

const std::string kExamples = SNAPGOV_EXAMPLES;
const std::string kNow = " --now 2026-11-24T12:00:00Z";

long long count_rows(const std::string& db_path) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(db_path.c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM records", -1, &st, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    const long long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

void exec_sql(const std::string& db_path, const std::string& sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(db_path.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
}

/// The demo policy with its state in a temporary folder and a signing key made by keygen.
struct Demo {
    TempDir dir{"snapgov-evidence-cli"};
    std::string policy;
    std::string ledger = dir.str("state/evidence.db");
    std::string public_key = dir.str("pub.pem");

    Demo() {
        const auto keygen = run_snapgov("evidence keygen -o " + dir.str("key.pem"));
        REQUIRE(keygen.exit_code == 0);
        REQUIRE_THAT(keygen.out, Catch::StartsWith("-----BEGIN PUBLIC KEY-----"));
        dir.write("pub.pem", keygen.out);
        std::string text = std::regex_replace(slurp(kExamples + "/policy.yaml"),
                                              std::regex(R"(\$\{CONFIG_DIR\})"), kExamples);
        text += "\nstate_dir: " + dir.str("state") + "\nevidence: {host_id: demo-host, " +
                "signing_key: " + dir.str("key.pem") + "}\n";
        policy = dir.write("policy.yaml", text).string();
    }
};

} // namespace

TEST_CASE("enforce and dry-run land in the ledger, plan does not, and verify passes",
          "[evidence][cli]") {
    Demo d;
    CHECK(run_snapgov("plan -c " + d.policy + kNow).exit_code == 1);
    CHECK_FALSE(std::filesystem::exists(d.ledger));

    const auto enforce = run_snapgov("enforce --once -c " + d.policy + kNow);
    CHECK(enforce.exit_code == 1);
    CHECK_THAT(enforce.err, Catch::Contains("evidence: head"));
    const long long after_enforce = count_rows(d.ledger);
    CHECK(after_enforce > 20);
    CHECK(run_snapgov("enforce --once --dry-run -c " + d.policy + kNow).exit_code == 1);
    const long long after_dry_run = count_rows(d.ledger);
    CHECK(after_dry_run > after_enforce);
    CHECK(run_snapgov("plan -c " + d.policy + kNow).exit_code == 1);
    CHECK(count_rows(d.ledger) == after_dry_run);

    const auto verify =
        run_snapgov("evidence verify -c " + d.policy + " --public-key " + d.public_key);
    INFO(verify.out << verify.err);
    CHECK(verify.exit_code == 0);
    CHECK_THAT(verify.out, Catch::Contains("host demo-host: ok: " + std::to_string(after_dry_run) +
                                           " records"));

    const auto head = run_snapgov("evidence head -c " + d.policy);
    CHECK(head.exit_code == 0);
    CHECK(
        std::regex_match(head.out, std::regex(std::to_string(after_dry_run) + ":[0-9a-f]{64}\n")));
    const std::string kept = head.out.substr(0, head.out.size() - 1);
    CHECK(run_snapgov("evidence verify -c " + d.policy + " --expect-head " + kept).exit_code == 0);

    // Truncation after the head was kept: the signature goes too, so only the witness sees it.
    exec_sql(d.ledger, "DELETE FROM records WHERE seq > 5; DELETE FROM signatures WHERE seq > 5");
    CHECK(run_snapgov("evidence verify -c " + d.policy).exit_code == 0);
    const auto truncated = run_snapgov("evidence verify -c " + d.policy + " --expect-head " + kept);
    CHECK(truncated.exit_code == 1);
    CHECK_THAT(truncated.out, Catch::Contains("FAILED at record 6"));
    CHECK_THAT(truncated.out, Catch::Contains("truncation"));
}

TEST_CASE("verify names the first record edited in the file", "[evidence][cli]") {
    Demo d;
    REQUIRE(run_snapgov("enforce --once --dry-run -c " + d.policy + kNow).exit_code == 1);
    // The attacker flips the finding's exemption.
    exec_sql(d.ledger, "UPDATE records SET body = CASE WHEN instr(body, '\"exempt\":false') "
                       "THEN replace(body, '\"exempt\":false', '\"exempt\":true') ELSE "
                       "replace(body, '\"exempt\":true', '\"exempt\":false') END WHERE seq = "
                       "(SELECT MIN(seq) FROM records WHERE type = 'finding')");
    const auto r = run_snapgov("evidence verify -c " + d.policy + " --format json");
    CHECK(r.exit_code == 1);
    const auto doc = json::parse(r.out).as_object();
    CHECK_FALSE(doc.at("ok").as_bool());
    const auto& chain = doc.at("chains").as_array().at(0).as_object();
    CHECK(chain.at("bad_record").as_int64() == 3); // pass_start, collection, then the finding
    CHECK_THAT(std::string(chain.at("problem").as_string()),
               Catch::Contains("does not match its hash"));
}

TEST_CASE("the exports: PolicyReport JSON, RFC 4180 CSV, OSCAL", "[evidence][cli]") {
    Demo d;
    REQUIRE(run_snapgov("enforce --once -c " + d.policy + kNow).exit_code == 1);

    const auto report = run_snapgov("evidence export -c " + d.policy + " --format json");
    REQUIRE(report.exit_code == 0);
    const auto doc = json::parse(report.out).as_object();
    CHECK(doc.at("kind").as_string() == "PolicyReport");
    const auto& results = doc.at("results").as_array();
    REQUIRE(results.size() > 10);
    std::size_t fails = 0;
    for (const auto& r : results) {
        CHECK(r.at("source").as_string() == "snapgov");
        fails += r.at("result").as_string() == "fail" ? 1 : 0;
    }
    CHECK(doc.at("summary").at("fail").as_int64() == static_cast<std::int64_t>(fails));
    CHECK(doc.at("summary").at("pass").as_int64() > 0); // actions done

    const auto csv = run_snapgov("evidence export -c " + d.policy + " --format csv");
    REQUIRE(csv.exit_code == 0);
    CHECK_THAT(csv.out, Catch::StartsWith("record,pass,time,host_id,type,policy,rule"));
    // One row per finding or action, CRLF line ends.
    std::size_t rows = 0;
    for (std::size_t pos = 0; (pos = csv.out.find("\r\n", pos)) != std::string::npos; pos += 2) {
        ++rows;
    }
    CHECK(rows == results.size() + 1);

    const auto out = d.dir.str("results.json");
    REQUIRE(run_snapgov("evidence export -c " + d.policy + " --format oscal -o " + out).exit_code ==
            0);
    const auto oscal = json::parse(slurp(out)).as_object();
    const auto& ar = oscal.at("assessment-results").as_object();
    CHECK(ar.at("results").as_array().at(0).at("observations").as_array().size() > 10);
    // Deterministic ids: the same export twice is the same document but its timestamp.
    const auto again = run_snapgov("evidence export -c " + d.policy + " --format oscal");
    CHECK(json::parse(again.out).at("assessment-results").at("uuid") == ar.at("uuid"));

    // A range with nothing in it.
    const auto empty = run_snapgov("evidence export -c " + d.policy +
                                   " --format json --until 2000-01-01T00:00:00Z");
    CHECK(json::parse(empty.out).at("results").as_array().empty());
}

TEST_CASE("keygen never overwrites, and a key others can read is refused", "[evidence][cli]") {
    Demo d;
    const auto again = run_snapgov("evidence keygen -o " + d.dir.str("key.pem"));
    CHECK(again.exit_code == 2);
    CHECK_THAT(again.err, Catch::Contains("never overwritten"));
    REQUIRE(::chmod(d.dir.str("key.pem").c_str(), 0644) == 0);
    const auto r = run_snapgov("enforce --once -c " + d.policy + kNow);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("chmod 600"));
    const auto help = run_snapgov("evidence --help");
    CHECK(help.exit_code == 0);
    CHECK_THAT(help.out, Catch::Contains("An auditor runs"));
}
