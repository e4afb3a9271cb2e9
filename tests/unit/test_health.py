"""The operator's /healthz and /readyz (kubedag.health, issue 12), served next to /metrics:
liveness is the event loop's heartbeat, readiness is liveness plus every named check."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from kubedag.health import Health, report, serve


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def health(clock: FakeClock) -> Health:
    return Health(clock=clock, stall_seconds=30)


@pytest.fixture
def port(health: Health) -> Iterator[int]:
    registry = CollectorRegistry()
    Counter("kubedag_probe_test_total", "A counter only this test registers.", registry=registry)
    server = serve(0, health, registry, address="127.0.0.1")
    yield server.server_port
    server.shutdown()
    server.server_close()


def test_alive_while_the_loop_beats_and_dead_once_it_has_been_silent_too_long(
    health: Health, clock: FakeClock
) -> None:
    assert report(health.liveness())[0]
    clock.now += 30
    assert report(health.liveness())[0]
    clock.now += 1
    passes, body = report(health.liveness())
    assert not passes
    assert body == "[-]event-loop failed: the event loop has not run for 31s (limit 30s)\n"
    health.beat()
    assert report(health.liveness()) == (True, "[+]event-loop ok\n")


def test_a_loop_that_never_starts_counts_as_stalled(clock: FakeClock) -> None:
    health = Health(clock=clock, stall_seconds=30)  # created: the process started
    clock.now += 31
    assert not report(health.liveness())[0]


def test_not_ready_until_every_check_passes(health: Health) -> None:
    assert report(health.readiness()) == (
        False,
        "[+]event-loop ok\n[-]started failed: the operator has not started yet\n",
    )
    health.require("caches", "the watch caches have not listed every resource yet")
    health.require("leader-election", "no Lease yet")
    passes, body = report(health.readiness())
    assert not passes
    assert "[-]caches failed: the watch caches have not listed" in body
    health.set_ready("caches", True)
    passes, body = report(health.readiness())
    assert not passes
    assert body.splitlines() == [
        "[+]event-loop ok",
        "[+]caches ok",
        "[-]leader-election failed: no Lease yet",
    ]
    health.set_ready("leader-election", True)
    assert report(health.readiness())[0]


def test_a_stalled_loop_is_not_ready_either(health: Health, clock: FakeClock) -> None:
    health.set_ready("caches", True)
    clock.now += 60
    assert not report(health.readiness())[0]


def test_the_endpoints_answer_200_or_503_and_metrics_are_served_beside_them(
    health: Health, clock: FakeClock, port: int
) -> None:
    assert get(port, "/healthz") == (200, "[+]event-loop ok\n")
    health.require("caches", "listing")
    status, body = get(port, "/readyz")
    assert (status, body.splitlines()[-1]) == (503, "[-]caches failed: listing")
    health.set_ready("caches", True)
    assert get(port, "/readyz") == (200, "[+]event-loop ok\n[+]caches ok\n")
    clock.now += 31
    assert get(port, "/healthz")[0] == 503
    assert get(port, "/readyz")[0] == 503
    status, body = get(port, "/metrics")
    assert status == 200
    assert "kubedag_probe_test_total 0.0" in body


def test_a_blocked_event_loop_fails_liveness_until_it_runs_again() -> None:
    # A real loop and a real clock: the loop is blocked by a synchronous wait (what a
    # handler stuck in a blocking call does), and /healthz, answered from the server's own
    # thread, sees the heartbeat stop.
    health = Health(stall_seconds=0.5)
    server = serve(0, health, CollectorRegistry(), address="127.0.0.1")
    loop = asyncio.new_event_loop()
    release = threading.Event()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    beating = asyncio.run_coroutine_threadsafe(health.beat_forever(interval=0.05), loop)
    try:

        def status_becomes(code: int) -> bool:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if get(server.server_port, "/healthz")[0] == code:
                    return True
                time.sleep(0.05)
            return False

        assert status_becomes(200)
        loop.call_soon_threadsafe(release.wait)  # blocks the loop until released
        assert status_becomes(503)
        release.set()
        assert status_becomes(200)
    finally:
        release.set()
        beating.cancel()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        server.shutdown()
        server.server_close()
