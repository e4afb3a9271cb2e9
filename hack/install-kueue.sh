#!/usr/bin/env bash
# Builds the Kueue controller manager (sigs.k8s.io/kueue/cmd/kueue) from the Go module proxy,
# once, into the user's cache, and prints on its last line of stdout the directory holding
# `kueue` (the binary) and `crd/` (the CustomResourceDefinitions the module ships under
# config/components/crd/bases). The Kueue e2e test (tests/e2e/test_kueue.py) runs it out of
# cluster against the local control plane (issue 12 item 6).
# Like hack/install-promtool.sh: no release download, cached under ~/.cache/kubedag.
# First build measured at 61 min (empty Go build cache for Kueue's packages, modules
# downloaded by the build, 2 cores shared with five other engineers' tests, load ~16);
# keep ~/.cache/kubedag and the Go build cache between CI runs.
set -euo pipefail

KUEUE_VERSION="${KUBEDAG_KUEUE_VERSION:-v0.17.0}"
OUT_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/kubedag/bin/kueue-$KUEUE_VERSION"
KUEUE="$OUT_DIR/kueue"

log() { printf '[kueue] %s\n' "$*" >&2; }

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"

if [[ ! -x "$KUEUE" || ! -d "$OUT_DIR/crd" ]]; then
  log "building kueue $KUEUE_VERSION (up to an hour on 2 busy cores; cached afterwards)"
  started=$SECONDS
  mkdir -p "$OUT_DIR"
  # Built into a temporary directory first: an interrupted build leaves no half-written
  # binary that the check above would take for a finished one.
  GOBIN="$OUT_DIR/.build" go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kueue/cmd/kueue@$KUEUE_VERSION"
  mv "$OUT_DIR/.build/kueue" "$KUEUE" && rmdir "$OUT_DIR/.build"
  module_dir="$(go env GOMODCACHE)/sigs.k8s.io/kueue@$KUEUE_VERSION"
  rm -rf "$OUT_DIR/crd.tmp" && mkdir -p "$OUT_DIR/crd.tmp"
  cp "$module_dir"/config/components/crd/bases/*.yaml "$OUT_DIR/crd.tmp/"
  chmod -R u+w "$OUT_DIR/crd.tmp" && mv "$OUT_DIR/crd.tmp" "$OUT_DIR/crd"
  log "built kueue $KUEUE_VERSION in $(( SECONDS - started ))s"
fi
echo "$OUT_DIR"
