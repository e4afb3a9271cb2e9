#!/usr/bin/env bash
# Builds Argo Workflows' workflow-controller from the Go module proxy, once, into the user's
# cache (like hack/build-control-plane.sh builds the control plane). Used only by
# `make bench-compare` (bench/compare.py), which runs it out of cluster next to kubedag.
#
# The module's go.mod has no replace directives today, but the build goes through a
# writable copy of the module source anyway, so a future version with replaces still builds.
# Its CRDs come from the same source: the directory is printed too.
#
# Prints two lines on stdout: the CRD directory, then the binary path (last line).
set -euo pipefail

ARGO_VERSION="${KUBEDAG_ARGO_VERSION:-4.0.5}"
MODULE="github.com/argoproj/argo-workflows/v4"

CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/kubedag/argo/v$ARGO_VERSION"
BIN="$CACHE_DIR/workflow-controller"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"

log() { printf '[argo] %s\n' "$*" >&2; }

if [[ ! -x "$BIN" || ! -d "$CACHE_DIR/crds" ]]; then
  mkdir -p "$CACHE_DIR"
  module_dir="$(go mod download -json "$MODULE@v$ARGO_VERSION" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
  src="$CACHE_DIR/src"
  rm -rf "$src" && cp -r "$module_dir" "$src" && chmod -R u+w "$src"
  log "building workflow-controller v$ARGO_VERSION (first build takes 15-30 minutes on 2 cores; cached afterwards)"
  started=$SECONDS
  (cd "$src" && go build -trimpath -ldflags '-s -w' -o "$BIN.tmp" ./cmd/workflow-controller) \
    >"$CACHE_DIR/build.log" 2>&1 || { tail -n 30 "$CACHE_DIR/build.log" >&2; exit 1; }
  mv "$BIN.tmp" "$BIN"
  # The CRD manifests only (the directory also holds a kustomization.yaml).
  rm -rf "$CACHE_DIR/crds" && mkdir "$CACHE_DIR/crds"
  cp "$src"/manifests/base/crds/minimal/argoproj.io_*.yaml "$CACHE_DIR/crds/"
  rm -rf "$src"
  log "built in $(( SECONDS - started ))s: $BIN"
fi
echo "$CACHE_DIR/crds"
echo "$BIN"
