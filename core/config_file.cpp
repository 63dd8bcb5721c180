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
    if (severity == Diagnostic::Severity::error) {
        ++errors_;
    }
    diagnostics_.push_back(std::move(d));
}

std::size_t ConfigFile::error_count() const {
    return errors_;
}

std::string ConfigFile::quoted_source(const Diagnostic& d) const {
    if (d.line <= 0 || static_cast<std::size_t>(d.line) > lines_.size()) {
        return {};
    }
    const std::string& full = lines_[static_cast<std::size_t>(d.line - 1)];
    const auto column = static_cast<std::size_t>(std::max(d.column - 1, 0));
    // A long line (a minified or deeply nested document) is shown as a window around the
    // column, so that one message stays one screen line and not kilobytes.
    std::size_t begin = 0;
    std::size_t end = full.size();
    if (full.size() > kMaxQuotedChars) {
        begin = column > kMaxQuotedChars / 2 ? column - kMaxQuotedChars / 2 : 0;
        begin = std::min(begin, full.size() - kMaxQuotedChars);
        end = begin + kMaxQuotedChars;
        // Never cut a UTF-8 sequence: move both ends off continuation bytes.
        const auto continuation = [&](std::size_t i) {
            return i < full.size() && (static_cast<unsigned char>(full[i]) & 0xC0) == 0x80;
        };
        while (begin > 0 && continuation(begin)) {
            --begin;
        }
        while (end > begin && continuation(end)) {
            --end;
        }
    }
    const std::string head = begin > 0 ? "..." : "";
    const std::string tail = end < full.size() ? "..." : "";
    const std::string line = head + full.substr(begin, end - begin) + tail;
    const std::size_t at = column >= begin ? column - begin + head.size() : 0;
    std::string caret(std::min(at, line.size()), ' ');
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
