// Runs the real snapgov binary as a user would and checks exit codes and the JSON contract.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>

#include <boost/json.hpp>

#include "tests/support/support.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace snapgov::testing;

namespace {

const std::string kExamples = SNAPGOV_EXAMPLES;
const std::string kNow = "--now 2026-11-24T12:00:00Z";

// The demo policy, copied with its state (the evidence ledger) in a temporary folder instead
// of /var/lib/snapgov.
std::string demo_policy() {
    static const TempDir dir("snapgov-cli-demo");
    static const std::string path = [] {
        std::string text = std::regex_replace(slurp(kExamples + "/policy.yaml"),
                                              std::regex(R"(\$\{CONFIG_DIR\})"), kExamples);
        return dir.write("policy.yaml", text + "\nstate_dir: " + dir.str("state") + "\n").string();
    }();
    return path;
}

// A copy of the demo policy pointing at another provider set.
std::string policy_with_providers(const TempDir& dir, const std::string& providers) {
    std::string text = slurp(demo_policy());
    const auto start = text.find("providers:");
    const auto end = text.find("policies:");
    text.replace(start, end - start, providers + "\n");
    return dir.write("policy.yaml", text).string();
}

} // namespace

TEST_CASE("plan --format json follows the contract of docs/command-line.md", "[cli]") {
    const auto r = run_snapgov("plan -c " + demo_policy() + " --format json " + kNow);
    CHECK(r.exit_code == 1);
    const auto doc = json::parse(r.out).as_object();
    const auto& findings = doc.at("findings").as_array();
    REQUIRE(findings.size() == 15);
    for (const auto& f : findings) {
        for (const auto* key : {"policy", "provider", "vm", "checkpoint", "rule", "detail"}) {
            INFO(key);
            CHECK(f.as_object().at(key).is_string());
        }
        CHECK(f.as_object().at("exempt").is_bool());
    }
    const auto& actions = doc.at("actions").as_array();
    REQUIRE(actions.size() == 11);
    for (const auto& a : actions) {
        for (const auto* key : {"kind", "provider", "vm", "checkpoint", "reason"}) {
            INFO(key);
            CHECK(a.as_object().at(key).is_string());
        }
    }
    CHECK(actions[0].as_object().at("kind").as_string() == "delete_checkpoint");
    // examples/host.xml names memory files that do not exist here: the encrypt policy has
    // nothing to encrypt (a note says the file is missing), the wipe policy still makes the
    // crash capture disk-only.
    CHECK(actions[10].as_object().at("kind").as_string() == "wipe_memory");
    const auto& summary = doc.at("summary").as_object();
    CHECK(summary.at("vms").as_int64() == 11);
    CHECK(summary.at("checkpoints").as_int64() == 21);
    CHECK(summary.at("violations").as_int64() == 14);
    CHECK(summary.at("actions").as_int64() == 11);
    // Logs stay off stdout: the JSON parsed, and the expired exemption is a note.
    CHECK_THAT(json::serialize(doc.at("notes")), Catch::Contains("expired"));
}

TEST_CASE("log level error hides policy-file warnings, which are still counted", "[cli]") {
    const auto loud = run_snapgov("policy check " + demo_policy());
    REQUIRE(loud.exit_code == 0);
    CHECK_THAT(loud.err, Catch::Contains(": warning: exemption"));
    const auto quiet = run_snapgov("--log-level error policy check " + demo_policy());
    REQUIRE(quiet.exit_code == 0);
    CHECK(quiet.err.find("warning") == std::string::npos);
    CHECK(quiet.out == loud.out); // the summary still counts them
    const auto plan = run_snapgov("--log-level error plan -c " + demo_policy() + " " + kNow);
    CHECK(plan.err.find("warning") == std::string::npos);
}

TEST_CASE("every rule of the demo shows up in the plan", "[cli]") {
    const auto r = run_snapgov("plan -c " + demo_policy() + " --format json " + kNow);
    const auto doc = json::parse(r.out).as_object();
    std::set<std::string> rules;
    bool exempt_seen = false;
    for (const auto& f : doc.at("findings").as_array()) {
        rules.insert(std::string(f.as_object().at("rule").as_string()));
        exempt_seen = exempt_seen || f.as_object().at("exempt").as_bool();
    }
    CHECK(rules == std::set<std::string>{"checkpoints_denied", "max_age", "max_count", "ttl",
                                         "memory_state"});
    CHECK(exempt_seen);
}

