"""What a Backfill does next (issue 9, point 3). Pure: the spec, the range's intervals and
the runs that exist in, the runs to create, re-create and stop, the status and the Events
out. The I/O is kubedag.controller.backfills.

The rules, in the order a reader meets them:

- The range `[start, end)` selects the intervals of the cadence whose start lies in it
  (Cadence.intervals_starting; Airflow's backfill selects logical dates the same way). At
  most MAX_INTERVALS of them: a larger range is refused with its size, not truncated.
- Each interval has one run, named `run_name(base, interval)`: the name a CronWorkflow
  gives the same interval, so an interval that already has a run — scheduled, made by
  hand, or by an earlier Backfill — is found by name, whoever made it.
- A run of this Backfill (its ownerReference names this Backfill's uid) that finished is
  final: Succeeded or Failed, it is counted and never made again.
- A run that has the interval's name but covers another interval (its spec.dataInterval
  differs: a run of another cadence with the same base name) is not this interval's run:
  it is counted failed (listed, with a Warning IntervalConflict), never counted done, and
  never deleted.
- A run made by someone else that Succeeded counts as done, unless `rerunSucceeded`; one
  that Failed is run again (a backfill exists to get the data; Airflow's backfill
  reprocesses failed runs by default too). Running it again means deleting the finished
  run and, once it is gone, creating it anew: the name is the interval's, and a run never
  runs twice at once. A run still going, whoever made it, is waited for.
- At most `maxConcurrentRuns` runs of the range are active (not finished) at once,
  counting the runs of others and the ones being deleted; new runs start in `order`,
  the first intervals that need one first.
- `suspend` creates and deletes nothing; `cancel` also stops this Backfill's active runs
  (their `spec.shutdown: Terminate`, which keeps their history). Neither hides counts.
- The Backfill is done when every interval's run has finished and none is to be made
  again: Succeeded if all succeeded, else Failed, with the failed intervals listed. Done
  is final until the spec changes: runs deleted later (a TTL) are not made again.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from kubedag.api.backfill import (
    MAX_FAILED_INTERVALS_LISTED,
    MAX_INTERVALS,
    BackfillOrder,
    BackfillPhase,
    BackfillSpec,
    BackfillStatus,
    FailedInterval,
    RunCounts,
)
from kubedag.api.common import Condition, ConditionStatus
from kubedag.api.workflow import WorkflowPhase
from kubedag.engine.intervals import Cadence, DataInterval, rfc3339, run_name
from kubedag.engine.plan import COMPLETED, SUCCEEDED, EventType
from kubedag.engine.statuses import set_condition

# Whether the Backfill's source (its CronWorkflow or WorkflowTemplate, its cadence and its
# range) could be turned into runs: False, with the reason, while the Backfill waits.
RESOLVED = "Resolved"


class RangeTooLarge(ValueError):
    """The range holds more than MAX_INTERVALS intervals; the message says how to fix it.
    `reason` is the reason of the Backfill's condition and Warning Event."""

    reason = "RangeTooLarge"


class RangeOutOfBounds(RangeTooLarge):
    """The range, or an interval of it, reaches outside the years Python's datetime holds
    (1 to 9999): e.g. `end: 9999-12-31T00:00:00Z` with a yearly schedule, whose last
    interval would end in the year 10000. The API server accepts such date-times."""

    reason = "RangeOutOfBounds"


# Reasons of the Backfill's conditions and Events.
RUN_CREATED = "RunCreated"
RUN_RECREATING = "RunRecreating"
RUN_STOPPED = "RunStopped"
BACKFILL_SUCCEEDED = "BackfillSucceeded"
BACKFILL_FAILED = "BackfillFailed"
BACKFILL_CANCELLED = "BackfillCancelled"
# Succeeded with nothing to do: the range holds no interval start of the schedule (it is
# shorter than the cadence, or between two ticks); probably not what was meant.
EMPTY_RANGE = "EmptyRange"
INTERVAL_CONFLICT = "IntervalConflict"


