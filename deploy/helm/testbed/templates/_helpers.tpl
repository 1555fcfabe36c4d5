{{- define "testbed.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 40 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "testbed.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{/* testbed.addr NAME PORT: host:port of the chart's Service NAME (postgres, nats, mockai). */}}
{{- define "testbed.addr" -}}
{{- $svc := printf "%s-%s" (include "testbed.fullname" .ctx) .name -}}
{{- if eq .ctx.Values.addressing "env" -}}
$({{ $svc | upper | replace "-" "_" }}_SERVICE_HOST):{{ .port }}
{{- else if eq .ctx.Values.addressing "dns" -}}
{{ $svc }}:{{ .port }}
{{- else -}}
{{ fail (printf "addressing: %q is neither dns nor env" .ctx.Values.addressing) }}
{{- end -}}
{{- end -}}
