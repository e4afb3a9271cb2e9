"""When a CronWorkflow creates runs, and which it stops and deletes (issue 9). Pure: the
controller (kubedag.controller.cron_workflows) reads the world, calls `decide_schedule`
and carries out what it returns.

The rules, in the order they apply in a pass:

- **Ticks** come from `kubedag.engine.intervals.Cadence`; the run of tick `t` covers the data
  interval `[previous tick, t)` and is named `run_name(cron workflow, interval)`.
- **Due ticks** are those in `(lastScheduleTime, now]`; on first sight (no
  lastScheduleTime) they start after the object's creationTimestamp. `lastScheduleTime` is
  the newest tick *decided*: its run was created (or already existed), or it was skipped.
  Every tick up to it is decided; the ticks after it are not yet.
- **Catch-up** picks among the due ticks: `Latest` (the default, a CronJob's behaviour) the
  newest; `All` the newest `maxRuns`, oldest first; `None` the newest only if it is *on
  time* (see ON_TIME_SECONDS). The due ticks not picked are skipped with one RunSkipped
  event per pass. Only the newest `maxRuns + 1` due ticks are ever computed (walking back
  from now), so 1,000,000 missed ticks cost a pass no more than `maxRuns` do.
- **startingDeadlineSeconds**: a picked tick older than `now - deadline` is skipped
  (RunSkipped, DeadlineMissed), as a CronJob does.
- **Concurrency**: `Allow` creates every picked tick's run. `Forbid`: while a run of this
  CronWorkflow is active, the picked ticks are *not decided*: they wait (one RunSkipped event
  with reason Forbid says so), and once the run ends the catch-up policy and the deadline
  decide them. That is what a CronJob does (its controller does not advance
  lastScheduleTime for a tick it skips under Forbid, kubernetes/website#44796): with
  `Latest` the newest missed tick runs when the active run ends; with `All` the missed
  intervals run one after another, oldest first (Airflow's catchup with max_active_runs=1);
  with `None` they are lost unless still on time. Under Forbid a pass creates at most one
  run. `Replace`: the newest picked tick's run is created and every other active run is
  stopped (`spec.shutdown: Terminate`, RunReplaced); older picked ticks are skipped
  (their runs would be replaced at once).
- **suspend**: nothing is decided or created; on resume the ticks missed meanwhile are due
  and the catch-up policy decides them.
- **History**: of the finished runs of this CronWorkflow, the newest
  successfulRunsHistoryLimit Succeeded and failedRunsHistoryLimit Failed ones are kept (by
  interval start); older ones are deleted. Active runs are never deleted.

Idempotent: a tick whose run exists (by name) counts as created, whatever the status says,
so a pass repeated after a crash between creating runs and recording lastScheduleTime
creates nothing twice, and one interval never gets two runs (the API server's 409 on the
deterministic name is the last guard)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from kubedag.api.common import Condition, ConditionStatus
from kubedag.api.cron_workflow import (
    MAX_ACTIVE_LISTED,
    ActiveRun,
    CatchUpPolicy,
    ConcurrencyPolicy,
    CronWorkflowSpec,
    CronWorkflowStatus,
)
from kubedag.api.dataset import ConsumedDataset
from kubedag.api.workflow import WorkflowPhase
from kubedag.engine.dataset_triggers import (
    DatasetIdentity,
    DatasetState,
    TriggeredRun,
    TriggeredRunSeen,
    decide_dataset_trigger,
    sequence_of,
    trigger_problem,
)
from kubedag.engine.intervals import Cadence, DataInterval, InvalidCadence, rfc3339, run_name

# With catch-up None, a tick is *on time* when the pass that decides it runs at most this
# many seconds after it (or startingDeadlineSeconds, when that is set and shorter): the
# operator wakes up at each tick, so a pass is normally late by well under a second; a
# minute covers a busy operator or a short API server outage, not an operator that was down.
ON_TIME_SECONDS = 60
READY = "Ready"


class EventReason(StrEnum):
    RUN_CREATED = "RunCreated"
    RUN_SKIPPED = "RunSkipped"
    RUN_REPLACED = "RunReplaced"
    INVALID_SCHEDULE = "InvalidSchedule"
    INVALID_SOURCE = "InvalidWorkflowSource"
    INVALID_SPEC = "InvalidSpec"
    RUN_REJECTED = "RunRejected"
    # A trigger's dataset has Dataset objects only in other namespaces (issue 10 review).
    DATASET_ELSEWHERE = "DatasetInOtherNamespace"


class SkipReason(StrEnum):
    """Why a tick got no run (the first word of a RunSkipped event's message)."""

    FORBID = "Forbid"
    DEADLINE_MISSED = "DeadlineMissed"
    CATCH_UP_POLICY = "CatchUpPolicy"
    REPLACE = "Replace"


class ReadyReason(StrEnum):
    SCHEDULING = "Scheduling"
    SUSPENDED = "Suspended"
    INVALID_SCHEDULE = "InvalidSchedule"
    INVALID_SOURCE = "InvalidWorkflowSource"
    INVALID_SPEC = "InvalidSpec"
    RUN_REJECTED = "RunRejected"


@dataclass(frozen=True)
class ExistingRun:
    """A run (Workflow) labelled as this CronWorkflow's, as last seen.

    `interval_start` is its spec.dataInterval.start (None for a run made by hand without
    one); `stopping` says its spec.shutdown is already set."""

    name: str
    interval_start: datetime | None
    phase: WorkflowPhase | None
    finished_at: datetime | None = None
    stopping: bool = False
    # A run of the dataset trigger: what it consumed (its kubedag.io/dataset-trigger
    # annotation), None when unreadable or not such a run.
    trigger_consumed: tuple[ConsumedDataset, ...] | None = None

    @property
    def finished(self) -> bool:
        return self.phase is not None and self.phase.is_finished


@dataclass(frozen=True)
class RunToCreate:
    name: str
    interval: DataInterval


@dataclass(frozen=True)
class ScheduleEvent:
    """An Event on the CronWorkflow. `key` names it: the same key is the same Event, so a
    pass repeated after a crash does not post it twice."""

    type: str  # "Normal" or "Warning"
    reason: EventReason
    message: str
    key: str


@dataclass(frozen=True)
class ScheduleDecision:
    """What one pass does: create runs (oldest first), stop runs (`spec.shutdown:
    Terminate`), delete runs (history), post events, write the status — in that order:
    the status is written only after the runs exist. `wake_at` is when the next pass is
    needed (the next tick; None when only a change can bring news)."""

    create: list[RunToCreate] = field(default_factory=list)
    stop: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    events: list[ScheduleEvent] = field(default_factory=list)
    status: CronWorkflowStatus = field(default_factory=CronWorkflowStatus)
    wake_at: datetime | None = None
    # The run the dataset trigger starts (kubedag.engine.dataset_triggers), created after
    # the ticks' runs.
    triggered: TriggeredRun | None = None


def decide_schedule(
    *,
    name: str,
    spec: CronWorkflowSpec,
    status: CronWorkflowStatus,
    runs: Sequence[ExistingRun],
    now: datetime,
    created_at: datetime | None,
    generation: int,
    source_problem: str | None = None,
    datasets: Mapping[DatasetIdentity, DatasetState] | None = None,
    declared_params: frozenset[str] | None = None,
) -> ScheduleDecision:
    """One pass over the CronWorkflow `name` (see the module's rules), then over its
    dataset trigger (kubedag.engine.dataset_triggers) when it has one.

    `now` and `created_at` are aware datetimes; `runs` are the runs labelled with this
    CronWorkflow's name; `source_problem` says why its workflowTemplateRef cannot be used
    (the controller checks the WorkflowTemplate exists): its ticks then wait, like
    suspended ones. `datasets` are the Dataset objects of its namespace by (namespace,
    name); `declared_params` the params its WorkflowTemplate declares (None for an inline
    workflowSpec). Never raises for bad input: an invalid cron expression or time zone
    gives condition Ready=False (InvalidSchedule) and a Warning event, an invalid trigger
    InvalidSpec."""
    decision = _decide_cron(
        name=name,
        spec=spec,
        status=status,
        runs=runs,
        now=now.astimezone(UTC),
        created_at=created_at,
        generation=generation,
        source_problem=source_problem,
    )
    if spec.dataset_trigger is None:
        return decision
    stored_runs = status.dataset_trigger.runs if status.dataset_trigger is not None else 0
    ready = next((c for c in decision.status.conditions if c.type == READY), None)
    can_run = not spec.suspend and ready is not None and ready.status == ConditionStatus.TRUE
    trigger = decide_dataset_trigger(
        name=name,
        trigger=spec.dataset_trigger,
        status=decision.status.dataset_trigger,
        datasets=datasets or {},
        runs=[
            TriggeredRunSeen(run.name, sequence, run.trigger_consumed)
            for run in runs
            if (sequence := sequence_of(name, run.name)) is not None
        ],
        active_runs=[
            *(run.name for run in runs if not run.finished),
            *(run.name for run in decision.create),
        ],
        concurrency_policy=spec.concurrency_policy,
        can_run=can_run,
        declared_params=declared_params,
        now=now,
        created_at=created_at,
    )
    status = decision.status.model_copy(update={"dataset_trigger": trigger.status})
    events = [
        *decision.events,
        *(
            ScheduleEvent(event.type, EventReason(event.reason), event.message, event.key)
            for event in trigger.events
        ),
    ]
    stop = list(decision.stop)
    if trigger.create is not None:
        if trigger.replace_active:
            stop += [
                run.name
                for run in runs
                if not run.finished and not run.stopping and run.name not in stop
            ]
        started = ActiveRun(name=trigger.create.name, interval_start=now)
        status.active = [*(status.active or []), started][-MAX_ACTIVE_LISTED:]
    # A trigger run the stored status does not count yet stays, finished or not: deleted,
    # it could not be adopted, and its updates would start a second run.
    delete = [
        run
        for run in decision.delete
        if (sequence := sequence_of(name, run)) is None or sequence <= stored_runs
    ]
    return dataclasses.replace(
        decision, status=status, events=events, stop=stop, delete=delete, triggered=trigger.create
    )


def _decide_cron(
    *,
    name: str,
    spec: CronWorkflowSpec,
    status: CronWorkflowStatus,
    runs: Sequence[ExistingRun],
    now: datetime,
    created_at: datetime | None,
    generation: int,
    source_problem: str | None,
) -> ScheduleDecision:
    deletions = _history_to_delete(spec, runs, status.last_schedule_time)
    base = _carried_status(status, runs, generation)
    cadence = None
    if spec.schedules:
        try:
            cadence = Cadence(spec.schedules, spec.time_zone)
        except InvalidCadence as error:
            return _blocked(
                base,
                deletions,
                now,
                ReadyReason.INVALID_SCHEDULE,
                EventReason.INVALID_SCHEDULE,
                str(error),
                generation,
            )
    elif spec.dataset_trigger is None:
        return _blocked(
            base,
            deletions,
            now,
            ReadyReason.INVALID_SPEC,
            EventReason.INVALID_SPEC,
            "a CronWorkflow needs schedules, a datasetTrigger or both",
            generation,
        )
    if spec.dataset_trigger is not None:
        problem = trigger_problem(spec.dataset_trigger)
        if problem is not None:
            return _blocked(
                base,
                deletions,
                now,
                ReadyReason.INVALID_SPEC,
                EventReason.INVALID_SPEC,
                problem,
                generation,
            )
    if source_problem is not None:
        blocked = _blocked(
            base,
            deletions,
            now,
            ReadyReason.INVALID_SOURCE,
            EventReason.INVALID_SOURCE,
            source_problem,
            generation,
        )
        if cadence is not None:
            blocked.status.next_schedule_time = next(cadence.ticks_after(now))
        return blocked
    if spec.suspend:
        suspended = base.model_copy(
            update={
                "next_schedule_time": None,
                "conditions": ready_conditions(
                    base, True, ReadyReason.SUSPENDED, "suspended", now, generation
                ),
            }
        )
        return ScheduleDecision(delete=deletions, status=suspended)
    if cadence is None:
        # Dataset trigger only: no ticks.
        ready = base.model_copy(
            update={
                "next_schedule_time": None,
                "conditions": ready_conditions(
                    base, True, ReadyReason.SCHEDULING, "", now, generation
                ),
            }
        )
        return ScheduleDecision(delete=deletions, status=ready)
    return _schedule(name, spec, cadence, base, runs, now, created_at, generation, deletions)


@dataclass
class _Pass:
    """What the steps of one pass have settled so far: its events, and the ticks it decided
    (created or skipped), from which lastScheduleTime follows."""

    events: list[ScheduleEvent] = field(default_factory=list)
    decided: list[datetime] = field(default_factory=list)

    def skip(self, reason: SkipReason, ticks: Sequence[datetime], why: str) -> None:
        """One event for the ticks (oldest first); they are decided."""
        self.events.append(_skipped_range(reason, ticks[0], ticks[-1], why))
        self.decided += ticks


def _schedule(
    name: str,
    spec: CronWorkflowSpec,
    cadence: Cadence,
    base: CronWorkflowStatus,
    runs: Sequence[ExistingRun],
    now: datetime,
    created_at: datetime | None,
    generation: int,
    deletions: list[str],
) -> ScheduleDecision:
    """The rules of the module's docstring, one step each, in order."""
    done = _Pass()
    after = base.last_schedule_time or created_at or now
    newest_first, picked = _catch_up_window(spec, cadence, after, now, done)
    wanted = _not_created_yet(name, cadence, picked, runs, done)
    wanted = _within_deadline(spec, wanted, now, done)
    wanted = _on_time(spec, wanted, now, done)
    active = [run for run in runs if not run.finished]
    create, stop = _by_concurrency(spec, wanted, picked, active, done)
    done.decided += [run.interval.end for run in create]
    for run in create:
        span = f"[{rfc3339(run.interval.local_start)}, {rfc3339(run.interval.local_end)})"
        done.events.append(
            ScheduleEvent(
                "Normal",
                EventReason.RUN_CREATED,
                f"created {run.name} for {span}",
                key=f"created/{run.name}",
            )
        )

    next_tick = next(cadence.ticks_after(now))
    active_now = sorted(
        [
            *_active_list(active),
            *(ActiveRun(name=r.name, interval_start=r.interval.start) for r in create),
        ],
        key=lambda a: (a.interval_start, a.name),
    )
    status = base.model_copy(
        update={
            "last_schedule_time": _newest_decided_prefix(
                done.decided, newest_first, base.last_schedule_time
            ),
            "next_schedule_time": next_tick,
            "active": active_now[-MAX_ACTIVE_LISTED:] or None,
            "conditions": ready_conditions(base, True, ReadyReason.SCHEDULING, "", now, generation),
        }
    )
    return ScheduleDecision(
        create=create,
        stop=stop,
        delete=deletions,
        events=done.events,
        status=status,
        wake_at=next_tick,
    )


def _catch_up_window(
    spec: CronWorkflowSpec, cadence: Cadence, after: datetime, now: datetime, done: _Pass
) -> tuple[list[datetime], list[datetime]]:
    """The due ticks computed (newest first, at most keep + 1) and those the catch-up
    policy picks (oldest first); the older ones are skipped."""
    catch_up = spec.catch_up_or_default
    keep = catch_up.max_runs if catch_up.policy == CatchUpPolicy.ALL else 1
    newest_first = newest_due_ticks(cadence, after=after, until=now, limit=keep + 1)
    if len(newest_first) > keep:
        # Everything up to the (keep+1)-th newest tick: only that one was computed, and it
        # stands for all of them in lastScheduleTime.
        first_missed = next(cadence.ticks_after(after))
        why = f"catch-up {catch_up.policy.value} keeps the newest {keep} of the missed ticks"
        done.events.append(
            _skipped_range(SkipReason.CATCH_UP_POLICY, first_missed, newest_first[keep], why)
        )
        done.decided.append(newest_first[keep])
    return newest_first, sorted(newest_first[:keep])


def _not_created_yet(
    name: str,
    cadence: Cadence,
    picked: list[datetime],
    runs: Sequence[ExistingRun],
    done: _Pass,
) -> list[RunToCreate]:
    """The picked ticks' runs that do not exist; a tick whose run exists (an earlier pass,
    a crash before its status write, a run made by hand) is decided, never created again."""
    existing_names = {run.name for run in runs}
    existing_starts = {run.interval_start for run in runs if run.interval_start is not None}
    wanted = []
    for tick in picked:
        interval = cadence.interval_ending_at(tick)
        run = RunToCreate(run_name(name, interval), interval)
        if run.name in existing_names or interval.start in existing_starts:
            done.decided.append(tick)
        else:
            wanted.append(run)
    return wanted


def _within_deadline(
    spec: CronWorkflowSpec, wanted: list[RunToCreate], now: datetime, done: _Pass
) -> list[RunToCreate]:
    if spec.starting_deadline_seconds is None:
        return wanted
    limit = now - timedelta(seconds=spec.starting_deadline_seconds)
    late = [run.interval.end for run in wanted if run.interval.end < limit]
    if late:
        why = f"more than startingDeadlineSeconds={spec.starting_deadline_seconds} late"
        done.skip(SkipReason.DEADLINE_MISSED, late, why)
    return wanted[len(late) :]


def _on_time(
    spec: CronWorkflowSpec, wanted: list[RunToCreate], now: datetime, done: _Pass
) -> list[RunToCreate]:
    """Catch-up None: the (newest) picked tick runs only if it is on time."""
    if spec.catch_up_or_default.policy != CatchUpPolicy.NONE or not wanted:
        return wanted
    window = min(ON_TIME_SECONDS, spec.starting_deadline_seconds or ON_TIME_SECONDS)
    tick = wanted[-1].interval.end
    if now - tick <= timedelta(seconds=window):
        return wanted
    done.skip(
        SkipReason.CATCH_UP_POLICY, [tick], f"catch-up None runs only a tick at most {window}s late"
    )
    return []


def _by_concurrency(
    spec: CronWorkflowSpec,
    wanted: list[RunToCreate],
    picked: list[datetime],
    active: list[ExistingRun],
    done: _Pass,
) -> tuple[list[RunToCreate], list[str]]:
    """The runs to create and the runs to stop, by concurrencyPolicy."""
    if spec.concurrency_policy == ConcurrencyPolicy.FORBID:
        if not wanted:
            return [], []
        if not active:
            return wanted[:1], []  # one at a time, oldest first; the others stay due
        names = ", ".join(sorted(run.name for run in active))
        done.events.append(
            ScheduleEvent(
                "Normal",
                EventReason.RUN_SKIPPED,
                f"{SkipReason.FORBID.value}: {len(wanted)} tick(s) up to "
                f"{rfc3339(wanted[-1].interval.end)} wait for the active run(s) {names} "
                "(concurrencyPolicy Forbid); the catch-up policy decides them once they end",
                key=f"forbid/{wanted[-1].name}",
            )
        )
        return [], []  # not decided: they wait
    if spec.concurrency_policy == ConcurrencyPolicy.ALLOW:
        return wanted, []
    # Replace: only the newest picked tick runs (older ones would be replaced at once, also
    # when the newest one's run exists already: a pass repeated after a crash).
    newest_picked = picked[-1] if picked else None
    create = [run for run in wanted if run.interval.end == newest_picked]
    older = [run.interval.end for run in wanted if run.interval.end != newest_picked]
    if older:
        done.skip(SkipReason.REPLACE, older, "concurrencyPolicy Replace runs only the newest")
    # Only the newest run stays active: also after a crash between creating the new run and
    # stopping the old ones (the new one then exists and nothing is created).
    oldest = datetime.min.replace(tzinfo=UTC)
    contenders = [(r.interval.start, r.name) for r in create]
    contenders += [(r.interval_start or oldest, r.name) for r in active]
    if not contenders:
        return create, []
    newest = max(contenders)[1]
    stop = [run.name for run in active if run.name != newest and not run.stopping]
    for stopped in stop:
        done.events.append(
            ScheduleEvent(
                "Normal",
                EventReason.RUN_REPLACED,
                f"stopping {stopped} (shutdown: Terminate): replaced by {newest}",
                key=f"replaced/{stopped}",
            )
        )
    return create, stop


def newest_due_ticks(
    cadence: Cadence, *, after: datetime, until: datetime, limit: int
) -> list[datetime]:
    """At most `limit` ticks in `(after, until]`, newest first, found by walking back from
    `until`: the work is bounded by `limit`, however many ticks were missed."""
    found: list[datetime] = []
    # tick_before is strict and ticks are whole seconds: a tick at `until` counts. The step
    # is taken in UTC (a local time's arithmetic would lose its fold in a fall-back hour).
    moment = until.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
    while len(found) < limit:
        tick = cadence.tick_before(moment)
        if tick <= after:
            break
        found.append(tick)
        moment = tick
    return found


def _newest_decided_prefix(
    decided: Iterable[datetime], newest_first: Sequence[datetime], previous: datetime | None
) -> datetime | None:
    """The newest tick up to which every due tick is decided: lastScheduleTime. Ticks older
    than the window are decided with the window's oldest skipped tick."""
    settled = set(decided)
    last = previous
    for tick in reversed(newest_first):  # oldest first
        if tick not in settled:
            break
        last = tick
    return last


def _skipped_range(reason: SkipReason, first: datetime, last: datetime, why: str) -> ScheduleEvent:
    span = rfc3339(first) if first == last else f"{rfc3339(first)} to {rfc3339(last)}"
    return ScheduleEvent(
        "Normal",
        EventReason.RUN_SKIPPED,
        f"{reason.value}: tick(s) {span} skipped: {why}",
        key=f"skipped/{reason.value}/{rfc3339(first)}/{rfc3339(last)}",
    )


def _history_to_delete(
    spec: CronWorkflowSpec, runs: Sequence[ExistingRun], recorded: datetime | None
) -> list[str]:
    """The finished runs beyond the history limits, oldest interval first; only runs whose
    tick the status already records as decided (interval start before `recorded`, the
    lastScheduleTime written): a run whose decision was not recorded yet (its status write
    was lost) would be decided again, and once deleted, its interval created again (the
    property tests found this)."""
    deletions: list[str] = []
    for phase, limit in (
        (WorkflowPhase.SUCCEEDED, spec.successful_runs_history_limit),
        (WorkflowPhase.FAILED, spec.failed_runs_history_limit),
    ):
        finished = sorted((run for run in runs if run.phase == phase), key=_age_key)
        deletions += [
            run.name
            for run in finished[: max(0, len(finished) - limit)]
            if run.interval_start is None
            or (recorded is not None and run.interval_start < recorded.astimezone(UTC))
        ]
    return deletions


def _age_key(run: ExistingRun) -> tuple[datetime, datetime, str]:
    oldest = datetime.min.replace(tzinfo=UTC)
    return (run.interval_start or oldest, run.finished_at or oldest, run.name)


def _active_list(active: Iterable[ExistingRun]) -> list[ActiveRun]:
    oldest = datetime.min.replace(tzinfo=UTC)
    return [ActiveRun(name=run.name, interval_start=run.interval_start or oldest) for run in active]


def _carried_status(
    status: CronWorkflowStatus, runs: Sequence[ExistingRun], generation: int
) -> CronWorkflowStatus:
    """The status with what the runs say now: active runs, the last success."""
    update: dict[str, object] = {"observed_generation": generation}
    active = sorted(
        _active_list(run for run in runs if not run.finished),
        key=lambda a: (a.interval_start, a.name),
    )
    update["active"] = active[-MAX_ACTIVE_LISTED:] or None
    succeeded = [r for r in runs if r.phase == WorkflowPhase.SUCCEEDED and r.finished_at]
    if succeeded:
        newest = max(succeeded, key=lambda r: (r.finished_at, r.name))
        known = status.last_successful_time
        if newest.finished_at is not None and (known is None or newest.finished_at > known):
            update["last_successful_time"] = newest.finished_at
            update["last_successful_run"] = newest.name
    return status.model_copy(update=update)


def ready_conditions(
    status: CronWorkflowStatus,
    ready: bool,
    reason: ReadyReason,
    message: str,
    now: datetime,
    generation: int,
) -> list[Condition]:
    """The status's conditions with `Ready` set; its transition time moves only when its
    status does (Kubernetes API conventions)."""
    wanted = ConditionStatus.TRUE if ready else ConditionStatus.FALSE
    previous = next((c for c in status.conditions if c.type == READY), None)
    condition = Condition(
        type=READY,
        status=wanted,
        reason=reason.value,
        message=message[:32768],
        last_transition_time=(
            previous.last_transition_time
            if previous is not None and previous.status == wanted
            else now
        ),
        observed_generation=generation,
    )
    return [*(c for c in status.conditions if c.type != READY), condition]


def _blocked(
    base: CronWorkflowStatus,
    deletions: list[str],
    now: datetime,
    ready_reason: ReadyReason,
    event_reason: EventReason,
    message: str,
    generation: int,
) -> ScheduleDecision:
    status = base.model_copy(
        update={
            "next_schedule_time": None,
            "conditions": ready_conditions(base, False, ready_reason, message, now, generation),
        }
    )
    event = ScheduleEvent(
        "Warning", event_reason, message, key=f"{event_reason.value}/{generation}/{message}"
    )
    return ScheduleDecision(delete=deletions, events=[event], status=status)
