"""Runs the operator: kopf's reactor with kubedag's handlers, plus one HTTP server on the
metrics port for /metrics, /healthz and /readyz (kubedag.health)."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from typing import Any

import kopf

import kubedag.handlers  # noqa: F401  (registers the handlers with kopf)
from kubedag import health, metrics
from kubedag.api.pod import PodFields

# The API server stores JSON nested up to 10,000 levels deep (its decoder's limit; checked
# on Kubernetes 1.36), and Kopf parses every watch event with json.loads, which recurses
# once per level: under Python's default limit of 1,000 one such Workflow killed the
# watcher, and on restart the same object killed it again, for every namespace (issue 6).
# Parsing 10,000 levels needs about 20,000 frames; the C stack (8 MiB) holds far more.
RECURSION_LIMIT = 50_000


def run_operator(
    *,
    namespaces: list[str],
    metrics_port: int | None,
    health_port: int | None,
    verbose: bool,
    task_pod_defaults: PodFields | None = None,
    normal_task_events: bool = False,
) -> None:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # One line per HTTP request from the API client.
        logging.getLogger("httpx2").setLevel(logging.WARNING)
        logging.getLogger("httpx").setLevel(logging.WARNING)
    if metrics_port:
        metrics.register()
        health.serve(metrics_port, health.HEALTH)
    # kubedag.handlers marks it ready once every watch cache has listed its objects.
    health.HEALTH.require("caches", "the watch caches have not listed every resource yet")
    liveness = f"http://0.0.0.0:{health_port}/healthz" if health_port else None
    asyncio.run(
        _with_heartbeat(
            kopf.operator(
                clusterwide=not namespaces,
                namespaces=namespaces,
                standalone=True,
                liveness_endpoint=liveness,
                memo=kopf.Memo(
                    task_pod_defaults=task_pod_defaults,
                    namespaces=namespaces,
                    normal_task_events=normal_task_events,
                ),
            )
        )
    )


async def _with_heartbeat(operator: Coroutine[Any, Any, None]) -> None:
    """Runs `operator` while the event loop's heartbeat (kubedag.health: /healthz) beats."""
    beating = asyncio.create_task(health.HEALTH.beat_forever())
    try:
        await operator
    finally:
        beating.cancel()
