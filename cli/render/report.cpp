#include "cli/render/report.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <sstream>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/serializer.hpp>

#include <unistd.h>

#include "cli/render/table.hpp"
#include "cli/render/terminal.hpp"
#include "core/text.hpp"

namespace snapgov::cli {
namespace json = boost::json;
using engine::Outcome;
using engine::PassResult;
using policies::Finding;
using policies::Plan;
using policies::PlannedAction;

namespace {

std::string plural(std::size_t n, std::string_view one, std::string_view many) {
    return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

json::object finding_json(const Finding& f) {
    json::object o;
    o["policy"] = f.policy;
    o["mode"] = std::string(to_string(f.mode));
    o["provider"] = f.provider;
    o["vm"] = f.vm;
    o["checkpoint"] = f.checkpoint;
    o["rule"] = f.rule;
    o["detail"] = f.detail;
    o["exempt"] = f.exempt;
    if (f.exempt) {
        o["exemption"] = f.exemption;
    }
    if (!f.path.empty()) {
        o["path"] = f.path;
    }
    return o;
}

json::object action_json(const PlannedAction& a) {
    json::object o;
    o["kind"] = std::string(to_string(a.kind));
    o["provider"] = a.provider;
    o["vm"] = a.vm;
    o["checkpoint"] = a.checkpoint;
    o["reason"] = a.reason;
    o["policy"] = a.policy;
    if (!a.path.empty()) {
        o["path"] = a.path;
    }
    return o;
}

json::array strings_json(const std::vector<std::string>& items) {
    json::array a;
    for (const auto& s : items) {
        a.emplace_back(s);
    }
    return a;
}

json::array errors_json(const std::vector<Error>& errors) {
    json::array a;
    for (const auto& e : errors) {
        a.emplace_back(e.message);
    }
    return a;
}

json::object summary_json(const Plan& plan) {
    json::object s;
    s["vms"] = plan.vms;
    s["checkpoints"] = plan.checkpoints;
    s["violations"] = plan.violations();
    s["exempt"] = plan.exempt();
    s["actions"] = plan.actions.size();
    return s;
}

std::string findings_text(const Plan& plan, std::size_t width) {
    if (plan.findings.empty()) {
        return "  none\n";
    }
    Table t({"MODE", "POLICY", "WHERE", "RULE", "DETAIL"});
    t.flexible(4);
    for (const auto& f : plan.findings) {
        std::string detail = f.detail;
        if (f.exempt) {
            detail = "EXEMPT: " + f.exemption + "; " + detail;
        }
        t.add({std::string(to_string(f.mode)), f.policy, policies::where(f), f.rule, detail});
    }
    return t.render("  ", width);
}

/// One list item per entry, wrapped to `width` (0: not wrapped) under its first word.
std::string bullets(const std::vector<std::string>& items, std::size_t width) {
    std::string out;
    constexpr std::size_t kIndent = 4; // "  - "
    for (const auto& item : items) {
        const std::string text = escape_text(item);
        if (width <= kIndent + Table::kMinFlexibleWidth) {
            out += "  - " + text + "\n";
            continue;
        }
        const auto lines = wrap_text(text, width - kIndent);
        for (std::size_t i = 0; i < lines.size(); ++i) {
            out += (i == 0 ? "  - " : "    ") + lines[i] + "\n";
        }
    }
    return out;
}

std::string notes_text(const std::vector<std::string>& notes, std::size_t width) {
    return notes.empty() ? std::string() : "\nNotes:\n" + bullets(notes, width);
}

std::string errors_text(const std::vector<Error>& errors, std::size_t width) {
    std::vector<std::string> messages;
    messages.reserve(errors.size());
    for (const auto& e : errors) {
        messages.push_back(e.message);
    }
    return errors.empty() ? std::string() : "\nErrors:\n" + bullets(messages, width);
}

std::string hosts_line(const Inventory& inventory) {
    std::string out;
    for (const auto& h : inventory.hosts) {
        out += "provider " + escape_text(h.provider) + " (" + h.type + ", " +
               escape_text(h.endpoint) + "): ";
        if (h.complete) {
            std::size_t cps = 0;
            for (const auto& vm : h.vms) {
                cps += vm.checkpoints.size();
            }
            out += plural(h.vms.size(), "VM", "VMs") + ", " +
                   plural(cps, "checkpoint", "checkpoints") + "\n";
        } else {
            out += "UNAVAILABLE\n";
        }
    }
    return out;
}

} // namespace

std::string to_json_text(const json::value& value) {
    return json::serialize(value) + "\n";
}

void write_json(std::FILE* out, const json::value& value) {
    json::serializer serializer;
    serializer.reset(&value);
    std::array<char, 64 * 1024> buffer{};
    while (!serializer.done()) {
        const auto piece = serializer.read(buffer.data(), buffer.size());
        if (std::fwrite(piece.data(), 1, piece.size(), out) != piece.size()) {
            return;
        }
    }
    std::fputc('\n', out);
}

// --- inventory -------------------------------------------------------------------------

json::value inventory_json(const Inventory& inventory, TimePoint now) {
    json::array providers;
    for (const auto& h : inventory.hosts) {
        json::object p;
        p["name"] = h.provider;
        p["type"] = h.type;
        p["endpoint"] = h.endpoint;
        p["complete"] = h.complete;
        if (h.error) {
            p["error"] = h.error->message;
        }
        json::array vms;
        for (const auto& vm : h.vms) {
            json::object v;
            v["id"] = vm.id;
            v["name"] = vm.name;
            v["power"] = std::string(to_string(vm.power));
            v["checkpoint_setting"] = std::string(to_string(vm.checkpoint_setting));
            json::object labels;
            for (const auto& [k, val] : vm.labels) {
                labels[k] = val;
            }
            v["labels"] = std::move(labels);
            json::array cps;
            for (const auto& cp : vm.checkpoints) {
                json::object c;
                c["id"] = cp.id;
                c["name"] = cp.name;
                c["description"] = cp.description;
                c["created"] = format_rfc3339(cp.created);
                c["age_seconds"] = elapsed(cp.created, now).count();
                c["parent"] = cp.parent ? json::value(*cp.parent) : json::value(nullptr);
                c["state"] = cp.state;
                c["current"] = cp.current;
                json::object mem;
                mem["kind"] = std::string(to_string(cp.memory));
                mem["files"] = strings_json(cp.memory_files);
                c["memory"] = std::move(mem);
                json::array disks;
                for (const auto& d : cp.disks) {
                    disks.push_back(
                        json::object{{"target", d.target}, {"kind", d.kind}, {"file", d.file}});
                }
                c["disks"] = std::move(disks);
                cps.push_back(std::move(c));
            }
            v["checkpoints"] = std::move(cps);
            vms.push_back(std::move(v));
        }
        p["vms"] = std::move(vms);
        providers.push_back(std::move(p));
    }
    json::object root;
    root["now"] = format_rfc3339(now);
    root["providers"] = std::move(providers);
    root["summary"] =
        json::object{{"vms", inventory.vm_count()}, {"checkpoints", inventory.checkpoint_count()}};
    return root;
}

std::size_t output_width() {
    return terminal_width(STDOUT_FILENO);
}

std::string inventory_text(const Inventory& inventory, TimePoint now, std::size_t width) {
    std::ostringstream out;
    for (const auto& h : inventory.hosts) {
        out << "provider " << escape_text(h.provider) << " (" << h.type << ", "
            << escape_text(h.endpoint) << ")";
        if (!h.complete) {
            out << ": UNAVAILABLE: " << escape_text(h.error ? h.error->message : "unknown error")
                << "\n\n";
            continue;
        }
        out << ": " << plural(h.vms.size(), "VM", "VMs") << "\n";
        for (const auto& vm : h.vms) {
            out << "  " << escape_text(vm.name) << "  [" << to_string(vm.power) << "]";
            if (vm.checkpoint_setting != CheckpointSetting::unknown) {
                out << "  checkpoints: " << to_string(vm.checkpoint_setting);
            }
            if (!vm.labels.empty()) {
                out << "  labels:";
                for (const auto& [k, v] : vm.labels) {
                    out << " " << escape_text(k) << "=" << escape_text(v);
                }
            }
            out << "\n";
            if (vm.checkpoints.empty()) {
                out << "      (no checkpoints)\n";
                continue;
            }
            Table t({"CHECKPOINT", "CREATED", "AGE", "MEMORY", "PARENT", "DESCRIPTION"});
            t.flexible(5);
            for (const auto& cp : vm.checkpoints) {
                std::string memory(to_string(cp.memory));
                for (const auto& f : cp.memory_files) {
                    memory += " " + f;
                }
                t.add({cp.name + (cp.current ? " *" : ""), format_rfc3339(cp.created),
                       format_duration(elapsed(cp.created, now)), memory, cp.parent.value_or("-"),
                       cp.description});
            }
            out << t.render("      ", width);
        }
        out << "\n";
    }
    out << "total: " << plural(inventory.vm_count(), "VM", "VMs") << ", "
        << plural(inventory.checkpoint_count(), "checkpoint", "checkpoints")
        << " (* = current checkpoint)\n";
    return out.str();
}

// --- plan ------------------------------------------------------------------------------

json::value plan_json(const PassResult& pass) {
    json::array findings;
    for (const auto& f : pass.plan.findings) {
        findings.push_back(finding_json(f));
    }
    json::array actions;
    for (const auto& a : pass.plan.actions) {
        actions.push_back(action_json(a));
    }
    json::object root;
    root["now"] = format_rfc3339(pass.now);
    root["findings"] = std::move(findings);
    root["actions"] = std::move(actions);
    root["summary"] = summary_json(pass.plan);
    root["notes"] = strings_json(pass.plan.notes);
    root["errors"] = errors_json(pass.errors);
    return root;
}

std::string plan_text(const PassResult& pass, const policies::Config& config, std::size_t width) {
    const Plan& plan = pass.plan;
    std::string out =
        "snapgov plan at " + format_rfc3339(pass.now) + " (" + escape_text(config.path) + ")\n";
    out += hosts_line(pass.inventory);
    out += "\nFindings (" + plural(plan.violations(), "violation", "violations") + ", " +
           std::to_string(plan.exempt()) + " exempt):\n";
    out += findings_text(plan, width);
    out += "\nActions enforce would take (" + std::to_string(plan.actions.size()) + "; at most " +
           std::to_string(config.safety.max_actions_per_run) + " per run):\n";
    if (plan.actions.empty()) {
        out += "  none\n";
    } else {
        Table t({"#", "ACTION", "WHERE", "REASON"});
        t.flexible(3);
        for (std::size_t i = 0; i < plan.actions.size(); ++i) {
            const auto& a = plan.actions[i];
            std::string reason = a.reason;
            // What the guard decided: the same decision enforce acts on.
            if (i < pass.decisions.size()) {
                switch (pass.decisions[i].verdict) {
                case engine::GuardVerdict::run:
                case engine::GuardVerdict::dry_run: break;
                case engine::GuardVerdict::over_cap:
                    reason += "  [beyond the per-run cap: left for the next run]";
                    break;
                case engine::GuardVerdict::incomplete_provider:
                case engine::GuardVerdict::incomplete_inventory:
                    reason +=
                        "  [not taken: " +
                        engine::explain(pass.decisions[i], a, config.safety.max_actions_per_run) +
                        "]";
                    break;
                }
            }
            t.add({std::to_string(i + 1), std::string(to_string(a.kind)), policies::where(a),
                   reason});
        }
        out += t.render("  ", width);
    }
    out += notes_text(plan.notes, width);
    out += errors_text(pass.errors, width);
    out += "\nSummary: " + plural(plan.vms, "VM", "VMs") + ", " +
           plural(plan.checkpoints, "checkpoint", "checkpoints") + ", " +
           plural(plan.violations(), "violation", "violations") + " (" +
           std::to_string(plan.exempt()) + " exempt), " +
           plural(plan.actions.size(), "action", "actions") + " planned\n";
    return out;
}

// --- enforce ---------------------------------------------------------------------------

json::value enforce_json(const PassResult& pass) {
    const bool dry_run = pass.mode == engine::PassMode::dry_run;
    json::array actions;
    std::map<std::string, std::size_t> counts;
    for (const auto& r : pass.results) {
        json::object o = action_json(r.action);
        o["outcome"] = std::string(to_string(r.outcome));
        o["detail"] = r.summary();
        if (r.follow_up) {
            o["follow_up"] = true;
        }
        actions.push_back(std::move(o));
        ++counts[std::string(to_string(r.outcome))];
    }
    json::array remaining;
    for (const auto& f : pass.remaining().findings) {
        if (!f.exempt) {
            remaining.push_back(finding_json(f));
        }
    }
    json::object summary = summary_json(pass.plan);
    for (const auto* outcome : {"done", "failed", "not_verified", "skipped", "dry_run"}) {
        summary[outcome] = counts[outcome];
    }
    summary["remaining"] = pass.remaining().violations();
    summary["unsettled"] = pass.unsettled.size();
    json::object root;
    root["now"] = format_rfc3339(pass.now);
    root["dry_run"] = dry_run;
    root["actions"] = std::move(actions);
    root["remaining"] = std::move(remaining);
    root["summary"] = std::move(summary);
    root["notes"] = strings_json(pass.plan.notes);
    root["errors"] = errors_json(pass.errors);
    root["unsettled"] = strings_json(pass.unsettled);
    if (!pass.unsettled.empty()) {
        root["settle"] = pass.unsettled_command;
    }
    root["exit_code"] = pass.exit_code();
    return root;
}

std::string enforce_text(const PassResult& pass, const policies::Config& config,
                         std::size_t width) {
    const bool dry_run = pass.mode == engine::PassMode::dry_run;
    std::string out = "snapgov enforce --once" + std::string(dry_run ? " --dry-run" : "") + " at " +
                      format_rfc3339(pass.now) + " (" + escape_text(config.path) + ")\n";
    out += hosts_line(pass.inventory);
    const std::size_t follow_ups = pass.follow_ups();
    out += "\nActions (" + std::to_string(pass.results.size() - follow_ups) + " planned";
    if (follow_ups > 0) {
        out += " + " + std::to_string(follow_ups) +
               " not in the plan: memory files left by checkpoints deleted in this pass";
    }
    out += "; at most " + std::to_string(config.safety.max_actions_per_run) + " per run):\n";
    std::map<Outcome, std::size_t> counts;
    if (pass.results.empty()) {
        out += "  none\n";
    } else {
        Table t({"OUTCOME", "ACTION", "WHERE", "REASON", "DETAIL"});
        t.flexible(3);
        t.flexible(4);
        for (const auto& r : pass.results) {
            ++counts[r.outcome];
            t.add({std::string(to_string(r.outcome)) + (r.follow_up ? " +" : ""),
                   std::string(to_string(r.action.kind)), policies::where(r.action),
                   r.action.reason, r.summary()});
        }
        out += t.render("  ", width);
        if (follow_ups > 0) {
            out += "  (+ = not in the plan: the memory file of a checkpoint deleted in this "
                   "pass)\n";
        }
    }
    const Plan& rest = pass.remaining();
    out += "\nRemaining violations (" + std::to_string(rest.violations()) + "):\n";
    Plan open_only;
    for (const auto& f : rest.findings) {
        if (!f.exempt) {
            open_only.findings.push_back(f);
        }
    }
    out += findings_text(open_only, width);
    out += notes_text(pass.plan.notes, width);
    out += errors_text(pass.errors, width);
    if (!pass.unsettled.empty()) {
        out += "\nDump operations that need attention (interrupted earlier; not this pass's "
               "actions):\n" +
               bullets(pass.unsettled, width);
    }
    out += "\nSummary: " + std::to_string(counts[Outcome::done]) + " done, " +
           std::to_string(counts[Outcome::failed]) + " failed, " +
           std::to_string(counts[Outcome::not_verified]) + " not verified, " +
           std::to_string(counts[Outcome::skipped]) + " skipped" +
           (dry_run ? ", " + std::to_string(counts[Outcome::dry_run]) + " dry-run" : "") + "; " +
           plural(rest.violations(), "violation remains", "violations remain") + " (" +
           std::to_string(rest.exempt()) + " exempt)\n";
    // What this pass's own work came to, plainly, apart from what it found left over.
    const std::size_t failed = counts[Outcome::failed] + counts[Outcome::not_verified];
    if (!dry_run) {
        if (failed == 0 && pass.errors.empty()) {
            out += counts[Outcome::done] > 0
                       ? "This pass succeeded: every action it carried out was done and "
                         "verified.\n"
                       : "This pass succeeded: nothing failed.\n";
        } else {
            out += "This pass did not fully succeed: " + plural(failed, "action", "actions") +
                   " failed or not verified, " + plural(pass.errors.size(), "error", "errors") +
                   " (listed above).\n";
        }
    }
    if (!pass.unsettled.empty()) {
        out += plural(pass.unsettled.size(), "dump operation needs", "dump operations need") +
               " attention: run " + pass.unsettled_command + "\n";
    }
    return out;
}

} // namespace snapgov::cli
