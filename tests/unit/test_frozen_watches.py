"""Frozen watches: the watch caches restart a watch that delivered nothing for the
inactivity timeout (tests/unit/test_watch_cache.py); kubedag warns when the restart brings
changes that had waited (frozen), and stays quiet when it brings nothing (a resource nobody
wrote)."""

from __future__ import annotations

import logging

import pytest

from kubedag.frozen_watches import WatchMonitor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def monitor(clock: Clock) -> WatchMonitor:
    return WatchMonitor(timeout=0.2, replay_window=5, clock=clock)


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_changes_arriving_right_after_a_restart_mean_the_watch_was_frozen(
    monitor: WatchMonitor, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    monitor.restarted("jobs.v1.batch")
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


def test_a_restart_of_one_resource_says_nothing_of_another(
    monitor: WatchMonitor, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    monitor.restarted("pods.v1")
    clock.now += 0.3
    monitor.saw_event("jobs.v1.batch")
    assert warnings(caplog) == []
    assert set(monitor.restarts) == {"pods.v1"}
