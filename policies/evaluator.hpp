#pragma once
/// The policy evaluator: a pure function of (inventory, policies, exemptions, now). No
/// clock, no I/O, no provider: the same inputs always give the same plan.
///
/// Semantics (docs/policy-file.md and snapgov.yaml(5)):
/// - A policy applies to a VM when its `match` does. Every applicable policy reports its own
///   findings; audit-mode findings never become actions.
/// - `checkpoints: deny`: every checkpoint of the VM is a finding (`checkpoints_denied`) and
///   is deleted; where the provider has a VM-level switch, a VM whose checkpoints are not
///   disabled is a finding too (`checkpoint_setting`) and gets `disable_checkpoints`.
/// - `max_age`: violated when age > max_age (equal is compliant).
/// - `ttl=<duration>` in a checkpoint's description can shorten the limit of a retention
///   policy (one with max_age or max_count), never lengthen it; the finding's rule is then
///   `ttl`.
/// - A checkpoint created more than 5 minutes after `now` (clock skew allowed) is a finding
///   `future_checkpoint` of every retention policy (max_age or max_count) that applies: its
///   age cannot be judged, so neither max_age nor ttl is checked for it, and no action is
///   planned (the finding remains). Time arithmetic saturates: a creation time near the
///   limits of 64-bit seconds is very old or very new, never an overflow.
/// - `max_count`: the newest max_count checkpoints are kept. Newest means latest creation
///   time; within the same second a descendant counts as newer than its ancestor, and then
///   the name decides (later in byte order is newer), so ties are deterministic.
/// - `memory_state: encrypt|wipe`: a checkpoint that keeps its memory gets an
///   `encrypt_memory`/`wipe_memory` action (external dumps whose files are on this machine;
///   `wipe_memory` also needs a provider that can redefine the checkpoint disk-only) or
///   `clear_memory_state` (where the provider can drop memory); memory inside a qcow2
///   internal snapshot cannot be separated, so it stays a finding and is deleted only if a
///   rule says so. With dump facts (see DumpFacts): a dump already encrypted (only FILE.age
///   left) complies with `encrypt` and gets a note on how to restore it before a revert; a
///   missing file complies with `encrypt` (a note says so) and under `wipe` still gets
///   `wipe_memory` (to redefine the checkpoint disk-only).
/// - Orphan dumps (facts.orphans): each is a finding (`orphan_dump`, policy
///   `memory_dumps.orphans`, audit mode when `orphans: report`); `wipe`/`encrypt` plan
///   `wipe_orphan`/`encrypt_orphan`, but only when every provider was collected completely (a
///   dump an uncollected checkpoint references would look orphaned), never for a `recent` or
///   `libvirt-partial` file, and after every other action.
/// - Exemptions: active while now < expires. An active exemption for (policy, VM[,
///   checkpoint]) marks the finding exempt (no action); expired ones are ignored and listed
///   in `notes`.
/// - Strictest wins: a checkpoint is deleted if any enforce-mode policy wants it gone (the
///   action names the policy by precedence deny > ttl/max_age > max_count, then file order);
///   otherwise the strictest memory_state (wipe > encrypt) applies.
/// - Actions are ordered: disable switches first, then deletions caused by deny, then other
///   deletions (children before parents), then memory actions.

#include <vector>

#include "core/inventory.hpp"
#include "core/time.hpp"
#include "policies/dump_facts.hpp"
#include "policies/plan.hpp"
#include "policies/policy.hpp"

namespace snapgov::policies {

[[nodiscard]] Plan evaluate(const Inventory& inventory, const std::vector<Policy>& policies,
                            const std::vector<Exemption>& exemptions, TimePoint now,
                            const DumpFacts& dumps);

/// The same without dump facts: every memory file is `unknown` and no orphans are known.
[[nodiscard]] Plan evaluate(const Inventory& inventory, const std::vector<Policy>& policies,
                            const std::vector<Exemption>& exemptions, TimePoint now);

} // namespace snapgov::policies
