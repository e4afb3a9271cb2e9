#!/usr/bin/env bash
# The local control plane: a KWOK cluster running the real kube-apiserver, etcd,
# kube-controller-manager (Job controller, garbage collector) and kube-scheduler as local
# processes, with simulated nodes and pods. No Docker needed.
#
#   hack/cluster.sh up          build (first time), start, wait until usable
#   hack/cluster.sh down        stop and delete
#   hack/cluster.sh kubeconfig  print the kubeconfig path
#   hack/cluster.sh env         print `export ...` lines (PATH with kubectl, KUBECONFIG)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NAME="${KUBEDAG_CLUSTER_NAME:-kubedag}"
NODES="${KUBEDAG_CLUSTER_NODES:-2}"
export KWOK_WORKDIR="${XDG_CACHE_HOME:-$HOME/.cache}/kubedag/kwok"
KUBECONFIG_PATH="$KWOK_WORKDIR/clusters/$NAME/kubeconfig.yaml"

log() { printf '[cluster] %s\n' "$*" >&2; }

# kwokctl logs JSON lines; they go to a file and are shown only when something fails.
KWOKCTL_LOG="$KWOK_WORKDIR/kwokctl-$NAME.log"
quiet() {
  mkdir -p "$KWOK_WORKDIR"
  if ! "$@" >>"$KWOKCTL_LOG" 2>&1; then
    log "failed: $*"
    tail -n 20 "$KWOKCTL_LOG" >&2
    return 1
  fi
}

binaries() {
  local dir
  dir="$("$ROOT/hack/build-control-plane.sh" | tail -n 1)"
  # kwokctl runs the first kubectl on PATH; ours must win over any other one.
  export PATH="$dir:$PATH"
  BIN_DIR="$dir"
}

healthy() {
  [[ -f "$KUBECONFIG_PATH" ]] && kubectl --kubeconfig "$KUBECONFIG_PATH" get --raw /readyz >/dev/null 2>&1
}

exists() {
  kwokctl get clusters 2>/dev/null | grep -qx "$NAME"
}

create() {
  log "creating cluster '$NAME' (kube-apiserver, etcd, controller-manager, scheduler, kwok)"
  quiet kwokctl --name "$NAME" \
    --config "$ROOT/hack/kwok/kwokctl.yaml" --config "$ROOT/hack/kwok/stages.yaml" \
    create cluster --runtime binary \
    --kube-apiserver-binary "$BIN_DIR/kube-apiserver" \
    --kube-controller-manager-binary "$BIN_DIR/kube-controller-manager" \
    --kube-scheduler-binary "$BIN_DIR/kube-scheduler" \
    --kwok-controller-binary "$BIN_DIR/kwok" \
    --etcd-binary "$BIN_DIR/etcd" \
    --kubeconfig "$KUBECONFIG_PATH" \
    --wait 3m
}

delete() {
  quiet kwokctl --name "$NAME" delete cluster --kubeconfig "$KUBECONFIG_PATH" || true
}

# A pod scheduled and run to completion proves the whole chain works: API server,
# scheduler, and the KWOK controller playing our stages on the nodes.
runs_a_pod() {
  local pod="kubedag-smoke-$RANDOM" phase=""
  kubectl --kubeconfig "$KUBECONFIG_PATH" -n default run "$pod" --image=busybox:1.36 \
    --restart=Never >/dev/null 2>&1 || return 1
  for _ in $(seq 1 60); do
    phase="$(kubectl --kubeconfig "$KUBECONFIG_PATH" -n default get pod "$pod" \
      -o jsonpath='{.status.phase}' 2>/dev/null || true)"
    [[ "$phase" == Succeeded ]] && break
    sleep 0.5
  done
  kubectl --kubeconfig "$KUBECONFIG_PATH" -n default delete pod "$pod" --wait=false \
    >/dev/null 2>&1 || true
  [[ "$phase" == Succeeded ]]
}

settle() {
  local have
  have="$(kubectl --kubeconfig "$KUBECONFIG_PATH" get nodes -o name 2>/dev/null | grep -c . || true)"
  if (( have < NODES )); then
    quiet kwokctl --name "$NAME" scale node --replicas "$NODES"
  fi
  # Pods cannot be created in a namespace until its service account exists.
  for _ in $(seq 1 60); do
    kubectl --kubeconfig "$KUBECONFIG_PATH" get serviceaccount default >/dev/null 2>&1 && break
    sleep 1
  done
  kubectl --kubeconfig "$KUBECONFIG_PATH" wait --for=condition=Ready node --all --timeout=120s >/dev/null
}

up() {
  binaries
  if healthy; then
    log "cluster '$NAME' is already running"
  elif exists; then
    # Left over from an earlier session whose processes are gone. It is not restarted: a
    # restarted KWOK controller leaves the nodes alone until the dead controller's node
    # leases expire (minutes), so pods would sit Pending. A new cluster takes seconds.
    log "cluster '$NAME' was left stopped by an earlier session; recreating it"
    delete
    create
  else
    create
  fi
  settle
  if ! runs_a_pod; then
    log "a test pod did not run to completion in 30s; recreating the cluster"
    delete
    create
    settle
    if ! runs_a_pod; then
      log "a test pod still does not run; see the logs in $KWOK_WORKDIR/clusters/$NAME/logs"
      return 1
    fi
  fi
  log "ready: $(kubectl --kubeconfig "$KUBECONFIG_PATH" version -o json | python3 -c 'import json,sys; print("Kubernetes", json.load(sys.stdin)["serverVersion"]["gitVersion"])'), $NODES nodes"
  log "use it with: export KUBECONFIG=$KUBECONFIG_PATH PATH=$BIN_DIR:\$PATH"
}

case "${1:-}" in
  up) up ;;
  down)
    binaries
    if exists; then delete; log "cluster '$NAME' deleted"; else log "no cluster '$NAME'"; fi
    ;;
  kubeconfig) echo "$KUBECONFIG_PATH" ;;
  env)
    binaries
    echo "export PATH=$BIN_DIR:\$PATH KUBECONFIG=$KUBECONFIG_PATH"
    ;;
  *) echo "usage: $0 up|down|kubeconfig|env" >&2; exit 2 ;;
esac
