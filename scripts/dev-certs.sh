#!/usr/bin/env bash
# Makes a local certificate folder with openssl, in the layout `meshrelay server --certs-dir` and
# `meshrelay agent --certs-dir` read (until `meshrelay certs` lands):
#   DIR/ca.crt DIR/ca.key             the CA (EC P-256)
#   DIR/server.crt DIR/server.key     server certificate: SAN DNS:localhost, IP:127.0.0.1 (+ extra SANs)
#   DIR/NAME.crt DIR/NAME.key         one agent certificate per cluster NAME, carrying the identity
#                                     URI SAN spiffe://meshrelay/cluster/NAME (docs/protocol.md)
# Usage: scripts/dev-certs.sh DIR CLUSTER... [--server-san DNS:foo --server-san IP:127.0.0.2 ...]
set -euo pipefail
dir="$1"; shift
clusters=(); sans=("DNS:localhost" "IP:127.0.0.1")
while [ $# -gt 0 ]; do
  case "$1" in
    --server-san) sans+=("$2"); shift 2 ;;
    *) clusters+=("$1"); shift ;;
  esac
done
mkdir -p "$dir"; cd "$dir"
umask 077
if [ ! -f ca.key ]; then
  openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
  openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=meshrelay dev CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.crt
fi
issue() { # name subject-cn san eku
  local name="$1" cn="$2" san="$3" eku="$4"
  openssl ecparam -name prime256v1 -genkey -noout -out "$name.key" 2>/dev/null
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr"
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n' "$san" "$eku" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 90 -sha256 -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}
issue server "meshrelay server" "$(IFS=,; echo "${sans[*]}")" serverAuth
for cluster in "${clusters[@]}"; do
  issue "$cluster" "$cluster" "URI:spiffe://meshrelay/cluster/$cluster" clientAuth
done
chmod 0644 ./*.crt
