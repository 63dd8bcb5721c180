#pragma once
/// A text table for the human output of `snapgov inventory`, `plan` and `enforce`.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace snapgov::cli {

/// `text` in lines of at most `width` display columns, broken at spaces (the spaces at a
/// break are dropped); a word wider than `width` is cut at character boundaries. `text`
/// should already be escaped (escape_text).
[[nodiscard]] std::vector<std::string> wrap_text(std::string_view text, std::size_t width);

/// A header row and data rows, rendered as left-aligned columns separated by two spaces,
/// every line prefixed with an indent and stripped of trailing spaces; the last cell of a
/// row is not padded. Rows may have fewer cells than others.
///
/// Every cell goes through `escape_text` when it is added, so a name from a hypervisor can
/// neither start a new row nor reorder the line; widths are display widths
/// (`display_width`), so accents and CJK names line up. Without a width limit, an ASCII
/// table renders byte for byte as the `Table` of daemon/report.cpp did.
class Table {
public:
    /// The narrowest a flexible column is made (or its header, if wider; or its natural
    /// width, if narrower). Below that the table falls back to its natural layout.
    static constexpr std::size_t kMinFlexibleWidth = 10;

    /// Starts a table with its header row.
    explicit Table(std::vector<std::string> header);

    /// Appends a data row. The table keeps escaped copies.
    void add(std::vector<std::string> row);

    /// Marks a column (0-based) that may be narrowed to fit a width limit, its cells then
    /// wrapped onto continuation lines under the column: typically REASON, DETAIL or
    /// DESCRIPTION. A column past the last one is ignored at render time. Returns *this.
    Table& flexible(std::size_t column);

    /// True when the table has no data rows (only its header).
    [[nodiscard]] bool empty() const noexcept { return rows_.size() <= 1; }

    /// Renders the table, one `\n`-terminated line per row, each starting with `indent`
    /// (used as given, not escaped). With `max_width` 0, or when the table fits, every row is
    /// one line. Otherwise the flexible columns share the width the others leave, as
    /// evenly as their contents allow, and their cells wrap at spaces (a word longer than
    /// the column is cut) so that every line is at most `max_width` display columns. When
    /// even that cannot fit (no flexible column, or the fixed columns leave less than
    /// `kMinFlexibleWidth` each), the natural layout is returned unchanged: wider than
    /// asked, never garbled.
    [[nodiscard]] std::string render(std::string_view indent, std::size_t max_width = 0) const;

private:
    std::vector<std::vector<std::string>> rows_; // escaped; rows_[0] is the header
    std::vector<std::size_t> flexible_;          // column indexes, in the order marked
};

} // namespace snapgov::cli
