// `snapgov dump encrypt|decrypt|wipe|scan|recover`: the command-line face of dumps/.

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "cli/commands/command.hpp"
#include "core/text.hpp"
#include "dumps/dump_commands.hpp"
#include "engine/dump_survey.hpp"
#include "engine/engine.hpp"

namespace snapgov::cli {
namespace {

namespace json = boost::json;

constexpr int kFound = kViolations;

/// Why a Hyper-V-named file is listed but never acted on automatically.
constexpr const char* kNameOnlyNote =
    "hyperv-state files are recognised by their name only (Hyper-V's saved-state formats have "
    "no published header to confirm them): snapgov reports them and never wipes or encrypts "
    "them automatically; check them in Hyper-V";

/// The default journal directory of dump operations (docs/policy-file.md: `state_dir`).
constexpr const char* kDefaultStateDir = dumps::kDefaultStateDir;

int report_error(std::string_view command, const Error& e) {
    std::cerr << "snapgov dump " << command << ": " << e.message << "\n";
    return kError;
}

std::uint64_t size_of(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

std::string human(std::uint64_t bytes) {
    char buf[32];
    if (bytes >= (1ULL << 30)) {
        std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1ULL << 30));
    } else {
        std::snprintf(buf, sizeof buf, "%.0f MiB", static_cast<double>(bytes) / (1ULL << 20));
    }
    return buf;
}

/// A one-line progress bar on stderr, only when stderr is a terminal and the file is big
/// enough to be worth it (dumps::kProgressThreshold). Redraws at most once per percent.
class ProgressBar {
public:
    ProgressBar(std::string label, std::uint64_t size)
        : label_(std::move(label)),
          enabled_(::isatty(STDERR_FILENO) == 1 && size >= dumps::kProgressThreshold) {}
    ProgressBar(const ProgressBar&) = delete;
    ProgressBar& operator=(const ProgressBar&) = delete;
    ~ProgressBar() {
        if (drawn_) {
            std::fputs("\n", stderr);
        }
    }

    [[nodiscard]] dumps::DumpProgressFn callback() {
        if (!enabled_) {
            return {};
        }
        return [this](std::uint64_t done, std::uint64_t total) { draw(done, total); };
    }

private:
    void draw(std::uint64_t done, std::uint64_t total) {
        const int percent = total == 0 ? 100 : static_cast<int>(done * 100 / total);
        if (percent == last_) {
            return;
        }
        last_ = percent;
        constexpr int kWidth = 30;
        const int filled = percent * kWidth / 100;
        std::fprintf(stderr, "\r%s [%s%s] %3d%% %s / %s", label_.c_str(),
                     std::string(static_cast<std::size_t>(filled), '#').c_str(),
                     std::string(static_cast<std::size_t>(kWidth - filled), ' ').c_str(), percent,
                     human(done).c_str(), human(total).c_str());
        std::fflush(stderr);
        drawn_ = true;
    }

    std::string label_;
    bool enabled_;
    bool drawn_ = false;
    int last_ = -1;
};

json::object wipe_json(const dumps::WipeReport& w) {
    return json::object{{"path", w.path},
                        {"size", w.size},
                        {"bytes_overwritten", w.bytes_overwritten},
                        {"hole_punched", w.hole_punched},
                        {"assurance", std::string(dumps::to_string(w.storage.assurance))},
                        {"filesystem", w.storage.filesystem},
                        {"device", w.storage.device},
                        {"reason", w.storage.reason}};
}

std::string wipe_line(const dumps::WipeReport& w) {
    return "wiped " + w.path + ": " + std::to_string(w.bytes_overwritten) + " of " +
           std::to_string(w.size) + " bytes overwritten" +
           (w.hole_punched ? ", blocks deallocated" : "") +
           ", unlinked\n  assurance: " + std::string(dumps::to_string(w.storage.assurance)) + " (" +
           w.storage.reason + ")\n";
}

struct DumpOptions {
    CLI::App* dump = nullptr;
    CLI::App* encrypt = nullptr;
    CLI::App* decrypt = nullptr;
    CLI::App* wipe = nullptr;
    CLI::App* scan = nullptr;
    CLI::App* recover = nullptr;

