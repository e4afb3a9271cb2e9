"""The probes the chart's Deployment uses (issue 12), on the running operator: /healthz and
/readyz answer on its metrics port, next to /metrics; ready means its watch caches have
listed every resource of the real API server."""

from __future__ import annotations

import urllib.error
import urllib.request

from tests.e2e.cluster import wait_for
from tests.e2e.operator_process import OperatorProcess


def get(operator: OperatorProcess, path: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{operator.metrics_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_operator_is_alive_and_ready_once_its_caches_are_filled(
    operator: OperatorProcess,
) -> None:
    assert get(operator, "/healthz") == (200, "[+]event-loop ok\n")
    status, body = wait_for(
        "the operator to be ready", lambda: (r := get(operator, "/readyz"))[0] == 200 and r
    )
    assert body.splitlines() == ["[+]event-loop ok", "[+]caches ok"]
    status, metrics = get(operator, "/metrics")
    assert status == 200
    assert "kubedag_workqueue_depth" in metrics
