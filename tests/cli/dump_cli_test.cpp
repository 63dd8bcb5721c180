// `snapgov dump ...` run as a user runs it, with the real `age` and `age-keygen` tools as the
// peers: exit codes, output, and byte-for-byte round trips.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>

#include <array>
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

Run run_snapgov(const std::string& args) {
    return sh(std::string(SNAPGOV_BINARY) + " " + args);
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