    std::vector<std::string> recipients;
    bool keep = false;
    std::string state_dir = kDefaultStateDir;
    std::string identity;
    std::string file;
    std::string output;
    std::vector<std::string> paths;
    std::string config;
    std::string format = "text";
    bool list_flag = false;
    std::string settle_id;
    bool keep_plaintext = false;
    bool keep_ciphertext = false;
    bool forget = false;

    int run_encrypt();
    int run_decrypt();
    int run_wipe();
    int run_scan(const Context& context);
    int run_recover();
    int run_list(const std::vector<dumps::RecoveryAction>& recovered,
                 std::span<const dumps::X25519Identity> ids);
    int run_settle(std::span<const dumps::X25519Identity> ids);
};

void register_dump(CLI::App& app, DumpOptions& o) {
    o.dump = app.add_subcommand(
        "dump", "protect VM memory dumps: encrypt to age, decrypt, wipe, find orphans, recover");
    o.dump->require_subcommand(1);
    auto add_format = [&o](CLI::App* cmd) {
        cmd->add_option("--format", o.format, "output format")
            ->check(CLI::IsMember({"text", "json"}))
            ->capture_default_str();
    };
    auto add_state_dir = [&o](CLI::App* cmd) {
        cmd->add_option("--state-dir", o.state_dir,
                        "directory of the crash-safety journal (created 0700)")
            ->capture_default_str();
    };

    o.encrypt = o.dump->add_subcommand(
        "encrypt", "FILE -> FILE.age (age v1, readable by the age tool), then wipe FILE");
    o.encrypt
        ->add_option("-r,--recipient", o.recipients,
                     "age1... public key, or a file of them (one per line); repeatable")
        ->required();
    o.encrypt->add_flag("--keep", o.keep, "keep FILE after encrypting it (like gzip -k)");
    add_state_dir(o.encrypt);
    add_format(o.encrypt);
    o.encrypt->add_option("FILE", o.file, "the memory dump")->required();

    o.decrypt = o.dump->add_subcommand(
        "decrypt", "FILE.age -> FILE with an identity file (also reads files made by age)");
    o.decrypt
        ->add_option("-i,--identity", o.identity,
                     "identity file (AGE-SECRET-KEY-1..., as age-keygen writes; mode 0600)")
        ->required();
    o.decrypt->add_option("-o,--output", o.output, "output file (default: FILE without .age)");
    add_format(o.decrypt);
    o.decrypt->add_option("FILE", o.file, "the .age file")->required();

    o.wipe = o.dump->add_subcommand(
        "wipe", "overwrite FILE once, sync, deallocate, unlink; prints the assurance reached");
    add_format(o.wipe);
    o.wipe->add_option("FILE", o.file, "the file to wipe")->required();

    o.scan = o.dump->add_subcommand(
        "scan", "find memory dumps no checkpoint references; exit 1 when there are some");
    o.scan->add_option("-c,--config", o.config,
                       "policy file: collect its inventory to know which dumps checkpoints "
                       "reference (without it every dump is unreferenced-unknown)");
    add_format(o.scan);
    o.scan->add_option("PATH", o.paths,
                       "files or folders to scan (default with -c: memory_dumps.scan_paths)");

    o.recover = o.dump->add_subcommand(
        "recover", "finish or roll back dump encryptions a crash interrupted; list and settle "
                   "the ones it cannot (exit 1 while any remain)");
    add_state_dir(o.recover);
    add_format(o.recover);
    o.recover->add_flag(
        "--list", o.list_flag,
        "after recovering, list each unsettled operation: its ID, what is on disk, and what "
        "each --settle choice would do");
    o.recover
        ->add_option(
            "--settle", o.settle_id,
            "settle the operation ID (from --list) with --keep-plaintext, --keep-ciphertext or "
            "--forget, after checking everything again")
        ->type_name("ID");
    // Their combinations are checked in run_recover(), where the message can say why.
    o.recover->add_flag("--keep-plaintext", o.keep_plaintext,
                        "with --settle: keep FILE, remove this operation's FILE.age");
    o.recover->add_flag(
        "--keep-ciphertext", o.keep_ciphertext,
        "with --settle: keep FILE.age, wipe FILE if it is still the dump's plaintext");
    o.recover->add_flag("--forget", o.forget,
                        "with --settle: remove only the journal (when no file needs it)");
    o.recover->add_option("-i,--identity", o.identity,
                          "with --list or --settle: identity file to check that each complete "
                          "FILE.age decrypts (mode 0600)");
}

int DumpOptions::run_encrypt() {
    ProgressBar bar("encrypting", size_of(file));
    auto r = dumps::encrypt_file(file, recipients, keep, state_dir, bar.callback());
    if (!r) {
        return report_error("encrypt", r.error());
    }
    if (format == "json") {
        json::object o{{"plaintext", r->plaintext_path},
                       {"ciphertext", r->ciphertext_path},
                       {"plaintext_bytes", r->plaintext_bytes},
                       {"ciphertext_bytes", r->ciphertext_bytes},
                       {"ciphertext_sha256", r->ciphertext_sha256},
                       {"kept", !r->wipe.has_value() && r->resumed.empty()}};
        if (!r->plaintext_sha256.empty()) {
            o["plaintext_sha256"] = r->plaintext_sha256;
        }
        if (!r->resumed.empty()) {
            o["resumed"] = r->resumed;
        }
        if (r->wipe) {
            o["wipe"] = wipe_json(*r->wipe);
        }
        print(json::serialize(o) + "\n");
        return kOk;
    }
    std::string out = "encrypted " + r->plaintext_path + " -> " + r->ciphertext_path + " (" +
                      std::to_string(r->ciphertext_bytes) + " bytes, sha256 " +
                      r->ciphertext_sha256 + ", verified on disk)\n";
    if (!r->resumed.empty()) {
        out += r->resumed + "\n";
    }
    if (r->wipe) {
        out += wipe_line(*r->wipe);
    } else if (r->resumed.empty()) {
        out += "kept " + r->plaintext_path + " (--keep)\n";
    }
    out += "to restore: snapgov dump decrypt -i IDENTITY_FILE " + r->ciphertext_path + " -o " +
           r->plaintext_path + "\n";
    print(out);
    return kOk;
}

int DumpOptions::run_decrypt() {
    std::string out = output;
    if (out.empty()) {
        if (!file.ends_with(".age") || file.size() <= 4) {
            return report_error(
                "decrypt", Error{ErrorCode::usage, file + " does not end in .age: give the output "
                                                          "file with -o OUT"});
        }
        out = file.substr(0, file.size() - 4);
    }
    ProgressBar bar("decrypting", size_of(file));
    auto r = dumps::decrypt_file(file, identity, out, bar.callback());
    if (!r) {
        return report_error("decrypt", r.error());
    }
    if (format == "json") {
        print(json::serialize(json::object{{"input", r->input},
                                           {"output", r->output},
                                           {"plaintext_bytes", r->plaintext_bytes}}) +
              "\n");
    } else {
        print("decrypted " + r->input + " -> " + r->output + " (" +
              std::to_string(r->plaintext_bytes) + " bytes, authenticated)\n");
    }
    return kOk;
}

int DumpOptions::run_wipe() {
    ProgressBar bar("wiping", size_of(file));
    auto r = dumps::wipe_dump(file, bar.callback());
    if (!r) {
        return report_error("wipe", r.error());
    }
    print(format == "json" ? json::serialize(wipe_json(*r)) + "\n" : wipe_line(*r));
    return kOk;
}

int DumpOptions::run_scan(const Context& context) {
    // Which dumps checkpoints reference: known only from an inventory (-c).
    enum class Knowledge { none, complete, incomplete };
    Knowledge knowledge = Knowledge::none;
    std::optional<engine::ReferencedDumps> referenced;
    std::vector<std::string> errors;
    std::vector<std::string> scan_paths = paths;
    if (!config.empty()) {
        const auto loaded = load(config, *context.registry);
        if (!loaded) {
            return kError;
        }
        if (scan_paths.empty()) {
            scan_paths = loaded->config->memory_dumps.scan_paths;
        }
        engine::EngineOptions options;
        options.collect_only = true;
        engine::Engine engine(loaded->config, context.registry, options);
        const Inventory inventory = engine.collect();
        knowledge = Knowledge::complete;
        for (const auto& host : inventory.hosts) {
            if (!host.complete) {
                knowledge = Knowledge::incomplete;
                errors.push_back(host.error ? host.error->message
                                            : "provider " + host.provider + ": not collected");
            }
        }
        referenced.emplace(inventory);
    }
    if (scan_paths.empty()) {
        return report_error("scan", Error{ErrorCode::usage,
                                          "nothing to scan: give PATH... or -c POLICY with "
                                          "memory_dumps.scan_paths"});
    }
    auto result =
        dumps::scan_dumps(scan_paths, referenced ? referenced->files() : std::set<std::string>{});
    if (!result) {
        return report_error("scan", result.error());
    }
    // libvirt's managed save images (VM.save) are not in the inventory's checkpoints.
    std::vector<dumps::FoundDump> orphans;
    for (auto& d : result->orphans) {
        if (referenced && referenced->references(d.path)) {
            result->referenced.push_back(std::move(d));
        } else {
            orphans.push_back(std::move(d));
        }
    }
    const std::string orphan_status =
        knowledge == Knowledge::complete ? "orphan" : "unreferenced-unknown";
    const std::string knowledge_text =
        knowledge == Knowledge::complete ? "compared with the inventory of " + config
        : knowledge == Knowledge::incomplete
            ? "the inventory of " + config +
                  " is incomplete, so a dump an uncollected checkpoint references would "
                  "look unreferenced: every unreferenced dump is listed as "
                  "unreferenced-unknown"
            : "no -c POLICY given: snapgov does not know which checkpoints reference "
              "these files, so every dump found is listed as unreferenced-unknown; pass "
              "-c POLICY to compare them with the inventory";

    struct Row {
        const dumps::FoundDump* dump;
        std::string status;
    };
    std::vector<Row> rows;
    for (const auto& d : orphans) {
        rows.push_back({&d, orphan_status});
    }
    for (const auto& d : result->referenced) {
        rows.push_back({&d, "referenced"});
    }
    for (const auto& d : result->protected_dumps) {
        rows.push_back({&d, "protected"});
    }

    if (format == "json") {
        json::array list;
        for (const auto& r : rows) {
            json::object row{{"path", r.dump->path},
                             {"kind", std::string(dumps::to_string(r.dump->kind))},
                             {"size", r.dump->size},
                             {"status", r.status}};
            if (!dumps::identified_by_content(r.dump->kind)) {
                row["note"] = kNameOnlyNote;
            }
            list.push_back(std::move(row));
        }
        json::array warnings;
        for (const auto& w : result->warnings) {
            warnings.emplace_back(w);
        }
        json::array errs;
        for (const auto& e : errors) {
            errs.emplace_back(e);
        }
        json::object root{{"inventory", knowledge == Knowledge::complete     ? "complete"
                                        : knowledge == Knowledge::incomplete ? "incomplete"
                                                                             : "not_checked"},
                          {"dumps", std::move(list)},
                          {"warnings", std::move(warnings)},
                          {"errors", std::move(errs)},
                          {"summary", json::object{{"unreferenced", orphans.size()},
                                                   {"referenced", result->referenced.size()},
                                                   {"protected", result->protected_dumps.size()}}}};
        print(json::serialize(root) + "\n");
    } else {
        std::string out = "scanned";
        for (const auto& p : scan_paths) {
            out += " " + p;
        }
        out += ": " + knowledge_text + "\n";
        if (rows.empty()) {
            out += "  no memory dumps found\n";
        }
        for (const auto& r : rows) {
            char line[64];
            std::snprintf(line, sizeof line, "  %-21s %-16s %12llu  ", r.status.c_str(),
                          std::string(dumps::to_string(r.dump->kind)).c_str(),
                          static_cast<unsigned long long>(r.dump->size));
            out += line + r.dump->path + "\n";
        }
        if (std::any_of(rows.begin(), rows.end(),
                        [](const Row& r) { return !dumps::identified_by_content(r.dump->kind); })) {
            out += std::string("  note: ") + kNameOnlyNote + "\n";
        }
        for (const auto& w : result->warnings) {
            out += "  warning: " + w + "\n";
        }
        out += std::to_string(orphans.size()) + " " + orphan_status + ", " +
               std::to_string(result->referenced.size()) + " referenced, " +
               std::to_string(result->protected_dumps.size()) + " protected (age)\n";
        if (!orphans.empty()) {
            out += "protect one: snapgov dump encrypt -r age1... FILE; or destroy it: snapgov "
                   "dump wipe FILE\n";
        }
        print(out);
    }
    for (const auto& e : errors) {
        std::cerr << "snapgov dump scan: " << e << "\n";
    }
    if (knowledge == Knowledge::incomplete) {
        return kError;
    }
    return orphans.empty() ? kOk : kFound;
}

const char* outcome_name(dumps::RecoveryAction::Outcome outcome) {
    using O = dumps::RecoveryAction::Outcome;
    return outcome == O::completed     ? "completed"
           : outcome == O::rolled_back ? "rolled_back"
                                       : "needs_attention";
}

std::string plaintext_state(const dumps::UnsettledOperation& u) {
    using P = dumps::UnsettledOperation::Plaintext;
    switch (u.plaintext) {
    case P::absent: return "absent";
    case P::same: return "same";
    case P::changed: return "changed";
    case P::different: return "different";
    }
    return "different";
}

std::string ciphertext_state(const dumps::UnsettledOperation& u) {
    using C = dumps::UnsettledOperation::Ciphertext;
    return u.ciphertext == C::absent     ? "absent"
           : u.ciphertext == C::complete ? "complete"
                                         : "mismatch";
}

std::string decryptable_state(const dumps::UnsettledOperation& u) {
    using D = dumps::UnsettledOperation::Decryptable;
    return u.decryptable == D::yes ? "yes" : u.decryptable == D::no ? "no" : "not_checked";
}

json::object unsettled_json(const dumps::UnsettledOperation& u) {
    json::object o{{"id", u.id}, {"journal", u.journal}};
    if (!u.problem.empty()) {
        o["problem"] = u.problem;
    }
    if (!u.plaintext_path.empty()) {
        o["plaintext"] = u.plaintext_path;
        o["ciphertext"] = u.ciphertext_path;
        o["step"] = u.step;
        o["found"] = json::object{{"plaintext", plaintext_state(u)},
                                  {"plaintext_signature", u.plaintext_signature},
                                  {"ciphertext", ciphertext_state(u)},
                                  {"ciphertext_detail", u.ciphertext_detail},
                                  {"partial", u.partial},
                                  {"decryptable", decryptable_state(u)},
                                  {"decrypt_detail", u.decrypt_detail}};
    }
    if (!u.blocked.empty()) {
        o["blocked"] = u.blocked;
    }
    json::object choices;
    for (const auto choice : {dumps::SettleChoice::keep_plaintext,
                              dumps::SettleChoice::keep_ciphertext, dumps::SettleChoice::forget}) {
        const auto& v = u.verdict(choice);
        choices[std::string(dumps::to_string(choice))] =
            json::object{{"allowed", v.allowed}, {"effect", v.effect}};
    }
    o["choices"] = std::move(choices);
    return o;
}

std::string unsettled_text(const dumps::UnsettledOperation& u) {
    using P = dumps::UnsettledOperation::Plaintext;
    using C = dumps::UnsettledOperation::Ciphertext;
    using D = dumps::UnsettledOperation::Decryptable;
    std::string out = "  " + u.id + "  journal " + escape_text(u.journal);
    if (!u.step.empty()) {
        out += " (step " + u.step + ")";
    }
    out += "\n";
    if (!u.problem.empty()) {
        out += "    why: " + escape_text(u.problem) + "\n";
    }
    if (!u.plaintext_path.empty()) {
        const std::string plain = u.plaintext == P::absent ? "absent"
                                  : u.plaintext == P::same
                                      ? "present, the same file (inode and size) that was encrypted"
                                  : u.plaintext == P::changed
                                      ? "present, the same inode, but its size changed"
                                      : "present, another file (not the inode that was encrypted)";
        out += "    plaintext  " + escape_text(u.plaintext_path) + ": " + plain;
        if (u.plaintext != P::absent) {
            out += u.plaintext_signature ? ", memory-dump signature" : ", no memory-dump signature";
        }
        out += "\n    ciphertext " + escape_text(u.ciphertext_path) + ": ";
        out += u.ciphertext == C::absent     ? "absent"
               : u.ciphertext == C::complete ? "present, complete (as its journal recorded)"
                                             : "present, not complete or not this operation's (" +
                                                   escape_text(u.ciphertext_detail) + ")";
        if (u.ciphertext == C::complete) {
            out += u.decryptable == D::yes  ? "; decrypts with the identity given"
                   : u.decryptable == D::no ? "; does NOT decrypt with the identity given (" +
                                                  escape_text(u.decrypt_detail) + ")"
                                            : "; decryption not checked (no -i)";
        }
        out += "\n    partial    " + escape_text(u.ciphertext_path) +
               ".partial: " + (u.partial ? "present" : "absent") + "\n";
    }
    if (!u.blocked.empty()) {
        out += "    blocked: " + escape_text(u.blocked) + "\n";
    }
    for (const auto choice : {dumps::SettleChoice::keep_plaintext,
                              dumps::SettleChoice::keep_ciphertext, dumps::SettleChoice::forget}) {
        const auto& v = u.verdict(choice);
        char name[24];
        std::snprintf(name, sizeof name, "--%-16s", std::string(dumps::to_string(choice)).c_str());
        out += std::string("    ") + name + (v.allowed ? "" : "refused: ") + escape_text(v.effect) +
               "\n";
    }
    return out;
}

int DumpOptions::run_recover() {
    if (list_flag && !settle_id.empty()) {
        return report_error("recover", Error{ErrorCode::usage, "--list and --settle go apart: "
                                                               "list first, then settle one"});
    }
    if (settle_id.empty() && (keep_plaintext || keep_ciphertext || forget)) {
        return report_error("recover", Error{ErrorCode::usage, "--keep-plaintext, "
                                                               "--keep-ciphertext and --forget "
                                                               "go with --settle ID"});
    }
    std::vector<dumps::X25519Identity> ids;
    if (!identity.empty()) {
        if (!list_flag && settle_id.empty()) {
            return report_error("recover", Error{ErrorCode::usage, "-i goes with --list or "
                                                                   "--settle ID"});
        }
        auto loaded = dumps::load_identity_file(identity);
        if (!loaded) {
            return report_error("recover", loaded.error());
        }
        ids = std::move(*loaded);
    }
    if (!settle_id.empty()) {
        return run_settle(ids);
    }
    auto r = dumps::recover_dumps(state_dir);
    if (!r) {
        return report_error("recover", r.error());
    }
    if (list_flag) {
        return run_list(*r, ids);
    }
    std::size_t attention = 0;
    json::array operations;
    std::string out;
    for (const auto& a : *r) {
        const std::string outcome = outcome_name(a.outcome);
        attention += a.outcome == dumps::RecoveryAction::Outcome::needs_attention ? 1 : 0;
        operations.push_back(json::object{{"id", a.id},
                                          {"plaintext", a.plaintext_path},
                                          {"outcome", outcome},
                                          {"detail", a.detail}});
        out += "  " + outcome + "  " + escape_text(a.plaintext_path) + ": " +
               escape_text(a.detail) + "\n";
    }
    if (format == "json") {
        json::object doc{{"state_dir", state_dir},
                         {"operations", std::move(operations)},
                         {"unsettled", attention}};
        if (attention > 0) {
            doc["settle"] = dumps::settle_hint(state_dir);
        }
        print(json::serialize(doc) + "\n");
    } else {
        out = "recovery in " + state_dir + ": " +
              (r->empty() ? std::string("nothing was interrupted\n")
                          : std::to_string(r->size()) + " interrupted operation(s)\n" + out);
        if (attention > 0) {
            out += std::to_string(attention) + " dump operation(s) need attention: run " +
                   dumps::settle_hint(state_dir) + "\n";
        }
        print(out);
    }
    return attention > 0 ? kViolations : kOk;
}

int DumpOptions::run_list(const std::vector<dumps::RecoveryAction>& recovered,
                          std::span<const dumps::X25519Identity> ids) {
    auto listed = dumps::list_unsettled(state_dir, ids);
    if (!listed) {
        return report_error("recover", listed.error());
    }
    // Recovery's reason for each operation it left, by ID.
    for (auto& u : *listed) {
        for (const auto& a : recovered) {
            if (a.id == u.id && a.outcome == dumps::RecoveryAction::Outcome::needs_attention &&
                u.problem.empty()) {
                u.problem = a.detail.substr(0, a.detail.find("; to settle it: "));
            }
        }
    }
    std::string settle =
        "snapgov dump recover --settle ID" +
        (state_dir == kDefaultStateDir ? std::string() : " --state-dir " + state_dir) +
        " --keep-plaintext|--keep-ciphertext|--forget";
    if (format == "json") {
        json::array done;
        for (const auto& a : recovered) {
            if (a.outcome != dumps::RecoveryAction::Outcome::needs_attention) {
                done.push_back(json::object{{"id", a.id},
                                            {"plaintext", a.plaintext_path},
                                            {"outcome", outcome_name(a.outcome)},
                                            {"detail", a.detail}});
            }
        }
        json::array list_json;
        for (const auto& u : *listed) {
            list_json.push_back(unsettled_json(u));
        }
        json::object doc{{"state_dir", state_dir},
                         {"recovered", std::move(done)},
                         {"unsettled", std::move(list_json)}};
        if (!listed->empty()) {
            doc["settle"] = settle;
        }
        print(json::serialize(doc) + "\n");
    } else {
        std::string out;
        for (const auto& a : recovered) {
            if (a.outcome != dumps::RecoveryAction::Outcome::needs_attention) {
                out += "recovered: " + std::string(outcome_name(a.outcome)) + "  " +
                       escape_text(a.plaintext_path) + ": " + escape_text(a.detail) + "\n";
            }
        }
        out += "unsettled dump operations in " + state_dir + ": " +
               (listed->empty() ? std::string("none\n") : std::to_string(listed->size()) + "\n");
        for (const auto& u : *listed) {
            out += unsettled_text(u);
        }
        if (!listed->empty()) {
            out += "settle one: " + settle + "\n";
        }
        print(out);
    }
    return listed->empty() ? kOk : kViolations;
}

int DumpOptions::run_settle(std::span<const dumps::X25519Identity> ids) {
    const int chosen = (keep_plaintext ? 1 : 0) + (keep_ciphertext ? 1 : 0) + (forget ? 1 : 0);
    if (chosen != 1) {
        return report_error(
            "recover", Error{ErrorCode::usage, "--settle " + settle_id +
                                                   " needs one choice: --keep-plaintext, "
                                                   "--keep-ciphertext or --forget (snapgov dump "
                                                   "recover --list says what each would do)"});
    }
    const auto choice = keep_plaintext    ? dumps::SettleChoice::keep_plaintext
                        : keep_ciphertext ? dumps::SettleChoice::keep_ciphertext
                                          : dumps::SettleChoice::forget;
    auto r = dumps::settle(state_dir, settle_id, choice, ids);
    if (!r) {
        return report_error("recover", r.error());
    }
    auto rest = dumps::list_unsettled(state_dir);
    const std::size_t remaining = rest ? rest->size() : 0;
    if (format == "json") {
        json::object doc{{"settled", r->before.id},
                         {"choice", std::string(dumps::to_string(choice))},
                         {"done", r->done},
                         {"unsettled", remaining}};
        if (r->wipe) {
            doc["wipe"] = wipe_json(*r->wipe);
        }
        print(json::serialize(doc) + "\n");
    } else {
        std::string out = "settled " + r->before.id + " (--" +
                          std::string(dumps::to_string(choice)) + "): " + escape_text(r->done) +
                          "\n";
        if (r->wipe) {
            out += wipe_line(*r->wipe);
        }
        out += remaining == 0
                   ? std::string("no unsettled dump operation remains\n")
                   : std::to_string(remaining) + " unsettled dump operation(s) remain: run " +
                         dumps::settle_hint(state_dir) + "\n";
        print(out);
    }
    if (!rest) {
        return report_error("recover", rest.error());
    }
    return remaining == 0 ? kOk : kViolations;
}

class DumpCommand final : public Command {
public:
    explicit DumpCommand(CLI::App& app) { register_dump(app, o_); }

    [[nodiscard]] bool selected() const override { return o_.dump != nullptr && o_.dump->parsed(); }

    [[nodiscard]] int run(const Context& context) override {
        if (o_.encrypt->parsed()) {
            return o_.run_encrypt();
        }
        if (o_.decrypt->parsed()) {
            return o_.run_decrypt();
        }
        if (o_.wipe->parsed()) {
            return o_.run_wipe();
        }
        if (o_.scan->parsed()) {
            return o_.run_scan(context);
        }
        if (o_.recover->parsed()) {
            return o_.run_recover();
        }
        return kError;
    }

private:
    DumpOptions o_;
};

} // namespace

std::unique_ptr<Command> make_dump_command(CLI::App& app) {
    return std::make_unique<DumpCommand>(app);
}

} // namespace snapgov::cli
