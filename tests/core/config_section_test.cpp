#include <catch2/catch.hpp>

#include "core/config_section.hpp"

using namespace snapgov;

namespace {

/// Position as `LINE:COL`, for short assertions.
std::string at(ConfigPosition p) {
    return std::to_string(p.line) + ":" + std::to_string(p.column);
}

} // namespace

TEST_CASE("positions of keys, values and dotted paths", "[core][config]") {
    ConfigFile file("/etc/snapgov/c.yaml", "a:\n"
                                           "  b: {c: 1}\n"
                                           "  e:\n"
                                           "x: [1, 2]\n");
    const auto root = ConfigSection::root(file);
    REQUIRE(root);
    CHECK(root->origin() == "/etc/snapgov/c.yaml:1:1");
    CHECK(at(root->position("a.b.c")) == "2:10");
    CHECK(at(root->position("a.b.missing")) == "2:6"); // the deepest map that exists
    CHECK(at(root->position("a.e")) == "3:3");         // empty value: its key
    CHECK(at(root->position("x")) == "4:4");
    CHECK(at(root->key_position("x")) == "4:1");
    CHECK(at(root->position("nowhere")) == "1:1");
    CHECK(root->is_null("a") == false);
    CHECK(root->section("a")->is_null("e"));
    CHECK(file.diagnostics().empty());
}

TEST_CASE("typed values report wrong types at the value and go on", "[core][config]") {
    ConfigFile file("c.yaml", "s: [x]\n"
                              "b: maybe\n"
                              "n: -1\n"
                              "d: 3 days\n"
                              "l: [one, {two: 2}, three]\n"
                              "p: ${CONFIG_DIR}/host.xml\n");
    const auto root = ConfigSection::root(file);
    REQUIRE(root);
    CHECK_FALSE(root->string("s"));
    CHECK_FALSE(root->boolean("b"));
    CHECK_FALSE(root->count("n"));
    CHECK_FALSE(root->duration("d"));
    const auto list = root->strings("l");
    REQUIRE(list.size() == 2);
    CHECK(list[1].value == "three");
    CHECK(at(list[1].position) == "5:20");
    CHECK(root->path("p").value().ends_with("/host.xml"));
    CHECK(root->path("p").value().find("${CONFIG_DIR}") == std::string::npos);
    CHECK_FALSE(root->string("absent"));
    CHECK(file.error_count() == 5);
    const auto report = file.report();
    CHECK_THAT(report, Catch::Contains("c.yaml:1:4: error: 's' must be a string, not a list"));
    CHECK_THAT(report, Catch::Contains("c.yaml:2:4: error: 'b' must be true or false"));
    CHECK_THAT(report, Catch::Contains("c.yaml:3:4: error: 'n' must be a whole number >= 0"));
    CHECK_THAT(report, Catch::Contains("c.yaml:4:4: error: 'd': duration '3 days'"));
    CHECK_THAT(report, Catch::Contains("c.yaml:5:10: error: 'l' entries must be a string, not a "
                                       "map\n    l: [one, {two: 2}, three]\n             ^"));
}

TEST_CASE("check_keys: unknown keys warn, duplicates are errors", "[core][config]") {
    ConfigFile file("c.yaml", "name: a\nname: b\nextra: 1\nown: 2\n");
    const auto root = ConfigSection::root(file);
    REQUIRE(root);
    root->named("an entry").with_known_keys({"name"}).check_keys({"own"});
    REQUIRE(file.diagnostics().size() == 2);
    CHECK(file.diagnostics()[0].format() ==
          "c.yaml:2:1: error: duplicate key 'name': it is already given above in the same map; "
          "keep only one");
    CHECK(file.diagnostics()[1].format() ==
          "c.yaml:3:1: warning: unknown key 'extra' in an entry is ignored (known: name, own)");
}

TEST_CASE("a document that is not a map is reported; an empty one is left to the caller",
          "[core][config]") {
    ConfigFile list("c.yaml", "- a\n- b\n");
    CHECK_FALSE(ConfigSection::root(list));
    CHECK(list.report() ==
          "c.yaml:1:1: error: the top level must be a map (key: value), not a list\n"
          "    - a\n"
          "    ^");
    ConfigFile empty("c.yaml", "# nothing\n");
    CHECK_FALSE(ConfigSection::root(empty));
    CHECK(empty.diagnostics().empty());
}

