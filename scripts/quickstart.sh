#!/usr/bin/env bash
# The main job at this stage: start a management server on the embedded SQLite default, apply the
# Gloo guide's ExternalServices, show them and the status, then stop the server.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product meshrelay
BIN="$(swift build --show-bin-path)/meshrelay"
DATA="${MESHRELAY_DATA:-./meshrelay-data}"
API_PORT="${MESHRELAY_API_PORT:-9091}"
export MESHRELAY_API="http://127.0.0.1:${API_PORT}"

"$BIN" server --data-dir "$DATA" --api-listen "127.0.0.1:${API_PORT}" &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf "$MESHRELAY_API/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

echo "+ meshrelay apply -f examples/clusters.yaml -f examples/google.yaml"
"$BIN" apply -f examples/clusters.yaml -f examples/google.yaml --token-file "$DATA/admin.token"
echo "+ meshrelay get externalservices -A"
"$BIN" get externalservices -A
echo "+ meshrelay describe externalservice google -n global"
"$BIN" describe externalservice google -n global
echo "+ meshrelay status"
"$BIN" status
