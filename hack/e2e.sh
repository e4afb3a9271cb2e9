#!/usr/bin/env bash
# The e2e half of `make test`: against the local control plane (brought up here, built the
# first time), or against the current kubeconfig context with KUBEDAG_CLUSTER=existing.
# It never skips: if the control plane cannot come up, it fails and says why.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

if [[ "${KUBEDAG_CLUSTER:-local}" != "existing" ]]; then
  if ! hack/cluster.sh up; then
    echo "e2e: the local control plane did not come up; see the messages above" >&2
    exit 1
  fi
  eval "$(hack/cluster.sh env 2>/dev/null)"
  export KUBEDAG_CLUSTER=existing
fi
exec .venv/bin/python -m pytest tests/e2e -q "$@"