TEST_CASE("enforce --once acts, verifies and exits 1 for what remains", "[cli]") {
    const auto r = run_snapgov("enforce --once -c " + demo_policy() + " --format json " + kNow);
    CHECK(r.exit_code == 1);
    const auto doc = json::parse(r.out).as_object();
    const auto& s = doc.at("summary").as_object();
    CHECK(s.at("done").as_int64() == 11);
    CHECK(s.at("skipped").as_int64() == 0);
    CHECK(s.at("failed").as_int64() == 0);
    // Remaining: the audit-mode finding and the internal-memory finding.
    CHECK(s.at("remaining").as_int64() == 2);
    for (const auto& a : doc.at("actions").as_array()) {
        const auto& o = a.as_object();
        if (o.at("kind").as_string() == "delete_checkpoint") {
            CHECK(o.at("outcome").as_string() == "done");
            CHECK_THAT(std::string(o.at("detail").as_string()), Catch::Contains("verified"));
        }
    }
}

TEST_CASE("enforce --dry-run acts on nothing", "[cli]") {
    const auto r =
        run_snapgov("enforce --once --dry-run -c " + demo_policy() + " --format json " + kNow);
    CHECK(r.exit_code == 1);
    const auto doc = json::parse(r.out).as_object();
    CHECK(doc.at("summary").as_object().at("dry_run").as_int64() == 11);
    CHECK(doc.at("summary").as_object().at("done").as_int64() == 0);
    CHECK(doc.at("summary").as_object().at("remaining").as_int64() == 14);
}

TEST_CASE("the blast-radius cap leaves violations remaining", "[cli]") {
    TempDir dir("snapgov-cli");
    std::string text = slurp(demo_policy());
    text.replace(text.find("max_actions_per_run: 20"), 23, "max_actions_per_run: 2");
    for (auto pos = text.find("${CONFIG_DIR}"); pos != std::string::npos;
         pos = text.find("${CONFIG_DIR}")) {
        text.replace(pos, 13, kExamples);
    }
    const auto policy = dir.write("policy.yaml", text);
    const auto r = run_snapgov("enforce --once -c " + policy.string() + " --format json " + kNow);
    CHECK(r.exit_code == 1);
    const auto s = json::parse(r.out).as_object().at("summary").as_object();
    CHECK(s.at("done").as_int64() == 2);
    CHECK(s.at("skipped").as_int64() == 9);
    CHECK(s.at("remaining").as_int64() == 12);
}

TEST_CASE("a compliant inventory exits 0", "[cli]") {
    TempDir dir("snapgov-cli");
    const auto policy = dir.write(
        "policy.yaml", "providers: [{name: lab, type: libvirt, uri: 'test://" + kExamples +
                           "/host.xml'}]\n"
                           "policies:\n"
                           "  - {name: p, mode: enforce, match: {names: [prod-cache-*]},"
                           " checkpoints: deny}\nstate_dir: " +
                           dir.str("state") + "\n");
    CHECK(run_snapgov("plan -c " + policy.string() + " " + kNow).exit_code == 0);
    CHECK(run_snapgov("enforce --once -c " + policy.string() + " " + kNow).exit_code == 0);
}

TEST_CASE("a provider that cannot be collected gets no action, and exit is 2", "[cli]") {
    TempDir dir("snapgov-cli");
    // A host file that passes the load-time checks but that libvirt cannot read.
    const auto broken = dir.write("broken.xml", "<node><domain>").string();
    const auto policy =
        policy_with_providers(dir, "providers:\n"
                                   "  - {name: lab, type: libvirt, uri: 'test://" +
                                       kExamples +
                                       "/host.xml'}\n"
                                       "  - {name: broken, type: libvirt, uri: 'test://" +
                                       broken + "'}\n");
    const auto r = run_snapgov("enforce --once -c " + policy + " --format json " + kNow);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("provider broken"));
    const auto doc = json::parse(r.out).as_object();
    CHECK_THAT(json::serialize(doc.at("errors")), Catch::Contains("provider broken"));
    // The healthy provider is still enforced.
    CHECK(doc.at("summary").as_object().at("done").as_int64() == 11);
}

TEST_CASE("configuration and usage errors exit 2 with FILE:LINE:COL", "[cli]") {
    TempDir dir("snapgov-cli");
    const auto bad = dir.write("bad.yaml", "providers:\n  - name: lab\n    type: libvirt\n"
                                           "policies:\n  - name: p\n    max_age: soon\n");
    const auto check = run_snapgov("policy check " + bad.string());
    CHECK(check.exit_code == 2);
    CHECK_THAT(check.err, Catch::Contains(bad.string() + ":6:14: error: 'max_age'"));
    // The offending line is quoted under the message.
    CHECK_THAT(check.err, Catch::Contains("    max_age: soon\n"));
    CHECK(run_snapgov("plan -c " + bad.string()).exit_code == 2);
    CHECK(run_snapgov("plan").exit_code == 2);
    CHECK(run_snapgov("frobnicate").exit_code == 2);
    CHECK(run_snapgov("enforce -c " + demo_policy()).exit_code == 2);
    CHECK(run_snapgov("plan -c " + demo_policy() + " --now yesterday").exit_code == 2);
    CHECK(run_snapgov("plan -c /nonexistent.yaml").exit_code == 2);
}

