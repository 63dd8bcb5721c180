#pragma once
/// Rendering of inventories, plans and pass results: human text (default) and JSON (the
/// machine contract of DESIGN.md). Output goes to stdout; logs never do.

#include <string>

#include <boost/json/value.hpp>

#include "core/inventory.hpp"
#include "daemon/reconciler.hpp"
#include "policies/config.hpp"

namespace snapgov::daemon {

[[nodiscard]] std::string inventory_text(const Inventory& inventory, TimePoint now);
[[nodiscard]] boost::json::value inventory_json(const Inventory& inventory, TimePoint now);

/// `snapgov plan`: findings, actions, notes, summary.
[[nodiscard]] std::string plan_text(const PassResult& pass, const policies::Config& config);
/// `{"findings":[...],"actions":[...],"summary":{...}}` plus `notes` and `errors`.
[[nodiscard]] boost::json::value plan_json(const PassResult& pass);

/// `snapgov enforce --once`: what was done, what remains.
[[nodiscard]] std::string enforce_text(const PassResult& pass, const policies::Config& config,
                                       bool dry_run);
[[nodiscard]] boost::json::value enforce_json(const PassResult& pass, bool dry_run);

/// Serializes compactly, with a trailing newline.
[[nodiscard]] std::string to_json_text(const boost::json::value& value);

} // namespace snapgov::daemon
