#!/usr/bin/env bash
# kubeconform, strict, with offline schemas (hack/kubeconform_schemas.py): Kubernetes' own
# kinds from the k8s.io/kubernetes Go module's OpenAPI (the control plane's version), and
# kubedag's kinds from crds/. Strict: an unknown or misspelt field is an error.
#
#   hack/kubeconform.sh            the chart rendered with charts/kubedag/ci/lint-values.yaml
#                                  (every optional template on), and examples/ (gitops too)
#   hack/kubeconform.sh FILE...    those files (YAML; `-` reads stdin)
#
# Skipped kinds, whose schemas are not available offline: the Prometheus Operator's
# ServiceMonitor and PrometheusRule, Argo CD's Application and Flux's sources and
# HelmRelease (tests/chart/test_gitops_examples.py checks those structurally).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
KUBECONFORM="$("$ROOT/hack/install-kubeconform.sh" | tail -n 1)"
K8S_VERSION="$(sed -n 's/^K8S_VERSION="${KUBEDAG_K8S_VERSION:-\(.*\)}"$/\1/p' "$ROOT/hack/build-control-plane.sh")"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/kubedag/kubeconform-schemas"
K8S_SCHEMAS="$CACHE/k8s-v$K8S_VERSION"
SKIP="ServiceMonitor,PrometheusRule,Application,AppProject,ApplicationSet,HelmRelease,HelmRepository,GitRepository,OCIRepository,Kustomization"

log() { printf '[kubeconform] %s\n' "$*" >&2; }

if [[ ! -d "$K8S_SCHEMAS" ]]; then
  log "writing Kubernetes v$K8S_VERSION schemas (once; from the k8s.io/kubernetes Go module)"
  module_dir="$(GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" \
    | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
  rm -rf "$K8S_SCHEMAS.tmp"
  "$PYTHON" "$ROOT/hack/kubeconform_schemas.py" kubernetes "$module_dir/api/openapi-spec/v3" "$K8S_SCHEMAS.tmp"
  mv "$K8S_SCHEMAS.tmp" "$K8S_SCHEMAS"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$PYTHON" "$ROOT/hack/kubeconform_schemas.py" crds "$ROOT/crds" "$work/crds" 2>/dev/null

run() {
  "$KUBECONFORM" -strict -summary -skip "$SKIP" \
    -schema-location "$K8S_SCHEMAS/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" \
    -schema-location "$work/crds/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" \
    "$@"
}

if (( $# > 0 )); then
  run "$@"
  exit
fi

HELM="$("$ROOT/hack/install-helm.sh" | tail -n 1)"
"$HELM" template kubedag "$ROOT/charts/kubedag" --namespace kubedag-system \
  -f "$ROOT/charts/kubedag/ci/lint-values.yaml" >"$work/chart.yaml"
log "the chart (ci/lint-values.yaml):"
run "$work/chart.yaml"
log "examples/:"
run "$ROOT/examples"
