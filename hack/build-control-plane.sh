#!/usr/bin/env bash
# Builds the local control plane from the Go module proxy, once, into the user's cache:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (one Kubernetes
# release), etcd, kwok and kwokctl. No Docker and no release downloads are needed.
#
# Prints the directory that holds the binaries on its last line of stdout.
set -euo pipefail

K8S_VERSION="${KUBEDAG_K8S_VERSION:-1.36.3}"
ETCD_VERSION="${KUBEDAG_ETCD_VERSION:-3.6.16}"
KWOK_VERSION="${KUBEDAG_KWOK_VERSION:-0.8.0}"

CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/kubedag"
BIN_DIR="$CACHE_ROOT/bin/k8s-v${K8S_VERSION}_etcd-v${ETCD_VERSION}_kwok-v${KWOK_VERSION}"
WORK_DIR="$CACHE_ROOT/build"

# The build is CPU-bound; this machine-independent default keeps the Go toolchain from
# asking for a toolchain download.
export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOFLAGS="-mod=mod -buildvcs=false"

log() { printf '[control-plane] %s\n' "$*" >&2; }

# Runs a command in the background and reports progress every 30 s, so a first build that
# takes many minutes on two cores never looks hung.
run_with_progress() {
  local what="$1" estimate="$2"; shift 2
  local log_file="$WORK_DIR/$what.log" started=$SECONDS
  log "building $what (first build takes about $estimate on 2 cores; cached afterwards)"
  "$@" >"$log_file" 2>&1 &
  local pid=$!
  local next_report=$(( started + 30 ))
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    if (( SECONDS >= next_report )); then
      log "  $what: $(( SECONDS - started ))s elapsed, $(grep -c . "$log_file" || true) packages compiled"
      next_report=$(( SECONDS + 30 ))
    fi
  done
  if ! wait "$pid"; then
    log "building $what FAILED; last lines of $log_file:"
    tail -n 30 "$log_file" >&2
    return 1
  fi
  log "built $what in $(( SECONDS - started ))s"
}

build_kubernetes() {
  local module_dir="$WORK_DIR/kubernetes-v$K8S_VERSION" minor="${K8S_VERSION#*.}"
  minor="${minor%%.*}"
  mkdir -p "$module_dir"
  # k8s.io/kubernetes replaces every k8s.io staging module with a local path, so it cannot
  # be `go install`ed. A wrapper module requires it and points each staging module at its
  # published v0.N.M release instead; the list is read from the release's own go.mod.
  local upstream_mod
  upstream_mod="$(cd "$module_dir" && go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
  {
    printf 'module kubedag.local/control-plane\n\ngo 1.26\n\nrequire k8s.io/kubernetes v%s\n\n' "$K8S_VERSION"
    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$upstream_mod" | awk '{print $1}' \
      | while read -r staging; do
          printf 'replace %s => %s v0.%s\n' "$staging" "$staging" "${K8S_VERSION#1.}"
        done
  } >"$module_dir/go.mod"
  local pkg="k8s.io/component-base/version" client_pkg="k8s.io/client-go/pkg/version"
  local ldflags="-s -w"
  for p in "$pkg" "$client_pkg"; do
    ldflags+=" -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  (cd "$module_dir" && go mod download k8s.io/kubernetes >/dev/null 2>&1 || true)
  run_with_progress "kubernetes-v$K8S_VERSION" "4-8 minutes" \
    bash -c "cd '$module_dir' && go build -v -trimpath -ldflags '$ldflags' -o '$BIN_DIR/' \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler \
      k8s.io/kubernetes/cmd/kubectl"
}

build_etcd() {
  local module_dir="$WORK_DIR/etcd-v$ETCD_VERSION"
  mkdir -p "$module_dir"
  # etcd's server module replaces its sibling modules with relative paths, so it too is
  # built through a wrapper module that pins the siblings to the same release.
  {
    printf 'module kubedag.local/etcd\n\ngo 1.26\n\nrequire go.etcd.io/etcd/server/v3 v%s\n\n' "$ETCD_VERSION"
    for sibling in api/v3 client/pkg/v3 client/v3 pkg/v3; do
      printf 'replace go.etcd.io/etcd/%s => go.etcd.io/etcd/%s v%s\n' "$sibling" "$sibling" "$ETCD_VERSION"
    done
  } >"$module_dir/go.mod"
  run_with_progress "etcd-v$ETCD_VERSION" "1 minute" \
    bash -c "cd '$module_dir' && go build -v -trimpath -ldflags '-s -w' -o '$BIN_DIR/etcd' go.etcd.io/etcd/server/v3"
}

build_kwok() {
  run_with_progress "kwok-v$KWOK_VERSION" "1-2 minutes" \
    env GOBIN="$BIN_DIR" GOFLAGS=-buildvcs=false go install -v -trimpath -ldflags '-s -w' \
      "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@v$KWOK_VERSION"
}

main() {
  mkdir -p "$BIN_DIR" "$WORK_DIR"
  local wanted=("$@")
  (( ${#wanted[@]} )) || wanted=(etcd kwok kubernetes)
  for component in "${wanted[@]}"; do
    local stamp="$BIN_DIR/.built-$component"
    if [[ -f "$stamp" ]]; then
      log "$component: cached in $BIN_DIR"
      continue
    fi
    "build_$component"
    touch "$stamp"
  done
  echo "$BIN_DIR"
}

main "$@"
