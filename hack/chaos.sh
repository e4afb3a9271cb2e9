#!/usr/bin/env bash
# `make chaos`: randomized chaos rounds (tests/chaos) against the local control plane
# (brought up here, built the first time), or the current kubeconfig context with
# KUBEDAG_CLUSTER=existing (its API server is then not restarted).
#   ROUNDS=20  SEED=<n> (default: random; printed at the start)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

if [[ "${KUBEDAG_CLUSTER:-local}" != "existing" ]]; then
  if ! hack/cluster.sh up; then
    echo "chaos: the local control plane did not come up; see the messages above" >&2
    exit 1
  fi
  eval "$(hack/cluster.sh env 2>/dev/null)"
  export KUBEDAG_CLUSTER=existing
fi
exec .venv/bin/python -m tests.chaos --rounds "${ROUNDS:-20}" ${SEED:+--seed "$SEED"}
