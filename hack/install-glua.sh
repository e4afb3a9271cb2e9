#!/usr/bin/env bash
# Builds gopher-lua's `glua` command from the Go module proxy, once, into the user's cache.
# gopher-lua is the Lua 5.1 VM Argo CD runs resource health checks in, so the chart's
# health checks (charts/kubedag/argocd/health) are tested in the interpreter that will run
# them (tests/chart/test_argocd_health.py). Prints the path of the binary on its last line.
set -euo pipefail

GOPHER_LUA_VERSION="${KUBEDAG_GOPHER_LUA_VERSION:-1.1.2}"

BIN_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/kubedag/bin/glua-v$GOPHER_LUA_VERSION"
GLUA="$BIN_DIR/glua"

log() { printf '[glua] %s\n' "$*" >&2; }

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"

if [[ ! -x "$GLUA" ]]; then
  log "building glua (gopher-lua v$GOPHER_LUA_VERSION; well under a minute; cached afterwards)"
  started=$SECONDS
  mkdir -p "$BIN_DIR/.build"
  # Built into a temporary name first: an interrupted build leaves no half-written binary.
  GOBIN="$BIN_DIR/.build" go install -trimpath -ldflags "-s -w" \
    "github.com/yuin/gopher-lua/cmd/glua@v$GOPHER_LUA_VERSION"
  mv "$BIN_DIR/.build/glua" "$GLUA" && rmdir "$BIN_DIR/.build"
  log "built glua in $(( SECONDS - started ))s"
fi
echo "$GLUA"
