{{/*
Names, labels and the checks every render runs. Object names are "<release>-<chart>" unless
overridden, cut to 63 characters (the DNS label limit many name fields have).
*/}}

{{- define "sagemaker-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sagemaker-operator.fullname" -}}
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

{{- define "sagemaker-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sagemaker-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sagemaker-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sagemaker-operator.labels" -}}
helm.sh/chart: {{ include "sagemaker-operator.chart" . }}
{{ include "sagemaker-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: sagemaker-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "sagemaker-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sagemaker-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sagemaker-operator.peeringName" -}}
{{- default (include "sagemaker-operator.fullname" .) .Values.peering.name }}
{{- end }}

{{- /* The Lease where the pollers keep their listing windows' starts (listing-lease.yaml). */}}
{{- define "sagemaker-operator.listingLease" -}}
{{- printf "%s-listing" (include "sagemaker-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- /* The Secret holding the ownership proofs' key (ownership-key.yaml), or the user's own. */}}
{{- define "sagemaker-operator.ownershipKeySecret" -}}
{{- if .Values.ownershipProof.existingSecret }}
{{- .Values.ownershipProof.existingSecret }}
{{- else }}
{{- printf "%s-ownership-key" (include "sagemaker-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "sagemaker-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The rules the operator needs wherever it handles TrainingJobs: in a Role per watched
namespace when rolesPerNamespace, else in the operator's ClusterRole. Written once, used by both.
*/}}
{{- define "sagemaker-operator.watchedRules" -}}
- apiGroups: ["sagemaker-operator.io"]
  resources: ["trainingjobs"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["sagemaker-operator.io"]
  resources: ["trainingjobs/status"]
  verbs: ["get", "patch"]
- apiGroups: ["", "events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/*
The watchNamespaces entries that are kopf glob patterns (`team-*`, `!kube-system`, ...),
comma-joined; empty when every entry is an exact name (or there are none).
*/}}
{{- define "sagemaker-operator.namespacePatterns" -}}
{{- $patterns := list }}
{{- range .Values.watchNamespaces }}
{{- if regexMatch "[*?\\[\\]!]" . }}
{{- $patterns = append $patterns . }}
{{- end }}
{{- end }}
{{- join "," $patterns }}
{{- end }}

{{/*
"true" when the TrainingJob rules are bound per namespace (a Role + RoleBinding in each of
watchNamespaces), in either scope: the list is set and holds exact names only. Otherwise
(cluster scope watching every namespace, or a pattern in the list) they are cluster-wide:
no Role can be created in a namespace that a pattern will only match later.
*/}}
{{- define "sagemaker-operator.rolesPerNamespace" -}}
{{- if and .Values.watchNamespaces (not (include "sagemaker-operator.namespacePatterns" .)) }}
{{- print "true" }}
{{- end }}
{{- end }}

{{/*
Checks that the schema cannot express (they relate two values); each fails with the fix.
*/}}
{{- define "sagemaker-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.peering.enabled) }}
{{- fail (printf "replicaCount is %d but peering.enabled is false: unpeered replicas would all act on every TrainingJob. Set peering.enabled=true (one active pod, the others on standby) or replicaCount=1." (int .Values.replicaCount)) }}
{{- end }}
{{- if eq .Values.rbac.scope "namespaced" }}
{{- if not .Values.watchNamespaces }}
{{- fail "rbac.scope=namespaced needs watchNamespaces: the list of namespaces to grant Roles in and to watch." }}
{{- end }}
{{- range .Values.watchNamespaces }}
{{- if regexMatch "[*?\\[\\]!]" . }}
{{- fail (printf "watchNamespaces entry %q is a pattern; rbac.scope=namespaced needs exact namespace names (a Role is created in each). Use rbac.scope=cluster for patterns." .) }}
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.peering.enabled }}
{{- range .Values.watchNamespaces }}
{{- if regexMatch "[*?\\[\\]!]" . }}
{{- fail (printf "peering.enabled with watchNamespaces pattern %q: kopf keeps a KopfPeering in each watched namespace, which the chart must create, so peering needs exact namespace names (or an empty watchNamespaces for cluster-wide peering)." .) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (hasPrefix "http://" .Values.operator.sagemakerEndpointUrl) (not .Values.operator.allowInsecureEndpoint) }}
{{- fail (printf "operator.sagemakerEndpointUrl %s is plain http: the operator refuses it, because AWS-signed requests would cross the network unencrypted. Use https, or set operator.allowInsecureEndpoint=true for a local emulator only." .Values.operator.sagemakerEndpointUrl) }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled: a ServiceMonitor selects a Service." }}
{{- end }}
{{- end }}
