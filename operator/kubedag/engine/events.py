"""The Events a status change posts: on the Task, and failures on the Workflow too.

Derived from the stored status and the one about to be stored, attempt by attempt, so
every attempt that starts, fails and is retried has its Event even when one pass goes from
one attempt straight to the next (a retry without backoff, or an operator that was down
for the whole backoff). Each Event has a key; see `Event`.
"""

from __future__ import annotations

from kubedag.api.task import Attempt, TaskPhase, TaskResourceStatus
from kubedag.api.workflow import WorkflowPhase, WorkflowStatus
from kubedag.engine import statuses
from kubedag.engine.plan import Event, EventType, Reason


def task_transition_events(
    name: str, recorded: TaskResourceStatus, desired: TaskResourceStatus
) -> list[Event]:
    events = [
        *_retried_attempts(name, recorded, desired),
        *_started_attempts(name, recorded, desired),
        *_refused_datasets(name, recorded, desired),
    ]
    if recorded.phase == desired.phase and recorded.reason == desired.reason:
        return events
    last = desired.attempts[-1].number if desired.attempts else 0
    run = desired.retries_from or 0
    if statuses.shows_not_running(desired):
        # Kubernetes says why the attempt's Pod does not run: one Warning per attempt and
        # reason, however often its message changes or the Task is written again.
        events.append(
            Event(
                EventType.WARNING,
                Reason.TASK_NOT_RUNNING,
                f"attempt {last} is not running: {desired.reason}: {desired.message or ''}",
                task=name,
                key=f"{last}.{desired.reason}",
            )
        )
    elif desired.phase == TaskPhase.SUCCEEDED and recorded.phase != desired.phase:
        events.append(
            Event(EventType.NORMAL, Reason.TASK_SUCCEEDED, "succeeded", task=name, key=f"{last}")
        )
    elif desired.phase == TaskPhase.SKIPPED and recorded.phase != desired.phase:
        events.append(
            Event(
                EventType.NORMAL,
                Reason.TASK_SKIPPED,
                desired.message or "",
                task=name,
                key=f"run{run}",
            )
        )
    elif desired.phase == TaskPhase.FAILED and recorded.phase != desired.phase:
        message = f"task {name!r} failed: {desired.message}"
        key = f"{last}.run{run}"
        events += [
            Event(EventType.WARNING, Reason.TASK_FAILED, message, task=name, key=key),
            Event(EventType.WARNING, Reason.TASK_FAILED, message, key=f"{name}.{key}"),
        ]
    return events


def _refused_datasets(
    name: str, recorded: TaskResourceStatus, desired: TaskResourceStatus
) -> list[Event]:
    """A Warning when the ended attempt reported datasets that could not be taken
    (status.datasets.message): nothing else tells the user that no Dataset was updated."""
    said = desired.datasets.message if desired.datasets is not None else None
    before = recorded.datasets.message if recorded.datasets is not None else None
    if not said or said == before:
        return []
    last = desired.attempts[-1].number if desired.attempts else 0
    return [
        Event(
            EventType.WARNING,
            Reason.DATASETS_REFUSED,
            f"attempt {last}: reported datasets not recorded: {said}",
            task=name,
            key=f"{last}.datasets",
        )
    ]


def _started_attempts(
    name: str, recorded: TaskResourceStatus, desired: TaskResourceStatus
) -> list[Event]:
    known = {attempt.number for attempt in recorded.attempts}
    return [
        Event(
            EventType.NORMAL,
            Reason.TASK_STARTED,
            f"started Job {attempt.job_name}"
            + (f" (attempt {attempt.number})" if attempt.number > 1 else ""),
            task=name,
            key=f"{attempt.number}",
        )
        for attempt in desired.attempts
        if attempt.number not in known
    ]


def _retried_attempts(
    name: str, recorded: TaskResourceStatus, desired: TaskResourceStatus
) -> list[Event]:
    """A TaskRetrying Event for every attempt that failed and is followed by another one
    (or waits out its backoff for one), not already told by `recorded`."""
    told = {attempt.number for attempt in recorded.attempts[:-1]}
    if recorded.reason == Reason.RETRY_BACKOFF and recorded.attempts:
        told.add(recorded.attempts[-1].number)
    retried: list[tuple[Attempt, str]] = [
        (attempt, f"attempt {attempt.number} failed ({_describe(attempt)}); retrying")
        for attempt in desired.attempts[:-1]
        if attempt.number > (desired.retries_from or 0)
    ]
    if desired.reason == Reason.RETRY_BACKOFF and desired.attempts:
        retried.append((desired.attempts[-1], desired.message or ""))
    return [
        Event(EventType.WARNING, Reason.TASK_RETRYING, message, task=name, key=f"{attempt.number}")
        for attempt, message in retried
        if attempt.number not in told
    ]


def _describe(attempt: Attempt) -> str:
    parts = [attempt.reason or "failed"]
    if attempt.exit_code is not None:
        parts.insert(0, f"exit code {attempt.exit_code}")
    return " ".join(parts)


def workflow_transition_events(recorded: WorkflowStatus, desired: WorkflowStatus) -> list[Event]:
    if recorded.phase == desired.phase:
        return []
    # One of each per run (the first, or the retry it handles); never empty, since an
    # empty key names the Event after its message, and "started 3/500" changes between
    # two passes that both post it (a status write that timed out but landed).
    run = f"run {desired.retry_handled or 'first'}"
    if desired.phase == WorkflowPhase.RUNNING:
        return [
            Event(EventType.NORMAL, Reason.WORKFLOW_STARTED, f"started {desired.progress}", key=run)
        ]
    if desired.phase == WorkflowPhase.SUCCEEDED:
        message = desired.message or "all tasks succeeded"  # or: failures were handled
        return [Event(EventType.NORMAL, Reason.WORKFLOW_SUCCEEDED, message, key=run)]
    if desired.phase == WorkflowPhase.FAILED:
        return [
            Event(EventType.WARNING, Reason.WORKFLOW_FAILED, desired.message or "failed", key=run)
        ]
    return []
