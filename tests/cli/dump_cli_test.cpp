// `snapgov dump ...` run as a user runs it, with the real `age` and `age-keygen` tools as the
// peers: exit codes, output, and byte-for-byte round trips.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>

#include <array>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <boost/json.hpp>

#include "tests/support/support.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace snapgov::testing;

namespace {

Run sh(const std::string& command) {
    return run_command(command);
}

// A key pair made by the real age-keygen; returns the public key.
std::string keygen(const std::string& key_file) {
    const auto r = sh("age-keygen -o " + key_file);
    REQUIRE(r.exit_code == 0);
    const auto pub = sh("age-keygen -y " + key_file);
    REQUIRE(pub.exit_code == 0);
    return pub.out.substr(0, pub.out.find('\n'));
}

} // namespace

TEST_CASE("dump encrypt writes what age decrypts, byte for byte, then wipes the plaintext",
          "[cli][dump]") {
    TempDir dir;
    const std::string pub = keygen(dir.str("key.txt"));
    const std::string pub2 = keygen(dir.str("key2.txt"));
    // Sizes around the 64 KiB chunk boundary, and an empty file.
    for (const std::size_t size : {std::size_t{0}, std::size_t{65536}, std::size_t{200001}}) {
        CAPTURE(size);
        const std::string file = dir.str("s" + std::to_string(size) + ".mem");
        const std::string data = write_dump(file, size);
        const auto r = run_snapgov("dump encrypt -r " + pub + " -r " + pub2 + " --state-dir " +
                                   dir.str("state") + " " + file);
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
        CHECK_THAT(r.out, Catch::Contains("encrypted " + file + " -> " + file + ".age"));
        CHECK_THAT(r.out, Catch::Contains("assurance: "));
        CHECK_THAT(r.out, Catch::Contains("snapgov dump decrypt -i IDENTITY_FILE " + file +
                                          ".age -o " + file));
        CHECK_FALSE(fs::exists(file));
        // Either recipient's identity opens it with the real age tool.
        for (const auto* key : {"key.txt", "key2.txt"}) {
            const std::string out = dir.str("out-" + std::string(key));
            REQUIRE(
                sh("age -d -i " + dir.str(key) + " -o " + out + " " + file + ".age").exit_code ==
                0);
            CHECK(slurp(out) == data);
            fs::remove(out);
        }
    }
}

TEST_CASE("dump encrypt --keep leaves the plaintext; --format json reports it", "[cli][dump]") {
    TempDir dir;
    const std::string pub = keygen(dir.str("key.txt"));
    const std::string file = dir.str("k.mem");
    const std::string data = write_dump(file, 5000);
    const auto r = run_snapgov("dump encrypt --keep --format json -r " + pub + " --state-dir " +
                               dir.str("state") + " " + file);
    REQUIRE(r.exit_code == 0);
    const auto doc = json::parse(r.out).as_object();
    CHECK(doc.at("kept").as_bool());
    CHECK(doc.at("plaintext_bytes").as_int64() == 5000);
    CHECK(doc.at("ciphertext").as_string() == file + ".age");
    CHECK(slurp(file) == data);
    // A second encryption refuses to overwrite the .age file.
    const auto again =
        run_snapgov("dump encrypt -r " + pub + " --state-dir " + dir.str("state") + " " + file);
    CHECK(again.exit_code == 2);
    CHECK_THAT(again.err, Catch::Contains(file + ".age"));
    CHECK(slurp(file) == data);
}

