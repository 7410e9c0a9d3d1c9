#!/usr/bin/env bash
# Runs every libFuzzer target of BUILD/fuzz for SECONDS each, JOBS at a time, and prints one line
# per target (seconds, executions, exec/s, corpus size, result) plus a summary; exit 1 if any target
# crashed, timed out, leaked or ran out of memory. `make fuzz` calls it after building.
#   usage: fuzz/run.sh BUILD SECONDS [JOBS] [TARGET...]      (default JOBS: nproc, TARGET: all)
# Layout under BUILD: fuzz-seeds/<t> (rebuilt from the vectors each run by fuzz/seed.sh),
# fuzz-corpus/<t> (what libFuzzer found, kept between runs), fuzz-artifacts/<t>/ (crash-*, timeout-*,
# leak-*, oom-*: the reproducers), fuzz-logs/<t>.log, fuzz-summary.txt.
# Reproduce a finding: BUILD/fuzz/<t> BUILD/fuzz-artifacts/<t>/crash-…  (VIGIL_SHARED for fuzz_cms).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:?usage: fuzz/run.sh BUILD SECONDS [JOBS] [TARGET...]}
SECONDS_EACH=${2:?usage: fuzz/run.sh BUILD SECONDS [JOBS] [TARGET...]}
JOBS=${3:-$(nproc)}
case "$SECONDS_EACH" in ""|0|*[!0-9]*) echo "fuzz: SECONDS must be a positive integer (libFuzzer reads 0 as no limit)" >&2; exit 2 ;; esac
shift 3 2>/dev/null || shift $#
BUILD=$(cd "$BUILD" && pwd)
export VIGIL_SHARED=${VIGIL_SHARED:-$ROOT/../shared}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for b in "$BUILD"/fuzz/fuzz_*; do [ -x "$b" ] && targets+=("$(basename "$b")"); done
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets in $BUILD/fuzz (build with make fuzz)" >&2; exit 1; }

rm -rf "$BUILD/fuzz-seeds"
"$ROOT/fuzz/seed.sh" "$BUILD/fuzz-seeds" "$VIGIL_SHARED" || { echo "fuzz: seed.sh failed" >&2; exit 1; }
mkdir -p "$BUILD/fuzz-corpus" "$BUILD/fuzz-artifacts" "$BUILD/fuzz-logs"

run_one() {
  local t=$1 log="$BUILD/fuzz-logs/$1.log"
  mkdir -p "$BUILD/fuzz-corpus/$t" "$BUILD/fuzz-seeds/$t" "$BUILD/fuzz-artifacts/$t"
  # -close_fd_mask=2: vigil logs to stderr; libFuzzer and the sanitizers keep their own copy of it.
  # -timeout: one input may take at most 10 s (a hang is a finding); -rss_limit_mb: 2 GiB.
  "$BUILD/fuzz/$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -close_fd_mask=2 \
    -print_final_stats=1 -artifact_prefix="$BUILD/fuzz-artifacts/$t/" \
    "$BUILD/fuzz-corpus/$t" "$BUILD/fuzz-seeds/$t" >"$log" 2>&1
  echo $? >"$log.rc"
}

start=$(date +%s)
running=0
for t in "${targets[@]}"; do
  [ -x "$BUILD/fuzz/$t" ] || { echo "fuzz: $BUILD/fuzz/$t not built" >&2; exit 1; }
  rm -f "$BUILD/fuzz-logs/$t.log.rc"
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
done
wait

bad=0
{
  printf '%-18s %8s %12s %9s %8s  %s\n' target seconds executions exec/s corpus result
  for t in "${targets[@]}"; do
    log="$BUILD/fuzz-logs/$t.log"
    rc=$(cat "$log.rc" 2>/dev/null || echo '?')
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    corpus=$(find "$BUILD/fuzz-corpus/$t" -type f | wc -l)
    found=$(find "$BUILD/fuzz-artifacts/$t" -type f -newer "$BUILD/fuzz-seeds" | head -1)
    if [ "$rc" = 0 ] && [ -z "$found" ]; then
      result="ok, no crash"
    else
      bad=1
      result="FAILED (rc $rc) ${found:-see $log}"
    fi
    printf '%-18s %8s %12s %9s %8s  %s\n' "$t" "${secs:-?}" "${execs:-?}" "${rate:-?}" "$corpus" "$result"
  done
  echo "fuzz: ${#targets[@]} targets, ${SECONDS_EACH} s each, $JOBS at a time, $(($(date +%s) - start)) s wall;" \
       "$([ $bad = 0 ] && echo 'no crash, hang, leak or OOM' || echo 'FINDINGS above')"
} | tee "$BUILD/fuzz-summary.txt"
exit $bad
