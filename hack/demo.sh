#!/usr/bin/env bash
# `make demo`: the local control plane (or the current context with
# KUBEDAG_CLUSTER=existing), the CRDs, the operator, and examples/etl-pipeline.yaml run to
# the end with live progress. The operator stops when the demo ends; the cluster stays
# up for a look around (`make cluster-down` removes it).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
mkdir -p .local

say() { printf '\n==> %s\n' "$*"; }

if [[ "${KUBEDAG_CLUSTER:-local}" == "existing" ]]; then
  say "using the current kubeconfig context: $(kubectl config current-context)"
else
  say "starting the local control plane (the first run builds it from Go modules: ~7 min)"
  hack/cluster.sh up
  eval "$(hack/cluster.sh env 2>/dev/null)"
fi

say "installing the CRDs"
kubectl apply --server-side --force-conflicts -f crds/
kubectl wait --for=condition=Established --timeout=60s crd/workflows.kubedag.io crd/tasks.kubedag.io >/dev/null

say "starting the operator (log: .local/operator.log)"
.venv/bin/kubedag operator --metrics-port 0 >.local/operator.log 2>&1 &
OPERATOR_PID=$!
trap 'kill $OPERATOR_PID 2>/dev/null || true; wait $OPERATOR_PID 2>/dev/null || true' EXIT

say "applying examples/etl-pipeline.yaml"
kubectl delete workflows.kubedag.io etl-pipeline --ignore-not-found --wait=true >/dev/null
kubectl apply -f examples/etl-pipeline.yaml

say "progress (each line is a task changing phase)"
status=0
.venv/bin/kubedag watch etl-pipeline --timeout 300 || status=$?

say "what kubectl shows"
kubectl get workflows.kubedag.io etl-pipeline
echo
kubectl get tasks.kubedag.io -l kubedag.io/workflow=etl-pipeline
cat <<TEXT

Look further:
  export KUBECONFIG=${KUBECONFIG:-~/.kube/config} PATH=$(dirname "$(command -v kubectl)"):\$PATH
  kubectl get kubedag                                   # workflows and tasks
  kubectl describe workflows.kubedag.io etl-pipeline    # conditions and events
  kubectl get jobs,pods -l kubedag.io/workflow=etl-pipeline
  kubectl get events --field-selector involvedObject.kind=Task

The operator has stopped. The cluster is still running: \`make cluster-down\` removes it.
TEXT
exit $status
