#include "providers/hyperv/hyperv_mapping.hpp"

#include <cctype>
#include <charconv>
#include <cstdio>

namespace snapgov::providers::hyperv {
namespace {

constexpr std::string_view kLabelPrefix = "snapgov:";

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) {
        s.remove_prefix(1);
    }
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) {
        s.remove_suffix(1);
    }
    return s;
}

bool all_digits(std::string_view s) {
    for (const char c : s) {
        if (c < '0' || c > '9') {
            return false;
        }
    }
    return !s.empty();
}

// Only for text all_digits() accepted and short enough for an int: from_chars cannot fail
// on that, so its result is not inspected.
int to_int(std::string_view s) {
    int v = 0;
    (void)std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
}

} // namespace

std::map<std::string, std::string> labels_from_notes(const std::vector<std::string>& notes,
                                                     std::vector<std::string>* ignored) {
    std::map<std::string, std::string> labels;
    for (const auto& note : notes) {
        std::string_view rest(note);
        while (!rest.empty()) {
            const auto nl = rest.find('\n');
            const auto line = trim(rest.substr(0, nl));
            rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
            if (line.substr(0, kLabelPrefix.size()) != kLabelPrefix) {
                continue;
            }
            const auto body = line.substr(kLabelPrefix.size());
            const auto eq = body.find('=');
            const auto key =
                eq == std::string_view::npos ? std::string_view{} : trim(body.substr(0, eq));
            if (key.empty()) {
                if (ignored != nullptr) {
                    ignored->emplace_back(line);
                }
                continue;
            }
            labels[std::string(key)] = std::string(trim(body.substr(eq + 1)));
        }
    }
    return labels;
}

CheckpointSetting checkpoint_setting(std::optional<std::uint64_t> user_snapshot_type) {
    switch (user_snapshot_type.value_or(0)) {
    case 2: return CheckpointSetting::disabled;
    case 3: return CheckpointSetting::production;
    case 4: return CheckpointSetting::production_only;
    case 5: return CheckpointSetting::standard;
    default: return CheckpointSetting::unknown;
    }
}

PowerState power_state(std::optional<std::uint64_t> enabled_state) {
    switch (enabled_state.value_or(0)) {
    case 2: return PowerState::running;
    case 3: return PowerState::shutoff;
    case 9:
    case 32768: return PowerState::paused;
    case 6:
    case 32769: return PowerState::suspended;
    default: return PowerState::other;
    }
}

std::optional<std::string> instance_id_from_path(std::string_view path) {
    const std::string_view key = "InstanceID=\"";
    const auto at = path.find(key);
    if (at == std::string_view::npos) {
        return std::nullopt;
    }
    std::string out;
    for (auto i = at + key.size(); i < path.size(); ++i) {
        const char c = path[i];
        if (c == '\\' && i + 1 < path.size()) {
            out += path[++i];
        } else if (c == '"') {
            return out;
        } else {
            out += c;
        }
    }
    return std::nullopt; // unterminated
}

Result<TimePoint> parse_cim_datetime(std::string_view text) {
    text = trim(text);
    // DMTF datetime: yyyymmddHHMMSS.mmmmmmsUUU
    if (text.size() == 25 && text[14] == '.' && (text[21] == '+' || text[21] == '-') &&
        all_digits(text.substr(0, 14)) && all_digits(text.substr(22, 3))) {
        char iso[48];
        const int minutes = to_int(text.substr(22, 3)) % 1000;
        (void)std::snprintf(iso, sizeof iso, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2s%c%02d:%02d",
                            text.data(), text.data() + 4, text.data() + 6, text.data() + 8,
                            text.data() + 10, text.data() + 12, text[21], minutes / 60,
                            minutes % 60);
        return parse_rfc3339(iso);
    }
    return parse_rfc3339(text);
}

std::vector<std::string> memory_files_for(const WmiObject& settings) {
    auto root = settings.text("SnapshotDataRoot");
    if (!root || root->empty()) {
        root = settings.text("ConfigurationDataRoot");
    }
    if (!root || root->empty()) {
        return {};
    }
    auto guid = settings.text("ConfigurationID");
    if (!guid || guid->empty()) {
        guid = settings.text("InstanceID");
        if (!guid) {
            return {};
        }
        const std::string_view prefix = "Microsoft:";
        if (guid->rfind(prefix, 0) == 0) {
            guid->erase(0, prefix.size());
        }
    }
    std::string dir = *root;
    if (dir.back() != '\\') {
        dir += '\\';
    }
    return {dir + "Snapshots\\" + *guid + ".vmrs"};
}

Result<Checkpoint> checkpoint_from_settings(const WmiObject& settings) {
    Checkpoint cp;
    auto id = settings.required_text("InstanceID");
    if (!id) {
        return tl::unexpected(id.error());
    }
    cp.id = std::move(*id);
    cp.name = settings.text("ElementName").value_or(cp.id);
    const auto notes = settings.texts("Notes");
    for (std::size_t i = 0; i < notes.size(); ++i) {
        cp.description += (i == 0 ? "" : "\n") + notes[i];
    }
    const auto created = settings.text("CreationTime");
    if (!created) {
        return fail(ErrorCode::provider, "checkpoint '" + cp.name + "' has no CreationTime");
    }
    auto when = parse_cim_datetime(*created);
    if (!when) {
        return tl::unexpected(
            when.error().with_context("checkpoint '" + cp.name + "' CreationTime"));
    }
    cp.created = *when;
    const auto saved = settings.boolean("IsSaved");
    if (saved.value_or(false)) {
        cp.memory = MemoryKind::external;
        cp.memory_files = memory_files_for(settings);
        cp.state = "running";
    } else {
        // Production checkpoints and checkpoints of stopped VMs hold disks only.
        cp.state = "disk-snapshot";
    }
    return cp;
}

} // namespace snapgov::providers::hyperv
