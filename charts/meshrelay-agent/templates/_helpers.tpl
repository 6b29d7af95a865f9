{{- define "meshrelay-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* RELEASE-meshrelay-agent, or RELEASE when it has the chart name. */}}
{{- define "meshrelay-agent.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "meshrelay-agent.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Kubernetes recommended labels, plus the cluster served. */}}
{{- define "meshrelay-agent.labels" -}}
helm.sh/chart: {{ include "meshrelay-agent.chart" . }}
{{ include "meshrelay-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: meshrelay
meshrelay.io/cluster: {{ .Values.cluster | trunc 63 | trimSuffix "-" | trimSuffix "." | quote }}
{{- end }}

{{- define "meshrelay-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "meshrelay-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end }}

{{- define "meshrelay-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "meshrelay-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag or repository@digest of an image block; call with (list IMAGE DEFAULT_TAG). */}}
{{- define "meshrelay-agent.imageRef" -}}
{{- $image := index . 0 }}{{- $default := index . 1 }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository ($image.tag | default $default) }}
{{- end }}
{{- end }}

{{/* HOST:PORT as the binary parses it: [IPv6]:PORT for an IPv6 host. Call with (list HOST PORT). */}}
{{- define "meshrelay-agent.hostPort" -}}
{{- $host := index . 0 }}{{- $port := index . 1 }}
{{- if contains ":" $host }}{{ printf "[%s]:%v" $host $port }}{{ else }}{{ printf "%s:%v" $host $port }}{{ end }}
{{- end }}

{{/* "bootstrap" (enrol with a token) or "certificates" (a Secret with the agent's certificate). */}}
{{- define "meshrelay-agent.mode" -}}
{{- if or .Values.bootstrapToken .Values.bootstrap.existingSecret }}bootstrap{{ else }}certificates{{ end }}
{{- end }}

{{- define "meshrelay-agent.certificatesSecretName" -}}
{{- .Values.certificates.existingSecret | default "meshrelay-agent-certs" }}
{{- end }}

{{- define "meshrelay-agent.bootstrapSecretName" -}}
{{- .Values.bootstrap.existingSecret | default (printf "%s-bootstrap-token" (include "meshrelay-agent.fullname" .)) }}
{{- end }}

{{- define "meshrelay-agent.configMapName" -}}
{{- printf "%s-config" (include "meshrelay-agent.fullname" .) }}
{{- end }}

{{/* Where the agent container reads its configuration file (`meshrelay agent --config PATH`). */}}
{{- define "meshrelay-agent.configPath" -}}
/etc/meshrelay/agent.yaml
{{- end }}

{{- define "meshrelay-agent.envoyConfigDir" -}}
/var/run/meshrelay/envoy
{{- end }}

{{- define "meshrelay-agent.istioDir" -}}
/var/run/meshrelay/istio/manifests
{{- end }}

{{/*
  The agent's configuration file (agent.yaml in the ConfigMap), read by `meshrelay agent
  --config`. Each key is a long option of `meshrelay agent --help` without the dashes; a string
  or number is the option's value, true is the bare flag, false or null leaves it out, a list is
  joined with commas (server: [a:9900, b:9900] is --server a:9900,b:9900). A key of extraConfig
  replaces the chart's (false and null included). No `envoy` key: Envoy runs in its own
  container, from the bootstrap the agent writes to envoy-config-dir.
*/}}
{{- define "meshrelay-agent.configFile" -}}
{{- $host := .Values.listenHost }}
{{- $targets := include "meshrelay-agent.relayTargets" . | fromJson }}
{{- $c := dict
  "cluster" .Values.cluster
  "server" (splitList "," $targets.servers)
  "state-dir" "/var/lib/meshrelay-agent"
  "outbound-policy" .Values.outboundTrafficPolicy
  "metrics-listen" (include "meshrelay-agent.hostPort" (list $host .Values.metrics.port))
  "hello-timeout" .Values.relay.helloTimeout
  "reconnect-backoff-base" .Values.relay.reconnectBackoffBase
  "reconnect-backoff-cap" .Values.relay.reconnectBackoffCap
  "log-level" .Values.log.level
  "log-format" .Values.log.format
}}
{{- if eq (include "meshrelay-agent.mode" .) "bootstrap" }}
{{- $_ := set $c "bootstrap-token-file" "/etc/meshrelay/bootstrap/token" }}
{{- $_ := set $c "ca-file" "/etc/meshrelay/ca/ca.crt" }}
{{- with .Values.bootstrap.enrollServer }}
{{- $_ := set $c "enroll-server" . }}
{{- end }}
{{- $_ := set $c "renew-at" .Values.bootstrap.renewAt }}
{{- $_ := set $c "renew-min-interval" .Values.bootstrap.renewMinInterval }}
{{- else }}
{{- $_ := set $c "certs-dir" "/etc/meshrelay/certs" }}
{{- end }}
{{- if .Values.egressGateway.enabled }}
{{- $_ := set $c "envoy-config-dir" (include "meshrelay-agent.envoyConfigDir" .) }}
{{- $_ := set $c "egress-listen" (include "meshrelay-agent.hostPort" (list $host .Values.egressGateway.httpPort)) }}
{{- if .Values.egressGateway.tls.enabled }}
{{- $_ := set $c "egress-tls-listen" (include "meshrelay-agent.hostPort" (list $host .Values.egressGateway.tls.port)) }}
{{- end }}
{{- $_ := set $c "envoy-admin" (printf "127.0.0.1:%v" (.Values.egressGateway.adminPort | int64)) }}
{{- end }}
{{- if .Values.istio.enabled }}
{{- $_ := set $c "istio-dir" (include "meshrelay-agent.istioDir" .) }}
{{- end }}
{{- range $key, $value := .Values.extraConfig }}
{{- $_ := set $c $key $value }}
{{- end }}
{{- include "meshrelay-agent.wholeNumbers" $c }}
{{- toYaml $c }}
{{- end }}

{{/*
  Rewrites, in place, each whole float of a config dict (and of its lists) as an int64: Helm
  reads every number as a float, and toYaml would write 1000000 as 1e+06.
*/}}
{{- define "meshrelay-agent.wholeNumbers" -}}
{{- $c := . }}
{{- range $key, $value := $c }}
{{- if and (kindIs "float64" $value) (eq $value (floor $value)) }}
{{- $_ := set $c $key (int64 $value) }}
{{- else if kindIs "slice" $value }}
{{- $items := list }}
{{- range $value }}
{{- if and (kindIs "float64" .) (eq . (floor .)) }}{{ $items = append $items (int64 .) }}{{ else }}{{ $items = append $items . }}{{ end }}
{{- end }}
{{- $_ := set $c $key $items }}
{{- end }}
{{- end }}
{{- end }}

{{/* relay.serverAddress as a list of HOST:PORT (a string may hold several, comma-separated). */}}
{{- define "meshrelay-agent.serverList" -}}
{{- $list := list }}
{{- if kindIs "string" .Values.relay.serverAddress }}
{{- range splitList "," .Values.relay.serverAddress }}{{ if trim . }}{{ $list = append $list (trim .) }}{{ end }}{{ end }}
{{- else }}
{{- range .Values.relay.serverAddress }}{{ $list = append $list (trim .) }}{{ end }}
{{- end }}
{{- toJson $list }}
{{- end }}

{{/* The host of HOST:PORT or [IPv6]:PORT. */}}
{{- define "meshrelay-agent.hostOf" -}}
{{- regexReplaceAll ":[0-9]+$" . "" | trimPrefix "[" | trimSuffix "]" }}
{{- end }}

{{/*
  What --server gets, and the hostAliases that make relay.authority work: the agent checks the
  server certificate against the host it dials (docs/security.md), and has no separate
  server-name flag. With relay.authority and one IP address, the pod's /etc/hosts maps the
  authority to that IP and the agent dials AUTHORITY:PORT.
  Returns JSON {"servers": "a:1,b:2", "alias": {"ip": …, "hostnames": […]} or absent}.
*/}}
{{- define "meshrelay-agent.relayTargets" -}}
{{- $servers := include "meshrelay-agent.serverList" . | fromJsonArray }}
{{- $authority := .Values.relay.authority }}
{{- $result := dict "servers" (join "," $servers) }}
{{- if $authority }}
{{- $first := index $servers 0 }}
{{- $host := include "meshrelay-agent.hostOf" $first }}
{{- $port := regexFind "[0-9]+$" $first }}
{{- if ne $host $authority }}
{{- $isIP := or (regexMatch "^[0-9]{1,3}(\\.[0-9]{1,3}){3}$" $host) (contains ":" $host) }}
{{- if not $isIP }}
{{- fail (printf "relay.authority %q differs from the host %q of relay.serverAddress, a DNS name: the agent verifies the server certificate against the host it dials. Set relay.serverAddress to a name in server.crt's SANs, or to an IP address (the chart then maps relay.authority to it in /etc/hosts)." $authority $host) }}
{{- end }}
{{- $_ := set $result "servers" (printf "%s:%s" $authority $port) }}
{{- $_ := set $result "alias" (dict "ip" $host "hostnames" (list $authority)) }}
{{- end }}
{{- end }}
{{- toJson $result }}
{{- end }}

{{/* Render-time checks the schema cannot express; each message says what to do. */}}
{{- define "meshrelay-agent.validate" -}}
{{- if not .Values.cluster }}
{{- fail "cluster is required: the name of this workload cluster, as registered on the server (KubernetesCluster metadata.name) and in its certificate. Example: helm install meshrelay-agent charts/meshrelay-agent --set cluster=cluster-1" }}
{{- end }}
{{- $servers := include "meshrelay-agent.serverList" . | fromJsonArray }}
{{- if not $servers }}
{{- fail "relay.serverAddress is required: the management server's relay address HOST:PORT (or a list), e.g. --set relay.serverAddress=relay.example.com:9900" }}
{{- end }}
{{- range $servers }}
{{- if not (regexMatch "^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?):[0-9]{1,5}$" .) }}
{{- fail (printf "relay.serverAddress %q is not HOST:PORT (an IPv6 address goes in brackets: [fd00::1]:9900)" .) }}
{{- end }}
{{- end }}
{{- if and .Values.relay.authority (gt (len $servers) 1) }}
{{- fail "relay.authority needs exactly one relay.serverAddress: with several servers, give each by a name that is a SAN of server.crt" }}
{{- end }}
{{- if and .Values.bootstrapToken .Values.bootstrap.existingSecret }}
{{- fail "set bootstrapToken or bootstrap.existingSecret, not both" }}
{{- end }}
{{- if eq (include "meshrelay-agent.mode" .) "bootstrap" }}
{{- if .Values.certificates.existingSecret }}
{{- fail "certificates.existingSecret and a bootstrap token are exclusive: the agent either uses the certificate in the Secret or enrols with the token. Unset one of them." }}
{{- end }}
{{- if and (not .Values.bootstrap.caCertificate) (not .Values.bootstrap.caExistingSecret) }}
{{- fail "a bootstrap token needs the relay CA the server certificate is checked against: --set-file bootstrap.caCertificate=certs/ca.crt, or bootstrap.caExistingSecret (a Secret with ca.crt)" }}
{{- end }}
{{- if and .Values.bootstrap.caCertificate .Values.bootstrap.caExistingSecret }}
{{- fail "set bootstrap.caCertificate or bootstrap.caExistingSecret, not both" }}
{{- end }}
{{- if gt (int .Values.replicas) 1 }}
{{- fail "replicas > 1 with a bootstrap token: the token is single-use, so only one pod could enrol. Use certificates.existingSecret for several agent pods." }}
{{- end }}
{{- if not .Values.persistence.enabled }}
{{- fail "a bootstrap token needs persistence.enabled=true: the token is single-use and the enrolled certificate lives in the agent's state directory, so a pod replaced with an emptyDir (any upgrade or reschedule) could never enrol again" }}
{{- end }}
{{- end }}
{{- if and .Values.persistence.enabled (gt (int .Values.replicas) 1) }}
{{- fail "persistence.enabled=true with replicas > 1: each agent pod needs its own state, and the claim has one writer. Use replicas=1 with persistence, or several replicas without it." }}
{{- end }}
{{- if and (not .Values.egressGateway.enabled) (not .Values.istio.enabled) }}
{{- fail "nothing to apply to: enable egressGateway.enabled (the Envoy egress gateway) or istio.enabled (ServiceEntries), or both" }}
{{- end }}
{{- if and .Values.egressGateway.tls.enabled (eq (int .Values.egressGateway.tls.port) (int .Values.egressGateway.httpPort)) }}
{{- fail "egressGateway.tls.port must differ from egressGateway.httpPort" }}
{{- end }}
{{- $ports := list (int .Values.metrics.port) (int .Values.egressGateway.adminPort) (int .Values.egressGateway.httpPort) }}
{{- if ne (len (uniq $ports)) 3 }}
{{- fail "metrics.port, egressGateway.adminPort and egressGateway.httpPort must all differ (they share the pod's network)" }}
{{- end }}
{{- if and (not (kindIs "invalid" .Values.podDisruptionBudget.minAvailable)) (not (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable)) }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both" }}
{{- end }}
{{- $_ := include "meshrelay-agent.relayTargets" . }}
{{- end }}
