#!/usr/bin/env bash
# An OSCAL export of a real ledger (the demo host on the libvirt test driver) validates against
# NIST's schema with ajv; a copy without its required import-ap does not (the check can fail).
# Usage: oscal_validate.sh SNAPGOV_BINARY SOURCE_DIR
set -euo pipefail
snapgov=$1
src=$2
schema=$src/tests/data/oscal/oscal_assessment-results_schema.json
validator=$src/tests/oscal
if [[ ! -x $validator/node_modules/.bin/ajv ]]; then
  echo "installing the validator (npm ci in $validator)" >&2
  (cd "$validator" && npm ci --prefer-offline --no-audit --no-fund >&2) || {
    echo "FAIL: the OSCAL validator is not installed; run scripts/setup.sh --with-integration" >&2
    exit 1
  }
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$snapgov" evidence keygen -o "$work/key.pem" > "$work/pub.pem"
sed "s|\${CONFIG_DIR}|$src/examples|g" "$src/examples/policy.yaml" > "$work/policy.yaml"
printf '\nstate_dir: %s/state\nevidence: {host_id: oscal-test, signing_key: %s/key.pem}\n' \
  "$work" "$work" >> "$work/policy.yaml"
"$snapgov" enforce --once -c "$work/policy.yaml" --now 2026-11-24T12:00:00Z > /dev/null 2>&1 || true
"$snapgov" enforce --once --dry-run -c "$work/policy.yaml" --now 2026-11-24T12:00:00Z > /dev/null 2>&1 || true
"$snapgov" evidence export -c "$work/policy.yaml" --format oscal -o "$work/results.json"
ajv() { "$validator/node_modules/.bin/ajv" validate --spec=draft7 -c ajv-formats --all-errors \
          --errors=text -s "$schema" -d "$1"; }
ajv "$work/results.json"
python3 - "$work/results.json" "$work/broken.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
ar = doc["assessment-results"]
assert len(ar["results"][0]["observations"]) > 10, "too few observations"
assert ar["back-matter"]["resources"][0]["props"], "no chain head in the back matter"
del ar["import-ap"]
json.dump(doc, open(sys.argv[2], "w"))
PY
if ajv "$work/broken.json" 2>/dev/null; then
  echo "FAIL: the validator accepted a document without import-ap" >&2
  exit 1
fi
echo "OSCAL export valid; a broken copy is refused"
