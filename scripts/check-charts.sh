#!/usr/bin/env bash
# Checks charts/meshrelay-server and charts/meshrelay-agent without a cluster:
#   1. helm lint --strict with good values;
#   2. helm template with several value sets, each validated against the Kubernetes schemas
#      (kubernetes-validate --strict; ServiceMonitor, a CRD, is the only kind allowed to have no
#      schema) and checked for key facts (ports, probes, security context, labels, the Envoy
#      container and its shared volume, RBAC for Istio; the container runs
#      `meshrelay server|agent --config /etc/meshrelay/VERB.yaml`, the ConfigMap's file mounted
#      read-only, whose every key is an option of the verb, read from Sources/MeshRelayCLI);
#      then the rendered file goes to the real binary, with the container's exact arguments:
#      `$MESHRELAY_BIN VERB --config FILE [extraArgs] --dry-run` must exit 0 and print, as
#      effective settings, every value of the file (and of extraArgs, which win);
#   3. value sets that must fail to render, with the message they must give; files the chart
#      renders but the binary must refuse (exit 2, with the message); the [runs here] commands of
#      docs/install.md's "Configuration files", run verbatim;
#   4. upgrade safety of the generated admin token: `helm template --dry-run=server` against a
#      tiny read-only fake Kubernetes API on 127.0.0.1 that holds the Secret of a previous install
#      shows that the chart's `lookup` renders the same token again;
#   5. the Istio sidecar's loop (files/istio-sync.sh) against a kubectl stand-in: applies the
#      manifests, deletes the stale managed objects, keeps the others.
# Tools come from scripts/install-helm-tools.sh (helm v4, kubectl, kubernetes-validate).
# MESHRELAY_BIN: the meshrelay binary for the dry runs (default: .build/debug/meshrelay, else
# .build/release/meshrelay; this script never builds it). Without a binary that has --dry-run
# the dry runs count as failures.
# Usage: scripts/check-charts.sh [-v]      Exit status: 0 when every check passed.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
verbose=0
[[ "${1:-}" == "-v" ]] && verbose=1
K8S_VERSION="${K8S_VERSION:-1.32.0}"
NS=meshrelay-system

