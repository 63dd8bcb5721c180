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
          "c.yaml:2:1: error: duplicate key 'name' in an entry; keep only one");
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
