#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "cli/render/table.hpp"
#include "core/text.hpp"

using snapgov::display_width;
using snapgov::cli::Table;
using Rows = std::vector<std::vector<std::string>>;

namespace {

// The renderer of daemon/report.cpp before cli::Table replaced it, kept verbatim as the
// reference for the unlimited layout.
std::string old_render(const Rows& rows_, std::string_view indent) {
    std::vector<std::size_t> width;
    for (const auto& row : rows_) {
        width.resize(std::max(width.size(), row.size()), 0);
        for (std::size_t i = 0; i < row.size(); ++i) {
            width[i] = std::max(width[i], row[i].size());
        }
    }
    std::string out;
    for (const auto& row : rows_) {
        out += indent;
        for (std::size_t i = 0; i < row.size(); ++i) {
            out += row[i];
            if (i + 1 < row.size()) {
                out.append(width[i] - row[i].size() + 2, ' ');
            }
        }
        while (!out.empty() && out.back() == ' ') {
            out.pop_back();
        }
        out += '\n';
    }
    return out;
}

Table make(const Rows& rows) {
    Table t(rows.front());
    for (std::size_t i = 1; i < rows.size(); ++i) {
        t.add(rows[i]);
    }
    return t;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = text.find('\n', start);
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

const Rows kEnforce = {
    {"OUTCOME", "ACTION", "WHERE", "REASON", "DETAIL"},
    {"done", "delete", "lab/web-01 @ nightly-2026-11-01", "older than 30d (max_age)",
     "checkpoint deleted and verified absent after the provider reported success"},
    {"failed", "delete", "lab/db-01 @ pre-upgrade", "more than 3 checkpoints (max_count)",
     "the provider refused the call: operation failed: domain snapshot is in use by a running "
     "block job; retry when the job has finished"},
    {"skipped", "delete_memory", "lab/app-02 @ before-patch", "memory state kept (memory)", ""},
};

} // namespace

TEST_CASE("a table without width limit renders byte for byte as the old report Table",
          "[cli][table]") {
    const std::vector<Rows> tables = {
        kEnforce,
        {{"#", "ACTION", "WHERE", "REASON"},
         {"1", "delete", "lab/web-01 @ a", "too old  [beyond the per-run cap: left for later]"},
         {"10", "delete_memory", "/var/lib/libvirt/qemu/snapshot/orphan.save", ""}},
        // Ragged rows, empty cells, a cell ending in spaces, an empty last column.
        {{"A", "B", "C"}, {"x"}, {"", "", ""}, {"long cell  ", "y"}, {"1", "2", "3", "4"}},
        {{"ONLY"}},
    };
    for (const auto& rows : tables) {
        for (const std::string_view indent : {"", "  ", "      "}) {
            CHECK(make(rows).render(indent) == old_render(rows, indent));
            CHECK(make(rows).render(indent, 0) == old_render(rows, indent));
        }
    }
    CHECK(make({{"#", "ACTION", "WHERE"}, {"1", "delete", "lab/web-01"}}).render("  ") ==
          "  #  ACTION  WHERE\n"
          "  1  delete  lab/web-01\n");
}

TEST_CASE("a table that fits its width limit is rendered as without one", "[cli][table]") {
    Table t = make(kEnforce);
    t.flexible(4);
    const std::string natural = t.render("  ");
    std::size_t widest = 0;
    for (const auto& line : lines_of(natural)) {
        widest = std::max(widest, display_width(line));
    }
    REQUIRE(widest > 150);
    CHECK(t.render("  ", widest) == natural);
    CHECK(t.render("  ", 1000) == natural);
}

TEST_CASE("a narrow width wraps the DETAIL column at spaces, every line within the width",
          "[cli][table]") {
    Table t = make(kEnforce);
    t.flexible(4);
    const std::size_t max_width = 120;
    const std::string out = t.render("  ", max_width);
    const auto lines = lines_of(out);
    REQUIRE(lines.size() > kEnforce.size());
    for (const auto& line : lines) {
        INFO(line);
        CHECK(display_width(line) <= max_width);
    }
    // DETAIL starts at the same column on every line, continuation lines included.
    const std::size_t detail = lines[0].find("DETAIL");
    CHECK(lines[1].substr(0, detail).find("done") == 2);
    CHECK(lines[1].substr(detail).rfind("checkpoint deleted", 0) == 0);
    CHECK(lines[2].find_first_not_of(' ') == detail); // a continuation line of row 1
    // Words are kept whole and in order: joining the pieces gives the cell back.
    std::string joined;
    for (std::size_t i = 1; i < lines.size() && lines[i].rfind("  skipped", 0) != 0; ++i) {
        if (lines[i].size() > detail) {
            joined += (joined.empty() ? "" : " ") + lines[i].substr(detail);
        }
    }
    CHECK(joined == kEnforce[1][4] + " " + kEnforce[2][4]);
    // The last row has an empty DETAIL and stays one line.
    CHECK(lines.back().rfind("  skipped  delete_memory", 0) == 0);
}

TEST_CASE("two flexible columns share the width, a short one kept whole", "[cli][table]") {
    Table t = make(kEnforce);
    t.flexible(3).flexible(4);
    // The fixed columns take 2+7+2+13+2+31+2 plus 2 before DETAIL: 61 columns.
    SECTION("both wrapped: an even share") {
        const std::size_t max_width = 100;
        const auto lines = lines_of(t.render("  ", max_width));
        for (const auto& line : lines) {
            INFO(line);
            CHECK(display_width(line) <= max_width);
        }
        const std::size_t reason = lines[0].find("REASON");
        const std::size_t detail = lines[0].find("DETAIL");
        CHECK(detail - 2 - reason == 20);
        CHECK(max_width - detail == 19);
    }
    SECTION("room for REASON: it keeps its natural width, DETAIL takes the rest") {
        const std::size_t max_width = 140;
        const auto lines = lines_of(t.render("  ", max_width));
        for (const auto& line : lines) {
            INFO(line);
            CHECK(display_width(line) <= max_width);
        }
        const std::size_t reason = lines[0].find("REASON");
        const std::size_t detail = lines[0].find("DETAIL");
        CHECK(detail - 2 - reason == 35); // "more than 3 checkpoints (max_count)"
        CHECK(lines[3].find("more than 3 checkpoints (max_count)") == reason);
    }
}

TEST_CASE("a word longer than its column is cut hard", "[cli][table]") {
    Table t({"NAME", "DETAIL"});
    t.add({"vm", "see /var/lib/libvirt/qemu/snapshot/web-01/nightly-2026-11-01.xml now"});
    t.flexible(1);
    const auto lines = lines_of(t.render("", 24));
    // DETAIL gets 24 - 6 = 18 columns: "see" alone, the path cut every 18, "now" after.
    const std::vector<std::string> expected = {
        "NAME  DETAIL",
        "vm    see",
        "      /var/lib/libvirt/q",
        "      emu/snapshot/web-0",
        "      1/nightly-2026-11-",
        "      01.xml now",
    };
    CHECK(lines == expected);
}

TEST_CASE("a name with a newline stays on its row, escaped", "[cli][table]") {
    Table t({"CHECKPOINT", "DESCRIPTION"});
    t.add({"evil\n  forged-row  fake", "made by a guest"});
    t.add({"ok", "x"});
    const std::string out = t.render("  ");
    CHECK(out == "  CHECKPOINT                DESCRIPTION\n"
                 "  evil\\n  forged-row  fake  made by a guest\n"
                 "  ok                        x\n");
    // Also when the table is wrapped to a width.
    t.flexible(1);
    for (const auto& line : lines_of(t.render("  ", 40))) {
        CHECK((line.find("forged-row") == std::string::npos || line.find("evil\\n") == 2));
    }
}

TEST_CASE("escape sequences and bidi overrides in cells are escaped before layout",
          "[cli][table]") {
    Table t({"VM", "STATE"});
    t.add({"\x1b[2Jweb\u202e", "on"});
    CHECK(t.render("") == "VM                  STATE\n"
                          "\\x1B[2Jweb\\u{202E}  on\n");
}

TEST_CASE("columns line up by display width for accented and CJK names", "[cli][table]") {
    Table t({"VM", "POWER"});
    t.add({"café", "on"});
    t.add({"数据库", "off"});
    t.add({"e\u0301t\u0301e\u0301", "on"});
    CHECK(t.render("") == "VM      POWER\n"
                          "café    on\n"
                          "数据库  off\n"
                          "e\u0301t\u0301e\u0301     on\n");
}

TEST_CASE("a width the fixed columns cannot fit falls back to the natural layout", "[cli][table]") {
    Table t = make(kEnforce);
    t.flexible(4);
    const std::string natural = t.render("  ");
    // OUTCOME..REASON take 2+7+2+13+2+31+2+35+2 = 96 columns; DETAIL needs 10 more.
    CHECK(t.render("  ", 105) == natural);
    CHECK(t.render("  ", 40) == natural);
    CHECK(t.render("  ", 1) == natural);
    // Exactly enough room for DETAIL's minimum wraps instead.
    const std::string narrowest = t.render("  ", 106);
    CHECK(narrowest != natural);
    for (const auto& line : lines_of(narrowest)) {
        CHECK(display_width(line) <= 106);
    }
}

TEST_CASE("a table without flexible columns is never narrowed", "[cli][table]") {
    Table t = make(kEnforce);
    CHECK(t.render("  ", 60) == t.render("  "));
    t.flexible(7); // past the last column: ignored
    CHECK(t.render("  ", 60) == t.render("  "));
}

TEST_CASE("a flexible column is not made narrower than its header", "[cli][table]") {
    Table t({"CHECKPOINT", "DESCRIPTION-OF-THE-CHECKPOINT"});
    t.add({"a", "one two three four five six seven eight nine ten eleven twelve thirteen"});
    t.flexible(1);
    const auto lines = lines_of(t.render("", 41));
    REQUIRE(lines.size() > 2);
    CHECK(lines[0] == "CHECKPOINT  DESCRIPTION-OF-THE-CHECKPOINT");
    for (const auto& line : lines) {
        CHECK(display_width(line) <= 41);
    }
    CHECK(t.render("", 40) == t.render("")); // the header alone would not fit
}

TEST_CASE("empty() says whether a table has data rows", "[cli][table]") {
    Table t({"A"});
    CHECK(t.empty());
    t.add({"x"});
    CHECK_FALSE(t.empty());
}

TEST_CASE("at every width a table either fits or is its natural layout", "[cli][table]") {
    Table t = make(kEnforce);
    t.add({"dry_run", "delete", "lab/数据库 @ ünïcödé-name",
           "e\u0301\u0301 数据库数据库数据库数据库",
           "a-very-long-word-without-any-space-at-all-that-must-be-cut-somewhere x"});
    t.flexible(3).flexible(4);
    const std::string natural = t.render("  ");
    for (std::size_t width = 1; width <= 260; ++width) {
        INFO(width);
        const std::string out = t.render("  ", width);
        if (out == natural) {
            continue;
        }
        for (const auto& line : lines_of(out)) {
            INFO(line);
            REQUIRE(display_width(line) <= width);
        }
    }
}
