// `snapgov dump encrypt|decrypt|wipe|scan|recover`: the command-line face of dumps/.

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "cli/commands/command.hpp"
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
constexpr const char* kDefaultStateDir = "/var/lib/snapgov";

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

    int run_encrypt();
    int run_decrypt();
    int run_wipe();
    int run_scan(const Context& context);
    int run_recover();
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

    o.recover = o.dump->add_subcommand("recover",
                                       "finish or roll back dump encryptions a crash interrupted");
    add_state_dir(o.recover);
    add_format(o.recover);
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
        engine::Engine engine(loaded->config, context.registry);
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

int DumpOptions::run_recover() {
    auto r = dumps::recover_dumps(state_dir);
    if (!r) {
        return report_error("recover", r.error());
    }
    bool attention = false;
    json::array list;
    std::string out;
    for (const auto& a : *r) {
        using O = dumps::RecoveryAction::Outcome;
        const std::string outcome = a.outcome == O::completed     ? "completed"
                                    : a.outcome == O::rolled_back ? "rolled_back"
                                                                  : "needs_attention";
        attention = attention || a.outcome == O::needs_attention;
        list.push_back(json::object{
            {"plaintext", a.plaintext_path}, {"outcome", outcome}, {"detail", a.detail}});
        out += "  " + outcome + "  " + a.plaintext_path + ": " + a.detail + "\n";
    }
    if (format == "json") {
        print(json::serialize(json::object{{"state_dir", state_dir}, {"operations", list}}) + "\n");
    } else {
        print("recovery in " + state_dir + ": " +
              (r->empty() ? std::string("nothing was interrupted\n")
                          : std::to_string(r->size()) + " interrupted operation(s)\n" + out));
    }
    return attention ? kError : kOk;
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
