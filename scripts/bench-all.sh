#!/usr/bin/env bash
# Every benchmark of docs/benchmarks.md in one command (issue 9): the relay against etcd and a floor.
#   scripts/bench-all.sh            fanout, etcd-fanout and floor for N = 100, 500, 1000, then
#                                   initial-sync 100x10000, reconnect 1000, memory 1000, churn 500x200/s x60 s
#   scripts/bench-all.sh --quick    only N = 100 of the three fanouts, then reconnect and memory
#                                   (no initial-sync, no churn)
#   BENCH_WRITES=W                  writes per fanout scenario (default 50)
# It builds meshrelay and meshrelay-bench in release once; each scenario's JSON line goes to
# docs/benchmarks/results/NAME.json (NAME: fanout-100, etcd-fanout-100, floor-100, …,
# initial-sync-100x10000, reconnect-1000, memory-1000, churn-500x200x60). For each N, ours, etcd
# (scripts/bench-etcd.sh) and the floor run back to back, so they share the machine's state.
# The results directory holds one run: its old *.json are removed first (the committed ones are in git).
# A scenario that fails is recorded as {"scenario":…,"error":…} and the others still run; the
# script then exits 1. At the end it records the machine (results/machine.json) and draws the
# plots and tables (scripts/bench-plots.py → docs/benchmarks/*.png, results.md).
# Progress goes to standard error; each scenario's own progress too.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0
case "${1:-}" in
  "") ;;
  --quick) QUICK=1 ;;
  *) echo "usage: scripts/bench-all.sh [--quick]   (env BENCH_WRITES=W, default 50)" >&2; exit 2 ;;
esac
WRITES="${BENCH_WRITES:-50}"
[[ "$WRITES" =~ ^[1-9][0-9]*$ ]] || { echo "bench-all.sh: BENCH_WRITES must be a positive integer" >&2; exit 2; }

RESULTS=docs/benchmarks/results
OUT=docs/benchmarks
if [ "$QUICK" = 1 ]; then SIZES=(100); else SIZES=(100 500 1000); fi

log() { echo "bench-all.sh [$(date +%H:%M:%S)] $*" >&2; }

log "building meshrelay and meshrelay-bench (release)"
swift build -c release --product meshrelay >/dev/null
swift build -c release --product meshrelay-bench >/dev/null
BIN="$(swift build -c release --show-bin-path)"
BENCH="$BIN/meshrelay-bench"
MESHRELAY="$BIN/meshrelay"

# The commit measured (taken before this run rewrites the results; "-dirty": changes outside them).
if commit="$(git rev-parse --short HEAD 2>/dev/null)"; then
  git diff --quiet HEAD -- . ':(exclude)docs/benchmarks' || commit="$commit-dirty"
else
  commit=unknown
fi

mkdir -p "$RESULTS"
rm -f "$RESULTS"/*.json
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

FAILED=()
COUNT=0
TOTAL=$(( ${#SIZES[@]} * 3 + 2 + (QUICK == 1 ? 0 : 2) ))

# run NAME SCENARIO COMMAND...: runs the command, its standard error shown as it comes (and kept),
# and writes the last line of its standard output to $RESULTS/NAME.json if that is a JSON object
# and the command succeeded; otherwise {"scenario": SCENARIO, "error": …}.
run() {
  local name="$1" scenario="$2"
  shift 2
  COUNT=$((COUNT + 1))
  log "($COUNT/$TOTAL) $name"
  local started=$SECONDS rc=0
  { "$@" 2>&1 >"$WORK/out" | tee "$WORK/err" >&2; } || rc=$?
  python3 - "$RESULTS/$name.json" "$scenario" "$rc" "$WORK/out" "$WORK/err" <<'PY' || rc=$?
import json, sys
path, scenario, rc, out, err = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
def last_line(f):
    try:
        with open(f, errors="replace") as h:
            lines = [l.strip() for l in h if l.strip()]
    except OSError:
        lines = []
    return lines[-1] if lines else ""
line = last_line(out)
try:
    result = json.loads(line) if rc == 0 else None
except ValueError:
    result = None
if isinstance(result, dict):
    text = line  # the scenario's own line, as printed
else:
    why = (f"exit status {rc}: " + (last_line(err)[:300] or "no message") if rc != 0
           else "no JSON object on the last line of output: " + line[:200])
    result = {"scenario": scenario, "error": why}
    text = json.dumps(result)
with open(path, "w") as h:
    h.write(text + "\n")
sys.exit(1 if "error" in result else 0)
PY
  if [ "$rc" != 0 ]; then
    FAILED+=("$name")
    log "($COUNT/$TOTAL) $name FAILED after $((SECONDS - started)) s: $(cat "$RESULTS/$name.json")"
  else
    log "($COUNT/$TOTAL) $name done in $((SECONDS - started)) s"
  fi
}

for n in "${SIZES[@]}"; do
  run "fanout-$n" fanout \
    "$BENCH" fanout --agents "$n" --writes "$WRITES" --json --meshrelay "$MESHRELAY"
  run "etcd-fanout-$n" etcd-fanout \
    env MESHRELAY_BENCH="$BENCH" scripts/bench-etcd.sh --watchers "$n" --writes "$WRITES" --json
  run "floor-$n" floor \
    "$BENCH" floor --agents "$n" --writes "$WRITES" --json
done
if [ "$QUICK" = 0 ]; then
  run initial-sync-100x10000 initial-sync \
    "$BENCH" initial-sync --agents 100 --resources 10000 --json --meshrelay "$MESHRELAY"
fi
run reconnect-1000 reconnect "$BENCH" reconnect --agents 1000 --json --meshrelay "$MESHRELAY"
run memory-1000 memory "$BENCH" memory --agents 1000 --json --meshrelay "$MESHRELAY"
if [ "$QUICK" = 0 ]; then
  run churn-500x200x60 churn \
    "$BENCH" churn --agents 500 --rate 200 --seconds 60 --json --meshrelay "$MESHRELAY"
fi

# The machine the figures come from.
log "recording the machine to $RESULTS/machine.json"
first_line() { "$@" 2>/dev/null | head -n 1 || true; }
python3 - "$RESULTS/machine.json" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(nproc)" \
  "$(lscpu 2>/dev/null | grep 'Model name' | head -n 1 | sed 's/^Model name:[[:space:]]*//' || true)" \
  "$(uname -r)" "$(first_line swift --version)" "$(first_line etcd --version)" "$commit" \
  "$WRITES" "$QUICK" <<'PY'
import json, sys
path, date, nproc, cpu, kernel, swift, etcd, commit, writes, quick = sys.argv[1:]
meminfo = dict(l.split(":", 1) for l in open("/proc/meminfo") if ":" in l)
mem_bytes = int(meminfo["MemTotal"].split()[0]) * 1024
with open(path, "w") as h:
    json.dump({"date": date, "nproc": int(nproc), "cpu": cpu.strip(), "memory_bytes": mem_bytes,
               "memory_gib": round(mem_bytes / 2**30, 1), "kernel": kernel, "swift": swift.strip(),
               "etcd": etcd.strip(), "commit": commit, "writes": int(writes), "quick": quick == "1"},
              h, indent=2)
    h.write("\n")
PY

log "drawing the plots and tables into $OUT"
if ! python3 scripts/bench-plots.py "$RESULTS" "$OUT"; then
  FAILED+=("bench-plots.py")
fi

if [ "${#FAILED[@]}" -gt 0 ]; then
  log "failed: ${FAILED[*]}"
  exit 1
fi
log "all done: $RESULTS, $OUT/results.md"
