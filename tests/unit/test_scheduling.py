"""The scheduling core of CronWorkflows (kubedag.engine.scheduling, issue 9): which runs a
pass creates, skips, stops and deletes, across DST changes, catch-up, concurrency policies,
crashes and repeated passes."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubedag.api.common import ConditionStatus
from kubedag.api.cron_workflow import CronWorkflowSpec, CronWorkflowStatus
from kubedag.api.workflow import WorkflowPhase
from kubedag.engine.intervals import Cadence, run_name
from kubedag.engine.scheduling import (
    READY,
    EventReason,
    ExistingRun,
    ScheduleDecision,
    SkipReason,
    decide_schedule,
    newest_due_ticks,
)

NAME = "nightly"
CREATED = datetime(2026, 1, 1, tzinfo=UTC)
ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]


def make_spec(**fields: Any) -> CronWorkflowSpec:
    wire: dict[str, Any] = {
        "schedules": ["0 * * * *"],
        "workflowSpec": {"tasks": [{"name": "a", "image": "busybox"}]},
    }
    wire.update(fields)
    return CronWorkflowSpec.model_validate(wire)


def decide(
    spec: CronWorkflowSpec,
    now: datetime,
    status: CronWorkflowStatus | None = None,
    runs: Sequence[ExistingRun] = (),
    **extra: Any,
) -> ScheduleDecision:
    return decide_schedule(
        name=NAME,
        spec=spec,
        status=status or CronWorkflowStatus(),
        runs=runs,
        now=now,
        created_at=extra.pop("created_at", CREATED),
        generation=1,
        **extra,
    )


def running(decision: ScheduleDecision) -> list[ExistingRun]:
    return [
        ExistingRun(name=run.name, interval_start=run.interval.start, phase=WorkflowPhase.RUNNING)
        for run in decision.create
    ]


def finish(runs: Sequence[ExistingRun], phase: WorkflowPhase, at: datetime) -> list[ExistingRun]:
    return [dataclasses.replace(run, phase=phase, finished_at=at) for run in runs]


def skipped(decision: ScheduleDecision, reason: SkipReason) -> list[str]:
    return [
        event.message
        for event in decision.events
        if event.reason == EventReason.RUN_SKIPPED and event.message.startswith(reason.value)
    ]


# -- one tick -------------------------------------------------------------------------


def test_a_due_tick_creates_one_run_named_after_its_interval_start() -> None:
    spec = make_spec(schedules=["0 2 * * *"], timeZone="Europe/Berlin")
    now = datetime(2026, 3, 10, 1, 0, 5, tzinfo=UTC)  # 02:00:05 in Berlin
    status = CronWorkflowStatus(last_schedule_time=datetime(2026, 3, 9, 1, tzinfo=UTC))
    decision = decide(spec, now, status)
    [run] = decision.create
    assert run.interval.start == datetime(2026, 3, 9, 1, tzinfo=UTC)
    assert run.interval.end == datetime(2026, 3, 10, 1, tzinfo=UTC)
    assert run.name == "nightly-20260309-010000"
    assert decision.status.last_schedule_time == run.interval.end
    assert decision.status.next_schedule_time == datetime(2026, 3, 11, 1, tzinfo=UTC)
    assert decision.wake_at == decision.status.next_schedule_time
    assert [e.reason for e in decision.events] == [EventReason.RUN_CREATED]


def test_on_first_sight_ticks_count_from_the_creation_time() -> None:
    spec = make_spec(catchUp={"policy": "All"})
    created = datetime(2026, 5, 1, 10, 30, tzinfo=UTC)
    decision = decide(spec, datetime(2026, 5, 1, 13, 0, 1, tzinfo=UTC), created_at=created)
    assert [run.interval.end.hour for run in decision.create] == [11, 12, 13]


def test_no_tick_due_creates_nothing_and_wakes_at_the_next_tick() -> None:
    spec = make_spec()
    now = datetime(2026, 5, 1, 10, 30, tzinfo=UTC)
    decision = decide(spec, now, CronWorkflowStatus(last_schedule_time=now.replace(minute=0)))
    assert decision.create == [] and decision.events == []
    assert decision.wake_at == datetime(2026, 5, 1, 11, tzinfo=UTC)


def test_an_invalid_schedule_is_a_condition_and_a_warning_not_an_error() -> None:
    for bad in ({"schedules": ["61 * * * *"]}, {"timeZone": "Mars/Olympus_Mons"}):
        decision = decide(make_spec(**bad), datetime(2026, 5, 1, tzinfo=UTC))
        ready = next(c for c in decision.status.conditions if c.type == READY)
        assert ready.status == ConditionStatus.FALSE and ready.reason == "InvalidSchedule"
        assert [e.type for e in decision.events] == ["Warning"]
        assert decision.create == [] and decision.wake_at is None


def test_a_missing_workflow_template_holds_the_ticks_until_it_exists() -> None:
    spec = make_spec(catchUp={"policy": "All"})
    status = CronWorkflowStatus(last_schedule_time=datetime(2026, 5, 1, 8, tzinfo=UTC))
    now = datetime(2026, 5, 1, 10, 0, 1, tzinfo=UTC)
    held = decide(spec, now, status, source_problem="WorkflowTemplate etl not found")
    assert held.create == [] and held.status.last_schedule_time == status.last_schedule_time
    assert next(c for c in held.status.conditions if c.type == READY).reason == (
        "InvalidWorkflowSource"
    )
    assert [run.interval.end.hour for run in decide(spec, now, status).create] == [9, 10]


# -- catch-up -------------------------------------------------------------------------


def test_catch_up_latest_runs_only_the_newest_missed_tick() -> None:
    status = CronWorkflowStatus(last_schedule_time=datetime(2026, 5, 1, tzinfo=UTC))
    now = datetime(2026, 5, 2, 5, 30, tzinfo=UTC)
    decision = decide(make_spec(), now, status)
    assert [run.interval.end for run in decision.create] == [datetime(2026, 5, 2, 5, tzinfo=UTC)]
    assert len(skipped(decision, SkipReason.CATCH_UP_POLICY)) == 1
    assert decision.status.last_schedule_time == datetime(2026, 5, 2, 5, tzinfo=UTC)


@settings(max_examples=25, deadline=None)
@given(missed=st.integers(1, 1500), max_runs=st.integers(1, 1000))
def test_catch_up_all_runs_the_newest_max_runs_missed_ticks_oldest_first(
    missed: int, max_runs: int
) -> None:
    last = datetime(2026, 1, 1, tzinfo=UTC)
    now = last + timedelta(hours=missed, minutes=1)
    spec = make_spec(catchUp={"policy": "All", "maxRuns": max_runs})
    decision = decide(spec, now, CronWorkflowStatus(last_schedule_time=last))
    ends = [run.interval.end for run in decision.create]
    assert len(ends) == min(missed, max_runs)
    assert ends == sorted(ends)
    assert ends[-1] == last + timedelta(hours=missed)
    assert len(skipped(decision, SkipReason.CATCH_UP_POLICY)) == (1 if missed > max_runs else 0)
    assert decision.status.last_schedule_time == ends[-1]


def test_catch_up_none_runs_a_tick_only_while_it_is_on_time() -> None:
    spec = make_spec(catchUp={"policy": "None"})
    status = CronWorkflowStatus(last_schedule_time=datetime(2026, 5, 1, 8, tzinfo=UTC))
    on_time = decide(spec, datetime(2026, 5, 1, 10, 0, 30, tzinfo=UTC), status)
    assert [run.interval.end.hour for run in on_time.create] == [10]
    late = decide(spec, datetime(2026, 5, 1, 10, 5, tzinfo=UTC), status)
    assert late.create == []
    assert late.status.last_schedule_time == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert skipped(late, SkipReason.CATCH_UP_POLICY)


def test_a_tick_past_its_starting_deadline_is_skipped() -> None:
    spec = make_spec(startingDeadlineSeconds=120, catchUp={"policy": "All"})
    status = CronWorkflowStatus(last_schedule_time=datetime(2026, 5, 1, 8, tzinfo=UTC))
    decision = decide(spec, datetime(2026, 5, 1, 10, 1, tzinfo=UTC), status)
    assert [run.interval.end.hour for run in decision.create] == [10]
    assert len(skipped(decision, SkipReason.DEADLINE_MISSED)) == 1
    assert decision.status.last_schedule_time == datetime(2026, 5, 1, 10, tzinfo=UTC)


def test_a_million_missed_ticks_cost_a_pass_no_more_than_max_runs() -> None:
    spec = make_spec(schedules=["* * * * * *"], catchUp={"policy": "All", "maxRuns": 5})
    last = datetime(2026, 1, 1, tzinfo=UTC)
    decision = decide(spec, last + timedelta(days=30), CronWorkflowStatus(last_schedule_time=last))
    assert len(decision.create) == 5


# -- suspend --------------------------------------------------------------------------


def test_a_suspended_schedule_creates_nothing_and_catches_up_on_resume() -> None:
    last = datetime(2026, 5, 1, 8, tzinfo=UTC)
    status = CronWorkflowStatus(last_schedule_time=last)
    now = datetime(2026, 5, 1, 12, 0, 1, tzinfo=UTC)
    spec = make_spec(suspend=True, catchUp={"policy": "All"})
    suspended = decide(spec, now, status)
    assert suspended.create == [] and suspended.events == []
    assert suspended.status.last_schedule_time == last and suspended.wake_at is None
    resumed = decide(make_spec(catchUp={"policy": "All"}), now, suspended.status)
    assert [run.interval.end.hour for run in resumed.create] == [9, 10, 11, 12]


# -- concurrency ----------------------------------------------------------------------


def test_allow_creates_a_run_while_another_is_active() -> None:
    status = CronWorkflowStatus(last_schedule_time=datetime(2026, 5, 1, 8, tzinfo=UTC))
    first = decide(make_spec(), datetime(2026, 5, 1, 9, tzinfo=UTC), status)
    second = decide(make_spec(), datetime(2026, 5, 1, 10, tzinfo=UTC), first.status, running(first))
    assert len(second.create) == 1 and second.stop == []
    assert [a.name for a in second.status.active or []] == [
        first.create[0].name,
        second.create[0].name,
    ]


def test_forbid_holds_ticks_while_a_run_is_active_and_runs_the_newest_when_it_ends() -> None:
    spec = make_spec(concurrencyPolicy="Forbid")
    status = CronWorkflowStatus(last_schedule_time=datetime(2026, 5, 1, 8, tzinfo=UTC))
    first = decide(spec, datetime(2026, 5, 1, 9, tzinfo=UTC), status)
    runs = running(first)
    blocked = decide(spec, datetime(2026, 5, 1, 10, 0, 1, tzinfo=UTC), first.status, runs)
    assert blocked.create == [] and skipped(blocked, SkipReason.FORBID)
    assert blocked.status.last_schedule_time == datetime(2026, 5, 1, 9, tzinfo=UTC)
    ended = finish(runs, WorkflowPhase.SUCCEEDED, datetime(2026, 5, 1, 11, 30, tzinfo=UTC))
    after = decide(spec, datetime(2026, 5, 1, 11, 30, tzinfo=UTC), blocked.status, ended)
    assert [run.interval.end.hour for run in after.create] == [11]  # Latest: 10 skipped


def test_forbid_with_catch_up_all_runs_missed_intervals_one_after_another() -> None:
    spec = make_spec(concurrencyPolicy="Forbid", catchUp={"policy": "All"})
    status = CronWorkflowStatus(last_schedule_time=datetime(2026, 5, 1, 6, tzinfo=UTC))
    now = datetime(2026, 5, 1, 9, 0, 1, tzinfo=UTC)
    runs: list[ExistingRun] = []
    ran: list[int] = []
    for _ in range(4):
        decision = decide(spec, now, status, runs)
        assert len(decision.create) <= 1
        ran += [run.interval.end.hour for run in decision.create]
        status = decision.status
        runs = finish(runs, WorkflowPhase.SUCCEEDED, now) + running(decision)
        assert decide(spec, now, status, runs).create == []  # blocked by the new run
        runs = finish(runs, WorkflowPhase.SUCCEEDED, now)
    assert ran == [7, 8, 9]


def test_replace_stops_the_active_run_and_creates_the_new_one() -> None:
    spec = make_spec(concurrencyPolicy="Replace")
    status = CronWorkflowStatus(last_schedule_time=datetime(2026, 5, 1, 8, tzinfo=UTC))
    first = decide(spec, datetime(2026, 5, 1, 9, tzinfo=UTC), status)
    second = decide(spec, datetime(2026, 5, 1, 10, tzinfo=UTC), first.status, running(first))
    assert second.stop == [first.create[0].name]
    assert len(second.create) == 1
    assert EventReason.RUN_REPLACED in [e.reason for e in second.events]
    # A run already told to stop is not told again.
    stopping = [dataclasses.replace(r, stopping=True) for r in running(first)]
    again = decide(spec, datetime(2026, 5, 1, 10, tzinfo=UTC), second.status, stopping)
    assert again.stop == []


def test_replace_stops_the_old_run_after_a_crash_between_create_and_stop() -> None:
    spec = make_spec(concurrencyPolicy="Replace")
    status = CronWorkflowStatus(last_schedule_time=datetime(2026, 5, 1, 8, tzinfo=UTC))
    first = decide(spec, datetime(2026, 5, 1, 9, tzinfo=UTC), status)
    second = decide(spec, datetime(2026, 5, 1, 10, tzinfo=UTC), first.status, running(first))
    # The new run was created; the operator died before stopping the old one.
    replay = decide(
        spec, datetime(2026, 5, 1, 10, tzinfo=UTC), first.status, running(first) + running(second)
    )
    assert replay.create == [] and replay.stop == [first.create[0].name]


# -- history --------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    phases=st.lists(
        st.sampled_from([WorkflowPhase.SUCCEEDED, WorkflowPhase.FAILED, WorkflowPhase.RUNNING]),
        max_size=30,
    ),
    keep_succeeded=st.integers(0, 5),
    keep_failed=st.integers(0, 5),
)
def test_history_keeps_the_newest_finished_runs_of_each_outcome(
    phases: list[WorkflowPhase], keep_succeeded: int, keep_failed: int
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    runs = [
        ExistingRun(
            name=f"run-{index:02d}",
            interval_start=start + timedelta(hours=index),
            phase=phase,
            finished_at=start + timedelta(hours=index + 1),
        )
        for index, phase in enumerate(phases)
    ]
    spec = make_spec(
        successfulRunsHistoryLimit=keep_succeeded, failedRunsHistoryLimit=keep_failed, suspend=True
    )
    # Every run's tick is recorded as decided: the status's lastScheduleTime is past them.
    recorded = CronWorkflowStatus(lastScheduleTime=start + timedelta(hours=len(runs) + 1))
    deleted = set(decide(spec, start, recorded, runs=runs).delete)
    for phase, keep in (
        (WorkflowPhase.SUCCEEDED, keep_succeeded),
        (WorkflowPhase.FAILED, keep_failed),
    ):
        names = [run.name for run in runs if run.phase == phase]
        assert [n for n in names if n not in deleted] == names[len(names) - min(keep, len(names)) :]
    assert not deleted & {run.name for run in runs if run.phase == WorkflowPhase.RUNNING}


def test_a_run_whose_tick_the_status_does_not_record_yet_is_kept() -> None:
    # Its creation's status write was lost: the next pass decides its tick again, and a
    # run deleted by the history limit would then be created a second time.
    start = datetime(2026, 1, 1, tzinfo=UTC)
    runs = [
        ExistingRun(f"run-{i}", start + timedelta(hours=i), WorkflowPhase.SUCCEEDED)
        for i in range(3)
    ]
    spec = make_spec(successfulRunsHistoryLimit=1, suspend=True)
    recorded = CronWorkflowStatus(lastScheduleTime=start + timedelta(hours=1))
    assert decide(spec, start, recorded, runs=runs).delete == ["run-0"]
    assert decide(spec, start, runs=runs).delete == []


# -- whole schedules: idempotence, crashes, DST ------------------------------------------

SPECS = st.fixed_dictionaries(
    {
        "schedules": st.sampled_from(
            [["0 * * * *"], ["30 2 * * *"], ["*/20 * * * *", "7 3 * * *"], ["0 0 * * 0"]]
        ),
        "timeZone": st.sampled_from(ZONES),
        "concurrencyPolicy": st.sampled_from(["Allow", "Forbid", "Replace"]),
        "catchUp": st.fixed_dictionaries(
            {"policy": st.sampled_from(["None", "Latest", "All"]), "maxRuns": st.integers(1, 5)}
        ),
        "startingDeadlineSeconds": st.none() | st.integers(0, 7200),
    }
)


@settings(max_examples=120, deadline=None)
@given(wire=SPECS, hours=st.integers(0, 400), seed=st.integers(0, 2**32))
def test_a_pass_repeated_with_its_runs_present_creates_nothing_new(
    wire: dict[str, Any], hours: int, seed: int
) -> None:
    spec = make_spec(**wire)
    rng = random.Random(seed)
    now = CREATED + timedelta(hours=hours, minutes=rng.randrange(60))
    status = CronWorkflowStatus(
        last_schedule_time=CREATED + timedelta(hours=rng.randrange(hours + 1)) if hours else None
    )
    first = decide(spec, now, status)
    runs = running(first)
    for stale_status in (status, first.status):  # a crash before, or after, the status write
        again = decide(spec, now, stale_status, runs)
        assert again.create == []


@settings(max_examples=60, deadline=None)
@given(wire=SPECS, seed=st.integers(0, 2**32))
def test_an_interval_never_gets_two_runs_whatever_the_crashes_and_pass_times(
    wire: dict[str, Any], seed: int
) -> None:
    spec = make_spec(**wire)
    cadence = Cadence(spec.schedules, spec.time_zone)
    rng = random.Random(seed)
    now, status = CREATED, CronWorkflowStatus()
    runs: dict[str, ExistingRun] = {}
    created: list[str] = []
    for _ in range(40):
        now += timedelta(minutes=rng.choice([1, 7, 30, 61, 300, 3000]))
        decision = decide(spec, now, status, list(runs.values()))
        for run in decision.create:
            assert run.name not in runs
            assert run.name == run_name(NAME, cadence.interval_ending_at(run.interval.end))
            runs[run.name] = running(dataclasses.replace(decision, create=[run]))[0]
            created.append(run.name)
        for name in decision.stop:
            runs[name] = dataclasses.replace(runs[name], stopping=True)
        for name in decision.delete:
            del runs[name]
        for name, run in list(runs.items()):  # runs end at random
            if not run.finished and (run.stopping or rng.random() < 0.5):
                phase = rng.choice([WorkflowPhase.SUCCEEDED, WorkflowPhase.FAILED])
                runs[name] = dataclasses.replace(run, phase=phase, finished_at=now)
        if rng.random() < 0.7:  # else: crashed before the status write
            status = decision.status
        if spec.concurrency_policy.value != "Allow":
            assert sum(not run.finished for run in runs.values()) <= 1 + len(decision.stop)
    assert len(created) == len(set(created))


def tick_by_tick(spec: CronWorkflowSpec, start: datetime, end: datetime) -> list[ExistingRun]:
    """Every pass at its wake-up time from `start` to `end`, each run ending before the next
    tick; returns every run created."""
    status = CronWorkflowStatus(last_schedule_time=start)
    created: list[ExistingRun] = []
    latest: list[ExistingRun] = []
    now = start
    while now <= end:
        decision = decide(spec, now, status, finish(latest, WorkflowPhase.SUCCEEDED, now))
        latest = running(decision)
        created += latest
        status = decision.status
        assert decision.wake_at is not None and decision.wake_at > now
        now = decision.wake_at
    return created


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("schedule", ["0 * * * *", "30 2 * * *", "*/30 1-3 * * *"])
def test_ticks_across_dst_changes_give_contiguous_intervals_one_run_each(
    zone: str, schedule: str
) -> None:
    spec = make_spec(schedules=[schedule], timeZone=zone)
    # Both changes of every zone: Berlin and New York in March and October/November, Lord
    # Howe on the first Sundays of April and October (the hourly schedule: spring only).
    windows = [(datetime(2026, 3, 6, tzinfo=UTC), datetime(2026, 4, 7, tzinfo=UTC))]
    if schedule != "0 * * * *":
        windows.append((datetime(2026, 9, 30, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)))
    for start, end in windows:
        check_tick_by_tick(spec, start, end)


def check_tick_by_tick(spec: CronWorkflowSpec, start: datetime, end: datetime) -> None:
    runs = tick_by_tick(spec, start, end)
    starts = [run.interval_start for run in runs if run.interval_start]
    assert len(starts) == len(runs) == len({run.name for run in runs})
    assert starts == sorted(starts)
    cadence = Cadence(spec.schedules, spec.time_zone)
    # Each interval ends where the next begins, and every tick of the cadence got its run.
    assert [next(cadence.ticks_after(s)) for s in starts[:-1]] == starts[1:]
    assert starts == list(cadence.due_between(starts[0] - timedelta(seconds=1), starts[-1]))
    assert [run.name for run in runs] == [
        run_name(NAME, cadence.interval_ending_at(next(cadence.ticks_after(s)))) for s in starts
    ]


@pytest.mark.parametrize(
    ("zone", "day", "expected_local"),
    [
        # Spring forward: 02:30 does not exist; cronie runs it at the jump (03:00 local).
        (
            "Europe/Berlin",
            datetime(2026, 3, 29),
            ["2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00"],
        ),
        (
            "America/New_York",
            datetime(2026, 3, 8),
            ["2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00"],
        ),
        # Fall back: 02:30 occurs twice; a fixed time runs once, the first time.
        (
            "Europe/Berlin",
            datetime(2026, 10, 25),
            ["2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00"],
        ),
        # Lord Howe moves by 30 minutes: on 2026-10-04 02:00 jumps to 02:30 (02:30 exists).
        (
            "Australia/Lord_Howe",
            datetime(2026, 10, 4),
            ["2026-10-03T02:30:00+10:30", "2026-10-04T02:30:00+11:00"],
        ),
        (
            "Asia/Kolkata",
            datetime(2026, 3, 29),
            ["2026-03-28T02:30:00+05:30", "2026-03-29T02:30:00+05:30"],
        ),
    ],
)
def test_a_daily_run_on_a_dst_day_runs_once_with_the_interval_cron_gives(
    zone: str, day: datetime, expected_local: list[str]
) -> None:
    spec = make_spec(schedules=["30 2 * * *"], timeZone=zone, catchUp={"policy": "All"})
    local_day = day.replace(tzinfo=ZoneInfo(zone))
    status = CronWorkflowStatus(last_schedule_time=local_day.astimezone(UTC))
    decision = decide(spec, (local_day + timedelta(hours=12)).astimezone(UTC), status)
    [run] = decision.create
    assert [
        run.interval.local_start.isoformat(),
        run.interval.local_end.isoformat(),
    ] == expected_local


@settings(max_examples=100, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    schedule=st.sampled_from(["0 * * * *", "30 2 * * *", "*/15 1-3 * * *", "0 0 1 * *"]),
    start=st.datetimes(datetime(2025, 1, 1), datetime(2028, 1, 1), timezones=st.just(UTC)),
    limit=st.integers(1, 30),
)
def test_walking_back_from_now_finds_the_same_ticks_as_walking_forward(
    zone: str, schedule: str, start: datetime, limit: int
) -> None:
    cadence = Cadence([schedule], zone)
    until = start + timedelta(days=40)
    forward = list(cadence.due_between(start, until))
    assert (
        newest_due_ticks(cadence, after=start, until=until, limit=limit) == (forward[::-1][:limit])
    )
