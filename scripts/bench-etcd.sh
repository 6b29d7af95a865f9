#!/usr/bin/env bash
# The etcd peer of the relay fanout (issue 9; docs/benchmarks.md): one local etcd over mutual TLS,
# N watch streams on it, W puts, and the time until every watcher saw each put.
#   scripts/bench-etcd.sh --watchers N --writes W [--json] [--timeout S]
#     --json      print only the scenario's JSON object (the last line of its output)
#     --timeout   passed to meshrelay-bench (its bound on every wait)
#   MESHRELAY_BENCH=PATH   use this meshrelay-bench instead of building it in release
# It installs Debian's etcd if `etcd` is not on PATH (etcd-server, etcd-client), makes a throwaway
# CA (P-256), a server certificate for 127.0.0.1/localhost and a client certificate (CN etcd-bench)
# with openssl, starts etcd on two free loopback ports with a fresh data directory in a temp dir,
# waits until /health answers, runs `meshrelay-bench etcd-fanout`, and stops etcd and removes the
# temp dir on any exit. etcd's log is $TMP/etcd.log; its tail is printed if etcd does not start.
# Exit status: the bench's; 1 if etcd does not start; 2 on a usage error.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: scripts/bench-etcd.sh --watchers N --writes W [--json] [--timeout S]" >&2
  exit 2
}

WATCHERS="" WRITES="" JSON=0 TIMEOUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --watchers) [ $# -ge 2 ] || usage; WATCHERS="$2"; shift 2 ;;
    --writes)   [ $# -ge 2 ] || usage; WRITES="$2"; shift 2 ;;
    --timeout)  [ $# -ge 2 ] || usage; TIMEOUT="$2"; shift 2 ;;
    --json)     JSON=1; shift ;;
    -h|--help)  usage ;;
    *) echo "bench-etcd.sh: unknown argument: $1" >&2; usage ;;
  esac
done
is_count() { [[ "$1" =~ ^[1-9][0-9]*$ ]]; }
is_count "$WATCHERS" || { echo "bench-etcd.sh: --watchers needs a positive integer" >&2; usage; }
is_count "$WRITES" || { echo "bench-etcd.sh: --writes needs a positive integer" >&2; usage; }
[ -z "$TIMEOUT" ] || [[ "$TIMEOUT" =~ ^[0-9]+(\.[0-9]+)?$ ]] \
  || { echo "bench-etcd.sh: --timeout needs a number of seconds" >&2; usage; }

# etcd: Debian's package (3.4.23 on bookworm). `apt-get update` only if the install fails.
if ! command -v etcd >/dev/null 2>&1; then
  echo "bench-etcd.sh: installing etcd (apt-get install etcd-server etcd-client)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y etcd-server etcd-client >&2; then
    apt-get update >&2
    apt-get install -y etcd-server etcd-client >&2
  fi
fi

# meshrelay-bench: the given binary, or a release build.
if [ -n "${MESHRELAY_BENCH:-}" ]; then
  BENCH="$MESHRELAY_BENCH"
else
  swift build -c release --product meshrelay-bench >/dev/null
  BENCH="$(swift build -c release --show-bin-path)/meshrelay-bench"
fi

TMP="$(mktemp -d)"
ETCD_PID=""
cleanup() {
  if [ -n "$ETCD_PID" ]; then
    kill -TERM "$ETCD_PID" 2>/dev/null || true
    wait "$ETCD_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# TLS material: a P-256 CA, etcd's server certificate (also clientAuth: etcd's own HTTP/JSON gateway
# dials etcd's gRPC with it, and with --client-cert-auth that connection must pass as a client),
# and the bench's client certificate. Valid two days.
CA="$TMP/ca.crt" CA_KEY="$TMP/ca.key"
SERVER_CRT="$TMP/server.crt" SERVER_KEY="$TMP/server.key"
CLIENT_CRT="$TMP/client.crt" CLIENT_KEY="$TMP/client.key"
# ossl ARGS...: openssl, its chatter to $TMP/openssl.log, shown only if it fails.
ossl() {
  openssl "$@" >>"$TMP/openssl.log" 2>&1 \
    || { echo "bench-etcd.sh: openssl $1 failed:" >&2; cat "$TMP/openssl.log" >&2; exit 1; }
}
# issue NAME CN EXTENSIONS: $TMP/NAME.key (P-256) and $TMP/NAME.crt signed by the CA.
issue() {
  printf '%s\n' "$3" >"$TMP/$1.ext"
  ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
    -keyout "$TMP/$1.key" -out "$TMP/$1.csr"
  ossl x509 -req -in "$TMP/$1.csr" -CA "$CA" -CAkey "$CA_KEY" -CAcreateserial -days 2 \
    -extfile "$TMP/$1.ext" -out "$TMP/$1.crt"
}
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=etcd-bench-ca" -keyout "$CA_KEY" -out "$CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
issue server localhost "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:127.0.0.1,DNS:localhost"
issue client etcd-bench "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"

# Two free loopback ports (client, peer): bound to port 0 together, then released.
read -r CLIENT_PORT PEER_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
')
ENDPOINT="https://127.0.0.1:$CLIENT_PORT"
PEER="http://127.0.0.1:$PEER_PORT"

echo "bench-etcd.sh: starting $(etcd --version | head -n 1) on $ENDPOINT" >&2
etcd --name n1 --data-dir "$TMP/data" \
  --listen-client-urls "$ENDPOINT" --advertise-client-urls "$ENDPOINT" \
  --listen-peer-urls "$PEER" --initial-advertise-peer-urls "$PEER" \
  --initial-cluster "n1=$PEER" --initial-cluster-state new \
  --cert-file "$SERVER_CRT" --key-file "$SERVER_KEY" \
  --client-cert-auth --trusted-ca-file "$CA" \
  --logger zap --log-outputs stderr --log-level warn \
  >"$TMP/etcd.log" 2>&1 &
ETCD_PID=$!

# Wait (at most 15 s) until etcd answers {"health":"true"} over mutual TLS.
healthy=0
deadline=$((SECONDS + 15))
while [ "$SECONDS" -lt "$deadline" ]; do
  if ! kill -0 "$ETCD_PID" 2>/dev/null; then break; fi
  if curl -s --max-time 1 --cacert "$CA" --cert "$CLIENT_CRT" --key "$CLIENT_KEY" \
      "$ENDPOINT/health" 2>/dev/null | grep -q '"health":"true"'; then
    healthy=1
    break
  fi
  sleep 0.1
done
if [ "$healthy" != 1 ]; then
  echo "bench-etcd.sh: etcd did not become healthy on $ENDPOINT; the end of its log:" >&2
  tail -n 30 "$TMP/etcd.log" >&2
  exit 1
fi

args=(etcd-fanout --endpoint "$ENDPOINT" --ca "$CA" --cert "$CLIENT_CRT" --key "$CLIENT_KEY"
      --watchers "$WATCHERS" --writes "$WRITES")
[ -z "$TIMEOUT" ] || args+=(--timeout "$TIMEOUT")
if [ "$JSON" = 1 ]; then
  "$BENCH" "${args[@]}" --json | tail -n 1
else
  "$BENCH" "${args[@]}"
fi