TEST_CASE("a key given twice is an error in every map, read or not", "[core][config]") {
    // yaml-cpp keeps both entries and a lookup sees one: `tier` would be dev or production
    // depending on who asks.
    ConfigFile file("c.yaml", "policies:\n"
                              "  - match:\n"
                              "      labels: {tier: production, tier: dev}\n"
                              "unread: [{a: 1, b: 2, a: 3}]\n");
    REQUIRE(ConfigSection::root(file));
    REQUIRE(file.error_count() == 2);
    CHECK(file.diagnostics()[0].format() ==
          "c.yaml:3:34: error: duplicate key 'tier': it is already given above in the same "
          "map; keep only one");
    CHECK(file.diagnostics()[1].format() ==
          "c.yaml:4:23: error: duplicate key 'a': it is already given above in the same map; "
          "keep only one");
}

TEST_CASE("a second YAML document is an error, not ignored", "[core][config]") {
    ConfigFile file("c.yaml", "a: 1\n---\nb: 2\n");
    REQUIRE(ConfigSection::root(file));
    CHECK_THAT(file.report(), Catch::StartsWith("c.yaml:3:1: error: a second YAML document "
                                                "starts here (after '---')"));
    ConfigFile trailing("c.yaml", "a: 1\n---\n");
    REQUIRE(ConfigSection::root(trailing));
    CHECK(trailing.error_count() == 1);
    ConfigFile ended("c.yaml", "a: 1\n...\n"); // an end marker alone starts nothing
    REQUIRE(ConfigSection::root(ended));
    CHECK(ended.error_count() == 0);
}

TEST_CASE("text yaml-cpp's LoadAll would loop on is a syntax error", "[core][config]") {
    // yaml-cpp 0.7's LoadAll never returns on these (found by fuzz/policy_yaml_fuzz.cpp).
    ConfigFile comma("c.yaml", ",");
    CHECK_FALSE(ConfigSection::root(comma));
    CHECK(comma.report() ==
          "c.yaml:1:1: error: YAML syntax error: unexpected ',' here; remove it or quote the "
          "value it is in\n    ,\n    ^");
    ConfigFile late("c.yaml", "a: 1\n---\n,\n"); // refused for its second document
    REQUIRE(ConfigSection::root(late));
    CHECK_THAT(late.report(), Catch::StartsWith("c.yaml:3:1: error: a second YAML document"));
}

TEST_CASE("a required string of spaces only is missing", "[core][config]") {
    ConfigFile file("c.yaml", "reason: '   '\nname: ''\n");
    const auto root = ConfigSection::root(file);
    REQUIRE(root);
    CHECK_FALSE(root->required_string("reason", "CHG-1234"));
    CHECK_FALSE(root->required_string("name", "lab"));
    CHECK(file.report() == "c.yaml:1:9: error: 'reason' must not be empty or only spaces (e.g. "
                           "reason: CHG-1234)\n"
                           "    reason: '   '\n"
                           "            ^\n"
                           "c.yaml:2:7: error: 'name' must not be empty (e.g. name: lab)\n"
                           "    name: ''\n"
                           "          ^");
}

TEST_CASE("a long source line is quoted as a window around the column", "[core][config]") {
    // 5,000 nested lists: yaml-cpp gives up, and the error once quoted the whole line.
    const std::string deep = "policies: " + std::string(5000, '[') + std::string(5000, ']') + "\n";
    ConfigFile file("c.yaml", deep);
    CHECK_FALSE(ConfigSection::root(file));
    const auto report = file.report();
    CHECK(report.size() < 600);
    CHECK_THAT(report, Catch::StartsWith("c.yaml:1:") && Catch::Contains("YAML nests too deeply"));
    CHECK_THAT(report, Catch::Contains("\n    ...]]]]"));

    // The column far right: the window is around it and the caret under it.
    ConfigFile wide("c.yaml", "k: " + std::string(1000, 'x') + "\n");
    wide.error({1, 800}, "here");
    const auto lines = wide.report();
    const auto quoted = lines.substr(lines.find('\n') + 1);
    const auto source = quoted.substr(0, quoted.find('\n'));
    const auto caret = quoted.substr(quoted.find('\n') + 1);
    CHECK(source.size() == 4 + 3 + ConfigFile::kMaxQuotedChars + 3);
    CHECK(source.starts_with("    ...xxx"));
    CHECK(source.ends_with("xxx..."));
    CHECK(caret.size() == 4 + 3 + ConfigFile::kMaxQuotedChars / 2 + 1);
    CHECK(caret.back() == '^');
}
