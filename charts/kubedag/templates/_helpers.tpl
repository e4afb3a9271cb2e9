{{/* The chart name, shortened to fit a DNS label. */}}
{{- define "kubedag.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name of every object the chart creates. A release called "kubedag" gets "kubedag",
not "kubedag-kubedag".
*/}}
{{- define "kubedag.fullname" -}}
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

{{- define "kubedag.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kubedag.labels" -}}
helm.sh/chart: {{ include "kubedag.chart" . }}
{{ include "kubedag.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels never change after install: a Deployment's selector is immutable. */}}
{{- define "kubedag.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubedag.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kubedag.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kubedag.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image: repository:tag, and @digest when image.digest pins it (the tag is then only
informative: the runtime pulls the digest). */}}
{{- define "kubedag.image" -}}
{{- $ref := printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- if .Values.image.digest }}
{{- $ref = printf "%s@%s" $ref .Values.image.digest }}
{{- end }}
{{- $ref }}
{{- end }}

{{/* The metadata block of every CRD: the chart's labels, and keep when crds.keep. */}}
{{- define "kubedag.crdMetadata" -}}
metadata:
  labels:
    {{- include "kubedag.labels" . | nindent 4 }}
{{- if .Values.crds.keep }}
  annotations:
    helm.sh/resource-policy: keep
{{- end }}
{{ end }}
