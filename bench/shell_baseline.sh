#!/usr/bin/env bash
# The shell way: an admin's script doing the same max_age check with virsh, one call per
# VM and per snapshot. Usage: shell_baseline.sh URI MAX_AGE_SECONDS NOW_EPOCH
set -euo pipefail
uri=$1 max_age=$2 now=$3
violations=0
for vm in $(virsh -c "$uri" list --all --name); do
  for snap in $(virsh -c "$uri" snapshot-list "$vm" --name); do
    created=$(virsh -c "$uri" snapshot-dumpxml "$vm" "$snap" |
              sed -n 's|.*<creationTime>\([0-9]*\)</creationTime>.*|\1|p' | head -n1)
    if (( now - created > max_age )); then
      violations=$((violations + 1))
    fi
  done
done
echo "$violations violations"
