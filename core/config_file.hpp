#pragma once
/// One configuration file being read: its name, its text, its folder and every problem found
/// in it so far. Problems are reported as `FILE:LINE:COL: error: message` (or `warning:`),
/// errors with the offending line quoted, and all problems of a file are kept so that they can
/// be shown at once. The YAML itself is read through `ConfigSection` (config_section.hpp).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace snapgov {

/// A place in a file, 1-based; `line` is 0 when the place is unknown.
struct ConfigPosition {
    int line = 0;
    int column = 0;
};

/// One problem found in a file, with a 1-based position.
struct Diagnostic {
    enum class Severity { warning, error };
    Severity severity = Severity::error;
    std::string file;
    int line = 0;   ///< 1-based; 0 when the position is unknown
    int column = 0; ///< 1-based
    std::string message;

    /// `FILE:LINE:COL: error: message` (`FILE: error: message` without a position).
    [[nodiscard]] std::string format() const;
};

/// The text of one file and the diagnostics found in it. Sections of the file point to it, so
/// it is neither copied nor moved; it must outlive them.
class ConfigFile {
public:
    /// The longest source line report() quotes whole.
    static constexpr std::size_t kMaxQuotedChars = 200;

    /// Keeps `text` and the absolute folder of `name`; `name` stands for the file in messages.
    ConfigFile(std::string name, std::string_view text);
    ConfigFile(const ConfigFile&) = delete;
    ConfigFile& operator=(const ConfigFile&) = delete;

    /// The name given to the constructor.
    [[nodiscard]] const std::string& name() const { return name_; }
    /// The whole text.
    [[nodiscard]] const std::string& text() const { return text_; }
    /// `value` with every `${CONFIG_DIR}` replaced by the file's absolute folder, so that a
    /// config can name files beside it wherever it is installed.
    [[nodiscard]] std::string expand(std::string value) const;
    /// `FILE:LINE:COL` of `at` (just `FILE` when the position is unknown).
    [[nodiscard]] std::string origin(ConfigPosition at) const;

    /// Records an error at `at`.
    void error(ConfigPosition at, std::string message);
    /// Records a warning at `at`.
    void warning(ConfigPosition at, std::string message);

    /// Errors recorded so far; a reader compares counts to learn whether it reported one.
    [[nodiscard]] std::size_t error_count() const;
    /// Every diagnostic, in the order reported.
    [[nodiscard]] const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }
    /// Every diagnostic, one per line, each error followed by its source line quoted with a
    /// caret under the column; a line longer than kMaxQuotedChars is cut to that many
    /// characters around the column, with `...` where it was cut.
    [[nodiscard]] std::string report() const;

private:
    void add(Diagnostic::Severity severity, ConfigPosition at, std::string message);
    [[nodiscard]] std::string quoted_source(const Diagnostic& d) const;

    std::string name_;
    std::string text_;
    std::string dir_;
    std::vector<std::string> lines_;
    std::vector<Diagnostic> diagnostics_;
    std::size_t errors_ = 0;
};

} // namespace snapgov
