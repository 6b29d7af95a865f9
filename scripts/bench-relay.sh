#!/usr/bin/env bash
# Relay load harness (issue 9; docs/benchmarks.md): builds meshrelay and meshrelay-bench in release,
# then runs the scenarios; each prints its JSON result as the last line of its output.
#   scripts/bench-relay.sh            fanout N=100 W=50, reconnect N=100
#   scripts/bench-relay.sh --large    also fanout N=500 and N=1000, reconnect N=1000, memory N=1000,
#                                     initial-sync N=100 R=10000, churn N=500 200/s 60 s
# Each scenario starts its own server on loopback (fresh temp data and certificates) and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
LARGE=0
[ "${1:-}" = "--large" ] && LARGE=1
swift build -c release --product meshrelay >/dev/null
swift build -c release --product meshrelay-bench >/dev/null
BIN="$(swift build -c release --show-bin-path)"
bench() { "$BIN/meshrelay-bench" "$@" --json --meshrelay "$BIN/meshrelay" | tail -n 1; }

bench fanout --agents 100 --writes 50
bench reconnect --agents 100
if [ "$LARGE" = 1 ]; then
  bench fanout --agents 500 --writes 50
  bench fanout --agents 1000 --writes 50
  bench reconnect --agents 1000
  bench memory --agents 1000
  bench initial-sync --agents 100 --resources 10000
  bench churn --agents 500 --rate 200 --seconds 60
fi