@dataclass(frozen=True)
class ExistingRun:
    """A Workflow that has the name of one of the range's runs, as the watch saw it.
    `ours`: its ownerReference names this Backfill (by uid); `shutdown`: its spec.shutdown
    is set; `deleting`: its deletionTimestamp is; `other_interval`: its spec.dataInterval
    is set and is not the planned interval: a run named by the same base and interval
    start, but of another cadence (e.g. a CronWorkflow named like the WorkflowTemplate)."""

    name: str
    phase: WorkflowPhase | None
    ours: bool
    deleting: bool = False
    shutdown: bool = False
    other_interval: bool = False

    @property
    def finished(self) -> bool:
        return self.phase is not None and self.phase.is_finished


@dataclass(frozen=True)
class PlannedRun:
    name: str
    interval: DataInterval


@dataclass(frozen=True)
class BackfillEvent:
    """An Event about the Backfill. `key` makes its name (posting it twice is harmless);
    `run` is the run a RunCreated, RunRecreating or RunStopped Event is about: it is posted
    right after that action went through (a RunCreated not at all when the run existed)."""

    type: EventType
    reason: str
    message: str
    key: str
    run: str | None = None


@dataclass(frozen=True)
class BackfillPlan:
    create: tuple[PlannedRun, ...]
    recreate: tuple[str, ...]  # finished runs to delete, to be created again once gone
    stop: tuple[str, ...]  # this Backfill's active runs to terminate
    status: BackfillStatus
    events: tuple[BackfillEvent, ...]


def intervals_in_range(cadence: Cadence, start: datetime, end: datetime) -> list[DataInterval]:
    """The intervals whose start lies in `[start, end)`, oldest first. Raises RangeTooLarge
    beyond MAX_INTERVALS (counting stops there: a range of years of minutes costs no
    more than the limit to refuse), RangeOutOfBounds when an interval would start or end
    outside the years 1 to 9999."""
    try:
        intervals = list(
            itertools.islice(cadence.intervals_starting(start, end), MAX_INTERVALS + 1)
        )
    except OverflowError as error:
        raise RangeOutOfBounds(
            f"the range [{rfc3339(start)}, {rfc3339(end)}) reaches an interval that starts "
            "or ends outside the years 1 to 9999; choose a range within them"
        ) from error
    if len(intervals) > MAX_INTERVALS:
        raise RangeTooLarge(
            f"the range holds more than {MAX_INTERVALS} intervals of the schedule; "
            "split it into several Backfills"
        )
    return intervals


def named_intervals(base: str, intervals: Iterable[DataInterval]) -> list[PlannedRun]:
    """Each interval with the name of its run (`run_name(base, interval)`), in order. The
    names of a range change only with its spec: computed once, they are the larger part
    of a pass over 10,000 intervals."""
    return [PlannedRun(run_name(base, interval), interval) for interval in intervals]


