// The ledger on a real SQLite file: the chain verifies, and tampering with rows directly in
// the file (edit, delete, insert, reorder, truncate, signatures) is caught at the right record.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <sqlite3.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "evidence/export.hpp"
#include "evidence/ledger.hpp"
#include "evidence/signing_key.hpp"
#include "evidence/sqlite_store.hpp"
#include "evidence/verify.hpp"
#include "tests/support/support.hpp"

using namespace snapgov;
using namespace snapgov::evidence;

namespace {

/// Runs SQL on the ledger file behind snapgov's back, as an attacker with write access would.
void tamper(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    INFO(sql << ": " << (err != nullptr ? err : ""));
    sqlite3_free(err);
    sqlite3_close(db);
    REQUIRE(rc == SQLITE_OK);
}

/// A ledger of three passes of four records each (12 records), signed when `key` is given.
struct LedgerFixture {
    testing::TempDir dir;
    std::string path = dir.str("evidence.db");
    std::unique_ptr<SigningKey> key;

    explicit LedgerFixture(bool sign = false) {
        if (sign) {
            key = std::make_unique<SigningKey>(SigningKey::generate().value());
        }
        for (int pass = 0; pass < 3; ++pass) {
            append_pass(pass);
        }
    }

    void append_pass(int n) {
        auto store = SqliteStore::open(path, SqliteStore::Mode::write);
        REQUIRE(store);
        Ledger ledger(**store, "host-a", key.get());
        std::vector<Entry> entries = {
            {std::string(record_type::kPassStart), R"({"pass":)" + std::to_string(n) + "}"},
            {std::string(record_type::kFinding), R"({"policy":"p","vm":"vm-1"})"},
            {std::string(record_type::kAction), R"({"kind":"delete_checkpoint","outcome":"done"})"},
            {std::string(record_type::kPassEnd), R"({"exit_code":0})"}};
        auto appended = ledger.append(entries, 0, "host-a#full", {});
        REQUIRE(appended);
        CHECK(appended->pass == appended->head.seq - 3);
    }

    ChainReport check(const SigningKey* public_key = nullptr,
                      std::optional<ExpectedHead> expect = std::nullopt) const {
        auto store = SqliteStore::open(path, SqliteStore::Mode::read);
        REQUIRE(store);
        VerifyOptions options;
        options.public_key = public_key;
        options.expect = expect;
        options.expect_host = "host-a";
        auto reports = verify(**store, options);
        REQUIRE(reports);
        REQUIRE(reports->size() == 1);
        return reports->front();
    }

    Head head() const {
        auto store = SqliteStore::open(path, SqliteStore::Mode::read);
        REQUIRE(store);
        return (*store)->head("host-a").value();
    }
};

} // namespace

TEST_CASE("an untouched chain verifies", "[evidence]") {
    LedgerFixture f;
    const auto r = f.check();
    CHECK(r.ok);
    CHECK(r.records == 12);
    CHECK(r.head.seq == 12);
    CHECK(r.signatures == 0);
    // Unsigned heads are said to be unsigned.
    REQUIRE_FALSE(r.notes.empty());
    CHECK_THAT(r.notes.front(), Catch::Contains("unsigned"));
}

