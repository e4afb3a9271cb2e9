#!/usr/bin/env bash
# Builds Prometheus' promtool from the Go module proxy, once, into the user's cache (no
# release download needed), like hack/install-helm.sh builds helm. The tests run it on the
# chart's alert rules (`promtool check rules`, `promtool test rules`:
# tests/unit/test_alert_rules.py). Prints the path of the binary on its last line of stdout.
#
# Prometheus' Go module is versioned v0.3MM.P for the release 3.MM.P.
# First build measured at 21 min (empty Go build cache, modules already downloaded, on 2 cores
# shared with three other builds); CI should keep ~/.cache/kubedag between runs.
set -euo pipefail

PROMETHEUS_VERSION="${KUBEDAG_PROMETHEUS_VERSION:-3.16.0}"
IFS=. read -r major minor patch <<<"$PROMETHEUS_VERSION"
MODULE_VERSION="v0.$(( major * 100 + minor )).$patch"

BIN_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/kubedag/bin/promtool-v$PROMETHEUS_VERSION"
PROMTOOL="$BIN_DIR/promtool"

log() { printf '[promtool] %s\n' "$*" >&2; }

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"

if [[ ! -x "$PROMTOOL" ]]; then
  log "building promtool $PROMETHEUS_VERSION (about 20 minutes on 2 busy cores; cached afterwards)"
  started=$SECONDS
  ldflags="-s -w -X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION"
  mkdir -p "$BIN_DIR"
  # Built into a temporary name first: an interrupted build leaves no half-written binary
  # that the check above would take for a finished one.
  # remove_all_sd leaves out the cloud service discoveries (AWS, Azure, GCE, ... and their
  # SDKs: most of the build), which rule checks and rule tests never use; Prometheus' own
  # plugins/*.go build tags.
  GOBIN="$BIN_DIR/.build" go install -trimpath -tags remove_all_sd -ldflags "$ldflags" \
    "github.com/prometheus/prometheus/cmd/promtool@$MODULE_VERSION"
  mv "$BIN_DIR/.build/promtool" "$PROMTOOL" && rmdir "$BIN_DIR/.build"
  log "built promtool $PROMETHEUS_VERSION in $(( SECONDS - started ))s"
fi
echo "$PROMTOOL"
