#include "cli/render/table.hpp"

#include <algorithm>
#include <optional>

#include "core/text.hpp"

namespace snapgov::cli {
namespace {

using Widths = std::vector<std::size_t>;

/// Bytes of the longest prefix of `word` at most `width` columns wide, and at least one
/// character, so that a cut always makes progress.
std::size_t cut_point(std::string_view word, std::size_t width) {
    std::size_t pos = 0;
    std::size_t used = 0;
    while (pos < word.size()) {
        const std::size_t length = decode_utf8(word.substr(pos)).length;
        const std::size_t w = display_width(word.substr(pos, length));
        if (pos > 0 && used + w > width) {
            break;
        }
        used += w;
        pos += length;
    }
    return pos;
}

} // namespace

std::vector<std::string> wrap_text(std::string_view text, std::size_t width) {
    std::vector<std::string> lines;
    std::string line;
    std::size_t line_width = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t word_start = text.find_first_not_of(' ', pos);
        if (word_start == std::string_view::npos) {
            break; // trailing spaces: the padding shows the same
        }
        const std::size_t word_end = std::min(text.find(' ', word_start), text.size());
        const std::string_view gap = text.substr(pos, word_start - pos);
        std::string_view word = text.substr(word_start, word_end - word_start);
        std::size_t word_width = display_width(word);
        pos = word_end;
        if (line_width + gap.size() + word_width <= width) {
            line += gap;
            line += word;
            line_width += gap.size() + word_width;
            continue;
        }
        if (!line.empty()) {
            lines.push_back(std::move(line));
        }
        while (word_width > width) {
            const std::size_t cut = cut_point(word, width);
            lines.emplace_back(word.substr(0, cut));
            word.remove_prefix(cut);
            word_width = display_width(word);
        }
        line = std::string(word);
        line_width = word_width;
    }
    if (!line.empty() || lines.empty()) {
        lines.push_back(std::move(line));
    }
    return lines;
}

namespace {

/// Every row, its cells wrapped where wider than their column; one line per row when no
/// cell is.
std::string layout(const std::vector<std::vector<std::string>>& rows, std::string_view indent,
                   const Widths& widths) {
    const std::string none;
    std::string out;
    std::vector<std::vector<std::string>> cells;
    for (const auto& row : rows) {
        cells.clear();
        std::size_t height = 1;
        for (std::size_t i = 0; i < row.size(); ++i) {
            if (display_width(row[i]) <= widths[i]) {
                cells.push_back({row[i]});
            } else {
                cells.push_back(wrap_text(row[i], widths[i]));
            }
            height = std::max(height, cells.back().size());
        }
        for (std::size_t line = 0; line < height; ++line) {
            out += indent;
            for (std::size_t i = 0; i < cells.size(); ++i) {
                const std::string& piece = line < cells[i].size() ? cells[i][line] : none;
                out += piece;
                if (i + 1 < cells.size()) {
                    out.append(widths[i] - display_width(piece) + 2, ' ');
                }
            }
            while (!out.empty() && out.back() == ' ') {
                out.pop_back();
            }
            out += '\n';
        }
    }
    return out;
}

std::size_t widest_line(std::string_view text) {
    std::size_t widest = 0;
    while (!text.empty()) {
        const std::size_t end = std::min(text.find('\n'), text.size());
        widest = std::max(widest, display_width(text.substr(0, end)));
        text.remove_prefix(std::min(end + 1, text.size()));
    }
    return widest;
}

/// Column widths that fit `max_width` by narrowing the flexible columns, or nullopt when
/// they cannot be narrowed enough without going below their minimum.
std::optional<Widths> narrowed(const Widths& natural, const std::vector<std::string>& header,
                               std::vector<std::size_t> flexible, std::size_t indent_width,
                               std::size_t max_width) {
    const std::size_t columns = natural.size();
    std::sort(flexible.begin(), flexible.end());
    flexible.erase(std::unique(flexible.begin(), flexible.end()), flexible.end());
    flexible.erase(std::remove_if(flexible.begin(), flexible.end(),
                                  [&](std::size_t i) { return i >= columns; }),
                   flexible.end());
    if (flexible.empty()) {
        return std::nullopt;
    }
    Widths widths = natural;
    std::size_t needed = indent_width + 2 * (columns - 1);
    for (std::size_t i = 0; i < columns; ++i) {
        if (std::binary_search(flexible.begin(), flexible.end(), i)) {
            const std::size_t label = i < header.size() ? display_width(header[i]) : 0;
            widths[i] = std::min(natural[i], std::max(Table::kMinFlexibleWidth, label));
        }
        needed += widths[i];
    }
    if (needed > max_width) {
        return std::nullopt;
    }
    // Share what is left one column at a time to the narrowest flexible column that still
    // wants more, so that a short REASON is not wrapped to make room for a long DETAIL.
    for (std::size_t spare = max_width - needed; spare > 0; --spare) {
        std::optional<std::size_t> pick;
        for (const std::size_t i : flexible) {
            if (widths[i] < natural[i] && (!pick || widths[i] < widths[*pick])) {
                pick = i;
            }
        }
        if (!pick) {
            break;
        }
        ++widths[*pick];
    }
    return widths;
}

std::vector<std::string> escaped(std::vector<std::string> row) {
    for (auto& cell : row) {
        cell = escape_text(cell);
    }
    return row;
}

} // namespace

Table::Table(std::vector<std::string> header) {
    rows_.push_back(escaped(std::move(header)));
}

void Table::add(std::vector<std::string> row) {
    rows_.push_back(escaped(std::move(row)));
}

Table& Table::flexible(std::size_t column) {
    flexible_.push_back(column);
    return *this;
}

std::string Table::render(std::string_view indent, std::size_t max_width) const {
    Widths natural;
    for (const auto& row : rows_) {
        natural.resize(std::max(natural.size(), row.size()), 0);
        for (std::size_t i = 0; i < row.size(); ++i) {
            natural[i] = std::max(natural[i], display_width(row[i]));
        }
    }
    std::string plain = layout(rows_, indent, natural);
    if (max_width == 0 || widest_line(plain) <= max_width) {
        return plain;
    }
    const auto widths =
        narrowed(natural, rows_.front(), flexible_, display_width(indent), max_width);
    if (!widths) {
        return plain;
    }
    return layout(rows_, indent, *widths);
}

} // namespace snapgov::cli
