#include "core/config_file.hpp"

#include <algorithm>
#include <filesystem>
#include <sstream>

namespace snapgov {

std::string Diagnostic::format() const {
    std::string out = file;
    if (line > 0) {
        out += ":" + std::to_string(line) + ":" + std::to_string(column);
    }
    out += severity == Severity::error ? ": error: " : ": warning: ";
    out += message;
    return out;
}

namespace {

std::string absolute_folder(const std::string& file) {
    std::error_code ec; // without a current directory, the path as given is the best we have
    auto path = std::filesystem::absolute(std::filesystem::path(file), ec);
    if (ec) {
        path = file;
    }
    return path.lexically_normal().parent_path().string();
}

} // namespace

ConfigFile::ConfigFile(std::string name, std::string_view text)
    : name_(std::move(name)), text_(text), dir_(absolute_folder(name_)) {
    std::istringstream in{text_};
    for (std::string line; std::getline(in, line);) {
        lines_.push_back(line);
    }
}

std::string ConfigFile::expand(std::string value) const {
    static constexpr std::string_view kVar = "${CONFIG_DIR}";
    for (auto pos = value.find(kVar); pos != std::string::npos; pos = value.find(kVar, pos)) {
        value.replace(pos, kVar.size(), dir_);
        pos += dir_.size();
    }
    return value;
}

std::string ConfigFile::origin(ConfigPosition at) const {
    if (at.line <= 0) {
        return name_;
    }
    return name_ + ":" + std::to_string(at.line) + ":" + std::to_string(at.column);
}

void ConfigFile::error(ConfigPosition at, std::string message) {
    add(Diagnostic::Severity::error, at, std::move(message));
}

void ConfigFile::warning(ConfigPosition at, std::string message) {
    add(Diagnostic::Severity::warning, at, std::move(message));
}

void ConfigFile::add(Diagnostic::Severity severity, ConfigPosition at, std::string message) {
    Diagnostic d;
    d.severity = severity;
    d.file = name_;
    if (at.line > 0) {
        d.line = at.line;
        d.column = at.column;
    }
    d.message = std::move(message);
    diagnostics_.push_back(std::move(d));
}

std::size_t ConfigFile::error_count() const {
    return static_cast<std::size_t>(
        std::count_if(diagnostics_.begin(), diagnostics_.end(),
                      [](const auto& d) { return d.severity == Diagnostic::Severity::error; }));
}

std::string ConfigFile::quoted_source(const Diagnostic& d) const {
    if (d.line <= 0 || static_cast<std::size_t>(d.line) > lines_.size()) {
        return {};
    }
    const std::string& line = lines_[static_cast<std::size_t>(d.line - 1)];
    std::string caret(static_cast<std::size_t>(std::max(d.column - 1, 0)), ' ');
    // Tabs stay tabs so that the caret lines up under the column in a terminal.
    for (std::size_t i = 0; i < caret.size() && i < line.size(); ++i) {
        if (line[i] == '\t') {
            caret[i] = '\t';
        }
    }
    return "    " + line + "\n    " + caret + "^";
}

std::string ConfigFile::report() const {
    std::string message;
    for (const auto& d : diagnostics_) {
        if (!message.empty()) {
            message += '\n';
        }
        message += d.format();
        if (d.severity == Diagnostic::Severity::error) {
            if (auto src = quoted_source(d); !src.empty()) {
                message += '\n' + src;
            }
        }
    }
    return message;
}

} // namespace snapgov
