#include "cli/commands/command.hpp"

#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "core/log.hpp"

namespace snapgov::cli {

void print(const std::string& text) {
    // A closed or full stdout cannot be reported anywhere better than the exit code of the
    // next write; the command's own result stands.
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) {
        std::clearerr(stdout);
    }
}

std::optional<engine::LoadedConfig> load(const std::string& path,
                                         const providers::ProviderRegistry& registry) {
    auto loaded = engine::load_config(path, registry);
    if (!loaded) {
        std::cerr << loaded.error().message << "\n";
        return std::nullopt;
    }
    // Policy-file warnings keep their FILE:LINE:COL form, and obey --log-level like any log.
    if (log::enabled(log::Level::warning)) {
        for (const auto& w : loaded->warnings) {
            std::cerr << w.format() << "\n";
        }
    }
    return std::move(*loaded);
}

std::optional<TimePoint> resolve_now(const std::string& text) {
    if (text.empty()) {
        return now_utc();
    }
    auto t = parse_rfc3339(text);
    if (!t) {
        std::cerr << "snapgov: --now: " << t.error().message << "\n";
        return std::nullopt;
    }
    return *t;
}

void add_config_option(CLI::App& command, std::string& config) {
    command.add_option("-c,--config", config, "policy file (YAML)")->required();
}

void add_format_option(CLI::App& command, std::string& format) {
    command.add_option("--format", format, "output format")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
}

void add_now_option(CLI::App& command, std::string& now) {
    // An empty value is not "the clock": a script with an unset variable must not evaluate
    // at another time than it asked for without a word.
    command
        .add_option("--now", now,
                    "evaluate as if the time were this RFC 3339 instant (default: the clock)")
        ->check(CLI::Validator(
            [](std::string& value) {
                auto t = parse_rfc3339(value);
                return t ? std::string() : t.error().message;
            },
            "RFC3339"));
}

void PassCommandOptions::add_to(CLI::App& command) {
    add_config_option(command, config);
    add_format_option(command, format);
    add_now_option(command, now);
}

std::optional<Prepared> prepare(const PassCommandOptions& options,
                                const providers::ProviderRegistry& registry) {
    const auto now = resolve_now(options.now);
    if (!now) {
        return std::nullopt;
    }
    auto loaded = load(options.config, registry);
    if (!loaded) {
        return std::nullopt;
    }
    return Prepared{std::move(*loaded), *now};
}

} // namespace snapgov::cli