TEST_CASE("dump decrypt reads what age wrote; the default output drops .age", "[cli][dump]") {
    TempDir dir;
    const std::string pub = keygen(dir.str("key.txt"));
    const std::string file = dir.str("a.mem");
    const std::string data = write_dump(file, 3 * 65536 + 17);
    REQUIRE(sh("age -r " + pub + " -o " + file + ".age " + file).exit_code == 0);
    fs::remove(file);
    const auto r = run_snapgov("dump decrypt -i " + dir.str("key.txt") + " " + file + ".age");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("-> " + file));
    CHECK(slurp(file) == data);
    // An existing output is never overwritten; -o chooses another.
    CHECK(run_snapgov("dump decrypt -i " + dir.str("key.txt") + " " + file + ".age").exit_code ==
          2);
    CHECK(run_snapgov("dump decrypt -i " + dir.str("key.txt") + " " + file + ".age -o " +
                      dir.str("b.mem"))
              .exit_code == 0);
    CHECK(slurp(dir.str("b.mem")) == data);
    // The wrong key fails, and leaves no output behind.
    const std::string other = dir.str("other.txt");
    keygen(other);
    const auto wrong =
        run_snapgov("dump decrypt -i " + other + " " + file + ".age -o " + dir.str("c.mem"));
    CHECK(wrong.exit_code == 2);
    CHECK_FALSE(fs::exists(dir.str("c.mem")));
    CHECK_THAT(wrong.err, !Catch::Contains("AGE-SECRET-KEY"));
    // Without .age and without -o, the output name is unknown.
    const auto no_name = run_snapgov("dump decrypt -i " + dir.str("key.txt") + " " + file);
    CHECK(no_name.exit_code == 2);
    CHECK_THAT(no_name.err, Catch::Contains("-o OUT"));
}

TEST_CASE("dump wipe prints the assurance level and its reason; symlinks are refused",
          "[cli][dump]") {
    TempDir dir;
    const std::string file = dir.str("w.mem");
    write_dump(file, 100000);
    const auto r = run_snapgov("dump wipe " + file);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("wiped " + file));
    CHECK((r.out.find("assurance: clear (") != std::string::npos ||
           r.out.find("assurance: best-effort (") != std::string::npos));
    CHECK_FALSE(fs::exists(file));

    const std::string target = dir.str("target.mem");
    const std::string data = write_dump(target, 1000);
    fs::create_symlink(target, dir.str("link.mem"));
    const auto link = run_snapgov("dump wipe --format json " + dir.str("link.mem"));
    CHECK(link.exit_code == 2);
    CHECK_THAT(link.err, Catch::Contains("link.mem"));
    CHECK(slurp(target) == data);
    const auto json_wipe = run_snapgov("dump wipe --format json " + target);
    REQUIRE(json_wipe.exit_code == 0);
    const auto doc = json::parse(json_wipe.out).as_object();
    CHECK(doc.at("size").as_int64() == 1000);
    CHECK(!doc.at("reason").as_string().empty());
}

TEST_CASE("dump scan without -c: every dump is unreferenced-unknown, and exit 1",
          "[cli][dump][scan]") {
    TempDir dir;
    const std::string pub = keygen(dir.str("key.txt"));
    write_dump(dir.str("d/a.mem"), 4096);
    write_dump(dir.str("d/notes.txt"), 4096, /*magic=*/false);
    write_dump(dir.str("d/b.mem"), 4096);
    REQUIRE(run_snapgov("dump encrypt -r " + pub + " --state-dir " + dir.str("state") + " " +
                        dir.str("d/b.mem"))
                .exit_code == 0);
    const auto text = run_snapgov("dump scan " + dir.str("d"));
    CHECK(text.exit_code == 1);
    CHECK_THAT(text.out, Catch::Contains("unreferenced-unknown"));
    CHECK_THAT(text.out, Catch::Contains("no -c POLICY given"));
    CHECK_THAT(text.out, !Catch::Contains("notes.txt"));

    const auto r = run_snapgov("dump scan --format json " + dir.str("d"));
    CHECK(r.exit_code == 1);
    const auto doc = json::parse(r.out).as_object();
    CHECK(doc.at("inventory").as_string() == "not_checked");
    CHECK(doc.at("summary").as_object().at("unreferenced").as_int64() == 1);
    CHECK(doc.at("summary").as_object().at("protected").as_int64() == 1);
    const auto& dumps = doc.at("dumps").as_array();
    REQUIRE(dumps.size() == 2);
    CHECK(dumps[0].as_object().at("path").as_string() == dir.str("d/a.mem"));
    CHECK(dumps[0].as_object().at("status").as_string() == "unreferenced-unknown");
    CHECK(dumps[1].as_object().at("status").as_string() == "protected");

    REQUIRE(run_snapgov("dump wipe " + dir.str("d/a.mem")).exit_code == 0);
    CHECK(run_snapgov("dump scan " + dir.str("d")).exit_code == 0);
    CHECK(run_snapgov("dump scan " + dir.str("nonexistent")).exit_code == 2);
}

