#!/usr/bin/env bash
# vigil benchmark: crypto floor, fsync floor, then vigil itself under wrk; writes docs/benchmarks.md.
#
#   bench/run.sh BUILD_DIR          (what `make bench` runs; builds nothing)
#
# Needs BUILD_DIR/vigil, BUILD_DIR/bench/crypto_floor, BUILD_DIR/bench/fsync_floor, wrk, curl, node
# (and BUILD_DIR/bench/rpc_bench + BUILD_DIR/vigil-enclave for the enclave RPC section)
# with tests/integration/node_modules (scripts/setup installs them).
# Environment knobs:
#   BENCH_DURATION=10   seconds per wrk run (perf-limits.md uses 10)
#   BENCH_REPS=3        repetitions of each throughput run (the report shows the median and the range)
#   BENCH_QUICK=1       short crypto floor (3 x 60 ms), 3 s wrk runs, 1 repetition: a smoke test
#   BENCH_VIGIL_ARGS    extra arguments for `vigil serve` (e.g. "--log warn")
#   BENCH_OUT           report path (default docs/benchmarks.md)
#   BENCH_KEEP=1        keep the temp dir (config, logs, raw wrk output)
#   BENCH_WAIT_QUIET=S  first wait up to S seconds for the machine to be idle (< 10% CPU busy over 3 s);
#                       the host is shared, and other load skews every figure
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DIR="$ROOT/bench"
BUILD=${1:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
DUR=${BENCH_DURATION:-10}
FLOOR_ARGS=()
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  DUR=${BENCH_DURATION:-3}
  FLOOR_ARGS=(--quick)
fi
OUT=${BENCH_OUT:-$ROOT/docs/benchmarks.md}

die() { echo "bench: $*" >&2; exit 1; }
for f in "$BUILD/vigil" "$BUILD/bench/crypto_floor" "$BUILD/bench/fsync_floor"; do
  [ -x "$f" ] || die "$f not found (build first: make build, or cmake --build $BUILD)"
done
command -v wrk >/dev/null || die "wrk not installed (apt-get install wrk)"
command -v curl >/dev/null || die "curl not installed"
command -v node >/dev/null || die "node not installed"
[ -d "$ROOT/tests/integration/node_modules/@taquito/signer" ] || die "tests/integration/node_modules missing (run scripts/setup)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vigil-bench.XXXXXX")
VIGIL_PID=
cleanup() {
  if [ -n "$VIGIL_PID" ] && kill -0 "$VIGIL_PID" 2>/dev/null; then
    kill -TERM "$VIGIL_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$VIGIL_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$VIGIL_PID" 2>/dev/null || true
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
busy_pct() { # CPU busy share (%) of the whole machine over $1 seconds
  local a b
  a=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
  sleep "$1"
  b=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN {split(a, x, " "); split(b, y, " "); t = y[2] - x[2]; print (t > 0 ? int(100 * (y[1] - x[1]) / t) : 0)}'
}
if [ "${BENCH_WAIT_QUIET:-0}" -gt 0 ]; then
  deadline=$((SECONDS + BENCH_WAIT_QUIET))
  while :; do
    b=$(busy_pct 3)
    [ "$b" -lt 10 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then echo "bench: machine still ${b}% busy; going ahead" >&2; break; fi
    echo "bench: machine ${b}% busy, waiting for it to be idle"
    sleep 7
  done
fi
BUSY_START=$(busy_pct 2)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
RESULTS="$TMP/results.txt"
: >"$RESULTS"

echo "== crypto floor ($BUILD/bench/crypto_floor ${FLOOR_ARGS[*]:-})"
"$BUILD/bench/crypto_floor" "${FLOOR_ARGS[@]}" | tee "$TMP/floor.txt"
grep '^FLOOR ' "$TMP/floor.txt" >>"$RESULTS"

echo "== fixture"
node "$ROOT/tests/integration/lib/benchgen.mjs" "$TMP"
# shellcheck disable=SC1091
. "$TMP/keys.env"
mkdir -p "$TMP/base"

echo "== fsync floor (in the vigil base dir $TMP/base)"
"$BUILD/bench/fsync_floor" "$TMP/base" 1000 | tee "$TMP/fsync.txt"
grep '^FSYNC ' "$TMP/fsync.txt" >>"$RESULTS"

echo "== starting vigil"
# shellcheck disable=SC2086
"$BUILD/vigil" serve -c "$TMP/vigil.yaml" ${BENCH_VIGIL_ARGS:-} >"$TMP/vigil.log" 2>&1 &
VIGIL_PID=$!
for _ in $(seq 200); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$UPORT/healthz" 2>/dev/null; then break; fi
  kill -0 "$VIGIL_PID" 2>/dev/null || { tail -30 "$TMP/vigil.log" >&2; die "vigil exited during startup"; }
  sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$UPORT/healthz" || { tail -30 "$TMP/vigil.log" >&2; die "vigil not healthy"; }
BASE="http://127.0.0.1:$PORT"
for k in "$TZ1" "$TZ2" "$TZ3" "$TZ4"; do
  code=$(curl -sS -o "$TMP/sanity.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary @"$TMP/body_generic.json" "$BASE/keys/$k")
  [ "$code" = 200 ] || { cat "$TMP/sanity.json" >&2; die "sanity sign for $k answered $code"; }
done

busy_ticks() { awk '/^cpu / {print $2+$3+$4+$7+$8+$9}' /proc/stat; }
vigil_ticks() { awk '{print $14+$15}' "/proc/$VIGIL_PID/stat" 2>/dev/null || echo 0; }
HZ=$(getconf CLK_TCK)

# run NAME REPS wrk-args... : REPS runs of wrk; each result line also carries vigil's CPU time, wrk's
# CPU time and the whole machine's busy time over the run (to see interference from other load).
run() {
  local name=$1 reps=$2; shift 2
  echo "-- $name (x$reps): wrk $*"
  local i
  for i in $(seq "$reps"); do
    local raw="$TMP/wrk-$name-$i.txt" tfile="$TMP/time-$name-$i.txt"
    local v0 b0 v1 b1
    v0=$(vigil_ticks); b0=$(busy_ticks)
    { TIMEFORMAT='%3U %3S'; time BENCH_DIR="$BENCH_DIR" timeout $((DUR + 30)) wrk "$@" >"$raw" 2>&1; } 2>"$tfile" \
      || { cat "$raw" >&2; die "wrk failed for $name"; }
    v1=$(vigil_ticks); b1=$(busy_ticks)
    local line wcpu
    line=$(grep '^WRK ' "$raw" | tail -1) || { cat "$raw" >&2; die "no WRK line for $name"; }
    wcpu=$(awk 'NF==2 {print $1+$2}' "$tfile" | tail -1)
    echo "   $line"
    echo "WRKRUN name=$name rep=$i ${line#WRK } vigil_cpu_s=$(awk -v a="$v0" -v b="$v1" -v h="$HZ" 'BEGIN {print (b-a)/h}') wrk_cpu_s=${wcpu:-0} busy_s=$(awk -v a="$b0" -v b="$b1" -v h="$HZ" 'BEGIN {print (b-a)/h}') ncpu=$(nproc)" >>"$RESULTS"
  done
}
warm() { BENCH_DIR="$BENCH_DIR" timeout 20 wrk -d1s "$@" >/dev/null 2>&1 || true; }

REPS=${BENCH_REPS:-3}
[ "${BENCH_QUICK:-0}" = 1 ] && REPS=${BENCH_REPS:-1}
export BODY_FILE="$TMP/body_generic.json"
echo "== HTTP floor (GET /authorized_keys, constant reply)"
warm -t2 -c16 -s "$BENCH_DIR/static.lua" "$BASE/authorized_keys"
run http_c16 "$REPS" -t2 -c16 -d"${DUR}s" --latency -s "$BENCH_DIR/static.lua" "$BASE/authorized_keys"
run http_c1 1 -t1 -c1 -d"${DUR}s" --latency -s "$BENCH_DIR/static.lua" "$BASE/authorized_keys"

echo "== generic 0x03 reveal+transaction (no watermark)"
for kind in tz1 tz2 tz3 tz4; do
  var=$(echo "$kind" | tr a-z A-Z); pkh=${!var}
  warm -t2 -c16 -s "$BENCH_DIR/generic.lua" "$BASE/keys/$pkh"
  run "generic_${kind}_c16" "$REPS" -t2 -c16 -d"${DUR}s" --latency -s "$BENCH_DIR/generic.lua" "$BASE/keys/$pkh"
  run "generic_${kind}_c1" 1 -t1 -c1 -d"${DUR}s" --latency -s "$BENCH_DIR/generic.lua" "$BASE/keys/$pkh"
done

echo "== watermarked attestations (strictly increasing levels, durable watermark)"
LEVEL_BASE=1000
wm() { # name reps mode keys threads ; every repetition (and the warm-up) gets a fresh level range
  local name=$1 reps=$2 i
  export WM_MODE=$3 WM_KEYS=$4
  export WM_LEVEL_BASE=$LEVEL_BASE
  warm -t"$5" -c"$5" -s "$BENCH_DIR/attest.lua" "$BASE/"
  for i in $(seq "$reps"); do
    LEVEL_BASE=$((LEVEL_BASE + 10000000))
    export WM_LEVEL_BASE=$LEVEL_BASE
    run "$name" 1 -t"$5" -c"$5" -d"${DUR}s" --latency -s "$BENCH_DIR/attest.lua" "$BASE/"
  done
  LEVEL_BASE=$((LEVEL_BASE + 10000000))
}
for kind in tz1 tz2 tz3 tz4; do
  var=$(echo "$kind" | tr a-z A-Z); pkh=${!var}
  wm "wm_${kind}_1key_c1" 1 keys "$pkh" 1
  wm "wm_${kind}_1key_c16" "$REPS" chains "$pkh" 16
done
wm wm_tz1_32keys_c32 "$REPS" keys "$WM32_TZ1" 32
wm wm_tz4_32keys_c32 "$REPS" keys "$WM32_TZ4" 32

# Counters after the run, for the report (vigil's own view of what it signed).
curl -fsS "http://127.0.0.1:$UPORT/metrics" >"$TMP/metrics.txt" 2>/dev/null || true
echo "VIGILCPU ticks=$(vigil_ticks) hz=$HZ" >>"$RESULTS"

kill -TERM "$VIGIL_PID" 2>/dev/null || true
wait "$VIGIL_PID" 2>/dev/null || true
VIGIL_PID=

commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit (+ uncommitted changes)"; fi
{
  echo "MACHINE nproc=$(nproc)"
  echo "MACHINE cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "MACHINE kernel=$(uname -r)"
  echo "MACHINE mem=$(awk '/MemTotal/ {printf "%.1f GB", $2/1048576}' /proc/meminfo)"
  echo "MACHINE date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "MACHINE commit=$commit"
  echo "MACHINE wrk=$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
  echo "MACHINE duration=$DUR"
  echo "MACHINE fs=$(df -T "$TMP" | awk 'NR==2 {print $2}')"
  echo "MACHINE reps=$REPS"
  echo "MACHINE vigil_args=${BENCH_VIGIL_ARGS:-(none: default log level)}"
  echo "MACHINE load_start=$LOAD_START (CPU ${BUSY_START}% busy just before)"
  echo "MACHINE load_end=$(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$RESULTS"

mkdir -p "$(dirname "$OUT")"
node "$BENCH_DIR/report.mjs" "$RESULTS" >"$OUT"
echo "== wrote $OUT"
if [ -x "$BUILD/bench/rpc_bench" ] && [ -x "$BUILD/vigil-enclave" ]; then
  echo "== enclave RPC round trip (rpc_bench)"
  {
    echo
    echo "## Enclave RPC: Sign over a Unix socket vs the raw crypto call"
    echo
    echo "\`bench/rpc_bench\` starts a dev-mode \`vigil-enclave\` on a Unix socket and times one Sign request/reply"
    echo "at a time (150-byte message), beside \`vg_sign\` in-process; both ends share the machine's 2 vCPUs."
    echo
    "$BUILD/bench/rpc_bench" "$BUILD/vigil-enclave" "${BENCH_RPC_ITERATIONS:-20000}"
  } | tee -a "$OUT"
fi
[ "${BENCH_DYNAMODB:-1}" = 1 ] && BENCH_OUT="$OUT" BENCH_DURATION="$DUR" "$BENCH_DIR/dynamodb.sh" "$BUILD"
