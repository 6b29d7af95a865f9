#!/usr/bin/env bash
# Foundation bars (docs/benchmarks.md): apply 10,000 ExternalServices in one multi-document file,
# `get externalservices -A` of them, and the idle server's RSS with them stored.
# Usage: scripts/bench-foundation.sh [COUNT]   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${1:-10000}"
swift build -c release --product meshrelay >/dev/null
BIN="$(swift build -c release --show-bin-path)/meshrelay"
WORK="$(mktemp -d)"
PORT="${BENCH_PORT:-19391}"
API="http://127.0.0.1:${PORT}"
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

python3 - "$COUNT" > "$WORK/services.yaml" <<'PY'
import sys
n = int(sys.argv[1])
docs = []
for i in range(n):
    docs.append(f"""apiVersion: networking.gloo.solo.io/v2
kind: ExternalService
metadata:
  name: svc-{i}
  namespace: ns-{i % 20}
  labels:
    team: team-{i % 7}
spec:
  hosts:
  - "api-{i}.example.com"
  ports:
  - name: https
    number: 443
    protocol: HTTPS
  - name: http
    number: 80
    protocol: HTTP
  selector: {{}}""")
print("\n---\n".join(docs))
PY

start_server() {
  "$BIN" server --data-dir "$WORK/data" --api-listen "127.0.0.1:${PORT}" --log-level warning &
  SERVER=$!
  for _ in $(seq 1 200); do curl -sf "$API/readyz" >/dev/null 2>&1 && return; sleep 0.05; done
  echo "server did not start" >&2; exit 1
}
now() { date +%s.%N; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

start_server
t0=$(now)
"$BIN" apply -f "$WORK/services.yaml" --api "$API" --token-file "$WORK/data/admin.token" > /dev/null
t1=$(now)
apply_s=$(echo "$t1 - $t0" | bc)

get_runs=()
for _ in 1 2 3 4 5; do
  g0=$(now)
  "$BIN" get externalservices -A --api "$API" > "$WORK/get.txt"
  g1=$(now)
  get_runs+=("$(echo "$g1 - $g0" | bc)")
done
rows=$(($(wc -l < "$WORK/get.txt") - 1))
get_median=$(printf '%s\n' "${get_runs[@]}" | sort -n | sed -n 3p)
get_first="${get_runs[0]}"   # the first list after the apply: the server's decode cache is cold
sleep 3
rss_after_apply=$(rss_kib "$SERVER")

# Restart: the idle RSS of a server that starts with 10,000 stored resources and serves one list.
kill -TERM "$SERVER"; wait "$SERVER" || true
start_server
"$BIN" get externalservices -A --api "$API" > /dev/null
sleep 3
rss_restarted=$(rss_kib "$SERVER")

printf '{"scenario":"foundation","resources":%s,"apply_seconds":%.3f,"get_all_seconds_first":%.3f,"get_all_seconds_median_of_5":%.3f,"get_rows":%s,"rss_mib_after_apply_idle":%.1f,"rss_mib_restarted_idle":%.1f}\n' \
  "$COUNT" "$apply_s" "$get_first" "$get_median" "$rows" "$(echo "$rss_after_apply / 1024" | bc -l)" "$(echo "$rss_restarted / 1024" | bc -l)"
