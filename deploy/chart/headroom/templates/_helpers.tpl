{{/* The release's base name: the release name, with "-headroom" appended unless it says headroom already. */}}
{{- define "headroom.fullname" -}}
{{- if contains "headroom" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-headroom" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "headroom.controller.name" -}}{{ include "headroom.fullname" . }}-controller{{- end -}}
{{- define "headroom.router.name" -}}{{ include "headroom.fullname" . }}-router{{- end -}}

{{- define "headroom.controller.serviceAccount" -}}
{{- .Values.controller.serviceAccount.name | default (include "headroom.controller.name" .) -}}
{{- end -}}

{{/* Namespace of the reader Deployments; the release namespace unless set. */}}
{{- define "headroom.readersNamespace" -}}
{{- .Values.readersNamespace | default .Release.Namespace -}}
{{- end -}}

{{- define "headroom.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* Labels of every object; objects with a selector add it (which names the instance). */}}
{{- define "headroom.commonLabels" -}}
app.kubernetes.io/part-of: headroom
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "headroom.labels" -}}
{{ include "headroom.commonLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "headroom.controller.selector" -}}
app.kubernetes.io/name: headroom-controller
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "headroom.router.selector" -}}
app.kubernetes.io/name: headroom-router
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Whether to render monitoring.coreos.com/v1 objects: "auto" asks the API server. */}}
{{- define "headroom.prometheusOperator" -}}
{{- $m := .Values.monitoring.prometheusOperator -}}
{{- if or (eq $m "always") (and (eq $m "auto") (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) -}}
true
{{- end -}}
{{- end -}}