def plan_backfill(
    spec: BackfillSpec,
    *,
    named: Sequence[PlannedRun],
    runs: Mapping[str, ExistingRun],
    status: BackfillStatus,
    generation: int,
    now: datetime,
) -> BackfillPlan:
    """One pass. `named` are the range's intervals, oldest first, with their runs' names
    (named_intervals of intervals_in_range); `runs` the Workflows that exist under those
    names, by name (others are ignored); `status` the Backfill's last written status.
    Deterministic: the same inputs give the same plan.

    A Backfill that finished stays finished until its spec changes (a new generation): its
    runs may be deleted afterwards (ttlSecondsAfterFinished, a clean-up), and that must not
    make it run their intervals again."""
    if (
        status.phase is not None
        and status.phase.is_finished
        and status.observed_generation == generation
    ):
        return BackfillPlan(create=(), recreate=(), stop=(), status=status, events=())
    ordered = named if spec.order == BackfillOrder.OLDEST_FIRST else named[::-1]

    succeeded: list[str] = []
    failed: list[PlannedRun] = []
    active: list[ExistingRun] = []
    deleting = 0
    needing: list[tuple[PlannedRun, ExistingRun | None]] = []  # in order
    conflicting: list[PlannedRun] = []
    for planned in ordered:
        name = planned.name
        run = runs.get(name)
        if run is not None and run.other_interval and not run.ours:
            failed.append(planned)
            conflicting.append(planned)
        elif run is not None and run.deleting:
            deleting += 1
        elif run is not None and not run.finished:
            active.append(run)
        elif (
            run is not None
            and run.phase == WorkflowPhase.SUCCEEDED
            and (run.ours or not spec.rerun_succeeded)
        ):
            succeeded.append(name)
        elif run is not None and run.phase == WorkflowPhase.FAILED and run.ours:
            failed.append(planned)
        else:
            needing.append((planned, run))

    creating: list[PlannedRun] = []
    recreating: list[str] = []
    if not spec.suspend and not spec.cancel:
        free = max(0, spec.max_concurrent_runs - len(active) - deleting)
        for planned, run in needing[:free]:
            if run is None:
                creating.append(planned)
            else:
                recreating.append(planned.name)
    stopping = [run.name for run in active if run.ours and not run.shutdown] if spec.cancel else []

    counts = RunCounts(
        total=len(named),
        succeeded=len(succeeded),
        failed=len(failed),
        running=len(active) + len(creating),
        pending=len(needing) + deleting - len(creating),
    )
    failed.sort(key=lambda planned: planned.interval.start)
    phase = _phase(spec, counts)
    new_status = _status(spec, status, counts, phase, failed, generation, now)
    events = [
        BackfillEvent(
            EventType.NORMAL,
            RUN_CREATED,
            f"created run {planned.name} for {_describe(planned.interval)}",
            key=planned.name,
            run=planned.name,
        )
        for planned in creating
    ]
    events += [
        BackfillEvent(
            EventType.NORMAL,
            RUN_RECREATING,
            f"run {name} finished ({runs[name].phase}) before this Backfill; deleted to run "
            "its interval again"
            + (" (rerunSucceeded)" if runs[name].phase == WorkflowPhase.SUCCEEDED else ""),
            key=f"{name}/{runs[name].phase}",
            run=name,
        )
        for name in recreating
    ]
    events += [
        BackfillEvent(
            EventType.WARNING,
            INTERVAL_CONFLICT,
            f"run {planned.name} exists but covers another data interval than "
            f"{_describe(planned.interval)} (a run of another schedule with the same name); "
            "the interval is counted failed: delete that run, or backfill under another name",
            key=f"conflict/{planned.name}",
        )
        for planned in conflicting
    ]
    events += [
        BackfillEvent(
            EventType.NORMAL,
            RUN_STOPPED,
            f"stopping run {name}: the Backfill is cancelled",
            key=name,
            run=name,
        )
        for name in stopping
    ]
    if phase != status.phase:
        events += _phase_events(phase, new_status, generation)
    return BackfillPlan(
        create=tuple(creating),
        recreate=tuple(recreating),
        stop=tuple(stopping),
        status=new_status,
        events=tuple(events),
    )


def plan_blocked(
    status: BackfillStatus, *, reason: str, message: str, generation: int, now: datetime
) -> BackfillPlan:
    """The Backfill cannot make runs now (its CronWorkflow or WorkflowTemplate is missing,
    its cadence is invalid, its range too large): nothing is done, the status says why
    (condition Resolved=False) and a Warning Event too, once per new reason and message.
    Counts already known are kept."""
    phase = status.phase if status.phase and status.phase.is_finished else BackfillPhase.PENDING
    conditions = set_condition(
        status.conditions, RESOLVED, ConditionStatus.FALSE, reason, message, now, generation
    )
    new_status = status.model_copy(
        update={
            "phase": phase,
            "message": message,
            "conditions": conditions,
            "observed_generation": generation,
        }
    )
    before = _condition(status.conditions, RESOLVED)
    events: tuple[BackfillEvent, ...] = ()
    if before is None or (before.status, before.reason, before.message) != (
        ConditionStatus.FALSE,
        reason,
        message,
    ):
        events = (BackfillEvent(EventType.WARNING, reason, message, key=f"{generation}/{message}"),)
    return BackfillPlan(create=(), recreate=(), stop=(), status=new_status, events=events)