TEST_CASE("the ledger file is created 0600 and a readable one is refused", "[evidence]") {
    LedgerFixture f;
    struct stat st {};
    REQUIRE(::stat(f.path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(::chmod(f.path.c_str(), 0644) == 0);
    auto store = SqliteStore::open(f.path, SqliteStore::Mode::write);
    REQUIRE_FALSE(store);
    CHECK_THAT(store.error().message, Catch::Contains("chmod 600"));
}

TEST_CASE("a record edited in the file is caught at its seq", "[evidence]") {
    LedgerFixture f;
    tamper(f.path, "UPDATE records SET body='{\"policy\":\"p\",\"vm\":\"other\"}' WHERE seq=6");
    const auto r = f.check();
    CHECK_FALSE(r.ok);
    CHECK(r.bad_seq == 6);
    CHECK_THAT(r.problem, Catch::Contains("does not match its hash"));
}

TEST_CASE("an edited record with its hash recomputed breaks the next link", "[evidence]") {
    LedgerFixture f;
    // The attacker rewrites record 6 and its hash, but not record 7's prev_hash.
    auto store = SqliteStore::open(f.path, SqliteStore::Mode::read).value();
    Record six;
    REQUIRE(store->read("host-a", 6, 6, [&](const Record& r) {
        six = r;
        return true;
    }));
    six.body = R"({"policy":"p","vm":"other"})";
    const std::string forged = record_hash(six).value();
    store.reset();
    tamper(f.path, "UPDATE records SET body='" + six.body + "', hash='" + forged + "' WHERE seq=6");
    const auto r = f.check();
    CHECK_FALSE(r.ok);
    CHECK(r.bad_seq == 7);
    CHECK_THAT(r.problem, Catch::Contains("does not chain onto record 6"));
}

TEST_CASE("a deleted record is caught at its seq", "[evidence]") {
    LedgerFixture f;
    tamper(f.path, "DELETE FROM records WHERE seq=5");
    const auto r = f.check();
    CHECK_FALSE(r.ok);
    CHECK(r.bad_seq == 5);
    CHECK_THAT(r.problem, Catch::Contains("record 5 is missing"));
}

TEST_CASE("an inserted record is caught where the chain breaks", "[evidence]") {
    LedgerFixture f;
    // Make room at seq 5 and insert a well-formed record chained onto record 4: the old
    // record 5, now 6, no longer matches (its hash covers its seq) nor chains onto it.
    tamper(f.path, "UPDATE records SET seq=seq+1000 WHERE seq>=5;"
                   "UPDATE records SET seq=seq-999 WHERE seq>=1000;");
    auto store = SqliteStore::open(f.path, SqliteStore::Mode::read).value();
    Record four;
    REQUIRE(store->read("host-a", 4, 4, [&](const Record& r) {
        four = r;
        return true;
    }));
    store.reset();
    Record forged = four;
    forged.seq = 5;
    forged.prev_hash = four.hash;
    forged.type = "finding";
    forged.body = R"({"policy":"p","vm":"invented"})";
    forged.hash = record_hash(forged).value();
    tamper(f.path, "INSERT INTO records VALUES('host-a', 5, '" + forged.prev_hash +
                       "', 'finding', '" + forged.time + "', " + std::to_string(forged.pass) +
                       ", '" + forged.body + "', '" + forged.hash + "')");
    const auto r = f.check();
    CHECK_FALSE(r.ok);
    CHECK(r.bad_seq == 6);
    CHECK_THAT(r.problem, Catch::Contains("does not chain onto record 5"));
}

TEST_CASE("two reordered records are caught at the first of them", "[evidence]") {
    LedgerFixture f;
    tamper(f.path, "UPDATE records SET seq=-1 WHERE seq=7;"
                   "UPDATE records SET seq=7 WHERE seq=8;"
                   "UPDATE records SET seq=8 WHERE seq=-1;");
    const auto r = f.check();
    CHECK_FALSE(r.ok);
    CHECK(r.bad_seq == 7);
}

TEST_CASE("signed heads verify with the right public key only", "[evidence]") {
    LedgerFixture f(true);
    const auto ok = f.check(f.key.get());
    CHECK(ok.ok);
    CHECK(ok.signatures == 3);
    CHECK(ok.last_signed_seq == 12);
    const auto other = SigningKey::generate().value();
    const auto wrong = f.check(&other);
    CHECK_FALSE(wrong.ok);
    CHECK(wrong.bad_seq == 4);
    CHECK_THAT(wrong.problem, Catch::Contains("another key"));
}

TEST_CASE("a chain rewritten from an edit onwards fails its signed head", "[evidence]") {
    LedgerFixture f(true);
    // The attacker edits record 2 and recomputes every later hash and link, without the key.
    auto store = SqliteStore::open(f.path, SqliteStore::Mode::read).value();
    std::vector<Record> all;
    REQUIRE(store->read("host-a", 1, 100, [&](const Record& r) {
        all.push_back(r);
        return true;
    }));
    store.reset();
    all[1].body = R"({"policy":"p","vm":"rewritten"})";
    std::string sql;
    for (std::size_t i = 1; i < all.size(); ++i) {
        all[i].prev_hash = all[i - 1].hash;
        all[i].hash = record_hash(all[i]).value();
        sql += "UPDATE records SET prev_hash='" + all[i].prev_hash + "', body='" + all[i].body +
               "', hash='" + all[i].hash + "' WHERE seq=" + std::to_string(all[i].seq) + ";";
    }
    tamper(f.path, sql);
    const auto r = f.check();
    CHECK_FALSE(r.ok);
    CHECK(r.bad_seq == 4); // the first signed head
    CHECK_THAT(r.problem, Catch::Contains("signed head"));
}

TEST_CASE("signatures removed are caught with --public-key", "[evidence]") {
    LedgerFixture f(true);
    tamper(f.path, "DELETE FROM signatures");
    CHECK(f.check().ok); // without a key to insist on, an unsigned chain is only unsigned
    const auto r = f.check(f.key.get());
    CHECK_FALSE(r.ok);
    CHECK(r.bad_seq == 1);
    CHECK_THAT(r.problem, Catch::Contains("no head is signed"));
}

TEST_CASE("truncation is caught with --expect-head, and by a dangling signature", "[evidence]") {
    LedgerFixture f(true);
    const Head kept = f.head();
    CHECK(f.check(nullptr, ExpectedHead{kept.seq, kept.hash}).ok);

    // Records of the last pass removed, their signature left behind.
    tamper(f.path, "DELETE FROM records WHERE seq>=9");
    const auto dangling = f.check();
    CHECK_FALSE(dangling.ok);
    CHECK(dangling.bad_seq == 9);
    CHECK_THAT(dangling.problem, Catch::Contains("truncation"));

    // With the signature removed too, only the witness's head shows it.
    tamper(f.path, "DELETE FROM signatures WHERE seq=12");
    CHECK(f.check().ok);
    const auto r = f.check(nullptr, ExpectedHead{kept.seq, kept.hash});
    CHECK_FALSE(r.ok);
    CHECK(r.bad_seq == 9);
    CHECK_THAT(r.problem, Catch::Contains("the chain ends at record 8"));
}

TEST_CASE("an expected head parses as SEQ:HASH and nothing else", "[evidence]") {
    const std::string hash(64, 'a');
    auto ok = ExpectedHead::parse("12:" + hash);
    REQUIRE(ok);
    CHECK(ok->seq == 12);
    CHECK_FALSE(ExpectedHead::parse("12"));
    CHECK_FALSE(ExpectedHead::parse("x:" + hash));
    CHECK_FALSE(ExpectedHead::parse("12:abc"));
}

TEST_CASE("a signing key readable by others is refused, and keygen writes 0600", "[evidence]") {
    testing::TempDir dir;
    const auto key = SigningKey::generate().value();
    const std::string path = dir.str("key.pem");
    REQUIRE(key.write_private(path));
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    // Never overwritten.
    CHECK_FALSE(key.write_private(path));
    auto loaded = SigningKey::load_private(path);
    REQUIRE(loaded);
    CHECK(loaded->public_hex().value() == key.public_hex().value());
    REQUIRE(::chmod(path.c_str(), 0640) == 0);
    auto refused = SigningKey::load_private(path);
    REQUIRE_FALSE(refused);
    CHECK_THAT(refused.error().message, Catch::Contains("chmod 600"));
    // And the message carries no key material.
    CHECK_THAT(refused.error().message, !Catch::Contains("PRIVATE KEY"));
}

TEST_CASE("CSV fields are quoted per RFC 4180 and formulas stay text", "[evidence]") {
    testing::TempDir dir;
    auto store = SqliteStore::open(dir.str("e.db"), SqliteStore::Mode::write).value();
    Ledger ledger(*store, "h", nullptr);
    const std::string finding =
        R"j({"policy":"p","rule":"max_age","mode":"enforce","vm":"=HYPERLINK(\"x\")",)j"
        R"j("detail":"two\nlines, one \"quote\"","exempt":false,"exemption":null})j";
    REQUIRE(ledger.append({{std::string(record_type::kPassStart), "{}"},
                           {std::string(record_type::kFinding), finding}},
                          0, "h#full", {}));
    std::ostringstream out;
    ExportOptions options;
    options.format = ExportFormat::csv;
    options.host_id = "h";
    REQUIRE(export_evidence(*store, options, out));
    const std::string csv = out.str();
    CHECK_THAT(csv, Catch::Contains(",\"'=HYPERLINK(\"\"x\"\")\","));
    CHECK_THAT(csv, Catch::Contains(",\"two\nlines, one \"\"quote\"\"\","));
    CHECK_THAT(csv, Catch::EndsWith("\r\n"));
}
