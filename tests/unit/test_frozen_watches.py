"""The WARNING for a frozen watch, driven through kopf's own watch loop: a stream that
delivers one event and then nothing is restarted after the inactivity timeout, and the
operator's log says so at WARNING, naming the resource."""

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

JOBS = Resource(group="batch", version="v1", plural="jobs", namespaced=True)


@pytest.fixture
def installed() -> Iterator[logging.Logger]:
    logger = logging.getLogger(frozen_watches.WATCHING_LOGGER)
    level, filters = logger.level, list(logger.filters)
    frozen_watches.install(timeout=0.2)
    yield logger
    logger.setLevel(level)
    logger.filters[:] = filters


async def _one_event_then_silence(**_: Any) -> AsyncIterator[dict[str, Any]]:
    yield {"type": "ADDED", "object": {"metadata": {"name": "a", "resourceVersion": "1"}}}
    await asyncio.sleep(3600)  # the connection stays open and delivers nothing more


def test_a_frozen_watch_is_restarted_in_bounded_time_with_a_warning(
    installed: logging.Logger, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
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
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage() == (
        "the watch of jobs.v1.batch (cluster-wide) delivered nothing, not even a bookmark, "
        "for 0.2 s: restarting it from the last resource version seen"
    )


def test_the_watching_loggers_other_debug_records_stay_hidden_at_info(
    installed: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    installed.debug("Starting the watch-stream for jobs.v1.batch cluster-wide.")
    installed.info("something kopf says at INFO")
    assert [r.getMessage() for r in caplog.records] == ["something kopf says at INFO"]


def test_the_watching_loggers_debug_records_show_when_the_operator_runs_verbose(
    installed: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    installed.debug("Starting the watch-stream for jobs.v1.batch cluster-wide.")
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


def test_a_namespaced_watch_is_named_with_its_namespace(
    installed: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    installed.debug("Watch-stream for pods.v1 in 'data' is inactive, reconnecting.")
    (record,) = caplog.records
    assert record.levelname == "WARNING"
    assert "the watch of pods.v1 (in 'data')" in record.getMessage()
