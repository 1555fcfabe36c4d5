{{- /* testbed.deployment: a Deployment of testbed pods in role "worker" (serve and
run the agent loops) or "api" (serve only: TESTBED_ROLE=api), as mesh's chart splits
them. */ -}}
{{- define "testbed.deployment" -}}
{{- $ := .ctx -}}
{{- $role := .role -}}
{{- $v := index $.Values $role -}}
{{- $full := include "testbed.fullname" $ -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $full }}-{{ $role }}
  labels:
    {{- include "testbed.labels" $ | nindent 4 }}
    app.kubernetes.io/name: {{ $full }}-{{ $role }}
    component: {{ $role }}
spec:
  replicas: {{ $v.replicas }}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ $.Release.Name }}
      app.kubernetes.io/name: {{ $full }}-{{ $role }}
  template:
    metadata:
      labels:
        {{- include "testbed.labels" $ | nindent 8 }}
        app.kubernetes.io/name: {{ $full }}-{{ $role }}
        component: {{ $role }}
    spec:
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      containers:
        - name: {{ $role }}
          image: {{ $.Values.image.repository }}:{{ $.Values.image.tag }}
          imagePullPolicy: {{ $.Values.image.pullPolicy }}
          args: ["testbed"]
          env:
            - name: POD_NAME
              valueFrom: {fieldRef: {fieldPath: metadata.name}}
            - {name: PORT, value: "3000"}
            - name: DATABASE_URL
              value: postgres://postgres:postgres@{{ include "testbed.addr" (dict "ctx" $ "name" "postgres" "port" 5432) }}/postgres?sslmode=disable
            - name: NATS_URL
              value: nats://{{ include "testbed.addr" (dict "ctx" $ "name" "nats" "port" 4222) }}
            - {name: TESTBED_ROLE, value: {{ if eq $role "api" }}api{{ else }}all{{ end }}}
            - {name: TESTBED_MESH, value: {{ $.Values.testbed.mesh | quote }}}
            - {name: TESTBED_BUGS, value: {{ $.Values.testbed.bugs | quote }}}
            - {name: TESTBED_RUNTIME_SWITCHES, value: {{ $.Values.testbed.runtimeSwitches | quote }}}
            - {name: TESTBED_HEARTBEAT_TTL, value: {{ $.Values.testbed.heartbeatTTL | quote }}}
            - {name: TESTBED_HEARTBEAT_INTERVAL, value: {{ $.Values.testbed.heartbeatInterval | quote }}}
            - {name: TESTBED_AUTH_URL, value: "http://localhost:3000"}
          ports:
            - {name: http, containerPort: 3000}
          readinessProbe:
            httpGet: {path: /health/ready, port: 3000}
            periodSeconds: 2
            failureThreshold: 2
          livenessProbe:
            httpGet: {path: /health/live, port: 3000}
            periodSeconds: 5
            failureThreshold: 6
          resources:
            {{- toYaml $v.resources | nindent 12 }}
{{- end -}}