TEST_CASE("dump scan -c compares with the inventory: referenced vs orphan", "[cli][dump][scan]") {
    TempDir dir;
    const std::string referenced = dir.str("d/vm1/s1.mem");
    write_dump(referenced, 4096);
    const std::string uuid = "5a9e0000-0000-4000-8000-0000000000b1";
    std::ofstream(dir.str("host.xml"))
        << "<node><domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
           "<name>vm1</name><uuid>"
        << uuid
        << "</uuid><memory unit='MiB'>64</memory><os><type>"
           "hvm</type></os><test:domainsnapshot><name>s1</name><state>running</state>"
           "<creationTime>1795500000</creationTime><memory snapshot='external' file='"
        << referenced << "'/><active>1</active><domain type='test'><name>vm1</name><uuid>" << uuid
        << "</uuid><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>"
           "</test:domainsnapshot></domain></node>";
    std::ofstream(dir.str("policy.yaml"))
        << "providers: [{name: lab, type: libvirt, uri: 'test://${CONFIG_DIR}/host.xml'}]\n"
           "policies: []\n"
           "memory_dumps: {scan_paths: ['${CONFIG_DIR}/d']}\n";
    const auto clean = run_snapgov("dump scan -c " + dir.str("policy.yaml") + " --format json");
    INFO(clean.err);
    CHECK(clean.exit_code == 0);
    auto doc = json::parse(clean.out).as_object();
    CHECK(doc.at("inventory").as_string() == "complete");
    REQUIRE(doc.at("dumps").as_array().size() == 1);
    CHECK(doc.at("dumps").as_array()[0].as_object().at("status").as_string() == "referenced");

    // libvirt 9 leaves the memory file of a deleted external snapshot behind: an orphan.
    const std::string orphan = dir.str("d/vm1/deleted.mem");
    write_dump(orphan, 4096);
    const auto found = run_snapgov("dump scan -c " + dir.str("policy.yaml"));
    CHECK(found.exit_code == 1);
    CHECK_THAT(found.out, Catch::Contains("orphan"));
    CHECK_THAT(found.out, Catch::Contains(orphan));
    CHECK_THAT(found.out, Catch::Contains("1 orphan, 1 referenced"));
}

TEST_CASE("dump recover and usage errors", "[cli][dump]") {
    TempDir dir;
    const auto r = run_snapgov("dump recover --state-dir " + dir.str("none"));
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("nothing was interrupted"));
    write_dump(dir.str("x.mem"), 100);
    CHECK(run_snapgov("dump encrypt " + dir.str("x.mem")).exit_code == 2); // no -r
    const auto bad = run_snapgov("dump encrypt -r age1notakey --state-dir " + dir.str("s") + " " +
                                 dir.str("x.mem"));
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.err, Catch::Contains("age1notakey"));
    CHECK(fs::exists(dir.str("x.mem")));
    CHECK(run_snapgov("dump").exit_code == 2);
    CHECK(run_snapgov("dump scan").exit_code == 2);
    CHECK(run_snapgov("dump wipe " + dir.str("missing.mem")).exit_code == 2);
    CHECK(run_snapgov("dump --help").exit_code == 0);
}

TEST_CASE("dump encrypt creates --state-dir 0700, as --help says", "[cli][dump]") {
    TempDir dir;
    const std::string pub = keygen(dir.str("key.txt"));
    const std::string file = dir.str("m.mem");
    write_dump(file, 5000);
    const std::string state = dir.str("var/lib/snapgov");
    const auto r = sh("umask 022; " + std::string(SNAPGOV_BINARY) + " dump encrypt -r " + pub +
                      " --state-dir " + state + " " + file);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    struct stat st {};
    REQUIRE(::stat(state.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0700);
    CHECK_THAT(run_snapgov("dump encrypt --help").out, Catch::Contains("created 0700"));
}

TEST_CASE("dump scan lists a Hyper-V-named file with the reason it is never acted on",
          "[cli][dump][scan]") {
    TempDir dir;
    const std::string report = dir.str("share/Report.VSV");
    write_dump(report, 19, /*magic=*/false);
    const auto r = run_snapgov("dump scan " + dir.str("share"));
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.out, Catch::Contains("hyperv-state") && Catch::Contains(report) &&
                          Catch::Contains("never wipes or encrypts them automatically"));
    const auto j = run_snapgov("dump scan --format json " + dir.str("share"));
    const auto root = json::parse(j.out).as_object();
    const auto& row = root.at("dumps").as_array().at(0).as_object();
    CHECK(row.at("kind").as_string() == "hyperv-state");
    CHECK_THAT(std::string(row.at("note").as_string()), Catch::Contains("name only"));
}

