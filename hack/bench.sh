#!/usr/bin/env bash
# `make bench`: the scale benchmark against the local control plane (or the current
# context with KUBEDAG_CLUSTER=existing). Numbers go to bench/results/.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
if [[ "${KUBEDAG_CLUSTER:-local}" != "existing" ]]; then
  hack/cluster.sh up
  eval "$(hack/cluster.sh env 2>/dev/null)"
fi
kubectl apply --server-side --force-conflicts -f crds/ >/dev/null
kubectl wait --for=condition=Established --timeout=60s crd/workflows.kubedag.io crd/tasks.kubedag.io >/dev/null
exec .venv/bin/python bench/scale.py "$@"
