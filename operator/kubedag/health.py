"""Liveness and readiness of the operator: `/healthz` and `/readyz`, served next to
`/metrics` by one HTTP server on the operator's `--metrics-port` (issue 12), for the
kubelet's probes (the chart's livenessProbe and readinessProbe).

- `/healthz` (liveness): the process is up and its asyncio event loop still runs. A
  coroutine on the loop stamps a heartbeat every `BEAT_SECONDS`; the HTTP server answers
  from its own thread, so a loop that is blocked or dead (a handler stuck in a synchronous
  call, a deadlock) stops the stamps and, after `STALL_SECONDS`, makes /healthz answer
  503, and the kubelet restarts the container. A slow API server does not: waiting for it
  is an `await`, and the loop beats meanwhile.
- `/readyz` (readiness): alive, and every named readiness check passes. The operator
  registers `caches` (kubedag.handlers: every watch cache has listed its objects, so
  the controller plans from a complete view; until then it does not act). Other parts add
  their own with `HEALTH.require(name, reason)` and `HEALTH.set_ready(name, ...)`: leader
  election registers its check so that a replica that cannot take part in the election
  (it cannot reach its Lease) is not ready.

Both answer 200 with a body of one line per check, `[+]name ok` or `[-]name failed:
reason` (the shape of the Kubernetes API server's own `/readyz?verbose`), and 503 when
any check fails. Every other path is Prometheus' metrics exposition (`/metrics`).

The state is read from the HTTP server's threads and written from the event loop: each
read and write takes the lock, and the values are plain floats, bools and strings.
"""

from __future__ import annotations

import asyncio
import socketserver
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, make_wsgi_app
from prometheus_client.registry import CollectorRegistry

# The heartbeat interval and the silence after which the event loop counts as stalled
# (seconds). A reconcile pass of the largest runs measured (bench/, 2,000 tasks) holds the
# loop well under a second; 30 s of silence is a loop that no longer serves anyone.
BEAT_SECONDS = 1.0
STALL_SECONDS = 30.0

Check = tuple[bool, str]  # (passes, reason when it does not)
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class Health:
    """The operator's liveness (a heartbeat of the event loop) and readiness (named
    checks). `clock` returns seconds (monotonic); tests pass a fake one."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, stall_seconds: float = STALL_SECONDS
    ) -> None:
        self._clock = clock
        self._stall_seconds = stall_seconds
        self._lock = threading.Lock()
        # The process start counts as the first beat: a loop that never starts fails too.
        self._last_beat = clock()
        self._checks: dict[str, Check] = {}

    def beat(self) -> None:
        """Stamps the heartbeat (called from the event loop)."""
        with self._lock:
            self._last_beat = self._clock()

    async def beat_forever(self, interval: float = BEAT_SECONDS) -> None:
        """Stamps the heartbeat every `interval` seconds until cancelled."""
        while True:
            self.beat()
            await asyncio.sleep(interval)

    def require(self, name: str, reason: str) -> None:
        """Adds the readiness check `name`, failing with `reason` until `set_ready`."""
        self.set_ready(name, False, reason)

    def set_ready(self, name: str, ready: bool, reason: str = "") -> None:
        """Sets the readiness check `name` (adding it if new); `reason` says why it fails."""
        with self._lock:
            self._checks[name] = (ready, reason)

    def liveness(self) -> list[tuple[str, Check]]:
        """The liveness checks: `event-loop`, failing once the last heartbeat is older than
        the stall limit."""
        with self._lock:
            silent = self._clock() - self._last_beat
        if silent > self._stall_seconds:
            reason = (
                f"the event loop has not run for {silent:.0f}s (limit {self._stall_seconds:.0f}s)"
            )
            return [("event-loop", (False, reason))]
        return [("event-loop", (True, ""))]

    def readiness(self) -> list[tuple[str, Check]]:
        """The readiness checks: liveness, then every named check in the order added. With
        no named check at all the operator is not ready (nothing has said it is)."""
        with self._lock:
            checks = list(self._checks.items())
        if not checks:
            checks = [("started", (False, "the operator has not started yet"))]
        return [*self.liveness(), *checks]


def report(checks: Iterable[tuple[str, Check]]) -> tuple[bool, str]:
    """(every check passes, the body: one `[+]name ok` or `[-]name failed: reason` line
    per check)."""
    lines = []
    passes = True
    for name, (ok, reason) in checks:
        passes = passes and ok
        lines.append(f"[+]{name} ok" if ok else f"[-]{name} failed: {reason}")
    return passes, "\n".join(lines) + "\n"


def make_app(
    health: Health, registry: CollectorRegistry = REGISTRY
) -> Callable[[dict[str, Any], StartResponse], list[bytes]]:
    """A WSGI app: /healthz and /readyz from `health`, anything else Prometheus' metrics of
    `registry`."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in ("/healthz", "/livez"):
            checks = health.liveness()
        elif path == "/readyz":
            checks = health.readiness()
        else:
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        passes, body = report(checks)
        start_response(
            "200 OK" if passes else "503 Service Unavailable",
            [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")],
        )
        return [body.encode()]

    return app


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    """One thread per request: a slow scrape does not hold up a probe."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log: the kubelet probes every few seconds."""


def serve(
    port: int, health: Health, registry: CollectorRegistry = REGISTRY, address: str = "0.0.0.0"
) -> WSGIServer:
    """Serves `make_app(health, registry)` on `address:port` from a daemon thread; returns
    the server (its `server_port` is the bound port, useful with port 0). Raises OSError
    if the port is taken."""
    server = make_server(
        address,
        port,
        make_app(health, registry),
        server_class=_ThreadingServer,
        handler_class=_QuietHandler,
    )
    threading.Thread(target=server.serve_forever, name="metrics-and-health", daemon=True).start()
    return server


# The operator process's one instance.
HEALTH = Health()
