#!/usr/bin/env bash
# Builds kubeconform from the Go module proxy, once, into the user's cache. `make lint`
# runs it in strict mode over the rendered chart and the examples, against JSON schemas made
# offline by hack/kubeconform-schemas.py (Kubernetes' own OpenAPI from the k8s.io/kubernetes
# Go module, and kubedag's CRDs). Prints the path of the binary on its last line of stdout.
set -euo pipefail

KUBECONFORM_VERSION="${KUBEDAG_KUBECONFORM_VERSION:-0.7.0}"

BIN_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/kubedag/bin/kubeconform-v$KUBECONFORM_VERSION"
KUBECONFORM="$BIN_DIR/kubeconform"

log() { printf '[kubeconform] %s\n' "$*" >&2; }

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"

if [[ ! -x "$KUBECONFORM" ]]; then
  log "building kubeconform v$KUBECONFORM_VERSION (about a minute; cached afterwards)"
  started=$SECONDS
  mkdir -p "$BIN_DIR/.build"
  GOBIN="$BIN_DIR/.build" go install -trimpath -ldflags "-s -w" \
    "github.com/yannh/kubeconform/cmd/kubeconform@v$KUBECONFORM_VERSION"
  mv "$BIN_DIR/.build/kubeconform" "$KUBECONFORM" && rmdir "$BIN_DIR/.build"
  log "built kubeconform in $(( SECONDS - started ))s"
fi
echo "$KUBECONFORM"