namespace {

// `snapgov dump encrypt` of `file`, killed (SIGKILL, through the LD_PRELOAD shim) right after
// its journal recorded `step`: the plaintext intact, the ciphertext complete, the journal left.
void encrypt_killed_at(const std::string& step, const std::string& pub, const std::string& state,
                       const std::string& file) {
    const auto r = sh("SNAPGOV_TEST_KILL_AT_STEP=" + step +
                      " LD_PRELOAD=" + std::string(SNAPGOV_KILL_AT_STEP) + " " + SNAPGOV_BINARY +
                      " dump encrypt -r " + pub + " --state-dir " + state + " " + file +
                      "; echo \"status=$?\"");
    INFO(r.out << r.err);
    // Killed, as a crash would: the shell reports 128 + SIGKILL.
    REQUIRE_THAT(r.out, Catch::Contains("status=" + std::to_string(128 + SIGKILL)));
    REQUIRE(fs::exists(file));
    REQUIRE(fs::exists(file + ".age"));
}

// The one unsettled operation of `state` whose plaintext is `file`, from --list --format json.
json::object listed(const json::object& doc, const std::string& file) {
    for (const auto& u : doc.at("unsettled").as_array()) {
        if (u.as_object().at("plaintext").as_string() == file) {
            return u.as_object();
        }
    }
    FAIL("no unsettled operation for " << file);
    return {};
}

bool allowed(const json::object& u, const char* choice) {
    return u.at("choices").as_object().at(choice).as_object().at("allowed").as_bool();
}

} // namespace

TEST_CASE("a dump encrypt killed at the end of its wipe (the plaintext all zeros, not yet "
          "unlinked) is finished by the same command run again",
          "[cli][dump][recover]") {
    TempDir dir;
    const std::string pub = keygen(dir.str("key.txt"));
    const std::string state = dir.str("state");
    const std::string file = dir.str("m.mem");
    const std::string data = write_dump(file, 300000);
    const auto killed =
        sh("SNAPGOV_TEST_KILL_AT_WIPE_END=1 LD_PRELOAD=" + std::string(SNAPGOV_KILL_AT_STEP) + " " +
           SNAPGOV_BINARY + " dump encrypt -r " + pub + " --state-dir " + state + " " + file +
           "; echo \"status=$?\"");
    INFO(killed.out << killed.err);
    REQUIRE_THAT(killed.out, Catch::Contains("status=" + std::to_string(128 + SIGKILL)));
    // What the kill left: the plaintext zeroed but present, the ciphertext and the journal.
    REQUIRE(fs::exists(file));
    REQUIRE(slurp(file) == std::string(data.size(), '\0'));
    REQUIRE(fs::exists(file + ".age"));
    const auto again = run_snapgov("dump encrypt -r " + pub + " --state-dir " + state + " " + file);
    INFO(again.out << again.err);
    CHECK(again.exit_code == 0);
    CHECK_FALSE(fs::exists(file));
    CHECK(run_snapgov("dump recover --list --state-dir " + state).exit_code == 0);
    const std::string out = dir.str("restored");
    REQUIRE(sh("age -d -i " + dir.str("key.txt") + " -o " + out + " " + file + ".age").exit_code ==
            0);
    CHECK(slurp(out) == data);
}

