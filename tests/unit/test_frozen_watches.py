"""Frozen watches: kopf restarts a watch that delivered nothing for the inactivity timeout;
kubedag warns when the restart brings changes that had waited (frozen), and stays quiet
when it brings nothing (a resource nobody wrote)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import kopf
import pytest
from kopf._cogs.clients import watching  # kopf's private module: the code under test
from kopf._cogs.structs.references import Resource

from kubedag import frozen_watches
from kubedag.frozen_watches import WatchMonitor

JOBS = Resource(group="batch", version="v1", plural="jobs", namespaced=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def monitor(clock: Clock) -> Iterator[WatchMonitor]:
    logger = logging.getLogger(frozen_watches.WATCHING_LOGGER)
    level, filters = logger.level, list(logger.filters)
    monitor = WatchMonitor(timeout=0.2, replay_window=5, clock=clock)
    frozen_watches.install(monitor)
    yield monitor
    logger.setLevel(level)
    logger.filters[:] = filters


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


async def _one_event_then_silence(**_: Any) -> AsyncIterator[dict[str, Any]]:
    yield {"type": "ADDED", "object": {"metadata": {"name": "a", "resourceVersion": "1"}}}
    await asyncio.sleep(3600)  # the connection stays open and delivers nothing more


def test_kopf_ends_a_silent_watch_in_bounded_time_and_the_monitor_notes_it(
    monitor: WatchMonitor, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(watching.api, "stream", _one_event_then_silence)
    settings = kopf.OperatorSettings()
    settings.watching.inactivity_timeout = 0.2

    async def watch() -> list[Any]:
        pause: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stream = watching.watch_objs(
            settings=settings, resource=JOBS, namespace=None, operator_pause_waiter=pause
        )
        return [event async for event in stream]

    caplog.set_level(logging.INFO)  # the operator's level when not --verbose
    events = asyncio.run(asyncio.wait_for(watch(), timeout=5))

    assert len(events) == 1  # the stream ended on its own: kopf then starts a new one
    assert set(monitor.restarts) == {"jobs.v1.batch"}
    assert caplog.records == []  # kopf's DEBUG line stays hidden at INFO


def test_changes_arriving_right_after_a_restart_mean_the_watch_was_frozen(
    monitor: WatchMonitor, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger(frozen_watches.WATCHING_LOGGER).debug(
        "Watch-stream for jobs.v1.batch cluster-wide is inactive, reconnecting."
    )
    clock.now += 0.3
    monitor.saw_event("jobs.v1.batch")
    monitor.saw_event("jobs.v1.batch")  # one warning per restart, not per replayed change
    assert warnings(caplog) == [
        "the watch of jobs.v1.batch was frozen: it delivered nothing for 0.2 s, and changes "
        "made meanwhile arrived only once it was restarted (from the last resource version "
        "seen, so none was lost)"
    ]


def test_a_quiet_resource_whose_watch_is_restarted_gets_no_warning(
    monitor: WatchMonitor, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    monitor.restarted("workflows.v1alpha1.kubedag.io")
    clock.now += 60  # the next change comes long after the restart: it did not wait
    monitor.saw_event("workflows.v1alpha1.kubedag.io")
    monitor.saw_event("pods.v1")  # events without a restart say nothing either
    assert warnings(caplog) == []


def test_a_namespaced_watch_restart_is_noted_under_its_resource(monitor: WatchMonitor) -> None:
    logging.getLogger(frozen_watches.WATCHING_LOGGER).debug(
        "Watch-stream for pods.v1 in 'data' is inactive, reconnecting."
    )
    assert set(monitor.restarts) == {"pods.v1"}


def test_the_watching_loggers_other_records_keep_their_level(
    monitor: WatchMonitor, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger(frozen_watches.WATCHING_LOGGER)
    caplog.set_level(logging.INFO)
    logger.debug("Starting the watch-stream for jobs.v1.batch cluster-wide.")
    logger.info("something kopf says at INFO")
    assert [r.getMessage() for r in caplog.records] == ["something kopf says at INFO"]
    caplog.clear()
    caplog.set_level(logging.DEBUG)  # the operator run with --verbose
    logger.debug("Starting the watch-stream for jobs.v1.batch cluster-wide.")
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
