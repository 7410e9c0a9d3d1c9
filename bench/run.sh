#!/usr/bin/env bash
# vigil benchmark: crypto floor, fsync floor, then vigil itself under wrk; writes docs/benchmarks.md.
#
#   bench/run.sh BUILD_DIR          (what `make bench` runs; builds nothing)
#
# Needs BUILD_DIR/vigil, BUILD_DIR/bench/crypto_floor, BUILD_DIR/bench/fsync_floor, wrk, curl, node
# with tests/integration/node_modules (scripts/setup installs them).
# Environment knobs:
#   BENCH_DURATION=10   seconds per wrk run (perf-limits.md uses 10)
#   BENCH_QUICK=1       short crypto floor (3 x 60 ms) and 3 s wrk runs, for a smoke test
#   BENCH_VIGIL_ARGS    extra arguments for `vigil serve` (e.g. "--log warn")
#   BENCH_OUT           report path (default docs/benchmarks.md)
#   BENCH_KEEP=1        keep the temp dir (config, logs, raw wrk output)
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

# run NAME -- wrk args... ; env for the Lua script must be exported by the caller.
run() {
  local name=$1; shift
  echo "-- $name: wrk $*"
  local raw="$TMP/wrk-$name.txt"
  BENCH_DIR="$BENCH_DIR" timeout $((DUR + 30)) wrk "$@" >"$raw" 2>&1 || { cat "$raw" >&2; die "wrk failed for $name"; }
  local line
  line=$(grep '^WRK ' "$raw" | tail -1) || { cat "$raw" >&2; die "no WRK line for $name"; }
  echo "   $line"
  echo "WRKRUN name=$name ${line#WRK }" >>"$RESULTS"
}

export BODY_FILE="$TMP/body_generic.json"
echo "== HTTP floor (GET /authorized_keys, constant reply)"
BENCH_DIR="$BENCH_DIR" wrk -t2 -c16 -d1s -s "$BENCH_DIR/static.lua" "$BASE/authorized_keys" >/dev/null 2>&1 || true
run http_c16 -t2 -c16 -d"${DUR}s" --latency -s "$BENCH_DIR/static.lua" "$BASE/authorized_keys"
run http_c1 -t1 -c1 -d"${DUR}s" --latency -s "$BENCH_DIR/static.lua" "$BASE/authorized_keys"

echo "== generic 0x03 reveal+transaction (no watermark)"
for kind in tz1 tz2 tz3 tz4; do
  var=$(echo "$kind" | tr a-z A-Z); pkh=${!var}
  BENCH_DIR="$BENCH_DIR" wrk -t2 -c16 -d1s -s "$BENCH_DIR/generic.lua" "$BASE/keys/$pkh" >/dev/null 2>&1 || true
  run "generic_${kind}_c16" -t2 -c16 -d"${DUR}s" --latency -s "$BENCH_DIR/generic.lua" "$BASE/keys/$pkh"
  run "generic_${kind}_c1" -t1 -c1 -d"${DUR}s" --latency -s "$BENCH_DIR/generic.lua" "$BASE/keys/$pkh"
done

echo "== watermarked attestations (strictly increasing levels, durable watermark)"
LEVEL_BASE=1000
wm() { # name mode keys threads
  export WM_MODE=$2 WM_KEYS=$3 WM_LEVEL_BASE=$LEVEL_BASE
  run "$1" -t"$4" -c"$4" -d"${DUR}s" --latency -s "$BENCH_DIR/attest.lua" "$BASE/"
  LEVEL_BASE=$((LEVEL_BASE + 20000000))
}
for kind in tz1 tz2 tz3 tz4; do
  var=$(echo "$kind" | tr a-z A-Z); pkh=${!var}
  wm "wm_${kind}_1key_c1" keys "$pkh" 1
  wm "wm_${kind}_1key_c16" chains "$pkh" 16
done
wm wm_tz1_32keys_c32 keys "$WM32_TZ1" 32
wm wm_tz4_32keys_c32 keys "$WM32_TZ4" 32

# Counters after the run, for the report (vigil's own view of what it signed).
curl -fsS "http://127.0.0.1:$UPORT/metrics" >"$TMP/metrics.txt" 2>/dev/null || true
vigil_cpu=$(awk '{print $14+$15}' "/proc/$VIGIL_PID/stat" 2>/dev/null || echo 0)
echo "VIGILCPU ticks=$vigil_cpu hz=$(getconf CLK_TCK)" >>"$RESULTS"

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
} >>"$RESULTS"

mkdir -p "$(dirname "$OUT")"
node "$BENCH_DIR/report.mjs" "$RESULTS" >"$OUT"
echo "== wrote $OUT"
