#pragma once
/// The evidence observer: what `enforce --once`, `enforce --once --dry-run` and every daemon
/// pass saw and did, appended to the ledger (`plan` records nothing). It gates actions: when
/// it cannot record a pass before the pass acts, the engine takes no action in that pass
/// (fail closed), so no destructive step goes unrecorded.

#include <memory>
#include <string>

#include <boost/json/object.hpp>

#include "engine/observer.hpp"
#include "policies/config.hpp"

namespace snapgov::evidence {

/// The observer for passes run with `config`, or nullptr when `evidence.enabled` is false.
/// The ledger file is opened at the first pass (an error then is that pass's error), and the
/// signing key is loaded with it.
[[nodiscard]] std::shared_ptr<engine::PassObserver>
make_recorder(std::shared_ptr<const policies::Config> config);

/// A record body as stored: `o` serialized, with every byte that is not well-formed UTF-8
/// (a file name or a hypervisor's message may hold them) written as the escape \u00XX, so
/// that every body parses as JSON.
[[nodiscard]] std::string body_text(const boost::json::object& o);

} // namespace snapgov::evidence