TEST_CASE("an interrupted dump encrypt whose files were changed by hand is listed, settled by "
          "choice (refusing what could lose the only copy), and enforce recovers its exit code",
          "[cli][dump][recover][settle]") {
    TempDir dir;
    const std::string pub = keygen(dir.str("key.txt"));
    keygen(dir.str("other.txt"));
    const std::string state = dir.str("state");
    const std::string d = dir.str("d");
    fs::create_directories(d);
    // A host with no checkpoints and a policy with no memory rules: enforce has nothing to do.
    std::ofstream(dir.str("host.xml"))
        << "<node><domain type='test'><name>vm1</name>"
           "<uuid>5a9e0000-0000-4000-8000-0000000000c1</uuid><memory unit='MiB'>64</memory>"
           "<os><type>hvm</type></os></domain></node>";
    std::ofstream(dir.str("policy.yaml"))
        << "providers: [{name: lab, type: libvirt, uri: 'test://${CONFIG_DIR}/host.xml'}]\n"
           "policies: []\nstate_dir: "
        << state << "\n";
    const std::string enforce = "enforce --once -c " + dir.str("policy.yaml");
    REQUIRE(run_snapgov(enforce).exit_code == 0);

    // A: killed once the ciphertext was verified, then a new file put under the dump's name.
    const std::string a = d + "/a.mem";
    const std::string a_data = write_dump(a, 300000);
    encrypt_killed_at("verified", pub, state, a);
    // Written beside it, then renamed over it (as cp or an editor would): another inode.
    const std::string a_new = write_dump(d + "/a.new", 5000);
    fs::rename(d + "/a.new", a);
    // B: killed at the same point, then the .age removed by hand (the plaintext is intact).
    const std::string b = d + "/b.mem";
    const std::string b_data = write_dump(b, 200000);
    encrypt_killed_at("verified", pub, state, b);
    fs::remove(b + ".age");
    // C: killed at the same point, then both files removed by hand.
    const std::string c = d + "/c.mem";
    write_dump(c, 100000);
    encrypt_killed_at("verified", pub, state, c);
    fs::remove(c);
    fs::remove(c + ".age");

    const std::string hint = "snapgov dump recover --list --state-dir " + state;
    // enforce: its own pass succeeded (nothing to do), says so, and names the command; exit 1.
    {
        const auto r = run_snapgov(enforce);
        INFO(r.out << r.err);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.out, Catch::Contains("This pass succeeded"));
        CHECK_THAT(r.out, Catch::Contains("3 dump operations need attention: run " + hint));
        CHECK_THAT(r.out, !Catch::Contains("Errors"));
        CHECK_THAT(r.out, Catch::Contains("--settle "));
        const auto j = run_snapgov(enforce + " --format json");
        CHECK(j.exit_code == 1);
        const auto doc = json::parse(j.out).as_object();
        CHECK(doc.at("summary").as_object().at("unsettled").as_int64() == 3);
        CHECK(doc.at("errors").as_array().empty());
        CHECK(doc.at("settle").as_string() == hint);
        // Recovery changed nothing by itself.
        CHECK(slurp(a) == a_new);
        CHECK(slurp(b) == b_data);
        // The evidence ledger (evidence is on by default, in the state folder) records them
        // with the pass: the last pass_end names 3 unsettled operations and the command.
        const auto ledger =
            run_command("python3 -c \"import json,sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
                        "b=json.loads(c.execute(\\\"SELECT body FROM records WHERE type='pass_end' "
                        "ORDER BY seq DESC LIMIT 1\\\").fetchone()[0]); "
                        "print(len(b['unsettled']), b['settle'])\" " +
                        state + "/evidence.db");
        INFO(ledger.out << ledger.err);
        CHECK(ledger.out == "3 " + hint + "\n");
    }
    // dump recover: exit 1 while any remain, naming the command.
    {
        const auto r = run_snapgov("dump recover --state-dir " + state);
        INFO(r.out << r.err);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.out, Catch::Contains("3 dump operation(s) need attention: run " + hint +
                                          ", then snapgov dump recover --settle ID"));
        CHECK_THAT(r.out, Catch::Contains("needs_attention  " + a));
    }
    // dump encrypt of the same file names it too.
    {
        const auto r = run_snapgov("dump encrypt -r " + pub + " --state-dir " + state + " " + a);
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.err, Catch::Contains(hint) && Catch::Contains("--settle "));
    }

    // The listing, with the right identity: what was found, what each choice would do.
    const auto text =
        run_snapgov("dump recover --list --state-dir " + state + " -i " + dir.str("key.txt"));
    INFO(text.out << text.err);
    CHECK(text.exit_code == 1);
    CHECK_THAT(text.out, Catch::Contains("unsettled dump operations in " + state + ": 3"));
    CHECK_THAT(text.out, Catch::Contains("present, another file (not the inode that was "
                                         "encrypted), memory-dump signature"));
    CHECK_THAT(text.out, Catch::Contains("decrypts with the identity given"));
    CHECK_THAT(text.out, Catch::Contains("--keep-plaintext  refused: "));
    CHECK_THAT(text.out, Catch::Contains("settle one: snapgov dump recover --settle ID "
                                         "--state-dir " +
                                         state));
    const auto list = run_snapgov("dump recover --list --format json --state-dir " + state +
                                  " -i " + dir.str("key.txt"));
    REQUIRE(list.exit_code == 1);
    const auto doc = json::parse(list.out).as_object();
    REQUIRE(doc.at("unsettled").as_array().size() == 3);
    const auto ua = listed(doc, a);
    const auto& fa = ua.at("found").as_object();
    CHECK(fa.at("plaintext").as_string() == "different");
    CHECK(fa.at("ciphertext").as_string() == "complete");
    CHECK(fa.at("decryptable").as_string() == "yes");
    CHECK_FALSE(allowed(ua, "keep-plaintext")); // the .age is the only copy of the dump
    CHECK(allowed(ua, "keep-ciphertext"));
    CHECK_FALSE(allowed(ua, "forget"));
    const auto ub = listed(doc, b);
    CHECK(ub.at("found").as_object().at("plaintext").as_string() == "same");
    CHECK(ub.at("found").as_object().at("ciphertext").as_string() == "absent");
    CHECK(allowed(ub, "keep-plaintext"));
    CHECK_FALSE(allowed(ub, "keep-ciphertext"));
    CHECK_FALSE(allowed(ub, "forget"));
    const auto uc = listed(doc, c);
    CHECK(uc.at("found").as_object().at("plaintext").as_string() == "absent");
    CHECK_FALSE(allowed(uc, "keep-plaintext"));
    CHECK_FALSE(allowed(uc, "keep-ciphertext"));
    CHECK(allowed(uc, "forget"));
    const std::string ida(ua.at("id").as_string());
    const std::string idb(ub.at("id").as_string());
    const std::string idc(uc.at("id").as_string());

    auto settle = [&](const std::string& id, const std::string& choice,
                      const std::string& extra = "") {
        return run_snapgov("dump recover --state-dir " + state + " --settle " + id + " --" +
                           choice + extra);
    };
    // Refused, exit 2, each with its reason, and nothing changed.
    {
        const auto r = settle(ida, "keep-plaintext");
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.err, Catch::Contains("could lose the only copy of the dump"));
        const auto f = settle(ida, "forget");
        CHECK(f.exit_code == 2);
        CHECK_THAT(f.err, Catch::Contains("refused: --settle " + ida + " --forget"));
        // The ciphertext does not decrypt with another identity: not kept on its word.
        const auto w = settle(ida, "keep-ciphertext", " -i " + dir.str("other.txt"));
        CHECK(w.exit_code == 2);
        CHECK_THAT(w.err, Catch::Contains("does not decrypt with the identity given"));
        CHECK(settle(idb, "keep-ciphertext").exit_code == 2);
        CHECK(settle(idb, "forget").exit_code == 2);
        CHECK(settle(idc, "keep-plaintext").exit_code == 2);
        CHECK(settle(idc, "keep-ciphertext").exit_code == 2);
        CHECK(settle("zzzz", "forget").exit_code == 2);               // no such operation
        CHECK(settle(ida, "forget --keep-plaintext").exit_code == 2); // two choices
        CHECK(run_snapgov("dump recover --list --state-dir " + state + " --forget").exit_code ==
              2); // a choice without --settle
        CHECK(run_snapgov("dump recover --state-dir " + state + " --settle " + ida).exit_code ==
              2); // no choice
        CHECK(slurp(a) == a_new);
        CHECK(fs::exists(a + ".age"));
        CHECK(slurp(b) == b_data);
        CHECK(run_snapgov("dump recover --list --state-dir " + state).exit_code == 1);
    }
    // What counts is what is on disk when settling, not what the listing showed: with a.age
    // moved away, keeping it is refused; back in place, it is allowed again.
    fs::rename(a + ".age", dir.str("a.age.moved"));
    {
        const auto r = settle(ida, "keep-ciphertext");
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.err, Catch::Contains(a + ".age does not exist"));
    }
    fs::rename(dir.str("a.age.moved"), a + ".age");
    // Each allowed choice.
    {
        const auto r = settle(ida, "keep-ciphertext", " -i " + dir.str("key.txt"));
        INFO(r.out << r.err);
        CHECK(r.exit_code == 1); // two remain
        CHECK_THAT(r.out, Catch::Contains("settled " + ida) &&
                              Catch::Contains("2 unsettled dump operation(s) remain: run " + hint));
        CHECK(slurp(a) == a_new); // another file: never wiped
        REQUIRE(sh("age -d -i " + dir.str("key.txt") + " -o " + dir.str("a.out") + " " + a + ".age")
                    .exit_code == 0);
        CHECK(slurp(dir.str("a.out")) == a_data);
    }
    {
        const auto r = settle(idb, "keep-plaintext");
        INFO(r.out << r.err);
        CHECK(r.exit_code == 1);
        CHECK(slurp(b) == b_data);
    }
    {
        const auto r = settle(idc, "forget");
        INFO(r.out << r.err);
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.out, Catch::Contains("no unsettled dump operation remains"));
    }
    // Settled: nothing listed, recover exits 0, and enforce is back to its normal exit code.
    CHECK(run_snapgov("dump recover --list --state-dir " + state).exit_code == 0);
    CHECK(run_snapgov("dump recover --state-dir " + state).exit_code == 0);
    const auto after = run_snapgov(enforce);
    INFO(after.out << after.err);
    CHECK(after.exit_code == 0);
    CHECK_THAT(after.out, !Catch::Contains("need attention"));
    // No journal is left (the state folder also holds the enforce passes' evidence ledger).
    for (const auto& entry : fs::directory_iterator(state)) {
        const std::string name = entry.path().filename().string();
        INFO(name);
        CHECK(name.rfind("protect-", 0) != 0);
    }
}