TEST_CASE("usage mistakes are named: unknown command, empty --now, a folder as policy", "[cli]") {
    auto r = run_snapgov("frobnicate");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::StartsWith("snapgov: unknown command 'frobnicate'; the commands "
                                        "are: policy, inventory, plan, enforce, daemon, status, "
                                        "dump, checkpoint, evidence (see snapgov --help)"));
    r = run_snapgov("policy chek " + demo_policy());
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::StartsWith("snapgov policy: unknown command 'chek'; the commands "
                                        "are: check"));
    r = run_snapgov("");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::StartsWith("snapgov: a command is required; the commands are: "));

    // An empty --now (an unset shell variable) silently meant the clock.
    r = run_snapgov("plan -c " + demo_policy() + " --now ''");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("--now") && Catch::Contains("invalid RFC 3339 time ''"));
    CHECK(run_snapgov("policy check " + demo_policy() + " --now ''").exit_code == 2);

    TempDir dir("snapgov-cli");
    r = run_snapgov("policy check " + dir.path().string());
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("policy file: '" + dir.path().string() +
                                      "' is a directory; give the path of a file"));
}

TEST_CASE("policy check parses recipients as age keys", "[cli]") {
    TempDir dir("snapgov-cli");
    std::string text = slurp(demo_policy());
    const std::string good = "age13egrqql3t9keweknlq2mv9rxx5wreatts5ra89fy2htpge47fc5qv0grau";
    text.replace(text.find(good), good.size(), "age1notakey");
    text = std::regex_replace(text, std::regex(R"(\$\{CONFIG_DIR\})"), kExamples);
    const auto policy = dir.write("policy.yaml", text).string();
    const auto r = run_snapgov("policy check " + policy);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains(policy + ":51:") &&
                          Catch::Contains("error: recipient: not an age X25519 recipient"));
}

TEST_CASE("policy check accepts the demo policy and --help works", "[cli]") {
    const auto r = run_snapgov("policy check " + demo_policy() + " " + kNow);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("valid: 1 providers, 4 policies, 2 exemptions (1 expired)"));
    const auto help = run_snapgov("--help");
    CHECK(help.exit_code == 0);
    CHECK_THAT(help.out, Catch::Contains("enforce"));
}

TEST_CASE("checkpoint create/revert name what stops them: test driver, unknown VM, no "
          "identity",
          "[cli][checkpoint]") {
    const auto help = run_snapgov("checkpoint --help");
    CHECK(help.exit_code == 0);
    CHECK_THAT(help.out, Catch::Contains("create") && Catch::Contains("revert"));
    // The demo host is libvirt's test driver, which writes no memory into the FIFO.
    auto r = run_snapgov("checkpoint create -c " + demo_policy() + " prod-web-01 c1");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("uses libvirt's test driver") &&
                          Catch::Contains("need libvirtd with QEMU"));
    r = run_snapgov("checkpoint create -c " + demo_policy() + " no-such-vm c1");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("no VM called 'no-such-vm' on "));
    r = run_snapgov("checkpoint create -c " + demo_policy() + " --provider nope prod-web-01 c1");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("no libvirt provider called 'nope'"));
    r = run_snapgov("checkpoint create -c " + demo_policy() + " --timeout 0s prod-web-01 c1");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("--timeout"));
    r = run_snapgov("checkpoint revert -c " + demo_policy() + " prod-web-01 c1");
    CHECK(r.exit_code == 2); // -i is required
}

TEST_CASE("inventory --format json lists VMs and checkpoints with ages", "[cli]") {
    const auto r = run_snapgov("inventory -c " + demo_policy() + " --format json " + kNow);
    CHECK(r.exit_code == 0);
    const auto doc = json::parse(r.out).as_object();
    const auto& p = doc.at("providers").as_array().at(0).as_object();
    CHECK(p.at("name").as_string() == "lab");
    CHECK(p.at("complete").as_bool());
    const auto& vms = p.at("vms").as_array();
    REQUIRE(vms.size() == 11);
    const auto& first = vms.at(0).as_object();
    CHECK(first.at("name").as_string() == "dev-build-01");
    const auto& cp = first.at("checkpoints").as_array().at(0).as_object();
    CHECK(cp.at("name").as_string() == "base");
    CHECK(cp.at("age_seconds").as_int64() == 10 * 86400);
    CHECK(cp.at("memory").as_object().at("kind").as_string() == "none");
}

