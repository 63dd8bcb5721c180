#!/usr/bin/env bash
# Benchmarks the memory-dump commands of issue 3 against their floors, on a 2 GiB file of
# random data and a 2 GiB mostly-zero file (zeros, with 1 MiB of random data every 100 MiB;
# every block allocated, as in a dump of a mostly idle VM):
#   encrypt: snapgov dump encrypt --keep  vs  age -r  vs  cp + sync (the I/O floor)
#   wipe:    snapgov dump wipe  vs  shred -n1  vs  dd if=/dev/zero conv=notrunc,fsync
# Prints one line per run (bench/measure.py: wall, user, sys, peak RSS), then a summary with
# medians and the ratios the issue sets as targets.
# Usage: bench/dumps.sh [SNAPGOV_BINARY]   (default: build/snapgov)
# Env: BENCH_DIR (default: a temp dir under /var/tmp, on disk), SIZE_MIB=2048, REPEAT=3,
# ONLY=encrypt or ONLY=wipe (default: both).
set -euo pipefail
cd "$(dirname "$0")/.."
snapgov=$(realpath "${1:-build/snapgov}")
size_mib=${SIZE_MIB:-2048}
repeat=${REPEAT:-3}
only=${ONLY:-}
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/snapgov-bench-dumps-XXXXXX")
trap 'rm -rf "$work"' EXIT
measure() { python3 bench/measure.py "$@"; }

age-keygen -o "$work/key.txt" 2>/dev/null
pub=$(age-keygen -y "$work/key.txt")

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, $(uname -r), $(df -T "$work" | awk 'NR==2{print $2}') on $(df "$work" | awk 'NR==2{print $1}'), age $(age --version), loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
head -c "$((size_mib << 20))" /dev/urandom > "$work/random.mem"
dd if=/dev/zero of="$work/zero.mem" bs=1M count="$size_mib" status=none
for ((off = 0; off < size_mib; off += 100)); do
  dd if=/dev/urandom of="$work/zero.mem" bs=1M count=1 seek="$off" conv=notrunc status=none
done
sync

for kind in random zero; do
  src=$work/$kind.mem
  for _ in $(seq "$repeat"); do
    [[ $only == wipe ]] && break
    measure "encrypt-snapgov $kind" -- "$snapgov" dump encrypt --keep -r "$pub" \
      --state-dir "$work/state" "$src"
    rm -f "$src.age"
    measure "encrypt-age $kind" -- age -r "$pub" -o "$src.age" "$src"
    rm -f "$src.age"
    measure "encrypt-floor-cp+sync $kind" -- sh -c 'cp "$1" "$2" && sync "$2"' sh "$src" "$work/copy"
    rm -f "$work/copy"
  done
  for _ in $(seq "$repeat"); do
    [[ $only == encrypt ]] && break
    cp "$src" "$work/victim"; sync "$work/victim"
    measure "wipe-snapgov $kind" -- "$snapgov" dump wipe "$work/victim"
    rm -f "$work/victim"
    cp "$src" "$work/victim"; sync "$work/victim"
    measure "wipe-shred-n1 $kind" -- shred -n1 "$work/victim"
    rm -f "$work/victim"
    cp "$src" "$work/victim"; sync "$work/victim"
    measure "wipe-dd-floor $kind" -- dd if=/dev/zero of="$work/victim" bs=1M count="$size_mib" \
      conv=notrunc,fsync status=none
    rm -f "$work/victim"
  done
done
echo "# done $(date -u +%Y-%m-%dT%H:%M:%SZ) loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
