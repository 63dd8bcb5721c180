#pragma once
/// A typed, checked view of one YAML map of a configuration file. Readers (the policy loader,
/// each provider's settings parser) ask it for values by key; every problem goes into the
/// file's diagnostics at the exact position of the offending key or value, and reading goes on,
/// so that all problems of a file are reported at once. Unknown keys are warnings; type errors
/// and missing required keys are errors. yaml-cpp stays inside config_section.cpp.

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/checked_file.hpp"
#include "core/config_file.hpp"
#include "core/time.hpp"

namespace snapgov {

/// A string read from a file, and where it was written.
struct ConfigScalar {
    std::string value;
    ConfigPosition position;
};

/// One YAML map of a `ConfigFile`. Cheap to copy; borrows the file, which must outlive it.
///
/// Value readers return nullopt (or an empty list) when the key is absent, without a
/// diagnostic, and nullopt after reporting an error when the value has the wrong type. Keys
/// are looked up by plain name; positions and `error(key, ...)` also take a dotted path
/// (`auth.method`) into nested maps.
class ConfigSection {
public:
    /// The top-level map of `file`'s text. A YAML syntax error or a top level that is not a
    /// map is reported; an empty document is not (the caller says what it expected). Both give
    /// nullopt. A second document (after `---`) and a key given twice in any map of the
    /// document are reported as errors (the map is still returned).
    [[nodiscard]] static std::optional<ConfigSection> root(ConfigFile& file);

    /// How messages name this map: `top level`, `a policy`, `'auth'`.
    [[nodiscard]] const std::string& what() const { return what_; }
    /// The same map, named `what` in messages.
    [[nodiscard]] ConfigSection named(std::string what) const;
    /// The same map, where check_keys() also accepts `keys`: those that another reader of
    /// the map handles (the loader's common provider keys, for a provider's parser).
    [[nodiscard]] ConfigSection with_known_keys(std::vector<std::string> keys) const;
    /// The file this map belongs to.
    [[nodiscard]] ConfigFile& file() const { return *file_; }

    /// Where the map starts.
    [[nodiscard]] ConfigPosition position() const;
    /// `FILE:LINE:COL` of the map.
    [[nodiscard]] std::string origin() const;
    /// Where `key`'s value is written; its key when the value is empty; the deepest map of a
    /// dotted path that exists when the key is absent.
    [[nodiscard]] ConfigPosition position(std::string_view key) const;
    /// Where `key` itself is written (the map's position when it is absent).
    [[nodiscard]] ConfigPosition key_position(std::string_view key) const;
    /// Whether the map has `key` (with a value or empty).
    [[nodiscard]] bool has(std::string_view key) const;
    /// Whether the map has `key` with no value (`key:` or `key: null`).
    [[nodiscard]] bool is_null(std::string_view key) const;
    /// The map's keys that are plain strings, in file order.
    [[nodiscard]] std::vector<std::string> keys() const;

    /// Warns about each key that is neither in `known` nor accepted through
    /// with_known_keys(); reports keys that are not plain strings as errors (keys given twice
    /// are reported by root(), in every map).
    void check_keys(std::initializer_list<std::string_view> known) const;

    /// A string value.
    [[nodiscard]] std::optional<std::string> string(std::string_view key) const;
    /// A string that must be there and not be empty or only whitespace; `example` completes
    /// the message
    /// `a provider is missing 'name' (e.g. name: lab)`.
    [[nodiscard]] std::optional<std::string> required_string(std::string_view key,
                                                             std::string_view example) const;
    /// A string with `${CONFIG_DIR}` expanded (see ConfigFile::expand()).
    [[nodiscard]] std::optional<std::string> path(std::string_view key) const;
    /// A path (as path()) to a file that must be usable now: see check_file(). A file that
    /// is not is an error at the value, naming the fix; nullopt then, and when absent.
    [[nodiscard]] std::optional<std::string> file_path(std::string_view key,
                                                       const FileRule& rule) const;
    /// `true`/`yes` or `false`/`no`.
    [[nodiscard]] std::optional<bool> boolean(std::string_view key) const;
    /// A whole number >= 0.
    [[nodiscard]] std::optional<std::size_t> count(std::string_view key) const;
    /// A duration such as `72h` (see parse_duration()).
    [[nodiscard]] std::optional<Seconds> duration(std::string_view key) const;
    /// A list of strings; a single string counts as a list of one. Entries that are not
    /// strings are reported and left out.
    [[nodiscard]] std::vector<ConfigScalar> strings(std::string_view key) const;
    /// One of the `names`, mapped to its value; anything else is an error listing them.
    template <class T>
    [[nodiscard]] std::optional<T>
    choice(std::string_view key,
           std::initializer_list<std::pair<std::string_view, T>> names) const {
        std::vector<std::string_view> words;
        for (const auto& name : names) {
            words.push_back(name.first);
        }
        const auto index = choice_index(key, words);
        if (!index) {
            return std::nullopt;
        }
        return (names.begin() + *index)->second;
    }

    /// The nested map under `key`, named `'key'` in messages; a value that is not a map is
    /// reported.
    [[nodiscard]] std::optional<ConfigSection> section(std::string_view key) const;
    /// The maps listed under `key`, each named `item_what` in messages (`a provider`). A value
    /// that is not a list, and entries that are not maps, are reported and left out.
    [[nodiscard]] std::vector<ConfigSection> sections(std::string_view key,
                                                      std::string_view item_what) const;

    /// Reports an error at `at`.
    void error(ConfigPosition at, std::string message) const;
    /// Reports an error at position(key).
    void error(std::string_view key, std::string message) const;
    /// Reports an error at the map.
    void error(std::string message) const;
    /// Reports a warning at `at`.
    void warning(ConfigPosition at, std::string message) const;
    /// Reports a warning at position(key).
    void warning(std::string_view key, std::string message) const;
    /// Reports a warning at the map.
    void warning(std::string message) const;

private:
    struct Node;
    ConfigSection(std::shared_ptr<const Node> node, ConfigFile& file, std::string what);
    [[nodiscard]] std::optional<std::size_t>
    choice_index(std::string_view key, const std::vector<std::string_view>& words) const;

    // Shared: a section is a view, and the YAML node it wraps is never changed.
    std::shared_ptr<const Node> node_;
    ConfigFile* file_;
    std::string what_;
    std::vector<std::string> known_keys_;
};

} // namespace snapgov