TEST_CASE("names from the hypervisor cannot forge report lines", "[cli][escaping]") {
    TempDir dir;
    // A VM whose name carries a bidi override and a checkpoint whose description carries a
    // newline followed by a fake summary line.
    const std::string host =
        "<node><domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
        "<name>prod-\xE2\x80\xAE"
        "10-bd</name><uuid>5a9e0000-0000-4000-8000-0000000000e1</uuid>"
        "<memory unit='MiB'>64</memory><os><type>hvm</type></os><test:runstate>1</test:runstate>"
        "<test:domainsnapshot><name>s1</name><description>x&#10;Summary: 0 violations"
        "</description><state>disk-snapshot</state><creationTime>1795000000</creationTime>"
        "<memory snapshot='no'/><active>1</active><domain type='test'><name>prod-\xE2\x80\xAE"
        "10-bd</name><uuid>5a9e0000-0000-4000-8000-0000000000e1</uuid><memory unit='MiB'>64"
        "</memory><os><type>hvm</type></os></domain></test:domainsnapshot></domain></node>";
    const auto host_file = dir.write("host.xml", host);
    const auto policy = dir.write(
        "policy.yaml", "providers: [{name: lab, type: libvirt, uri: 'test://" + host_file.string() +
                           "'}]\npolicies:\n  - {name: deny, mode: enforce, match: {names: "
                           "['prod-*']}, checkpoints: deny}\n");
    for (const std::string command : {"inventory", "plan"}) {
        INFO(command);
        const auto r = run_snapgov(command + " -c " + policy.string() + " " + kNow);
        CHECK(r.exit_code == (command == "plan" ? 1 : 0));
        CHECK_THAT(r.out, Catch::Contains("prod-\\u{202E}10-bd"));
        CHECK(r.out.find("\xE2\x80\xAE") == std::string::npos);
        CHECK(r.out.find("\nSummary: 0 violations") == std::string::npos);
    }
    // JSON keeps the names as they are: it is the lossless form.
    const auto json_run = run_snapgov("inventory --format json -c " + policy.string());
    CHECK_THAT(json_run.out, Catch::Contains("prod-\xE2\x80\xAE"
                                             "10-bd"));
}

TEST_CASE("status gives up on a daemon that never accepts instead of hanging", "[cli][status]") {
    TempDir dir;
    const std::string socket = dir.str("control.sock");
    // A stuck daemon: it listens but never accepts, and its queue is full, so a blocking
    // connect() would wait forever. It exits by itself after 60 s.
    const std::string server = "import socket,sys,time\n"
                               "s=socket.socket(socket.AF_UNIX);s.bind(sys.argv[1]);s.listen(0)\n"
                               "held=[]\n"
                               "while True:\n"
                               "  c=socket.socket(socket.AF_UNIX);c.setblocking(False)\n"
                               "  try: c.connect(sys.argv[1])\n"
                               "  except BlockingIOError: break\n"
                               "  held.append(c)\n"
                               "open(sys.argv[1]+'.full','w').close()\n"
                               "time.sleep(60)\n";
    const auto script = dir.write("stuck.py", server);
    const auto r = run_command(
        "(python3 " + script.string() + " " + socket + " & pid=$!; for i in $(seq 100); do [ -e " +
        socket + ".full ] && break; sleep 0.1; done; timeout 40 " + SNAPGOV_BINARY +
        " status --socket " + socket + "; code=$?; kill $pid; wait; exit $code)");
    CHECK(r.exit_code == 2); // 124 would be timeout(1) killing a hung client
    CHECK_THAT(r.err, Catch::Contains("did not accept within 10 s"));
}

TEST_CASE("status fails cleanly on a malformed daemon reply", "[cli][status]") {
    TempDir dir;
    const std::string socket = dir.str("control.sock");
    // A one-shot fake daemon (python3, as the integration tests use) answering {"ok":true}.
    const std::string server =
        "import socket,sys\n"
        "s=socket.socket(socket.AF_UNIX);s.bind(sys.argv[1]);s.listen(1)\n"
        "c,_=s.accept();c.recv(4096);c.sendall(sys.argv[2].encode()+b'\\n');c.close()\n";
    const auto script = dir.write("fake.py", server);
    for (
        const std::string reply :
        {R"({"ok":true})", R"({"ok":true,"ready":"yes"})", R"([1,2])", "not json",
         R"({"ok":true,"ready":true,"config":"c","config_hash":"h","passes":1,"providers":[7],"last_pass":null})"}) {
        INFO(reply);
        const auto r =
            run_command("(python3 " + script.string() + " " + socket + " '" + reply +
                        "' & for i in $(seq 50); do [ -S " + socket +
                        " ] && break; sleep 0.1; done; " + SNAPGOV_BINARY + " status --socket " +
                        socket + "; code=$?; wait; rm -f " + socket + "; exit $code)");
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.err, Catch::Contains("malformed reply from the daemon"));
    }
}