def _phase(spec: BackfillSpec, counts: RunCounts) -> BackfillPhase:
    if counts.succeeded + counts.failed == counts.total:
        return BackfillPhase.SUCCEEDED if counts.failed == 0 else BackfillPhase.FAILED
    if spec.cancel:
        return BackfillPhase.CANCELLED
    if spec.suspend:
        return BackfillPhase.SUSPENDED
    if counts.running == 0 and counts.succeeded + counts.failed == 0:
        return BackfillPhase.PENDING  # every slot is taken by runs being deleted
    return BackfillPhase.RUNNING


def _status(
    spec: BackfillSpec,
    previous: BackfillStatus,
    counts: RunCounts,
    phase: BackfillPhase,
    failed: list[PlannedRun],
    generation: int,
    now: datetime,
) -> BackfillStatus:
    finished = counts.succeeded + counts.failed
    if phase.is_finished and counts.failed:
        names = ", ".join(planned.name for planned in failed[:3])
        more = f" and {counts.failed - 3} more" if counts.failed > 3 else ""
        message = f"{counts.failed} of {counts.total} runs failed: {names}{more}"
    elif phase.is_finished:
        message = (
            f"all {counts.total} runs succeeded"
            if counts.total
            else "the range holds no interval of the schedule"
        )
    elif phase == BackfillPhase.CANCELLED:
        message = f"cancelled with {finished} of {counts.total} intervals finished"
    elif phase == BackfillPhase.SUSPENDED:
        message = f"suspended with {finished} of {counts.total} intervals finished"
    else:
        message = f"{counts.running} running, {counts.pending} to run"
    conditions = set_condition(
        previous.conditions, RESOLVED, ConditionStatus.TRUE, "Resolved", "", now, generation
    )
    done = phase.is_finished or (phase == BackfillPhase.CANCELLED and counts.running == 0)
    conditions = set_condition(
        conditions,
        COMPLETED,
        ConditionStatus.TRUE if done else ConditionStatus.FALSE,
        phase.value,
        message if done else "",
        now,
        generation,
    )
    outcome = {
        BackfillPhase.SUCCEEDED: ConditionStatus.TRUE,
        BackfillPhase.FAILED: ConditionStatus.FALSE,
        BackfillPhase.CANCELLED: ConditionStatus.FALSE,
    }.get(phase, ConditionStatus.UNKNOWN)
    conditions = set_condition(
        conditions,
        SUCCEEDED,
        outcome,
        phase.value,
        message if outcome != ConditionStatus.UNKNOWN else "",
        now,
        generation,
    )
    started = previous.started_at or (now if finished or counts.running else None)
    return BackfillStatus(
        phase=phase,
        progress=f"{finished}/{counts.total}",
        message=message,
        runs=counts,
        failed_intervals=[
            FailedInterval(run=planned.name, interval_start=planned.interval.local_start)
            for planned in failed[:MAX_FAILED_INTERVALS_LISTED]
        ]
        or None,
        started_at=started,
        finished_at=(previous.finished_at or now) if phase.is_finished else None,
        observed_generation=generation,
        conditions=conditions,
    )


def _phase_events(
    phase: BackfillPhase, status: BackfillStatus, generation: int
) -> list[BackfillEvent]:
    reason, event_type = {
        BackfillPhase.SUCCEEDED: (BACKFILL_SUCCEEDED, EventType.NORMAL),
        BackfillPhase.FAILED: (BACKFILL_FAILED, EventType.WARNING),
        BackfillPhase.CANCELLED: (BACKFILL_CANCELLED, EventType.NORMAL),
    }.get(phase, ("", EventType.NORMAL))
    if not reason:
        return []
    if phase == BackfillPhase.SUCCEEDED and status.runs is not None and status.runs.total == 0:
        reason, event_type = EMPTY_RANGE, EventType.WARNING
    key = f"{generation}/{status.progress}"
    return [BackfillEvent(event_type, reason, status.message or "", key=key)]


def _condition(conditions: Iterable[Condition], condition_type: str) -> Condition | None:
    return next((c for c in conditions if c.type == condition_type), None)


def _describe(interval: DataInterval) -> str:
    return f"[{rfc3339(interval.local_start)}, {rfc3339(interval.local_end)})"
