{{/*
The name of every object: fullnameOverride, else the release name, with
"-botauthz" appended unless it already says botauthz.
*/}}
{{- define "botauthz.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the pods; never change them on upgrade. */}}
{{- define "botauthz.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "botauthz.labels" -}}
{{ include "botauthz.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
The image: repository:tag[@digest], the tag defaulting to the chart's
appVersion. A moving tag makes a rollback roll back nothing.
*/}}
{{- define "botauthz.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if eq $tag "latest" -}}
{{- fail "image.tag: latest is refused: pin a version (default: the chart's appVersion)" -}}
{{- end -}}
{{- .Values.image.repository }}:{{ $tag }}{{ with .Values.image.digest }}@{{ . }}{{ end }}
{{- end -}}

{{- define "botauthz.secretName" -}}
{{- .Values.secret.existingSecret | default (include "botauthz.fullname" .) -}}
{{- end -}}

{{/* The Service's cluster-local name. */}}
{{- define "botauthz.serviceHost" -}}
{{- printf "%s.%s.svc.cluster.local" (include "botauthz.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* Where the override ConfigMap is mounted; the policy names this file. */}}
{{- define "botauthz.overrideFile" -}}/etc/botauthz/override/override.yaml{{- end -}}

{{/* The policy as rendered: the values' with rollout.override_file set. */}}
{{- define "botauthz.policy" -}}
{{- $policy := deepCopy .Values.policy -}}
{{- $rollout := get $policy "rollout" | default dict -}}
{{- $_ := set $rollout "override_file" (include "botauthz.overrideFile" .) -}}
{{- $_ = set $policy "rollout" $rollout -}}
{{- toYaml $policy -}}
{{- end -}}

{{/* The replicas that run at the least: what a PDB has to protect. */}}
{{- define "botauthz.minReplicas" -}}
{{- if .Values.autoscaling.enabled -}}{{ .Values.autoscaling.minReplicas }}{{- else -}}{{ .Values.replicaCount }}{{- end -}}
{{- end -}}

{{/* The Gateway the VirtualService binds to, as namespace/name. */}}
{{- define "botauthz.istioGateway" -}}
{{- $gw := .Values.wiring.istio.gateway -}}
{{- if $gw.create -}}
{{- printf "%s/%s" .Values.wiring.istio.namespace $gw.name -}}
{{- else if contains "/" $gw.name -}}
{{- $gw.name -}}
{{- else -}}
{{- fail "wiring.istio.gateway.name: with create false, name the existing Gateway as namespace/name" -}}
{{- end -}}
{{- end -}}
