{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "whatsapp-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name; the release name alone when it already contains the chart name. */}}
{{- define "whatsapp-exporter.fullname" -}}
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

{{- define "whatsapp-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "whatsapp-exporter.labels" -}}
helm.sh/chart: {{ include "whatsapp-exporter.chart" . }}
{{ include "whatsapp-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: whatsapp-exporter
{{- end }}

{{/* The Deployment, both Services, the monitors, the PDB and the NetworkPolicy select on these. */}}
{{- define "whatsapp-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "whatsapp-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "whatsapp-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "whatsapp-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "whatsapp-exporter.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret every secretKeyRef points at: the user's own, or the one this chart creates. */}}
{{- define "whatsapp-exporter.secretName" -}}
{{- default (include "whatsapp-exporter.fullname" .) .Values.existingSecret }}
{{- end }}

{{- define "whatsapp-exporter.metricsServiceName" -}}
{{- printf "%s-metrics" (include "whatsapp-exporter.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "whatsapp-exporter.configPath" -}}
/etc/whatsapp-exporter/config.yaml
{{- end }}

{{/* "true" when the exporter gets a REDIS_URL, the only way for several pods to share state. */}}
{{- define "whatsapp-exporter.redisConfigured" -}}
{{- if or .Values.redis.url (and .Values.redis.urlFromSecret .Values.existingSecret) }}true{{ end }}
{{- end }}

{{/* Stops rendering on settings that would deploy something broken. */}}
{{- define "whatsapp-exporter.validate" -}}
{{- $multi := or (gt (int .Values.replicaCount) 1) (and .Values.autoscaling.enabled (gt (int .Values.autoscaling.maxReplicas) 1)) }}
{{- if and $multi (not (include "whatsapp-exporter.redisConfigured" .)) }}
{{- fail "replicaCount > 1 (or autoscaling) needs redis.url or redis.urlFromSecret with existingSecret: each pod's in-memory state is its own, so several pods without Redis would export conflicting numbers" }}
{{- end }}
{{- if and .Values.redis.url (contains "@" .Values.redis.url) (not .Values.redis.urlFromSecret) }}
{{- fail "redis.url contains credentials but is a plain environment variable: use redis.auth.password (or existingSecretKeys.redisPassword), or set redis.urlFromSecret=true to keep the whole URL in the Secret" }}
{{- end }}
{{- if and .Values.redis.urlFromSecret (not .Values.existingSecret) (not .Values.redis.url) }}
{{- fail "redis.urlFromSecret with the chart's own Secret stores redis.url in it: set redis.url, or existingSecret with the key existingSecretKeys.redisUrl" }}
{{- end }}
{{- if and .Values.redis.auth.enabled (not .Values.redis.urlFromSecret) (not .Values.redis.url) }}
{{- fail "redis.auth.enabled needs redis.url (the URL the password is added to)" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled .Values.podMonitor.enabled }}
{{- fail "enable serviceMonitor or podMonitor, not both: Prometheus would scrape every pod twice" }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (ne (toString .Values.podDisruptionBudget.minAvailable) "") (ne (toString .Values.podDisruptionBudget.maxUnavailable) "") }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both" }}
{{- end }}
{{- end }}

{{/*
REDIS_URL with the password put in by Kubernetes' $(VAR) expansion inside the pod, so the password
never appears in the Deployment: scheme://[user]:$(REDIS_PASSWORD)@rest-of-url.
*/}}
{{- define "whatsapp-exporter.redisUrlWithPassword" -}}
{{- $parts := regexSplit "://" .Values.redis.url 2 }}
{{- printf "%s://%s:$(REDIS_PASSWORD)@%s" (index $parts 0) .Values.redis.auth.username (index $parts 1) }}
{{- end }}

{{/* A secretKeyRef env entry: name, key, whether the key may be absent. */}}
{{- define "whatsapp-exporter.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}

{{/*
An alert's expr with its threshold replaced. The threshold is the number literal of the first
comparison outside parentheses and string literals: in `ratio < 0.9 and volume >= 100` it is 0.9, in
`(errors / (sent >= 100)) > 0.1` it is 0.1, the volume guards stay. Fails when there is none.
Input: dict "name" alert, "expr", "value".
*/}}
{{- define "whatsapp-exporter.overrideThreshold" -}}
{{- $comparison := `(==|!=|>=|<=|>|<)(\s*(?:bool\s+)?)(-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\b` }}
{{- $strings := "\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`" }}
{{- $matches := regexFindAll $comparison .expr -1 }}
{{- $pieces := regexSplit $comparison .expr -1 }}
{{- $prefix := "" }}
{{- $chosen := -1 }}
{{- range $i, $match := $matches }}
{{- $prefix = print $prefix (index $pieces $i) }}
{{- if lt $chosen 0 }}
{{- $outsideStrings := regexReplaceAll $strings $prefix "" }}
{{- $insideString := regexMatch "[\"'`]" $outsideStrings }}
{{- $depth := sub (len (regexFindAll `\(` $outsideStrings -1)) (len (regexFindAll `\)` $outsideStrings -1)) }}
{{- if and (not $insideString) (eq $depth 0) }}{{ $chosen = $i }}{{ end }}
{{- end }}
{{- $prefix = print $prefix $match }}
{{- end }}
{{- if lt $chosen 0 }}
{{- fail (printf "prometheusRule.thresholds.%s: its expr has no comparison with a number outside parentheses, so there is no threshold to replace" .name) }}
{{- end }}
{{- $out := "" }}
{{- range $i, $match := $matches }}
{{- $out = print $out (index $pieces $i) }}
{{- if eq $i $chosen }}
{{- $out = print $out (regexReplaceAll $comparison $match (printf "${1}${2}%v" $.value)) }}
{{- else }}
{{- $out = print $out $match }}
{{- end }}
{{- end }}
{{- print $out (last $pieces) }}
{{- end }}

{{/* The chart's Secret data; the Deployment hashes it so that a changed secret rolls the pods. */}}
{{- define "whatsapp-exporter.secretData" -}}
{{- $keys := .Values.existingSecretKeys -}}
{{ $keys.appSecret }}: {{ .Values.secrets.appSecret | b64enc | quote }}
{{ $keys.verifyToken }}: {{ .Values.secrets.verifyToken | b64enc | quote }}
{{- range $field := list "accessToken" "metricsBearerToken" "metricsBasicAuth" "customerHashKey" }}
{{- with index $.Values.secrets $field }}
{{ index $keys $field }}: {{ . | b64enc | quote }}
{{- end }}
{{- end }}
{{- if and .Values.redis.auth.enabled (not .Values.redis.urlFromSecret) }}
{{ $keys.redisPassword }}: {{ .Values.redis.auth.password | b64enc | quote }}
{{- end }}
{{- if and .Values.redis.urlFromSecret .Values.redis.url }}
{{ $keys.redisUrl }}: {{ .Values.redis.url | b64enc | quote }}
{{- end }}
{{- end }}

{{/* The exporter's YAML config file, as mounted; the Deployment hashes it so that a change rolls the pods. */}}
{{- define "whatsapp-exporter.configFile" -}}
{{- /* The status page's risk levels use the same early-warning thresholds as the PrometheusRule. */}}
{{- $cfg := deepCopy (default dict .Values.config) }}
{{- with .Values.prometheusRule.earlyWarningThresholds }}
{{- $ew := deepCopy (default dict $cfg.earlyWarning) }}
{{- $_ := set $ew "thresholds" (merge (deepCopy (default dict $ew.thresholds)) .) }}
{{- $_ := set $cfg "earlyWarning" $ew }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}