TEST_CASE("settle wipes the dump's own plaintext only when it carries a memory-dump signature",
          "[cli][dump][recover][settle]") {
    TempDir dir;
    const std::string pub = keygen(dir.str("key.txt"));
    const std::string state = dir.str("state");
    const std::string f = dir.str("e.mem");
    const std::string data = write_dump(f, 150000);
    encrypt_killed_at("verified", pub, state, f);
    // Its first bytes zeroed in place (what a wipe interrupted after its first block leaves):
    // recovery leaves it, and settling by keeping the ciphertext is refused, not a wipe.
    {
        std::fstream io(f, std::ios::in | std::ios::out | std::ios::binary);
        io.write(std::string(64, '\0').data(), 64);
    }
    CHECK(run_snapgov("dump recover --state-dir " + state).exit_code == 1);
    const auto doc =
        json::parse(run_snapgov("dump recover --list --format json --state-dir " + state).out)
            .as_object();
    const auto u = listed(doc, f);
    CHECK(u.at("found").as_object().at("plaintext").as_string() == "same");
    CHECK_FALSE(u.at("found").as_object().at("plaintext_signature").as_bool());
    const std::string id(u.at("id").as_string());
    const auto r =
        run_snapgov("dump recover --state-dir " + state + " --settle " + id + " --keep-ciphertext");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("carries no memory-dump signature"));
    CHECK(fs::file_size(f) == data.size());
    // After the dump wipe the listing suggests, recovery completes it by itself.
    REQUIRE(run_snapgov("dump wipe " + f).exit_code == 0);
    CHECK(run_snapgov("dump recover --state-dir " + state).exit_code == 0);
    CHECK(fs::is_empty(state));
}
