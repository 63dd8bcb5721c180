#!/usr/bin/env bash
# Runs the libFuzzer targets (fuzz/) for SECONDS each (default 20), one after another, and
# prints per target the executions, the speed, the coverage libFuzzer reports (cov: edges,
# ft: features), the corpus size and the findings. Exits 1 if any target found a crash, a
# leak, a timeout or an out-of-memory; the input is left in
# <build>/fuzz-findings/<target>/ (crash-<sha1>, leak-..., timeout-..., oom-...), and
# replaying it is: <build>/fuzz/fuzz_<target> <that file>.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]     (targets: as in <build>/fuzz/targets.txt)
#   scripts/fuzz.sh 20       CI's short form (scripts/test.sh)
#   scripts/fuzz.sh 600      the long form: 10 minutes per target
#
# The targets come from the ASan+UBSan build (build-asan, or $SNAPGOV_ASAN_DIR), built by
# scripts/sanitize.sh --build-only when missing. Each target starts from its seeds
# (fuzz/corpus/<target>/, read only) and a working corpus in <build>/fuzz-work/<target>/
# that grows from run to run. A summary (TSV) is written to <build>/fuzz-work/summary.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=${SNAPGOV_ASAN_DIR:-build-asan}
seconds=${1:-20}
shift || true
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds < 1)); then
  echo "fuzz.sh: SECONDS must be a positive whole number, not '$seconds'" >&2
  exit 2
fi
if [[ ! -f $dir/fuzz/targets.txt ]] || ! grep -q '^SNAPGOV_FUZZ:BOOL=ON' "$dir/CMakeCache.txt" 2>/dev/null; then
  scripts/sanitize.sh --build-only >/dev/null
fi
mapfile -t all < "$dir/fuzz/targets.txt"
targets=("$@")
if ((${#targets[@]} == 0)); then
  # SNAPGOV_FUZZ_SKIP: targets left out of a run of all (space-separated).
  for t in "${all[@]}"; do
    [[ " ${SNAPGOV_FUZZ_SKIP:-} " == *" $t "* ]] || targets+=("$t")
  done
fi
for t in "${targets[@]}"; do
  if [[ ! " ${all[*]} " == *" $t "* ]]; then
    echo "fuzz.sh: unknown target '$t' (known: ${all[*]})" >&2
    exit 2
  fi
done
if [[ ${SNAPGOV_FUZZ_NO_BUILD:-0} != 1 ]]; then
  cmake --build "$dir" -j"$(nproc 2>/dev/null || echo 2)" --target "${targets[@]/#/fuzz_}" >/dev/null
fi

dict_of() {
  case $1 in
    policy_yaml) echo policy_yaml ;;
    libvirt_xml) echo xml ;;
    wsman) echo wsman ;;
    age_header | age_decrypt) echo age ;;
    control_request | evidence) echo json ;;
  esac
}

export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:strict_string_checks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$root/scripts/sanitizers/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$root/scripts/sanitizers/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
summary=$dir/fuzz-work/summary.tsv
mkdir -p "$dir/fuzz-work"
printf 'target\tseconds\texecutions\texec_per_s\tcov\tft\tcorpus\tfindings\n' > "$summary"
printf '%-16s %6s %12s %8s %7s %7s %7s  %s\n' target secs execs exec/s cov ft corpus findings
# One fuzzer per core at a time (each is single-threaded); SNAPGOV_FUZZ_JOBS overrides.
jobs=${SNAPGOV_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
run_one() { # TARGET: runs it, its exit code in fuzz-work/TARGET/rc
  local t=$1 work=$root/$dir/fuzz-work/$1 findings=$root/$dir/fuzz-findings/$1 rc=0 d
  rm -rf "$findings" # findings are those of this run
  mkdir -p "$work/corpus" "$findings"
  local args=(-max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
              -artifact_prefix="$findings/")
  d=$(dict_of "$t")
  [[ -n $d && -f fuzz/dict/$d.dict ]] && args+=(-dict="$root/fuzz/dict/$d.dict")
  "$dir/fuzz/fuzz_$t" "${args[@]}" "$work/corpus" "$root/fuzz/corpus/$t" > "$work/last.log" 2>&1 ||
    rc=$?
  echo "$rc" > "$work/rc"
}
running=0
for t in "${targets[@]}"; do
  if ((running >= jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
  run_one "$t" &
  running=$((running + 1))
done
wait || true
failed=0
for t in "${targets[@]}"; do
  work=$root/$dir/fuzz-work/$t
  findings=$root/$dir/fuzz-findings/$t
  log=$work/last.log
  rc=$(cat "$work/rc" 2>/dev/null || echo "?")
  # The last status line: "#N  ... cov: C ft: F corp: K/S exec/s: E rss: ..."
  status=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -1)
  speed=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log" | tail -1)
  [[ -n $execs ]] || execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<< "$status")
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<< "$status")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<< "$status")
  corpus=$(find "$work/corpus" -type f | wc -l)
  found=$(find "$findings" -type f | wc -l)
  what=none
  if [[ $rc != 0 ]] || ((found > 0)); then
    failed=1
    what="rc=$rc: $(find "$findings" -type f -printf '%p ' | sed "s#$root/##g")(log: ${log#"$root"/})"
  fi
  printf '%-16s %6s %12s %8s %7s %7s %7s  %s\n' "$t" "$seconds" "${execs:-?}" "${speed:-?}" \
    "${cov:-?}" "${ft:-?}" "$corpus" "$what"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$seconds" "${execs:-}" "${speed:-}" "${cov:-}" \
    "${ft:-}" "$corpus" "$what" >> "$summary"
  if [[ $rc != 0 ]]; then
    grep -E 'ERROR: |SUMMARY: |runtime error|==[0-9]+==' "$log" | head -5 >&2 || true
  fi
done
if ((failed)); then
  echo "fuzz.sh: findings above; fix the bug, then add the input to fuzz/regressions/<target>/" >&2
  exit 1
fi
