#!/usr/bin/env bash
# `make bench-compare`: kubedag and Argo Workflows side by side (bench/compare.py) on the
# local control plane (or the current context with KUBEDAG_CLUSTER=existing). Builds Argo's
# workflow-controller the first time (hack/build-argo.sh), installs both CRD sets, runs the
# scenarios, then draws bench/results/compare.png and refreshes README's comparison table.
# Arguments are passed to bench/compare.py (--reps, --scenarios, --systems, sizes).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export ARGO_VERSION="${KUBEDAG_ARGO_VERSION:-4.0.5}"
argo_out="$(KUBEDAG_ARGO_VERSION="$ARGO_VERSION" hack/build-argo.sh)"
export ARGO_BIN="$(tail -n 1 <<<"$argo_out")"
argo_crds="$(head -n 1 <<<"$argo_out")"
if [[ "${KUBEDAG_CLUSTER:-local}" != "existing" ]]; then
  hack/cluster.sh up
  eval "$(hack/cluster.sh env 2>/dev/null)"
fi
# Argo's CRDs are removed again at the end: both projects name their kind `Workflow`, and
# with both installed a bare `kubectl get workflow` may resolve to Argo's (some e2e tests use it).
remove_argo() {
  kubectl delete --ignore-not-found --wait=false -f "$argo_crds" >/dev/null 2>&1 || true
  kubectl delete namespace argo-bench --ignore-not-found --wait=false >/dev/null 2>&1 || true
}
trap remove_argo EXIT
kubectl apply --server-side --force-conflicts -f crds/ -f "$argo_crds" >/dev/null
kubectl wait --for=condition=Established --timeout=60s \
  crd/workflows.kubedag.io crd/tasks.kubedag.io crd/workflows.argoproj.io >/dev/null
.venv/bin/python bench/compare.py "$@"
remove_argo
python3 -m uv run --quiet --group compare-bench python bench/compare_report.py
