#!/usr/bin/env bash
# Runs the Kueue controller manager (hack/install-kueue.sh builds it) out of cluster against
# the cluster of $KUBECONFIG, in the foreground, for tests/e2e/test_kueue.py. Usage:
#   hack/run-kueue.sh WORK_DIR
# WORK_DIR receives the configuration, a self-signed certificate and the log's context.
# Ports: KUEUE_HEALTH_PORT, KUEUE_METRICS_PORT, KUEUE_WEBHOOK_PORT (defaults 18081..18083).
#
# Without the in-cluster pieces of a Kueue install:
# - no webhook configurations are registered (kubedag creates its Jobs suspended with the
#   queue label, which is what Kueue's Job webhook would do; the tests create Kueue's own
#   objects complete), so the webhook server only needs a certificate to start;
# - internalCertManagement is off (it injects CA bundles into webhook configurations and
#   CRD conversion settings that do not exist here), so Kueue reads its metrics server's
#   certificate from the fixed path /etc/kueue/metrics/certs (cmd/kueue/main.go, v0.17):
#   the process runs in its own mount namespace with an overlay on /etc holding it, so the
#   host's /etc is left as it is (needs root, as the local control plane does);
# - VisibilityOnDemand is off (an aggregated API server the tests do not use).
set -euo pipefail

WORK_DIR="${1:?usage: hack/run-kueue.sh WORK_DIR}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KUEUE_DIR="$("$ROOT/hack/install-kueue.sh" | tail -n 1)"
mkdir -p "$WORK_DIR/certs" "$WORK_DIR/overlay/upper" "$WORK_DIR/overlay/work"

if [[ ! -f "$WORK_DIR/certs/tls.crt" ]]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=kueue-local" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$WORK_DIR/certs/tls.key" -out "$WORK_DIR/certs/tls.crt" 2>/dev/null
fi

cat >"$WORK_DIR/config.yaml" <<CONFIG
apiVersion: config.kueue.x-k8s.io/v1beta2
kind: Configuration
namespace: kueue-system
health:
  healthProbeBindAddress: 127.0.0.1:${KUEUE_HEALTH_PORT:-18081}
metrics:
  bindAddress: 127.0.0.1:${KUEUE_METRICS_PORT:-18082}
webhook:
  host: 127.0.0.1
  port: ${KUEUE_WEBHOOK_PORT:-18083}
  certDir: $WORK_DIR/certs
leaderElection:
  leaderElect: false
internalCertManagement:
  enable: false
manageJobsWithoutQueueName: false
integrations:
  frameworks:
    - batch/job
CONFIG

exec unshare --mount --propagation private sh -c '
  set -e
  mount -t overlay overlay \
    -o "lowerdir=/etc,upperdir=$1/overlay/upper,workdir=$1/overlay/work" /etc
  mkdir -p /etc/kueue/metrics/certs
  cp "$1/certs/tls.crt" "$1/certs/tls.key" /etc/kueue/metrics/certs/
  exec "$2/kueue" --config "$1/config.yaml" --feature-gates=VisibilityOnDemand=false
' run-kueue "$WORK_DIR" "$KUEUE_DIR"
