#!/bin/bash
# The agent's Istio output → the cluster. `meshrelay agent --istio-dir DIR` keeps DIR a link to
# the current version of its manifests (one ServiceEntry, and DestinationRules for TLS
# origination, per ExternalService, plus a kustomization.yaml), swapped atomically. This loop
# applies each new version (server-side apply) and then deletes the objects the agent wrote
# before but no longer writes (label app.kubernetes.io/managed-by=meshrelay), so deleting an
# ExternalService closes the egress again. Nothing is deleted when a step fails.
#
# Environment: MESHRELAY_ISTIO_DIR (required), MESHRELAY_ISTIO_SYNC_INTERVAL (seconds, 5),
# MESHRELAY_ISTIO_RESYNC_EVERY (re-apply an unchanged version every N checks, 60),
# MESHRELAY_ISTIO_NAMESPACES (space-separated namespaces to prune in; empty: all),
# MESHRELAY_ISTIO_ONCE=1 (one pass, for tests). Needs kubectl, jq, comm (the kubectl image has them).
set -uo pipefail

dir="${MESHRELAY_ISTIO_DIR:?MESHRELAY_ISTIO_DIR is not set}"
interval="${MESHRELAY_ISTIO_SYNC_INTERVAL:-5}"
resync_every="${MESHRELAY_ISTIO_RESYNC_EVERY:-60}"
namespaces="${MESHRELAY_ISTIO_NAMESPACES:-}"
kinds="serviceentries.networking.istio.io,destinationrules.networking.istio.io"
selector="app.kubernetes.io/managed-by=meshrelay"
work="${TMPDIR:-/tmp}/istio-sync.$$"
mkdir -p "$work"

log() { printf '%s istio-apply: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

# KIND/NAMESPACE/NAME of every object in a stream of JSON objects or Lists, sorted.
keys() { jq -r 'if .kind == "List" then .items[] else . end | "\(.kind)/\(.metadata.namespace)/\(.metadata.name)"' | LC_ALL=C sort -u; }

sync_once() {
    if ! kubectl kustomize "$dir" >"$work/desired.yaml"; then
        log "cannot build $dir; will retry"
        return 1
    fi
    : >"$work/want"
    if grep -q '^kind:' "$work/desired.yaml"; then
        if ! kubectl apply --server-side --field-manager=meshrelay-agent --force-conflicts \
            -f "$work/desired.yaml" -o json >"$work/applied.json"; then
            log "apply failed; will retry"
            return 1
        fi
        keys <"$work/applied.json" >"$work/want" || return 1
    fi
    : >"$work/have"
    if [ -z "$namespaces" ]; then
        kubectl get "$kinds" --all-namespaces -l "$selector" -o json >"$work/current.json" || return 1
        keys <"$work/current.json" >"$work/have" || return 1
    else
        for ns in $namespaces; do
            kubectl get "$kinds" -n "$ns" -l "$selector" -o json >"$work/current.json" || return 1
            keys <"$work/current.json" >>"$work/have" || return 1
        done
        LC_ALL=C sort -u -o "$work/have" "$work/have"
    fi
    local kind ns name
    LC_ALL=C comm -13 "$work/want" "$work/have" >"$work/stale"
    while IFS=/ read -r kind ns name; do
        [ -n "$name" ] || continue
        case "$kind" in
            ServiceEntry) kubectl delete -n "$ns" "serviceentries.networking.istio.io/$name" --ignore-not-found || return 1 ;;
            DestinationRule) kubectl delete -n "$ns" "destinationrules.networking.istio.io/$name" --ignore-not-found || return 1 ;;
        esac
    done <"$work/stale"
    log "applied $(wc -l <"$work/want") object(s), deleted $(wc -l <"$work/stale") from $(readlink "$dir" || echo "$dir")"
}

trap 'rm -rf "$work"' EXIT
trap 'exit 0' TERM INT
applied=""
checks=0
while :; do
    if [ -f "$dir/kustomization.yaml" ]; then
        version="$(readlink "$dir" || echo unversioned)"
        if [ "$version" != "$applied" ] || [ $((checks % resync_every)) -eq 0 ]; then
            if sync_once; then applied="$version"; else applied=""; fi
        fi
    fi
    [ "${MESHRELAY_ISTIO_ONCE:-}" = 1 ] && exit 0
    checks=$((checks + 1))
    sleep "$interval" &
    wait $!
done
