{{/* The chart name (app.kubernetes.io/name). */}}
{{- define "meshrelay-server.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of the objects: RELEASE-meshrelay-server, or RELEASE when it has the chart name. */}}
{{- define "meshrelay-server.fullname" -}}
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

{{- define "meshrelay-server.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Kubernetes recommended labels. */}}
{{- define "meshrelay-server.labels" -}}
helm.sh/chart: {{ include "meshrelay-server.chart" . }}
{{ include "meshrelay-server.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: meshrelay
{{- end }}

{{- define "meshrelay-server.selectorLabels" -}}
app.kubernetes.io/name: {{ include "meshrelay-server.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{- define "meshrelay-server.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "meshrelay-server.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "meshrelay-server.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* HOST:PORT as the binary parses it: [IPv6]:PORT for an IPv6 host. Call with (list HOST PORT). */}}
{{- define "meshrelay-server.hostPort" -}}
{{- $host := index . 0 }}{{- $port := index . 1 }}
{{- if contains ":" $host }}{{ printf "[%s]:%v" $host $port }}{{ else }}{{ printf "%s:%v" $host $port }}{{ end }}
{{- end }}

{{- define "meshrelay-server.adminTokenSecretName" -}}
{{- .Values.adminToken.existingSecret | default (printf "%s-admin-token" (include "meshrelay-server.fullname" .)) }}
{{- end }}

{{- define "meshrelay-server.configMapName" -}}
{{- printf "%s-config" (include "meshrelay-server.fullname" .) }}
{{- end }}

{{/* Where the container reads its configuration file (`meshrelay server --config PATH`). */}}
{{- define "meshrelay-server.configPath" -}}
/etc/meshrelay/server.yaml
{{- end }}

{{/*
  The server's configuration file (server.yaml in the ConfigMap), read by `meshrelay server
  --config`. Each key is a long option of `meshrelay server --help` without the dashes; a string
  or number is the option's value, true is the bare flag, false or null leaves it out, a list is
  joined with commas. A key of extraConfig replaces the chart's (false and null included). Numbers that are whole are
  written as integers (Helm reads every number as a float, and toYaml would write 67108864 as
  6.7108864e+07).
*/}}
{{- define "meshrelay-server.configFile" -}}
{{- $host := .Values.listenHost }}
{{- $c := dict
  "data-dir" "/var/lib/meshrelay"
  "api-listen" (include "meshrelay-server.hostPort" (list $host .Values.api.port))
  "relay-listen" (include "meshrelay-server.hostPort" (list $host .Values.relay.port))
  "api-tls" .Values.api.tls
  "token-file" "/etc/meshrelay/admin/token"
  "heartbeat-interval" .Values.relay.heartbeatInterval
  "handshake-timeout" .Values.relay.handshakeTimeout
  "drain-timeout" .Values.relay.drainTimeout
  "max-connections-per-source" .Values.relay.maxConnectionsPerSource
  "changelog-retention" .Values.relay.changelogRetention
  "idle-timeout" .Values.api.idleTimeout
  "max-body-bytes" .Values.api.maxBodyBytes
  "log-level" .Values.log.level
  "log-format" .Values.log.format
}}
{{- if .Values.certificates.secretName }}
{{- $_ := set $c "certs-dir" "/etc/meshrelay/certs" }}
{{- end }}
{{- if .Values.enrollment.enabled }}
{{- $_ := set $c "enroll-listen" (include "meshrelay-server.hostPort" (list $host .Values.enrollment.port)) }}
{{- $_ := set $c "agent-cert-days" .Values.enrollment.agentCertDays }}
{{- end }}
{{- range $key, $value := .Values.extraConfig }}
{{- $_ := set $c $key $value }}
{{- end }}
{{- include "meshrelay-server.wholeNumbers" $c }}
{{- toYaml $c }}
{{- end }}

{{/* Rewrites, in place, each whole float of a config dict (and of its lists) as an int64. */}}
{{- define "meshrelay-server.wholeNumbers" -}}
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

{{/* The API scheme the probes and the ServiceMonitor use. */}}
{{- define "meshrelay-server.apiScheme" -}}
{{- if .Values.api.tls }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}

{{- define "meshrelay-server.usesPersistentVolume" -}}
{{- if and (eq (int .Values.replicas) 1) .Values.persistence.enabled }}true{{ end }}
{{- end }}

{{/* Render-time checks of what the schema cannot express (one message each, saying what to do). */}}
{{- define "meshrelay-server.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.postgresql.host) }}
{{- fail (printf "replicas=%v needs the PostgreSQL store: set postgresql.host (and postgresql.existingSecret for the password). Several servers cannot share the embedded SQLite file; use replicas=1 with persistence for SQLite." .Values.replicas) }}
{{- end }}
{{- if and .Values.api.tls (not .Values.certificates.secretName) }}
{{- fail "api.tls=true serves the API with the relay's server certificate: set certificates.secretName (a Secret with ca.crt, server.crt, server.key)" }}
{{- end }}
{{- if and .Values.enrollment.enabled (not .Values.certificates.secretName) }}
{{- fail "enrollment.enabled=true signs agent certificates with the relay CA: set certificates.secretName (a Secret with ca.crt, ca.key, server.crt, server.key)" }}
{{- end }}
{{- if and .Values.enrollment.enabled (eq (int .Values.enrollment.port) (int .Values.relay.port)) }}
{{- fail "enrollment.port must differ from relay.port" }}
{{- end }}
{{- if or (eq (int .Values.api.port) (int .Values.relay.port)) (and .Values.enrollment.enabled (eq (int .Values.api.port) (int .Values.enrollment.port))) }}
{{- fail "api.port must differ from relay.port and enrollment.port" }}
{{- end }}
{{- if and (not (kindIs "invalid" .Values.podDisruptionBudget.minAvailable)) (not (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable)) }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both" }}
{{- end }}
{{- end }}
