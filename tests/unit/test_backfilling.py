"""The rules of a Backfill (kubedag.engine.backfilling, issue 9): which runs it makes, in
which order, how many at once, what it counts, what it does with runs that exist."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubedag.api.backfill import (
    MAX_FAILED_INTERVALS_LISTED,
    MAX_INTERVALS,
    BackfillOrder,
    BackfillPhase,
    BackfillSpec,
    BackfillStatus,
)
from kubedag.api.workflow import WorkflowPhase
from kubedag.engine.backfilling import (
    RESOLVED,
    RUN_CREATED,
    BackfillPlan,
    ExistingRun,
    RangeOutOfBounds,
    RangeTooLarge,
    intervals_in_range,
    named_intervals,
    plan_backfill,
    plan_blocked,
)
from kubedag.engine.intervals import Cadence, DataInterval, run_name
from kubedag.engine.plan import EventType

START = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
BASE = "daily-etl"
DAILY = Cadence(["0 0 * * *"], "UTC")


def spec(days: int = 10, **fields: Any) -> BackfillSpec:
    return BackfillSpec(
        workflow_template_ref={"name": BASE},
        schedules=["0 0 * * *"],
        start=START,
        end=START + timedelta(days=days),
        **fields,
    )


def days(count: int) -> list[DataInterval]:
    return intervals_in_range(DAILY, START, START + timedelta(days=count))


def names(count: int) -> list[str]:
    return [run_name(BASE, interval) for interval in days(count)]


def plan(
    backfill: BackfillSpec,
    runs: dict[str, ExistingRun] | None = None,
    status: BackfillStatus | None = None,
) -> BackfillPlan:
    return plan_backfill(
        backfill,
        named=named_intervals(BASE, intervals_in_range(DAILY, backfill.start, backfill.end)),
        runs=runs or {},
        status=status or BackfillStatus(),
        generation=1,
        now=NOW,
    )


def applied(world: dict[str, ExistingRun], result: BackfillPlan) -> dict[str, ExistingRun]:
    """The world after the shell carried the plan out (deletions still under way)."""
    after = dict(world)
    for planned in result.create:
        assert planned.name not in after, "a second run for one interval"
        after[planned.name] = ExistingRun(planned.name, None, ours=True)
    for name in result.recreate:
        after[name] = replace(after[name], deleting=True)
    for name in result.stop:
        after[name] = replace(after[name], shutdown=True)
    return after


def active(world: dict[str, ExistingRun]) -> int:
    return sum(1 for run in world.values() if not run.finished and not run.deleting)


# -- worlds hypothesis draws: each interval without a run, or with one in some state --

run_states = st.sampled_from(
    [
        None,
        (None, False),
        (WorkflowPhase.PENDING, True),
        (WorkflowPhase.RUNNING, True),
        (WorkflowPhase.RUNNING, False),
        (WorkflowPhase.SUCCEEDED, True),
        (WorkflowPhase.SUCCEEDED, False),
        (WorkflowPhase.FAILED, True),
        (WorkflowPhase.FAILED, False),
        "deleting",
    ]
)


@st.composite
def situations(draw: st.DrawFn) -> tuple[BackfillSpec, dict[str, ExistingRun]]:
    count = draw(st.integers(min_value=0, max_value=25))
    backfill = spec(
        count or 1,
        max_concurrent_runs=draw(st.integers(min_value=1, max_value=6)),
        order=draw(st.sampled_from(list(BackfillOrder))),
        rerun_succeeded=draw(st.booleans()),
    )
    if count == 0:  # a range that holds no interval start
        backfill = backfill.model_copy(
            update={"start": START + timedelta(hours=1), "end": START + timedelta(hours=2)}
        )
    world = {}
    for name in names(count):
        state = draw(run_states)
        if state == "deleting":
            world[name] = ExistingRun(name, WorkflowPhase.SUCCEEDED, ours=False, deleting=True)
        elif state is not None:
            world[name] = ExistingRun(name, state[0], ours=state[1])
    return backfill, world


@settings(max_examples=200, deadline=None)
@given(situations())
def test_never_more_runs_active_than_max_concurrent_runs(
    situation: tuple[BackfillSpec, dict[str, ExistingRun]],
) -> None:
    backfill, world = situation
    result = plan(backfill, world)
    busy = active(world) + sum(1 for run in world.values() if run.deleting)
    assert len(result.create) + len(result.recreate) <= max(0, backfill.max_concurrent_runs - busy)
    assert active(applied(world, result)) <= max(backfill.max_concurrent_runs, active(world))


@settings(max_examples=200, deadline=None)
@given(situations())
def test_runs_start_in_order_the_first_intervals_that_need_one_first(
    situation: tuple[BackfillSpec, dict[str, ExistingRun]],
) -> None:
    backfill, world = situation
    result = plan(backfill, world)
    everything = [
        run_name(BASE, i) for i in intervals_in_range(DAILY, backfill.start, backfill.end)
    ]
    ordered = everything if backfill.order == BackfillOrder.OLDEST_FIRST else everything[::-1]
    started = {planned.name for planned in result.create} | set(result.recreate)
    positions = [ordered.index(name) for name in ordered if name in started]
    if not positions:
        return
    # Every interval before the last one started either needed nothing or was started too.
    for name in ordered[: max(positions)]:
        run = world.get(name)
        needs_a_run = run is None or (
            run.finished
            and not run.deleting
            and (not run.ours)
            and (run.phase == WorkflowPhase.FAILED or backfill.rerun_succeeded)
        )
        assert not needs_a_run or name in started, name
    created = [planned.name for planned in result.create]
    assert created == sorted(created, key=ordered.index)


@settings(max_examples=200, deadline=None)
@given(situations())
def test_planning_again_after_the_plan_is_carried_out_changes_nothing(
    situation: tuple[BackfillSpec, dict[str, ExistingRun]],
) -> None:
    backfill, world = situation
    first = plan(backfill, world)
    after = applied(world, first)
    second = plan(backfill, after, first.status)
    assert (second.create, second.recreate, second.stop) == ((), (), ())
    assert second.status == first.status
    assert not [event for event in second.events if event.reason == RUN_CREATED]


@settings(max_examples=200, deadline=None)
@given(situations(), st.booleans(), st.booleans())
def test_counts_add_up_to_the_intervals_of_the_range_and_progress_says_the_finished_ones(
    situation: tuple[BackfillSpec, dict[str, ExistingRun]], suspend: bool, cancel: bool
) -> None:
    backfill, world = situation
    backfill = backfill.model_copy(update={"suspend": suspend, "cancel": cancel})
    status = plan(backfill, world).status
    counts = status.runs
    assert counts is not None
    total = len(intervals_in_range(DAILY, backfill.start, backfill.end))
    assert counts.total == total
    assert counts.succeeded + counts.failed + counts.running + counts.pending == total
    assert status.progress == f"{counts.succeeded + counts.failed}/{total}"


@settings(max_examples=200, deadline=None)
@given(situations())
def test_a_run_is_created_only_for_an_interval_that_has_none(
    situation: tuple[BackfillSpec, dict[str, ExistingRun]],
) -> None:
    backfill, world = situation
    result = plan(backfill, world)
    assert not {planned.name for planned in result.create} & set(world)
    # And only a finished run of someone else is deleted to run again.
    for name in result.recreate:
        assert world[name].finished and not world[name].ours and not world[name].deleting


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=1, max_value=30),
    st.integers(min_value=1, max_value=5),
    st.sampled_from(list(BackfillOrder)),
    st.randoms(use_true_random=False),
)
def test_a_backfill_runs_every_interval_once_and_ends_with_all_counted(
    count: int, limit: int, order: BackfillOrder, chance: random.Random
) -> None:
    backfill = spec(count, max_concurrent_runs=limit, order=order)
    world: dict[str, ExistingRun] = {}
    status = BackfillStatus()
    created: list[str] = []
    most_active = 0
    for _ in range(10 * count + 10):
        result = plan(backfill, world, status)
        status = result.status
        created += [planned.name for planned in result.create]
        world = applied(world, result)
        most_active = max(most_active, active(world))
        if status.phase in (BackfillPhase.SUCCEEDED, BackfillPhase.FAILED):
            break
        # Some active runs end, each succeeding or failing.
        for name, run in list(world.items()):
            if not run.finished and chance.random() < 0.5:
                outcome = WorkflowPhase.FAILED if chance.random() < 0.2 else WorkflowPhase.SUCCEEDED
                world[name] = replace(run, phase=outcome)
    assert sorted(created) == sorted(names(count))  # each interval once
    assert most_active <= limit
    counts = status.runs
    assert counts is not None
    failed = sorted(name for name, run in world.items() if run.phase == WorkflowPhase.FAILED)
    assert (counts.succeeded, counts.failed) == (count - len(failed), len(failed))
    assert status.phase == (BackfillPhase.FAILED if failed else BackfillPhase.SUCCEEDED)
    assert [entry.run for entry in status.failed_intervals or []] == failed
    assert status.progress == f"{count}/{count}"


def test_the_first_pass_starts_max_concurrent_runs_oldest_first() -> None:
    result = plan(spec(10, max_concurrent_runs=3))
    assert [planned.name for planned in result.create] == names(3)
    assert [planned.interval for planned in result.create] == days(3)
    assert result.status.phase == BackfillPhase.RUNNING
    assert result.status.progress == "0/10"
    assert [event.run for event in result.events if event.reason == RUN_CREATED] == names(3)


def test_newest_first_starts_with_the_latest_interval() -> None:
    result = plan(spec(10, max_concurrent_runs=2, order=BackfillOrder.NEWEST_FIRST))
    assert [planned.name for planned in result.create] == names(10)[::-1][:2]


def test_a_succeeded_run_of_someone_else_counts_as_done_without_rerun_succeeded() -> None:
    first = names(3)[0]
    world = {first: ExistingRun(first, WorkflowPhase.SUCCEEDED, ours=False)}
    result = plan(spec(3, max_concurrent_runs=3), world)
    assert [planned.name for planned in result.create] == names(3)[1:]
    assert result.recreate == ()
    assert result.status.runs is not None and result.status.runs.succeeded == 1


def test_with_rerun_succeeded_a_succeeded_run_of_someone_else_is_deleted_then_made_again() -> None:
    first = names(3)[0]
    backfill = spec(3, max_concurrent_runs=1, rerun_succeeded=True)
    world = {first: ExistingRun(first, WorkflowPhase.SUCCEEDED, ours=False)}
    result = plan(backfill, world)
    assert (result.create, result.recreate) == ((), (first,))
    # While it is being deleted, nothing else starts (it holds the only slot) ...
    deleting = applied(world, result)
    assert plan(backfill, deleting, result.status).create == ()
    # ... and once it is gone, it is the first run made.
    assert [planned.name for planned in plan(backfill, {}, result.status).create] == [first]


def test_this_backfills_own_succeeded_run_is_never_run_again_even_with_rerun_succeeded() -> None:
    first = names(2)[0]
    world = {first: ExistingRun(first, WorkflowPhase.SUCCEEDED, ours=True)}
    result = plan(spec(2, rerun_succeeded=True), world)
    assert result.recreate == ()
    assert [planned.name for planned in result.create] == [names(2)[1]]


def test_a_failed_run_of_someone_else_is_run_again_but_this_backfills_own_is_final() -> None:
    first, second = names(2)
    theirs = {first: ExistingRun(first, WorkflowPhase.FAILED, ours=False)}
    assert plan(spec(2, max_concurrent_runs=2), theirs).recreate == (first,)
    ours = {
        first: ExistingRun(first, WorkflowPhase.FAILED, ours=True),
        second: ExistingRun(second, WorkflowPhase.SUCCEEDED, ours=True),
    }
    result = plan(spec(2), ours)
    assert (result.create, result.recreate) == ((), ())
    assert result.status.phase == BackfillPhase.FAILED
    assert result.status.failed_intervals is not None
    assert [entry.run for entry in result.status.failed_intervals] == [first]
    assert first in (result.status.message or "")


def test_a_running_run_of_someone_else_is_waited_for_and_takes_a_slot() -> None:
    first = names(3)[0]
    world = {first: ExistingRun(first, WorkflowPhase.RUNNING, ours=False)}
    result = plan(spec(3, max_concurrent_runs=2), world)
    assert [planned.name for planned in result.create] == [names(3)[1]]


def test_suspended_it_creates_nothing_and_keeps_counting() -> None:
    first = names(3)[0]
    world = {first: ExistingRun(first, WorkflowPhase.SUCCEEDED, ours=True)}
    result = plan(spec(3, max_concurrent_runs=3, suspend=True), world)
    assert (result.create, result.recreate, result.stop) == ((), (), ())
    assert result.status.phase == BackfillPhase.SUSPENDED
    assert result.status.progress == "1/3"


def test_cancelled_it_stops_its_own_active_runs_only_and_creates_nothing() -> None:
    first, second, third = names(3)
    world = {
        first: ExistingRun(first, WorkflowPhase.RUNNING, ours=True),
        second: ExistingRun(second, WorkflowPhase.RUNNING, ours=False),
        third: ExistingRun(third, WorkflowPhase.RUNNING, ours=True, shutdown=True),
    }
    result = plan(spec(4, max_concurrent_runs=5, cancel=True), world)
    assert result.stop == (first,)
    assert result.create == ()
    assert result.status.phase == BackfillPhase.CANCELLED
    assert [event.reason for event in result.events] == ["RunStopped", "BackfillCancelled"]


def test_the_end_is_announced_once() -> None:
    world = {name: ExistingRun(name, WorkflowPhase.SUCCEEDED, ours=True) for name in names(2)}
    first = plan(spec(2), world)
    assert first.status.phase == BackfillPhase.SUCCEEDED
    assert [event.reason for event in first.events] == ["BackfillSucceeded"]
    assert first.status.finished_at == NOW
    assert plan(spec(2), world, first.status).events == ()


def test_a_finished_backfill_makes_nothing_more_when_its_runs_go_until_its_spec_changes() -> None:
    world = {name: ExistingRun(name, WorkflowPhase.SUCCEEDED, ours=True) for name in names(3)}
    done = plan(spec(3), world).status
    # The runs are deleted afterwards (ttlSecondsAfterFinished): nothing is run again.
    after = plan(spec(3), {}, done)
    assert (after.create, after.status, after.events) == ((), done, ())
    # A new generation of the spec (say, a wider range) is looked at afresh.
    wider = plan_backfill(
        spec(4),
        named=named_intervals(BASE, days(4)),
        runs=world,
        status=done,
        generation=2,
        now=NOW,
    )
    assert [planned.name for planned in wider.create] == [names(4)[3]]


def test_a_range_without_intervals_succeeds_with_nothing_to_do() -> None:
    # Midnight ticks only: no interval starts between 01:00 and 02:00.
    backfill = spec(1).model_copy(
        update={"start": START + timedelta(hours=1), "end": START + timedelta(hours=2)}
    )
    result = plan(backfill)
    assert result.status.phase == BackfillPhase.SUCCEEDED
    assert result.status.progress == "0/0"
    # Nothing failed, but a range with nothing in it is most likely a mistake: say so.
    assert result.status.message == "the range holds no interval of the schedule"
    assert [(e.type, e.reason) for e in result.events] == [(EventType.WARNING, "EmptyRange")]


def test_failed_intervals_are_listed_up_to_a_bound_and_counted_in_full() -> None:
    count = MAX_FAILED_INTERVALS_LISTED + 10
    world = {name: ExistingRun(name, WorkflowPhase.FAILED, ours=True) for name in names(count)}
    status = plan(spec(count), world).status
    assert status.runs is not None and status.runs.failed == count
    assert len(status.failed_intervals or []) == MAX_FAILED_INTERVALS_LISTED
    assert f"{count} of {count} runs failed" in (status.message or "")


def test_a_range_of_more_than_the_interval_limit_is_refused_with_the_limit() -> None:
    minutely = Cadence(["* * * * *"], "UTC")
    exactly = intervals_in_range(minutely, START, START + timedelta(minutes=MAX_INTERVALS))
    assert len(exactly) == MAX_INTERVALS
    with pytest.raises(RangeTooLarge, match=str(MAX_INTERVALS)):
        intervals_in_range(minutely, START, START + timedelta(days=365))


@pytest.mark.parametrize(
    ("schedule", "start", "end"),
    [
        # The last interval (from 9999-01-01) would end in the year 10000.
        ("0 0 1 1 *", datetime(9990, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)),
        # The tick after 9996-02-29 would be in the year 10000.
        ("0 0 29 2 *", datetime(9997, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)),
        # The interval holding the start began before the year 1.
        ("0 0 1 1 *", datetime(1, 1, 1, tzinfo=UTC), datetime(3, 1, 1, tzinfo=UTC)),
    ],
)
def test_a_range_reaching_past_the_years_datetime_holds_is_refused_with_a_reason(
    schedule: str, start: datetime, end: datetime
) -> None:
    """The API server accepts any RFC 3339 date-time; the pass must refuse the range with
    a reason (the Backfill's condition), not fail on an OverflowError at every retry."""
    with pytest.raises(RangeOutOfBounds, match="years 1 to 9999") as refused:
        intervals_in_range(Cadence([schedule], "UTC"), start, end)
    assert refused.value.reason == "RangeOutOfBounds"


def test_a_blocked_backfill_says_why_in_a_condition_and_warns_once_per_reason() -> None:
    first = plan_blocked(
        BackfillStatus(),
        reason="CronWorkflowNotFound",
        message="CronWorkflow 'nightly' not found",
        generation=1,
        now=NOW,
    )
    assert first.status.phase == BackfillPhase.PENDING
    condition = next(c for c in first.status.conditions if c.type == RESOLVED)
    assert (condition.status, condition.reason) == ("False", "CronWorkflowNotFound")
    assert [(e.type, e.reason) for e in first.events] == [("Warning", "CronWorkflowNotFound")]
    again = plan_blocked(
        first.status,
        reason="CronWorkflowNotFound",
        message="CronWorkflow 'nightly' not found",
        generation=1,
        now=NOW,
    )
    assert again.events == ()
    # Once resolved, the condition turns True.
    resolved = plan(spec(1), status=first.status).status
    assert next(c for c in resolved.conditions if c.type == RESOLVED).status == "True"


def test_a_run_of_another_cadence_with_the_intervals_name_is_a_conflict_not_done() -> None:
    """A CronWorkflow named like the WorkflowTemplate, hourly, made `daily-etl-20261101-000000`
    for [00:00, 01:00): a daily backfill's run of [00:00, 24:00) has that name. It must not
    count the hourly run as its day done, nor delete it, nor make a second run."""
    hourly_run = ExistingRun(names(2)[0], WorkflowPhase.SUCCEEDED, ours=False, other_interval=True)
    result = plan(spec(2), {hourly_run.name: hourly_run})
    assert result.recreate == ()
    assert [planned.name for planned in result.create] == [names(2)[1]]
    counts = result.status.runs
    assert counts is not None and (counts.succeeded, counts.failed) == (0, 1)
    assert [f.run for f in result.status.failed_intervals or []] == [hourly_run.name]
    (conflict,) = [e for e in result.events if e.reason == "IntervalConflict"]
    assert conflict.type == EventType.WARNING and hourly_run.name in conflict.message

    # Once the other interval's run finished, the Backfill ends Failed, saying which.
    finished = {
        hourly_run.name: hourly_run,
        names(2)[1]: ExistingRun(names(2)[1], WorkflowPhase.SUCCEEDED, ours=True),
    }
    final = plan(spec(2), finished).status
    assert final.phase == BackfillPhase.FAILED
    assert hourly_run.name in (final.message or "")
