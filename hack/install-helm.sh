#!/usr/bin/env bash
# Builds helm from the Go module proxy, once, into the user's cache (no release download
# needed). Prints the path of the helm binary on its last line of stdout.
set -euo pipefail

HELM_VERSION="${KUBEDAG_HELM_VERSION:-3.22.0}"

BIN_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/kubedag/bin/helm-v$HELM_VERSION"
HELM="$BIN_DIR/helm"

log() { printf '[helm] %s\n' "$*" >&2; }

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"

if [[ ! -x "$HELM" ]]; then
  log "building helm v$HELM_VERSION (about 1-5 minutes on 2 cores; cached afterwards)"
  started=$SECONDS
  # The same ldflags as helm's own Makefile. Without the Kubernetes ones, `helm template`
  # and `helm lint` assume Kubernetes 1.20 and refuse charts that need newer; helm derives
  # them from the client-go it is built with (v0.N.M -> 1.N).
  client_go="$(go mod download -json "helm.sh/helm/v3@v$HELM_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])' \
    | xargs awk '$1 == "k8s.io/client-go" {print $2}')"
  k8s_minor="$(cut -d. -f2 <<<"$client_go")"
  ldflags="-s -w"
  ldflags+=" -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION"
  ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
  done
  mkdir -p "$BIN_DIR"
  GOBIN="$BIN_DIR" go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
  log "built helm v$HELM_VERSION in $(( SECONDS - started ))s"
fi
echo "$HELM"
