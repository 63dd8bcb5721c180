#pragma once
/// Rendering of inventories, plans and pass results: human text (default) and JSON (the
/// machine contract of docs/command-line.md). All of snapgov's output formats live here; the
/// daemon's control socket answers with the same JSON. Text escapes control characters and bidi
/// overrides in names, so a VM or checkpoint name cannot forge report lines; tables fit
/// `width` columns (0: no limit), while JSON always carries the full text.

#include <cstddef>
#include <cstdio>
#include <string>

#include <boost/json/value.hpp>

#include "core/inventory.hpp"
#include "engine/pass.hpp"
#include "policies/config.hpp"

namespace snapgov::cli {

/// The width text tables should fit: the terminal's on stdout, 0 (no limit) otherwise.
[[nodiscard]] std::size_t output_width();

[[nodiscard]] std::string inventory_text(const Inventory& inventory, TimePoint now,
                                         std::size_t width = 0);
[[nodiscard]] boost::json::value inventory_json(const Inventory& inventory, TimePoint now);

/// `snapgov plan`: findings, the actions with the guard's verdict, notes, summary.
[[nodiscard]] std::string plan_text(const engine::PassResult& pass, const policies::Config& config,
                                    std::size_t width = 0);
/// `{"findings":[...],"actions":[...],"summary":{...}}` plus `now`, `notes` and `errors`.
[[nodiscard]] boost::json::value plan_json(const engine::PassResult& pass);

/// `snapgov enforce --once`: what was done, what remains.
[[nodiscard]] std::string enforce_text(const engine::PassResult& pass,
                                       const policies::Config& config, std::size_t width = 0);
/// The enforce contract: actions with outcome and detail, remaining findings, summary,
/// notes, errors, exit code.
[[nodiscard]] boost::json::value enforce_json(const engine::PassResult& pass);

/// Serializes compactly, with a trailing newline.
[[nodiscard]] std::string to_json_text(const boost::json::value& value);

/// Writes what to_json_text() returns to `out`, a piece at a time: the whole text is never
/// held in memory (a plan of 10,000 checkpoints is megabytes). A write error is left in
/// `out`'s error flag for the caller (who may ignore it, as print() does).
void write_json(std::FILE* out, const boost::json::value& value);

} // namespace snapgov::cli
