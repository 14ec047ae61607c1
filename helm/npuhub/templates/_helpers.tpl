{{- /*
  Every name the chart gives an object, and its labels, come from here.

  Names are fixed (z2jh's habit: one release per namespace), because other parts refer to them by name:
  the hub reaches the service at http://npuhub:10101 (values.yaml, jupyterhub.hub.services.npuhub.url),
  and mounts the ConfigMap npuhub-site. Cluster-wide objects carry the namespace, so that two releases in
  two namespaces do not collide.
*/}}

{{- define "npuhub.service.fullname" -}}npuhub{{- end }}
{{- define "npuhub.serviceaccount.fullname" -}}npuhub{{- end }}
{{- define "npuhub.role.fullname" -}}npuhub{{- end }}
{{- define "npuhub.clusterrole.fullname" -}}npuhub-{{ .Release.Namespace }}{{- end }}
{{- define "npuhub.site.fullname" -}}npuhub-site{{- end }}
{{- define "npuhub.postgres.fullname" -}}npuhub-postgres{{- end }}
{{- define "npuhub.migrate.fullname" -}}npuhub-migrate{{- end }}
{{- define "npuhub.dashboard.fullname" -}}npuhub-dashboard{{- end }}
{{- define "npuhub.servicemonitor.fullname" -}}npuhub{{- end }}
{{- define "npuhub.hubrole.fullname" -}}npuhub-hub{{- end }}

{{- /* z2jh's hub Secret (jupyterhub.fullnameOverride ""): it holds hub.services.npuhub.apiToken */}}
{{- define "npuhub.hub.secretName" -}}hub{{- end }}
{{- /* z2jh's hub ServiceAccount (its hub.serviceAccount.name, default: the hub's name) */}}
{{- define "npuhub.hub.serviceAccountName" -}}
{{- dig "hub" "serviceAccount" "name" "hub" (.Values.jupyterhub | default dict) | default "hub" }}
{{- end }}

{{- /* The Secret with the database URL (key `url`): the operator's, or the chart's npuhub-db */}}
{{- define "npuhub.db.secretName" -}}
{{- .Values.database.existingSecret | default "npuhub-db" }}
{{- end }}

{{- /* The Secret with the service's cookie secret (key `cookie-secret`) */}}
{{- define "npuhub.cookie.secretName" -}}
{{- .Values.service.cookieSecret.existingSecret | default "npuhub-service" }}
{{- end }}

{{- /* Namespaces people's servers (and their Dask clusters) run in, one per line */}}
{{- define "npuhub.userNamespaces" -}}
{{- $spawner := .Values.site.spawner | default dict }}
{{- $kube := $spawner.kubernetes | default dict }}
{{- $namespaces := .Values.rbac.userNamespaces | default (list ($kube.namespace | default .Release.Namespace)) }}
{{- range $namespaces | uniq }}
{{ . }}
{{- end }}
{{- end }}

{{- define "npuhub.image" -}}
{{ .Values.image.name }}:{{ .Values.image.tag }}
{{- end }}

{{- define "npuhub.chart" -}}
{{ .Chart.Name }}-{{ .Chart.Version | replace "+" "_" }}
{{- end }}

{{- /* Labels of every object; call with (dict "root" $ "component" "service") */}}
{{- define "npuhub.labels" -}}
{{ include "npuhub.selectorLabels" . }}
helm.sh/chart: {{ include "npuhub.chart" .root }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{- end }}

{{- define "npuhub.selectorLabels" -}}
app.kubernetes.io/name: npuhub
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- /* z2jh's labels of the hub and the proxy pods (its templates/_helpers.tpl, jupyterhub.matchLabels) */}}
{{- define "npuhub.z2jhSelector" -}}
app: jupyterhub
release: {{ .root.Release.Name }}
component: {{ .component }}
{{- end }}

{{- define "npuhub.imagePullSecrets" -}}
{{- range .Values.image.pullSecrets }}
- name: {{ . }}
{{- end }}
{{- end }}

{{- /* The restricted pod security standard, for npuhub's own containers */}}
{{- define "npuhub.podSecurityContext" -}}
runAsNonRoot: true
seccompProfile: {type: RuntimeDefault}
{{- end }}

{{- define "npuhub.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: {drop: [ALL]}
{{- end }}

{{- /* The environment every npuhub container that opens the database gets */}}
{{- define "npuhub.dbEnv" -}}
- name: NPUHUB_DB_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "npuhub.db.secretName" . }}
      key: url
{{- end }}

{{- /*
  Checks the schema cannot express, each failing with a sentence that names the key. Included by the
  site ConfigMap (always rendered), so that any render runs them.
*/}}
{{- define "npuhub.checks" -}}
{{- $db := .Values.database }}
{{- $ways := 0 }}
{{- if $db.existingSecret }}{{ $ways = add1 $ways }}{{ end }}
{{- if $db.url }}{{ $ways = add1 $ways }}{{ end }}
{{- if $db.bundled.enabled }}{{ $ways = add1 $ways }}{{ end }}
{{- if ne (int $ways) 1 }}
{{- fail "database: give exactly one of database.existingSecret (a Secret with the URL under `url`), database.url, or database.bundled.enabled: true (a small PostgreSQL for trials)" }}
{{- end }}
{{- if .Values.jupyterhub.enabled }}
{{- $hubImage := .Values.jupyterhub.hub.image | default dict }}
{{- if or (ne ($hubImage.name | default "") .Values.image.name) (ne ($hubImage.tag | default "") .Values.image.tag) }}
{{- fail (printf "jupyterhub.hub.image must be npuhub's hub image, the same as image (%s:%s): the hub loads npuhub's wiring from it" .Values.image.name .Values.image.tag) }}
{{- end }}
{{- $single := .Values.jupyterhub.singleuser.image | default dict }}
{{- if not (and $single.name $single.tag) }}
{{- fail "jupyterhub.singleuser.image.name and .tag are required: the default singleuser image (images/singleuser-cpu, pushed to your registry)" }}
{{- end }}
{{- end }}
{{- $ms := .Values.metrics.serviceMonitor }}
{{- if and $ms.enabled .Values.metrics.authenticate (not $ms.bearerTokenSecret) }}
{{- fail "metrics.serviceMonitor.bearerTokenSecret is required while metrics.authenticate is true: /metrics asks for a hub token with read:metrics (or set metrics.authenticate: false and allow Prometheus in networkPolicy.metricsFrom)" }}
{{- end }}
{{- end }}