eval "$(bash "$repo/scripts/install-helm-tools.sh" "${MESHRELAY_TOOLS_DIR:-$repo/.tools}")" || {
    echo "check-charts: cannot install helm/kubectl/kubernetes-validate" >&2
    exit 1
}
work="$(mktemp -d)"
fake_pid=""
cleanup() {
    [[ -n "$fake_pid" ]] && kill "$fake_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); printf 'ok    %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL  %s\n' "$*"; }
show() { if [[ $verbose == 1 ]]; then sed 's/^/      /' "$1"; fi; }

server="$repo/charts/meshrelay-server"
agent="$repo/charts/meshrelay-agent"

# The binary the rendered configuration files are fed to.
has_dry_run() { [[ -x "$1" ]] && "$1" server --help 2>/dev/null | grep -q -- '--dry-run'; }
if [[ -z "${MESHRELAY_BIN:-}" ]]; then
    for candidate in "$repo/.build/debug/meshrelay" "$repo/.build/release/meshrelay"; do
        if has_dry_run "$candidate"; then MESHRELAY_BIN="$candidate"; break; fi
    done
    MESHRELAY_BIN="${MESHRELAY_BIN:-$repo/.build/debug/meshrelay}"
fi
[[ "$MESHRELAY_BIN" == /* || ! -e "$MESHRELAY_BIN" ]] || MESHRELAY_BIN="$(cd "$(dirname "$MESHRELAY_BIN")" && pwd)/$(basename "$MESHRELAY_BIN")"
dry_runs=1
if ! has_dry_run "$MESHRELAY_BIN"; then
    dry_runs=0
    bad "no meshrelay binary with --dry-run at $MESHRELAY_BIN (build it: swift build; or set MESHRELAY_BIN): the rendered config files are NOT checked by the binary"
fi

# A stand-in CA certificate for the bootstrap value sets (the chart only checks it is PEM).
printf -- '-----BEGIN CERTIFICATE-----\nTUVTSFJFTEFZLVRFU1Q=\n-----END CERTIFICATE-----\n' >"$work/ca.crt"

# ---------------------------------------------------------------------------------------------
# Facts about a rendered chart, checked in Python (PyYAML comes with kubernetes-validate).
cat >"$work/facts.py" <<'PY'
import json, re, sys, yaml

path, chart, case, repo = sys.argv[1:5]
docs = [d for d in yaml.safe_load_all(open(path)) if d]
problems = []

def check(condition, message):
    if not condition:
        problems.append(message)

def kinds(kind):
    return [d for d in docs if d["kind"] == kind]

def one(kind, name_suffix=""):
    found = [d for d in kinds(kind) if d["metadata"]["name"].endswith(name_suffix)]
    check(len(found) == 1, f"expected one {kind} named *{name_suffix}, found {len(found)}")
    return found[0] if found else {}

def flags_of(source_files, start=None, end=None):
    text = ""
    for file in source_files:
        content = open(f"{repo}/Sources/MeshRelayCLI/{file}").read()
        if start:
            content = content[content.index(start):content.index(end) if end else None]
        text += content
    return set(re.findall(r'customLong\("([a-z0-9-]+)"\)', text))

# Options a configuration file may not set: the file itself, and the dry run.
NOT_IN_FILE = {"config", "dry-run", "help", "version"}
SERVER_FLAGS = flags_of(["ServerCommand.swift"], "struct ServerCommand")
AGENT_FLAGS = flags_of(["AgentCommand.swift"], "struct AgentCommand") | flags_of(
    ["EnvoyOptions.swift"], "struct EnvoyGatewayOptions", "struct EnvoyBootstrapCommand")
CONFIG_PATH = {"server": "/etc/meshrelay/server.yaml", "agent": "/etc/meshrelay/agent.yaml"}
check(len(SERVER_FLAGS) > 10 and len(AGENT_FLAGS) > 10, "cannot read the flags from Sources/MeshRelayCLI")

RECOMMENDED = ["app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
               "app.kubernetes.io/managed-by", "app.kubernetes.io/component", "app.kubernetes.io/part-of",
               "helm.sh/chart"]
for d in docs:
    labels = d["metadata"].get("labels", {})
    missing = [l for l in RECOMMENDED if l not in labels]
    check(not missing, f"{d['kind']}/{d['metadata']['name']} lacks labels {missing}")

configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in kinds("ConfigMap")}
deployment = one("Deployment")
pod = deployment.get("spec", {}).get("template", {}).get("spec", {})
containers = {c["name"]: c for c in pod.get("containers", [])}
volumes = {v["name"]: v for v in pod.get("volumes", [])}

# Security: non-root, read-only root filesystem, no capabilities, seccomp RuntimeDefault.
psc = pod.get("securityContext", {})
check(psc.get("runAsNonRoot") is True and psc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
      "pod securityContext: runAsNonRoot and seccomp RuntimeDefault")
for name, c in containers.items():
    sc = c.get("securityContext", {})
    check(sc.get("runAsNonRoot") is True, f"{name}: runAsNonRoot")
    check(sc.get("readOnlyRootFilesystem") is True, f"{name}: readOnlyRootFilesystem")
    check(sc.get("allowPrivilegeEscalation") is False, f"{name}: allowPrivilegeEscalation false")
    check(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{name}: capabilities drop ALL")
    check(sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{name}: seccomp RuntimeDefault")
    check(bool(c.get("resources", {}).get("requests")), f"{name}: resource requests")
    image = c.get("image", "")
    check(re.search(r":[^/]+$|@sha256:", image) is not None, f"{name}: image {image} has no tag or digest")
    for mount in c.get("volumeMounts", []):
        check(mount["name"] in volumes, f"{name}: mounts unknown volume {mount['name']}")

def read_config(container, allowed, subcommand):
    """The container runs `meshrelay VERB --config PATH [extraArgs]`; PATH is the ConfigMap's
    VERB.yaml, mounted read-only. Returns the parsed file and the flags after it."""
    args = container.get("args", [])
    path = CONFIG_PATH[subcommand]
    check(args[:3] == [subcommand, "--config", path], f"{container['name']}: args start with {subcommand} --config {path}: {args}")
    check(not any("$(" in a for a in args), f"{container['name']}: no $(VAR) left in the args")
    check(not any(s.get("configMapRef", {}).get("name") in configmaps for s in container.get("envFrom", [])),
          "the configuration is a file, not environment from the ConfigMap")
    mounts = [m for m in container.get("volumeMounts", []) if m["mountPath"] == path]
    check(len(mounts) == 1 and mounts[0].get("readOnly") is True and mounts[0].get("subPath") == f"{subcommand}.yaml",
          f"{path} is mounted read-only from the ConfigMap's {subcommand}.yaml: {mounts}")
    config = {}
    if mounts:
        cm = volumes.get(mounts[0]["name"], {}).get("configMap", {}).get("name")
        check(cm in configmaps, f"the config volume's ConfigMap {cm} is rendered")
        text = configmaps.get(cm, {}).get(f"{subcommand}.yaml")
        check(isinstance(text, str), f"ConfigMap {cm} has {subcommand}.yaml")
        if isinstance(text, str):
            config = yaml.safe_load(text)
            check(isinstance(config, dict) and config, f"{subcommand}.yaml is a non-empty YAML mapping")
    config = config if isinstance(config, dict) else {}
    for key, value in config.items():
        check(key in allowed and key not in NOT_IN_FILE, f"{subcommand}.yaml: {key} is not an option of `meshrelay {subcommand}` (Sources/MeshRelayCLI)")
        ok_type = value is None or isinstance(value, (str, int, float, bool)) or (
            isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value))
        check(ok_type, f"{subcommand}.yaml: {key}: {value!r} is not a string, number, boolean or list of them")
        check(not (isinstance(value, str) and re.fullmatch(r"[0-9.]+e[+-][0-9]+", value)), f"{subcommand}.yaml: {key}: {value} in scientific notation")
    flags = {}
    for arg in args[3:]:
        if arg.startswith("--"):
            flag = arg[2:].split("=", 1)[0]
            check(flag in allowed, f"--{flag} is not a flag of `meshrelay {subcommand}`")
            flags[flag] = arg.split("=", 1)[1] if "=" in arg else True
    annotations = deployment.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations", {})
    check(re.fullmatch(r"[0-9a-f]{64}", annotations.get("checksum/config", "")) is not None, "checksum/config annotation rolls the pods on a config change")
    return config, flags

def env_of(container):
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}

def probe_paths(container):
    return {p: container.get(p, {}).get("httpGet", {}).get("path") for p in ("livenessProbe", "readinessProbe", "startupProbe")}

def ports(container):
    return {p["name"]: p["containerPort"] for p in container.get("ports", [])}

if chart == "server":
    c = containers.get("server", {})
    cfg, flags = read_config(c, SERVER_FLAGS, "server")
    env = env_of(c)
    check(probe_paths(c) == {"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"},
          f"server probes: {probe_paths(c)}")
    p = ports(c)
    relay = one("Service", "-server") if case != "server-fullname" else {}
    api = one("Service", "-api")
    relay_ports = {x["name"]: x["port"] for x in relay.get("spec", {}).get("ports", [])}
    api_ports = {x["name"]: x["port"] for x in api.get("spec", {}).get("ports", [])}
    check(p.get("relay") == 9900 and p.get("api") == 9091, f"server container ports {p}")
    check(relay_ports.get("tls-relay") == 9900, f"relay Service ports {relay_ports}")
    check(set(api_ports.values()) == {9091}, f"API Service ports {api_ports}")
    check(cfg.get("api-listen") == "0.0.0.0:9091" or case == "server-ipv6", f"API listen {cfg.get('api-listen')}")
    check(cfg.get("relay-listen") == "0.0.0.0:9900" or case == "server-ipv6", f"relay listen {cfg.get('relay-listen')}")
    check(cfg.get("token-file") == "/etc/meshrelay/admin/token" and cfg.get("data-dir") == "/var/lib/meshrelay", "server: token-file and data-dir")
    check(any(m["name"] == "admin-token" and m["mountPath"] == "/etc/meshrelay/admin" for m in c.get("volumeMounts", [])),
          "token-file is in the mounted admin token Secret")
    check(any(m["name"] == "data" and m["mountPath"] == cfg.get("data-dir") for m in c.get("volumeMounts", [])), "data-dir is the data volume")
    check(cfg.get("log-format") == "json" and cfg.get("log-level") == ("debug" if case == "server-extra" else "info"), "json logs at info")
    token_secret = volumes.get("admin-token", {}).get("secret", {}).get("secretName")
    check(token_secret is not None, "server mounts the admin token Secret")
    pdbs, pvcs, monitors = kinds("PodDisruptionBudget"), kinds("PersistentVolumeClaim"), kinds("ServiceMonitor")
    replicas = deployment["spec"]["replicas"]
    check(bool(pdbs) == (replicas > 1), f"PodDisruptionBudget exactly when replicas > 1 (replicas {replicas}, {len(pdbs)} PDB)")
    if case == "server-defaults":
        check(cfg.get("certs-dir") == "/etc/meshrelay/certs" and "enroll-listen" not in cfg, "defaults: relay on, enrolment off")
        check(cfg.get("api-tls") is False and cfg.get("max-body-bytes") == 67108864 and cfg.get("changelog-retention") == 100000,
              f"defaults: api-tls false, whole numbers as integers ({cfg.get('max-body-bytes')!r}, {cfg.get('changelog-retention')!r})")
        check(not any(e["name"].startswith("PG") for e in c.get("env", [])), "no PostgreSQL settings with one replica")
        check(len(pvcs) == 1 and "persistentVolumeClaim" in volumes["data"], "defaults: SQLite on a PVC")
        check(deployment["spec"]["strategy"]["type"] == "Recreate", "defaults: Recreate (one SQLite writer)")
        check(kinds("Secret") and kinds("Secret")[0]["metadata"]["annotations"].get("helm.sh/resource-policy") == "keep",
              "the generated admin-token Secret is kept on uninstall")
    if case == "server-ha":
        check(replicas == 3 and not pvcs and "emptyDir" in volumes["data"], "HA: 3 replicas, no PVC")
        check(env.get("PGHOST") == "postgres.db.svc" and env.get("PGPORT") == "5432"
              and env.get("MESHRELAY_STORE", "").startswith("postgres://meshrelay@postgres.db.svc:5432/"),
              f"HA: PostgreSQL settings in the environment ({env.get('MESHRELAY_STORE')})")
        check(any(e["name"] == "PGPASSWORD" and "secretKeyRef" in e.get("valueFrom", {}) for e in c.get("env", [])), "HA: PGPASSWORD from a Secret")
        check(deployment["spec"]["strategy"]["type"] == "RollingUpdate", "HA: RollingUpdate")
    if case == "server-ha-ipv6":
        check(env.get("MESHRELAY_STORE", "").startswith("postgres://meshrelay@[fd00::5]:5432/"),
              f"HA: an IPv6 PostgreSQL host is bracketed in the URL ({env.get('MESHRELAY_STORE')})")
    if case == "server-monitoring":
        check(len(monitors) == 1 and monitors[0]["spec"]["endpoints"][0]["path"] == "/metrics"
              and monitors[0]["spec"]["endpoints"][0]["scheme"] == "https", "ServiceMonitor on /metrics over https")
        check(c["livenessProbe"]["httpGet"]["scheme"] == "HTTPS" and cfg.get("api-tls") is True, "api.tls: HTTPS probes, api-tls: true")
    else:
        check(not monitors, "no ServiceMonitor unless enabled")
    if case == "server-loadbalancer":
        check(relay["spec"]["type"] == "LoadBalancer" and relay_ports.get("https-enroll") == 9901, f"LoadBalancer relay Service with enrolment: {relay_ports}")
        check(api["spec"]["type"] == "ClusterIP", "the API Service stays ClusterIP")
        check(relay["spec"].get("loadBalancerSourceRanges") == ["198.51.100.0/24"], "loadBalancerSourceRanges")
        check("ca.key" in [i["path"] for i in volumes["certs"]["secret"]["items"]], "enrolment mounts ca.key")
        check(cfg.get("enroll-listen") == "0.0.0.0:9901" and cfg.get("agent-cert-days") == 90, "enroll-listen 0.0.0.0:9901, agent-cert-days 90")
    if case == "server-ipv6":
        check(cfg.get("api-listen") == "[::]:9091" and cfg.get("relay-listen") == "[::]:9900", "IPv6 listen addresses in brackets")
    if case == "server-extra":
        check(cfg.get("log-level") == "debug" and cfg.get("max-body-bytes") == 134217728 and cfg.get("api-tls") is False,
              f"extraConfig replaces the chart's keys, whole numbers stay integers: {cfg.get('log-level')}, {cfg.get('max-body-bytes')!r}")
        check(flags == {"log-format": "text"}, f"extraArgs after the file: {flags}")

if chart == "agent":
    c = containers.get("agent", {})
    cfg, flags = read_config(c, AGENT_FLAGS, "agent")
    check(probe_paths(c) == {"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"},
          f"agent probes: {probe_paths(c)}")
    check(ports(c).get("metrics") == 9092 and cfg.get("metrics-listen") == "0.0.0.0:9092", "agent metrics on 9092")
    check("envoy" not in cfg and "envoy" not in flags, "the agent does not supervise Envoy (no envoy option)")
    check(cfg.get("cluster") and cfg.get("outbound-policy") in ("REGISTRY_ONLY", "ALLOW_ANY"), "cluster and policy")
    check(isinstance(cfg.get("server"), list) and cfg["server"], f"server is a list: {cfg.get('server')}")
    check(any(m["name"] == "state" and m["mountPath"] == cfg.get("state-dir") for m in c.get("volumeMounts", [])), "state-dir is the state volume")
    envoy = containers.get("envoy")
    egress = [s for s in kinds("Service") if s["metadata"]["name"].endswith("-egress")]
    if case != "agent-istio-only":
        check(envoy is not None, "the Envoy container is there")
        envoy = envoy or {}
        check(re.fullmatch(r"envoyproxy/envoy:v1\.40\.\d+", envoy.get("image", "")) is not None, f"official Envoy 1.40 image: {envoy.get('image')}")
        script = " ".join(envoy.get("command", []))
        check("bootstrap.json" in script and 'exec envoy -c "$dir/bootstrap.json"' in script, "Envoy runs the agent's bootstrap.json")
        agent_dir = cfg.get("envoy-config-dir")
        shared = [m for m in envoy.get("volumeMounts", []) if m["name"] == "envoy-config"]
        check(shared and shared[0]["mountPath"] == agent_dir and "emptyDir" in volumes.get("envoy-config", {}),
              "Envoy and the agent share the emptyDir at --envoy-config-dir")
        check(f"dir={agent_dir}" in script, "the Envoy container waits in --envoy-config-dir")
        check(str(cfg.get("envoy-admin", "")).startswith("127.0.0.1:"), "Envoy admin on loopback")
        check(envoy.get("readinessProbe", {}).get("tcpSocket", {}).get("port") == "egress-http", "Envoy readiness on the listener")
        check(len(egress) == 1 and egress[0]["spec"]["ports"][0]["port"] == 15001, "egress gateway Service on 15001")
        check(ports(envoy).get("egress-http") == int(str(cfg.get("egress-listen", ":0")).rsplit(":", 1)[1]), "Envoy port = egress-listen port")
    mode_bootstrap = "bootstrap-token-file" in cfg
    if case == "agent-defaults":
        check(not mode_bootstrap and cfg.get("certs-dir") == "/etc/meshrelay/certs", "defaults: certificates from a Secret")
        check(any(m["name"] == "certs" and m["mountPath"] == cfg.get("certs-dir") for m in c.get("volumeMounts", [])), "certs-dir is the mounted Secret")
        items = [i["path"] for i in volumes["certs"]["secret"]["items"]]
        check(items == ["ca.crt", "cluster-1.crt", "cluster-1.key"], f"certs-dir files {items}")
        check(cfg.get("server") == ["meshrelay-server.meshrelay-system.svc:9900"], "default server address")
        check(cfg.get("outbound-policy") == "REGISTRY_ONLY", "default REGISTRY_ONLY")
        check(cfg.get("cluster") == "cluster-1" and "istio-dir" not in cfg and "egress-tls-listen" not in cfg, "defaults: cluster-1, no Istio, no TLS listener")
        check(pod.get("automountServiceAccountToken") is False and "istio-apply" not in containers, "no API token without Istio")
    if case == "agent-bootstrap":
        check(mode_bootstrap and "ca-file" in cfg and "certs-dir" not in cfg, "bootstrap: token + CA, no certs Secret")
        mounted = {m["mountPath"] for m in c.get("volumeMounts", [])}
        check(cfg["bootstrap-token-file"].rsplit("/", 1)[0] in mounted and cfg["ca-file"].rsplit("/", 1)[0] in mounted,
              "bootstrap-token-file and ca-file are in mounted volumes")
        check(cfg.get("renew-at") == 0.667 and cfg.get("renew-min-interval") == 60, f"renew-at, renew-min-interval: {cfg.get('renew-at')}, {cfg.get('renew-min-interval')}")
        check(any(s["metadata"]["name"].endswith("-bootstrap-token") for s in kinds("Secret")), "bootstrap token Secret")
        check("persistentVolumeClaim" in volumes["state"] and kinds("PersistentVolumeClaim"), "bootstrap: state on a PVC")
        check(pod.get("hostAliases") == [{"ip": "203.0.113.10", "hostnames": ["relay.example.com"]}], f"authority via hostAliases: {pod.get('hostAliases')}")
        check(cfg.get("server") == ["relay.example.com:9900"], f"dials the authority: {cfg.get('server')}")
        check(deployment["spec"]["strategy"]["type"] == "Recreate", "PVC: Recreate")
    if case == "agent-allow-any":
        check(cfg.get("outbound-policy") == "ALLOW_ANY", "ALLOW_ANY")
        check(cfg.get("server") == ["relay-a.example.com:9900", "relay-b.example.com:9900"], f"server list {cfg.get('server')}")
        check(len(kinds("PodDisruptionBudget")) == 1, "2 replicas: a PDB")
    if case in ("agent-istio", "agent-istio-only"):
        sidecar = containers.get("istio-apply", {})
        check(re.fullmatch(r"registry\.k8s\.io/kubectl:v1\.\d+\.\d+", sidecar.get("image", "")) is not None, "kubectl sidecar image")
        check(str(cfg.get("istio-dir", "")).startswith("/var/run/meshrelay/istio/"), "istio-dir in the shared volume")
        check(env_of(sidecar).get("MESHRELAY_ISTIO_DIR") == cfg.get("istio-dir"), "the sidecar reads the agent's istio-dir")
        check(any(m["name"] == "kube-api-access" for m in sidecar.get("volumeMounts", [])), "only the sidecar gets the API token")
        check(not any(m["name"] == "kube-api-access" for m in c.get("volumeMounts", [])), "the agent gets no API token")
        check("istio-sync.sh" in configmaps.get(deployment["metadata"]["name"] + "-istio-sync", {}), "the sync script ConfigMap")
    if case == "agent-istio":
        roles = kinds("Role")
        check(sorted(r["metadata"]["namespace"] for r in roles) == ["bookinfo", "global"] and len(kinds("RoleBinding")) == 2,
              "Role + RoleBinding in each of istio.namespaces")
        rule = roles[0]["rules"][0] if roles else {}
        check(rule.get("apiGroups") == ["networking.istio.io"] and "serviceentries" in rule.get("resources", []) and "delete" in rule.get("verbs", []),
              "RBAC on serviceentries in networking.istio.io")
    if case == "agent-istio-only":
        check("envoy" not in containers and not egress, "Istio only: no Envoy container, no egress Service")
        check(len(kinds("ClusterRole")) == 1 and len(kinds("ClusterRoleBinding")) == 1, "no namespaces listed: ClusterRole + binding")
    if case == "agent-extra":
        check(cfg.get("reconnect-backoff-cap") == 60 and c.get("args", [])[3:] == ["--log-level", "debug"],
              f"extraConfig in the file, extraArgs after it: {cfg.get('reconnect-backoff-cap')!r}, {c.get('args')}")
    if case == "agent-monitoring":
        check(len(kinds("ServiceMonitor")) == 1 and any(s["metadata"]["name"].endswith("-metrics") for s in kinds("Service")), "ServiceMonitor + metrics Service")
        check(egress and egress[0]["spec"]["type"] == "LoadBalancer" and len(egress[0]["spec"]["ports"]) == 2, "LoadBalancer egress Service with the TLS port")
        check(cfg.get("egress-tls-listen") == "0.0.0.0:15443", "egress-tls-listen")

for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PY

# ---------------------------------------------------------------------------------------------
# The rendered configuration file, fed to the binary as the pod would run it: the container's
# args with the config path replaced by a local copy of the ConfigMap's file, plus --dry-run.
# The dry run prints the effective settings as YAML; each value of the file (or of an argument
# after it, which wins) must be there, as written.
cat >"$work/dryrun.py" <<'PY'
import os, subprocess, sys, yaml

path, verb, binary, workdir = sys.argv[1:5]
expect_fail = sys.argv[5:]  # texts stderr must hold ({file}: the config file's path); none: must pass
docs = [d for d in yaml.safe_load_all(open(path)) if d]
deployment = [d for d in docs if d["kind"] == "Deployment"][0]
pod = deployment["spec"]["template"]["spec"]
container = [c for c in pod["containers"] if c["name"] == verb][0]
volumes = {v["name"]: v for v in pod.get("volumes", [])}
configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
args = container["args"]
config_path = args[args.index("--config") + 1]
mount = [m for m in container["volumeMounts"] if m["mountPath"] == config_path][0]
text = configmaps[volumes[mount["name"]]["configMap"]["name"]][mount["subPath"]]
local = f"{workdir}/{verb}.yaml"
open(local, "w").write(text)
command = [binary] + [local if a == config_path else a for a in args] + ["--dry-run"]
shown = " ".join(["meshrelay"] + [f"{verb}.yaml" if a == local else a for a in command[1:]])
# The container's plain environment too: the server reads its store URL from MESHRELAY_STORE.
environment = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
run = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, **environment})
open(f"{workdir}/dry-run.out", "w").write(run.stdout + run.stderr)

if expect_fail:
    expected = [e.replace("{file}", local) for e in expect_fail]
    if run.returncode == 2 and all(e in run.stderr for e in expected):
        lines = [next(l for l in run.stderr.splitlines() if e in l).strip() for e in expected]
        print(f"{shown}: exit 2: " + " / ".join(dict.fromkeys(lines)).replace(local, f"{verb}.yaml")[:300])
        sys.exit(0)
    print(f"{shown}: exit {run.returncode}, expected 2 with {expected!r}")
    sys.exit(1)
if run.returncode != 0:
    print(f"{shown}: exit {run.returncode}")
    sys.exit(1)

effective = yaml.safe_load(run.stdout) or {}
wanted = dict(yaml.safe_load(text))
rest = args[args.index("--config") + 2:]
i = 0
while i < len(rest):  # the arguments after the file win over it
    arg = rest[i]
    if arg.startswith("--"):
        key, value = (arg[2:].split("=", 1) + [None])[:2]
        if value is None and i + 1 < len(rest) and not rest[i + 1].startswith("--"):
            value = rest[i + 1]
            i += 1
        wanted[key] = True if value is None else value
    i += 1

def same(want, got):
    if want is None or want is False:
        return got in (None, False)
    if want is True:
        return got is True
    if isinstance(want, list):
        want = ",".join(str(x) for x in want)
    try:
        return float(want) == float(got)
    except (TypeError, ValueError):
        return str(want) == str(got)

problems = [f"{k}: {v!r} in the file, {effective.get(k)!r} effective" for k, v in wanted.items() if not same(v, effective.get(k))]
if "MESHRELAY_STORE" in environment and effective.get("store") != environment["MESHRELAY_STORE"]:
    problems.append(f"store: {environment['MESHRELAY_STORE']!r} in MESHRELAY_STORE, {effective.get('store')!r} effective")
if problems:
    print(f"{shown}: exit 0, but the effective settings differ:")
    for p in problems:
        print("  " + p)
    sys.exit(1)
print(f"{shown}: exit 0; {len(effective)} effective settings, the {len(wanted)} given all as written")
PY

dry_run() { # NAME VERB RENDERED [EXPECTED-FAILURE]: feed the rendered config file to the binary
    local name="$1" verb="$2" rendered="$3"
    shift 3
    [[ $dry_runs == 1 ]] || return 1
    mkdir -p "$work/$name.dry"
    if python3 "$work/dryrun.py" "$rendered" "$verb" "$MESHRELAY_BIN" "$work/$name.dry" "$@" >"$work/$name.dry/result" 2>&1; then
        return 0
    fi
    return 1
}

render_ok() { # NAME CHART ARGS... : render, validate against the schemas, check the facts, dry-run
    local name="$1" chart="$2"
    shift 2
    local kind="${name%%-*}" out="$work/$name.yaml"
    if ! "$HELM" template "meshrelay-$kind" "$chart" -n "$NS" "$@" >"$out" 2>"$work/$name.err"; then
        bad "$name: helm template failed"
        sed 's/^/      /' "$work/$name.err"
        return
    fi
    "$KUBERNETES_VALIDATE" -k "$K8S_VERSION" --strict "$out" >"$work/$name.validate" 2>&1
    local rc=$?
    local unknown
    unknown="$(grep '^WARN' "$work/$name.validate" | grep -v 'ServiceMonitor' || true)"
    local count
    count="$(grep -c '^INFO.*passed' "$work/$name.validate")"
    if [[ $rc -ne 0 || -n "$unknown" ]]; then
        bad "$name: kubernetes-validate $K8S_VERSION --strict"
        grep -v '^INFO' "$work/$name.validate" | sed 's/^/      /'
        return
    fi
    if python3 "$work/facts.py" "$out" "$kind" "$name" "$repo" >"$work/$name.facts" 2>&1; then
        local crds
        crds="$(grep -c '^WARN.*ServiceMonitor' "$work/$name.validate")"
        ok "$name: rendered, $count objects valid for Kubernetes $K8S_VERSION${crds:+$( ((crds > 0)) && echo ", $crds ServiceMonitor (CRD, no schema)")}, facts hold"
        show "$work/$name.validate"
    else
        bad "$name: rendered facts"
        sed 's/^/      /' "$work/$name.facts"
    fi
    # The binary's own verdict on the rendered file, whatever the facts said.
    if [[ $dry_runs == 1 ]]; then
        if dry_run "$name" "$kind" "$out"; then
            ok "$name: $(cat "$work/$name.dry/result")"
            show "$work/$name.dry/dry-run.out"
        else
            bad "$name: $(head -1 "$work/$name.dry/result")"
            tail -n +2 "$work/$name.dry/result" | sed 's/^/      /'
            sed 's/^/      | /' "$work/$name.dry/dry-run.out"
        fi
    fi
}

dry_run_fails() { # NAME CHART "EXPECTED|PARTS" ARGS... : renders, but the binary must refuse the file
    local name="$1" chart="$2" expected_parts
    IFS='|' read -r -a expected_parts <<<"$3"
    shift 3
    local kind="${name%%-*}" out="$work/$name.yaml"
    if ! "$HELM" template "meshrelay-$kind" "$chart" -n "$NS" "$@" >"$out" 2>"$work/$name.err"; then
        bad "$name: helm template failed"
        sed 's/^/      /' "$work/$name.err"
        return
    fi
    [[ $dry_runs == 1 ]] || return
    if dry_run "$name" "$kind" "$out" "${expected_parts[@]}"; then
        ok "$name: $(cat "$work/$name.dry/result")"
    else
        bad "$name: $(cat "$work/$name.dry/result")"
        sed 's/^/      | /' "$work/$name.dry/dry-run.out"
    fi
}

render_fails() { # NAME CHART "EXPECTED MESSAGE PART" ARGS... : rendering must fail with that message
    local name="$1" chart="$2" expected="$3"
    shift 3
    if "$HELM" template "meshrelay-x" "$chart" -n "$NS" "$@" >/dev/null 2>"$work/$name.err"; then
        bad "$name: rendered, but must fail with \"$expected\""
        return
    fi
    if grep -qF -- "$expected" "$work/$name.err"; then
        ok "$name: refused: $(grep -F -- "$expected" "$work/$name.err" | head -1 | sed 's/^Error: //; s/^execution error at ([^)]*): //' | cut -c1-220)"
    else
        bad "$name: failed, but without \"$expected\""
        sed 's/^/      /' "$work/$name.err"
    fi
}

echo "== helm lint --strict ($("$HELM" version --template '{{.Version}}'))"
for args in "$server" "$server --set replicas=3 --set postgresql.host=postgres.db.svc" \
    "$agent --set cluster=cluster-1" "$agent --set cluster=cluster-1 --set istio.enabled=true"; do
    # shellcheck disable=SC2086
    if "$HELM" lint --strict $args >"$work/lint.out" 2>&1; then
        ok "helm lint --strict ${args#"$repo/"}: $(grep -o '[0-9]* chart(s) failed' "$work/lint.out")"
        show "$work/lint.out"
    else
        bad "helm lint --strict ${args#"$repo/"}"
        sed 's/^/      /' "$work/lint.out"
    fi
done

echo "== helm template | kubernetes-validate -k $K8S_VERSION --strict | facts"
render_ok server-defaults "$server"
render_ok server-ha "$server" --set replicas=3 --set postgresql.host=postgres.db.svc \
    --set postgresql.existingSecret=meshrelay-postgres
render_ok server-ha-ipv6 "$server" --set replicas=2 --set postgresql.host=fd00::5
render_ok server-monitoring "$server" --set serviceMonitor.enabled=true --set api.tls=true \
    --set serviceMonitor.labels.release=prometheus
render_ok server-loadbalancer "$server" --set service.type=LoadBalancer --set enrollment.enabled=true \
    --set 'service.loadBalancerSourceRanges={198.51.100.0/24}' --set service.externalTrafficPolicy=Local
render_ok server-ipv6 "$server" --set listenHost=:: --set 'service.ipFamilies={IPv6}' --set service.ipFamilyPolicy=SingleStack
render_ok server-extra "$server" --set extraConfig.log-level=debug --set extraConfig.max-body-bytes=134217728 \
    --set 'extraArgs={--log-format=text}'
render_ok agent-defaults "$agent" --set cluster=cluster-1
render_ok agent-bootstrap "$agent" --set cluster=cluster-2 --set bootstrapToken=single-use-token \
    --set-file bootstrap.caCertificate="$work/ca.crt" --set persistence.enabled=true \
    --set relay.serverAddress=203.0.113.10:9900 --set relay.authority=relay.example.com
render_ok agent-allow-any "$agent" --set cluster=cluster-1 --set outboundTrafficPolicy=ALLOW_ANY --set replicas=2 \
    --set 'relay.serverAddress={relay-a.example.com:9900,relay-b.example.com:9900}'
render_ok agent-istio "$agent" --set cluster=cluster-1 --set istio.enabled=true --set 'istio.namespaces={global,bookinfo}'
render_ok agent-istio-only "$agent" --set cluster=cluster-1 --set istio.enabled=true --set egressGateway.enabled=false
render_ok agent-monitoring "$agent" --set cluster=cluster-1 --set serviceMonitor.enabled=true \
    --set egressGateway.service.type=LoadBalancer --set egressGateway.tls.enabled=true
render_ok agent-extra "$agent" --set cluster=cluster-1 --set extraConfig.reconnect-backoff-cap=60 \
    --set 'extraArgs={--log-level,debug}'

echo "== files that render but the binary must refuse (meshrelay VERB --config FILE --dry-run: exit 2)"
dry_run_fails server-unknown-option "$server" "Unknown option '--no-such-option'|--config {file}" --set extraConfig.no-such-option=1
dry_run_fails agent-bad-policy-in-extra "$agent" "--outbound-policy must be REGISTRY_ONLY or ALLOW_ANY" \
    --set cluster=cluster-1 --set extraConfig.outbound-policy=BLOCK
dry_run_fails agent-bad-backoff-in-extra "$agent" "--reconnect-backoff-cap" --set cluster=cluster-1 \
    --set extraConfig.reconnect-backoff-cap=0.0001

echo "== docs/install.md, Configuration files: its [runs here] commands, verbatim"
# The guide's commands run as written (in a scratch folder with charts/ linked, helm and meshrelay on PATH).
python3 - "$repo/docs/install.md" >"$work/doc-config.sh" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
section = text[text.index("### Configuration files"):]
section = section[:section.index("\n## ")]
commands = []
for block in re.findall(r"```sh\n(.*?)```", section, re.S):
    for line in block.replace("\\\n", " ").splitlines():
        if line.rstrip().endswith("# [runs here]"):
            commands.append(line.rsplit("# [runs here]", 1)[0].rstrip())
print("set -euo pipefail")
print("\n".join(commands))
PY
doc_commands="$(grep -vc '^set ' "$work/doc-config.sh")"
if [[ $dry_runs == 1 ]]; then
    mkdir -p "$work/doc/bin"
    ln -s "$repo/charts" "$work/doc/charts"
    ln -s "$HELM" "$work/doc/bin/helm"
    ln -s "$MESHRELAY_BIN" "$work/doc/bin/meshrelay"
    if (cd "$work/doc" && PATH="$work/doc/bin:$PATH" bash "$work/doc-config.sh") >"$work/doc.out" 2>&1 \
        && ((doc_commands >= 2)) && grep -q 'settings valid' "$work/doc.out" && grep -q '^token-file: /etc/meshrelay/admin/token' "$work/doc.out"; then
        ok "docs/install.md: $doc_commands commands (helm template … > server.yaml; meshrelay server --config server.yaml --dry-run): exit 0, settings valid"
        show "$work/doc.out"
    else
        bad "docs/install.md Configuration files commands ($doc_commands found)"
        sed 's/^/      /' "$work/doc-config.sh" "$work/doc.out"
    fi
fi

echo "== values that must not render"
render_fails agent-no-cluster "$agent" "cluster is required"
render_fails agent-policy-block "$agent" "outboundTrafficPolicy" --set cluster=cluster-1 --set outboundTrafficPolicy=BLOCK
render_fails server-replicas-no-postgres "$server" "needs the PostgreSQL store" --set replicas=2
render_fails server-replicas-string "$server" "got string, want integer" --set replicas=three
render_fails agent-port-string "$agent" "got string, want integer" --set cluster=cluster-1 --set-string metrics.port=9092
render_fails agent-misspelt-key "$agent" "additional properties 'serverAdress' not allowed" --set cluster=cluster-1 --set relay.serverAdress=x:1
render_fails agent-address-no-port "$agent" "/relay/serverAddress': 'relay.example.com' does not match pattern" --set cluster=cluster-1 --set relay.serverAddress=relay.example.com
render_fails agent-bad-cluster-name "$agent" "/cluster" --set cluster=Cluster_1
render_fails agent-bootstrap-no-persistence "$agent" "needs persistence.enabled=true" --set cluster=cluster-2 \
    --set bootstrapToken=t --set-file bootstrap.caCertificate="$work/ca.crt"
render_fails agent-bootstrap-no-ca "$agent" "needs the relay CA" --set cluster=cluster-2 --set bootstrapToken=t --set persistence.enabled=true
render_fails agent-bootstrap-and-secret "$agent" "are exclusive" --set cluster=cluster-2 --set bootstrapToken=t \
    --set-file bootstrap.caCertificate="$work/ca.crt" --set persistence.enabled=true --set certificates.existingSecret=s
render_fails agent-authority-dns "$agent" "relay.authority \"relay.example.com\" differs" --set cluster=cluster-1 \
    --set relay.serverAddress=relay.internal:9900 --set relay.authority=relay.example.com
render_fails agent-nothing-to-apply "$agent" "nothing to apply to" --set cluster=cluster-1 --set egressGateway.enabled=false
render_fails server-enrollment-without-certs "$server" "enrollment.enabled=true signs agent certificates" \
    --set enrollment.enabled=true --set certificates.secretName=
render_fails server-heartbeat-zero "$server" "/relay/heartbeatInterval" --set relay.heartbeatInterval=0
render_fails server-extra-config-name "$server" "'LogLevel' does not match pattern" --set extraConfig.LogLevel=debug
render_fails agent-extra-config-object "$agent" "/extraConfig/server': got object" --set cluster=cluster-1 --set extraConfig.server.a=1

echo "== the admin token survives helm upgrade"
token_of() { python3 -c '
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "Secret" and d["metadata"]["name"].endswith("-admin-token"):
        print(d["data"]["token"])' "$1"; }
"$HELM" template meshrelay-server "$server" -n "$NS" >"$work/t1.yaml" && "$HELM" template meshrelay-server "$server" -n "$NS" >"$work/t2.yaml"
t1="$(token_of "$work/t1.yaml")"
t2="$(token_of "$work/t2.yaml")"
if [[ -n "$t1" && "$t1" != "$t2" ]]; then
    ok "helm template twice: two different tokens (no cluster, so lookup finds nothing and a fresh one is generated: the install path)"
else
    bad "helm template twice: expected two fresh tokens, got '$t1' and '$t2'"
fi
if grep -q 'lookup "v1" "Secret"' "$server/templates/secret-admin-token.yaml" \
    && grep -q 'helm.sh/resource-policy: keep' "$server/templates/secret-admin-token.yaml"; then
    ok "secret-admin-token.yaml reads the existing Secret with lookup and is kept on uninstall"
else
    bad "secret-admin-token.yaml must use lookup and helm.sh/resource-policy: keep"
fi

# A read-only fake Kubernetes API (loopback only): discovery, and GET of the Secrets in a JSON
# file. `helm template --dry-run=server` runs `lookup` against it, as `helm upgrade` does against
# a real cluster.
cat >"$work/fakekube.py" <<'PY'
import json, re, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
secrets_file, port_file = sys.argv[1], sys.argv[2]
GROUPS = ["apps", "policy", "rbac.authorization.k8s.io", "monitoring.coreos.com"]
RESOURCES = {
    "v1": [("secrets", "Secret", True), ("configmaps", "ConfigMap", True), ("services", "Service", True),
           ("serviceaccounts", "ServiceAccount", True), ("persistentvolumeclaims", "PersistentVolumeClaim", True)],
    "apps/v1": [("deployments", "Deployment", True)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "rbac.authorization.k8s.io/v1": [("roles", "Role", True), ("rolebindings", "RoleBinding", True),
                                     ("clusterroles", "ClusterRole", False), ("clusterrolebindings", "ClusterRoleBinding", False)],
    "monitoring.coreos.com/v1": [("servicemonitors", "ServiceMonitor", True)],
}
class Handler(BaseHTTPRequestHandler):
    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/version":
            return self.reply(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "platform": "linux/amd64"})
        if path == "/api":
            return self.reply(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        if path == "/apis":
            return self.reply(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/v1", "version": "v1"}],
                 "preferredVersion": {"groupVersion": f"{g}/v1", "version": "v1"}} for g in GROUPS]})
        gv = path[len("/apis/"):] if path.startswith("/apis/") else ("v1" if path == "/api/v1" else None)
        if gv in RESOURCES:
            return self.reply(200, {"kind": "APIResourceList", "groupVersion": gv, "resources": [
                {"name": n, "singularName": k.lower(), "namespaced": namespaced, "kind": k, "verbs": ["get", "list"]}
                for n, k, namespaced in RESOURCES[gv]]})
        secrets = json.load(open(secrets_file))
        m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/secrets/([^/]+)", path)
        if m and f"{m[1]}/{m[2]}" in secrets:
            s = secrets[f"{m[1]}/{m[2]}"]
            return self.reply(200, {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": s["data"],
                                    "metadata": {"name": m[2], "namespace": m[1], "labels": s["labels"], "annotations": s["annotations"]}})
        return self.reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
    def log_message(self, *args):
        pass
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
open(port_file, "w").write(str(server.server_address[1]))
server.serve_forever()
PY
kept="$(printf 'token-of-the-first-install' | base64)"
cat >"$work/secrets.json" <<EOF
{"$NS/meshrelay-server-admin-token": {"data": {"token": "$kept"},
  "labels": {"app.kubernetes.io/managed-by": "Helm"},
  "annotations": {"meta.helm.sh/release-name": "meshrelay-server", "meta.helm.sh/release-namespace": "$NS"}}}
EOF
python3 "$work/fakekube.py" "$work/secrets.json" "$work/port" &
fake_pid=$!
for _ in $(seq 50); do [[ -s "$work/port" ]] && break; sleep 0.1; done
cat >"$work/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "http://127.0.0.1:$(cat "$work/port" 2>/dev/null)"}}]
contexts: [{name: fake, context: {cluster: fake, namespace: $NS}}]
current-context: fake
users: [{name: fake, user: {token: fake}}]
EOF
upgrade_render() {
    KUBECONFIG="$work/kubeconfig" "$HELM" template meshrelay-server "$server" -n "$NS" \
        --dry-run=server --disable-openapi-validation >"$work/$1.yaml" 2>"$work/$1.err"
}
if upgrade_render up1 && upgrade_render up2; then
    u1="$(token_of "$work/up1.yaml")"
    u2="$(token_of "$work/up2.yaml")"
    if [[ "$u1" == "$kept" && "$u2" == "$kept" ]]; then
        ok "helm template --dry-run=server (lookup against a fake API holding the installed Secret), twice: the installed token both times"
    else
        bad "lookup: expected the installed token $kept, got '$u1' and '$u2'"
    fi
else
    bad "helm template --dry-run=server against the fake API"
    sed 's/^/      /' "$work/up1.err" "$work/up2.err" 2>/dev/null
fi
echo '{}' >"$work/secrets.json"
if upgrade_render up3 && [[ -n "$(token_of "$work/up3.yaml")" && "$(token_of "$work/up3.yaml")" != "$kept" ]]; then
    ok "helm template --dry-run=server with no Secret in the cluster: a new token (first install)"
else
    bad "first install through the fake API"
    sed 's/^/      /' "$work/up3.err"
fi
kill "$fake_pid" 2>/dev/null
fake_pid=""

echo "== istio-apply sidecar loop (files/istio-sync.sh) against a kubectl stand-in"
if command -v jq >/dev/null; then
    mkdir -p "$work/shim" "$work/state" "$work/istio/.manifests.versions/7-1"
    # The agent's output format (Sources/MeshRelayTranslation/IstioManifestBuilder.swift).
    cat >"$work/istio/.manifests.versions/7-1/kustomization.yaml" <<'EOF'
apiVersion: "kustomize.config.k8s.io/v1beta1"
kind: "Kustomization"
resources:
- "serviceentry.global.google.yaml"
EOF
    cat >"$work/istio/.manifests.versions/7-1/serviceentry.global.google.yaml" <<'EOF'
apiVersion: "networking.istio.io/v1"
kind: "ServiceEntry"
metadata:
  name: "google"
  namespace: "global"
  labels:
    app.kubernetes.io/managed-by: "meshrelay"
spec:
  hosts:
  - "www.google.com"
  ports:
  - number: 80
    name: "http"
    protocol: "HTTP"
  location: "MESH_EXTERNAL"
  resolution: "DNS"
EOF
    ln -s "$work/istio/.manifests.versions/7-1" "$work/istio/manifests"
    echo '{"apiVersion":"networking.istio.io/v1","kind":"ServiceEntry","metadata":{"name":"old","namespace":"bookinfo","labels":{"app.kubernetes.io/managed-by":"meshrelay"}}}' >"$work/state/ServiceEntry_bookinfo_old.json"
    echo '{"apiVersion":"networking.istio.io/v1","kind":"ServiceEntry","metadata":{"name":"theirs","namespace":"global"}}' >"$work/state/ServiceEntry_global_theirs.json"
    cat >"$work/shim/kubectl" <<'PY'
#!/usr/bin/env python3
# kubectl stand-in: `kustomize` runs the real one; apply/get/delete act on JSON files in $SHIM_STATE.
import json, os, sys, yaml
args, state = sys.argv[1:], os.environ["SHIM_STATE"]
if args[0] == "kustomize":
    os.execv(os.environ["REAL_KUBECTL"], [os.environ["REAL_KUBECTL"]] + args)
def name(o): return "%s_%s_%s.json" % (o["kind"], o["metadata"]["namespace"], o["metadata"]["name"])
if args[0] == "apply":
    for d in [d for d in yaml.safe_load_all(open(args[args.index("-f") + 1])) if d]:
        json.dump(d, open(os.path.join(state, name(d)), "w"))
        print(json.dumps(d))
elif args[0] == "get":
    key, value = args[args.index("-l") + 1].split("=")
    ns = args[args.index("-n") + 1] if "-n" in args else None
    items = [json.load(open(os.path.join(state, f))) for f in sorted(os.listdir(state))]
    items = [o for o in items if o["metadata"].get("labels", {}).get(key) == value and ns in (None, o["metadata"]["namespace"])]
    print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
elif args[0] == "delete":
    ns = args[args.index("-n") + 1]
    resource, obj = [a for a in args[1:] if "/" in a][0].split("/")
    kind = {"serviceentries.networking.istio.io": "ServiceEntry", "destinationrules.networking.istio.io": "DestinationRule"}[resource]
    path = os.path.join(state, "%s_%s_%s.json" % (kind, ns, obj))
    if os.path.exists(path):
        os.remove(path)
else:
    sys.exit("kubectl stand-in: unexpected " + " ".join(args))
PY
    chmod +x "$work/shim/kubectl"
    sync_once() {
        env PATH="$work/shim:$PATH" SHIM_STATE="$work/state" REAL_KUBECTL="$KUBECTL" TMPDIR="$work" \
            MESHRELAY_ISTIO_DIR="$work/istio/manifests" MESHRELAY_ISTIO_ONCE=1 "$@" \
            bash "$agent/files/istio-sync.sh" 2>"$work/sync.err"
    }
    state_of() { (cd "$work/state" && printf '%s ' *.json); }
    if sync_once && [[ "$(state_of)" == "ServiceEntry_global_google.json ServiceEntry_global_theirs.json " ]]; then
        ok "sync: applied google, deleted the stale managed 'old', kept the unmanaged 'theirs' ($(tail -1 "$work/sync.err" | cut -d' ' -f3-))"
    else
        bad "sync: state is $(state_of)"
        sed 's/^/      /' "$work/sync.err"
    fi
    # The ExternalService is deleted: the agent writes an empty kustomization.
    mkdir -p "$work/istio/.manifests.versions/8-1"
    printf 'apiVersion: "kustomize.config.k8s.io/v1beta1"\nkind: "Kustomization"\nresources: []\n' >"$work/istio/.manifests.versions/8-1/kustomization.yaml"
    ln -sfn "$work/istio/.manifests.versions/8-1" "$work/istio/manifests"
    if sync_once MESHRELAY_ISTIO_NAMESPACES="global bookinfo" && [[ "$(state_of)" == "ServiceEntry_global_theirs.json " ]]; then
        ok "sync (namespaced): empty output deletes the managed ServiceEntry, keeps 'theirs'"
    else
        bad "sync after deletion: state is $(state_of)"
        sed 's/^/      /' "$work/sync.err"
    fi
else
    bad "jq is needed for the istio-sync check (apt-get install jq; the kubectl image has it)"
fi

echo
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
