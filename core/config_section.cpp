#include "core/config_section.hpp"

#include <algorithm>
#include <charconv>
#include <set>
#include <sstream>
#include <string_view>
#include <unordered_set>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

namespace snapgov {

struct ConfigSection::Node {
    YAML::Node yaml;
};

namespace {

/// A key and its value inside a YAML map, both with their source marks.
struct Field {
    YAML::Node key;
    YAML::Node value;
};

/// Where each document starts, and where its root node is; ignores the rest of the events.
class DocumentStarts final : public YAML::EventHandler {
public:
    struct Document {
        YAML::Mark start;
        YAML::Mark root; // null until the root node's event
    };
    std::vector<Document> documents;

    void OnDocumentStart(const YAML::Mark& mark) override {
        documents.push_back({mark, YAML::Mark::null_mark()});
    }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
    void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
    void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  const std::string&) override {
        node(mark);
    }
    void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {
        node(mark);
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {
        node(mark);
    }
    void OnMapEnd() override {}

private:
    void node(const YAML::Mark& mark) {
        if (!documents.empty() && documents.back().root.is_null()) {
            documents.back().root = mark;
        }
    }
};

/// The character at `pos` of `text`, quoted for a message ("byte 0xNN" when not printable).
std::string quoted_char(const std::string& text, int pos) {
    if (pos < 0 || static_cast<std::size_t>(pos) >= text.size()) {
        return "end of file";
    }
    const auto c = static_cast<unsigned char>(text[static_cast<std::size_t>(pos)]);
    if (c >= 0x21 && c < 0x7f) {
        return std::string("'") + static_cast<char>(c) + "'";
    }
    static constexpr char kHex[] = "0123456789abcdef";
    return std::string("byte 0x") + kHex[c >> 4] + kHex[c & 0xf];
}

ConfigPosition at(const YAML::Mark& mark) {
    if (mark.is_null()) {
        return {};
    }
    return {mark.line + 1, mark.column + 1};
}

// Iterates instead of `map[key]`, which would add the key to a non-const node.
std::optional<Field> find(const YAML::Node& map, std::string_view key) {
    if (!map.IsMap()) {
        return std::nullopt;
    }
    for (auto it = map.begin(); it != map.end(); ++it) {
        if (it->first.IsScalar() && it->first.Scalar() == key) {
            return Field{it->first, it->second};
        }
    }
    return std::nullopt;
}

/// Where a value is written; an empty value has no place of its own, so its key stands in.
ConfigPosition value_position(const Field& f) {
    return f.value.IsNull() ? at(f.key.Mark()) : at(f.value.Mark());
}

std::string_view kind(const YAML::Node& node) {
    switch (node.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Null: return "empty";
    case YAML::NodeType::Undefined: return "undefined";
    }
    return "unknown";
}

std::string quoted(std::string_view key) {
    return "'" + std::string(key) + "'";
}

bool blank(std::string_view s) {
    return s.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos;
}

// yaml-cpp keeps both entries of a key written twice, and a lookup finds only one: report
// every duplicate in every map of the document, read or not (labels, unknown sections), so
// that no value is dropped in silence. Iterative: the depth is the document's, not ours.
void report_duplicate_keys(const YAML::Node& root, ConfigFile& file) {
    // Depth first, children pushed in reverse, so that errors come in file order.
    std::vector<YAML::Node> todo{root};
    std::vector<YAML::Node> children;
    while (!todo.empty()) {
        const YAML::Node node = todo.back();
        todo.pop_back();
        children.clear();
        if (node.IsSequence()) {
            for (const auto& item : node) {
                children.push_back(item);
            }
        } else if (node.IsMap()) {
            std::unordered_set<std::string_view> seen;
            for (auto it = node.begin(); it != node.end(); ++it) {
                if (it->first.IsScalar() && !seen.insert(it->first.Scalar()).second) {
                    file.error(at(it->first.Mark()), "duplicate key '" + it->first.Scalar() +
                                                         "': it is already given above in the "
                                                         "same map; keep only one");
                }
                children.push_back(it->second);
            }
        }
        todo.insert(todo.end(), children.rbegin(), children.rend());
    }
}

} // namespace

ConfigSection::ConfigSection(std::shared_ptr<const Node> node, ConfigFile& file, std::string what)
    : node_(std::move(node)), file_(&file), what_(std::move(what)) {}

std::optional<ConfigSection> ConfigSection::root(ConfigFile& file) {
    YAML::Node root;
    try {
        // Where the first two documents start, read with the event parser. Not
        // YAML::LoadAll: yaml-cpp 0.7's LoadAll loops forever, allocating a node per turn, on
        // some malformed text (a lone ',' is enough): its parser then reports an empty
        // document without consuming anything (yaml-cpp issues 1040 and PR 1319; found by
        // fuzz/policy_yaml_fuzz.cpp). Two reads at most, so no input can make this loop.
        DocumentStarts starts;
        std::istringstream in(file.text());
        YAML::Parser parser(in);
        for (int i = 0; i < 2 && parser.HandleNextDocument(starts); ++i) {
        }
        const auto& docs = starts.documents;
        if (docs.size() == 2 && docs[0].start.pos == docs[1].start.pos) {
            file.error(at(docs[0].start), "YAML syntax error: unexpected " +
                                              quoted_char(file.text(), docs[0].start.pos) +
                                              " here; remove it or quote the value it is in");
            return std::nullopt;
        }
        if (docs.empty()) {
            return std::nullopt;
        }
        if (docs.size() > 1) {
            // Only the first would be read: everything after '---' would be ignored.
            file.error(at(docs[1].root.is_null() ? docs[1].start : docs[1].root),
                       "a second YAML document starts here (after '---'); a policy file is one "
                       "document: remove the '---' line and merge the two");
        }
        root = YAML::Load(file.text()); // the first document
    } catch (const YAML::DeepRecursion& e) {
        // yaml-cpp's own text for this is "bad file".
        file.error(at(e.mark), "YAML nests too deeply here (lists or maps inside each other "
                               "hundreds of levels down); a policy file needs a few levels");
        return std::nullopt;
    } catch (const YAML::Exception& e) {
        file.error(at(e.mark), "YAML syntax error: " + e.msg);
        return std::nullopt;
    }
    if (!root.IsDefined() || root.IsNull()) {
        return std::nullopt;
    }
    report_duplicate_keys(root, file);
    if (!root.IsMap()) {
        file.error(at(root.Mark()),
                   "the top level must be a map (key: value), not " + std::string(kind(root)));
        return std::nullopt;
    }
    return ConfigSection(std::make_shared<const Node>(Node{root}), file, "top level");
}

ConfigSection ConfigSection::named(std::string what) const {
    ConfigSection out = *this;
    out.what_ = std::move(what);
    return out;
}

ConfigSection ConfigSection::with_known_keys(std::vector<std::string> keys) const {
    ConfigSection out = *this;
    out.known_keys_.insert(out.known_keys_.end(), keys.begin(), keys.end());
    return out;
}

ConfigPosition ConfigSection::position() const {
    return at(node_->yaml.Mark());
}

std::string ConfigSection::origin() const {
    return file_->origin(position());
}

ConfigPosition ConfigSection::position(std::string_view key) const {
    YAML::Node map = node_->yaml;
    ConfigPosition where = position();
    for (;;) {
        const auto dot = key.find('.');
        const auto f = find(map, key.substr(0, dot));
        if (!f) {
            return where;
        }
        if (dot == std::string_view::npos || !f->value.IsMap()) {
            return value_position(*f);
        }
        // reset() rebinds the handle; assignment would overwrite the node in the document.
        map.reset(f->value);
        where = at(map.Mark());
        key.remove_prefix(dot + 1);
    }
}

ConfigPosition ConfigSection::key_position(std::string_view key) const {
    const auto f = find(node_->yaml, key);
    return f ? at(f->key.Mark()) : position();
}

bool ConfigSection::has(std::string_view key) const {
    return find(node_->yaml, key).has_value();
}

bool ConfigSection::is_null(std::string_view key) const {
    const auto f = find(node_->yaml, key);
    return f && f->value.IsNull();
}

std::vector<std::string> ConfigSection::keys() const {
    std::vector<std::string> out;
    for (auto it = node_->yaml.begin(); it != node_->yaml.end(); ++it) {
        if (it->first.IsScalar()) {
            out.push_back(it->first.Scalar());
        }
    }
    return out;
}

void ConfigSection::check_keys(std::initializer_list<std::string_view> known) const {
    std::vector<std::string_view> all(known_keys_.begin(), known_keys_.end());
    all.insert(all.end(), known.begin(), known.end());
    std::set<std::string> seen;
    for (auto it = node_->yaml.begin(); it != node_->yaml.end(); ++it) {
        if (!it->first.IsScalar()) {
            file_->error(at(it->first.Mark()), "keys must be plain strings");
            continue;
        }
        const std::string& key = it->first.Scalar();
        if (!seen.insert(key).second) {
            continue; // root() reported it
        }
        if (std::find(all.begin(), all.end(), key) == all.end()) {
            std::string list;
            for (auto k : all) {
                list += list.empty() ? std::string(k) : ", " + std::string(k);
            }
            file_->warning(at(it->first.Mark()), "unknown key '" + key + "' in " + what_ +
                                                     " is ignored (known: " + list + ")");
        }
    }
}

std::optional<std::string> ConfigSection::string(std::string_view key) const {
    const auto f = find(node_->yaml, key);
    if (!f) {
        return std::nullopt;
    }
    if (!f->value.IsScalar()) {
        file_->error(value_position(*f),
                     quoted(key) + " must be a string, not " + std::string(kind(f->value)));
        return std::nullopt;
    }
    return f->value.Scalar();
}

std::optional<std::string> ConfigSection::required_string(std::string_view key,
                                                          std::string_view example) const {
    const auto f = find(node_->yaml, key);
    if (!f || f->value.IsNull()) {
        file_->error(f ? at(f->key.Mark()) : position(), what_ + " is missing " + quoted(key) +
                                                             " (e.g. " + std::string(key) + ": " +
                                                             std::string(example) + ")");
        return std::nullopt;
    }
    auto s = string(key);
    if (s && blank(*s)) {
        file_->error(value_position(*f), quoted(key) + " must not be empty" +
                                             (s->empty() ? "" : " or only spaces") + " (e.g. " +
                                             std::string(key) + ": " + std::string(example) + ")");
        return std::nullopt;
    }
    return s;
}

std::optional<std::string> ConfigSection::path(std::string_view key) const {
    auto s = string(key);
    if (!s) {
        return std::nullopt;
    }
    return file_->expand(std::move(*s));
}

std::optional<std::string> ConfigSection::file_path(std::string_view key,
                                                    const FileRule& rule) const {
    auto p = path(key);
    if (!p) {
        return std::nullopt;
    }
    if (auto ok = check_file(*p, rule); !ok) {
        file_->error(position(key), quoted(key) + ": " + ok.error().message);
        return std::nullopt;
    }
    return p;
}

std::optional<bool> ConfigSection::boolean(std::string_view key) const {
    const auto f = find(node_->yaml, key);
    if (!f) {
        return std::nullopt;
    }
    if (f->value.IsScalar()) {
        const std::string& s = f->value.Scalar();
        if (s == "true" || s == "True" || s == "yes") {
            return true;
        }
        if (s == "false" || s == "False" || s == "no") {
            return false;
        }
    }
    file_->error(value_position(*f), quoted(key) + " must be true or false");
    return std::nullopt;
}

std::optional<std::size_t> ConfigSection::count(std::string_view key) const {
    const auto f = find(node_->yaml, key);
    if (!f) {
        return std::nullopt;
    }
    if (f->value.IsScalar()) {
        const std::string& s = f->value.Scalar();
        std::size_t value = 0;
        const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
        if (!s.empty() && ec == std::errc{} && ptr == s.data() + s.size()) {
            return value;
        }
    }
    file_->error(value_position(*f), quoted(key) + " must be a whole number >= 0 (e.g. 3)");
    return std::nullopt;
}

std::optional<Seconds> ConfigSection::duration(std::string_view key) const {
    auto s = string(key);
    if (!s) {
        return std::nullopt;
    }
    auto d = parse_duration(*s);
    if (!d) {
        file_->error(value_position(*find(node_->yaml, key)),
                     quoted(key) + ": " + d.error().message);
        return std::nullopt;
    }
    return *d;
}

std::vector<ConfigScalar> ConfigSection::strings(std::string_view key) const {
    std::vector<ConfigScalar> out;
    const auto f = find(node_->yaml, key);
    if (!f) {
        return out;
    }
    if (f->value.IsScalar()) {
        out.push_back({f->value.Scalar(), at(f->value.Mark())});
        return out;
    }
    if (!f->value.IsSequence()) {
        file_->error(value_position(*f),
                     quoted(key) + " must be a list, not " + std::string(kind(f->value)));
        return out;
    }
    for (const auto& item : f->value) {
        if (!item.IsScalar()) {
            file_->error(at(item.Mark()),
                         quoted(key) + " entries must be a string, not " + std::string(kind(item)));
            continue;
        }
        out.push_back({item.Scalar(), at(item.Mark())});
    }
    return out;
}

std::optional<std::size_t>
ConfigSection::choice_index(std::string_view key,
                            const std::vector<std::string_view>& words) const {
    const auto f = find(node_->yaml, key);
    if (!f) {
        return std::nullopt;
    }
    if (f->value.IsScalar()) {
        const auto it = std::find(words.begin(), words.end(), f->value.Scalar());
        if (it != words.end()) {
            return static_cast<std::size_t>(it - words.begin());
        }
    }
    std::string list;
    for (auto w : words) {
        list += list.empty() ? std::string(w) : " | " + std::string(w);
    }
    file_->error(value_position(*f),
                 quoted(key) + " must be one of " + list +
                     (f->value.IsScalar() ? ", not '" + f->value.Scalar() + "'" : ""));
    return std::nullopt;
}

std::optional<ConfigSection> ConfigSection::section(std::string_view key) const {
    const auto f = find(node_->yaml, key);
    if (!f) {
        return std::nullopt;
    }
    if (!f->value.IsMap()) {
        file_->error(value_position(*f), quoted(key) + " must be a map (key: value), not " +
                                             std::string(kind(f->value)));
        return std::nullopt;
    }
    return ConfigSection(std::make_shared<const Node>(Node{f->value}), *file_, quoted(key));
}

std::vector<ConfigSection> ConfigSection::sections(std::string_view key,
                                                   std::string_view item_what) const {
    std::vector<ConfigSection> out;
    const auto f = find(node_->yaml, key);
    if (!f) {
        return out;
    }
    if (!f->value.IsSequence()) {
        file_->error(value_position(*f),
                     quoted(key) + " must be a list, not " + std::string(kind(f->value)));
        return out;
    }
    for (const auto& item : f->value) {
        if (!item.IsMap()) {
            file_->error(at(item.Mark()), "each entry of " + quoted(key) +
                                              " must be a map (key: value), not " +
                                              std::string(kind(item)));
            continue;
        }
        out.push_back(ConfigSection(std::make_shared<const Node>(Node{item}), *file_,
                                    std::string(item_what)));
    }
    return out;
}

void ConfigSection::error(ConfigPosition where, std::string message) const {
    file_->error(where, std::move(message));
}

void ConfigSection::error(std::string_view key, std::string message) const {
    file_->error(position(key), std::move(message));
}

void ConfigSection::error(std::string message) const {
    file_->error(position(), std::move(message));
}

void ConfigSection::warning(ConfigPosition where, std::string message) const {
    file_->warning(where, std::move(message));
}

void ConfigSection::warning(std::string_view key, std::string message) const {
    file_->warning(position(key), std::move(message));
}

void ConfigSection::warning(std::string message) const {
    file_->warning(position(), std::move(message));
}

} // namespace snapgov
