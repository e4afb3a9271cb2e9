"""One Task's status as it moves on (waiting, running, finished), and the conditions and
counts that Task and Workflow statuses carry. Pure functions of the recorded status."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from kubedag.api.common import Condition, ConditionStatus
from kubedag.api.task import Attempt, TaskPhase, TaskResourceStatus
from kubedag.api.workflow import TaskCounts
from kubedag.engine.datasets import DATASETS_KEY
from kubedag.engine.observations import JobOutcome, ObservedJob
from kubedag.engine.plan import SUCCEEDED, Reason
from kubedag.engine.specs import ResolvedTask


def later(moment: datetime, seconds: float) -> datetime:
    """`moment` plus `seconds`, or the last representable moment: a date edited by hand into
    a status (year 9999) must not make every pass raise OverflowError (issue 6)."""
    try:
        return moment + timedelta(seconds=seconds)
    except OverflowError:
        return datetime.max.replace(tzinfo=moment.tzinfo)


def current_attempt(status: TaskResourceStatus) -> int | None:
    """The attempt whose Job decides the task's state, or None before the first one (or
    after a retry from failure reset the task)."""
    if not status.attempts:
        return None
    number = status.attempts[-1].number
    return number if number > (status.retries_from or 0) else None


def with_job(recorded: TaskResourceStatus, job: ObservedJob) -> list[Attempt]:
    previous = recorded.attempts[-1] if recorded.attempts else None
    started_at = previous.started_at if previous else None
    if started_at is not None and job.finished_at is not None and started_at > job.finished_at:
        # Recorded after the fact (the operator found the attempt once it had ended, after a
        # crash or refused writes): it started no later than its Job was created.
        created = job.created_at
        started_at = created if created is not None and created <= job.finished_at else None
        started_at = started_at or job.finished_at
    attempt = Attempt(
        number=job.attempt,
        job_name=job.name,
        started_at=started_at,
        finished_at=job.finished_at,
        exit_code=job.exit_code,
        reason=job.reason,
        message=job.message if job.outcome == JobOutcome.FAILED else None,
    )
    return [*recorded.attempts[:-1], attempt] if recorded.attempts else [attempt]


def started(
    recorded: TaskResourceStatus, number: int, job_name: str, now: datetime
) -> TaskResourceStatus:
    """Attempt `number` has its Job `job_name` from `now` on."""
    status = recorded.model_copy(
        update={
            "phase": TaskPhase.RUNNING,
            "reason": Reason.RUNNING,
            "message": None,
            "started_at": recorded.started_at or now,
            "finished_at": None,
            "next_attempt_at": None,
            "attempts": [
                *recorded.attempts,
                Attempt(number=number, job_name=job_name, started_at=now),
            ],
        }
    )
    return with_condition(status, ConditionStatus.UNKNOWN, Reason.RUNNING, now)


def only_starts(recorded: TaskResourceStatus, desired: TaskResourceStatus) -> Attempt | None:
    """The attempt `desired` starts, when starting it is all that `desired` tells beyond
    `recorded` (no end, no Pod problem, no earlier attempt changed); else None."""
    if (
        desired.phase != TaskPhase.RUNNING
        or desired.reason != Reason.RUNNING
        or len(desired.attempts) != len(recorded.attempts) + 1
        or desired.attempts[:-1] != recorded.attempts
        or desired.attempts[-1].finished_at is not None
    ):
        return None
    return desired.attempts[-1]


def under_way(status: TaskResourceStatus) -> bool:
    """Whether an attempt of the task is under way: Running, or Pending because its Pod
    does not run yet (see `not_running`)."""
    if status.reason == Reason.RETRY_BACKOFF:
        return False
    if status.phase == TaskPhase.RUNNING:
        return True
    return status.phase == TaskPhase.PENDING and current_attempt(status) is not None


def shows_not_running(status: TaskResourceStatus) -> bool:
    """Pending with an attempt: Kubernetes said why the attempt's Pod does not run."""
    return status.phase == TaskPhase.PENDING and current_attempt(status) is not None


# Kubernetes words one problem two ways: the kubelet alternates ErrImagePull (with the
# registry's error) and ImagePullBackOff while it retries. One problem, one write.
_SAME_PROBLEM = {"ErrImagePull": "ImagePullBackOff"}


def not_running(recorded: TaskResourceStatus, job: ObservedJob) -> TaskResourceStatus:
    """The attempt's Job exists but Kubernetes says why its Pod does not run: Pending, with
    Kubernetes' reason and message. Written when the reason changes, not when only the
    message does (the scheduler's node counts, the kubelet's back-off): the first message
    of a reason is kept, so a Pod stuck for an hour costs one write, not one a minute."""
    problem = job.not_running
    assert problem is not None
    if shows_not_running(recorded) and _SAME_PROBLEM.get(
        recorded.reason or "", recorded.reason
    ) == _SAME_PROBLEM.get(problem.reason, problem.reason):
        return recorded
    attempts = with_job(recorded, job)
    status = recorded.model_copy(
        update={
            "phase": TaskPhase.PENDING,
            "reason": problem.reason,
            "message": problem.message,
            "attempts": attempts,
            "started_at": recorded.started_at or attempts[-1].started_at,
        }
    )
    return status.model_copy(
        update={
            "conditions": set_condition(
                status.conditions,
                SUCCEEDED,
                ConditionStatus.UNKNOWN,
                problem.reason,
                problem.message,
                attempts[-1].started_at,
            )
        }
    )


def running(recorded: TaskResourceStatus, job: ObservedJob) -> TaskResourceStatus:
    attempts = with_job(recorded, job)
    status = recorded.model_copy(
        update={
            "phase": TaskPhase.RUNNING,
            "reason": Reason.RUNNING,
            "message": None,
            "attempts": attempts,
            "started_at": recorded.started_at or attempts[-1].started_at,
        }
    )
    return with_condition(status, ConditionStatus.UNKNOWN, Reason.RUNNING, attempts[-1].started_at)


def waiting(recorded: TaskResourceStatus) -> TaskResourceStatus:
    """Waiting for dependencies or a parallelism slot. A Task reads that way before its
    status is first written (the CRD's schema defaults), so it is only written when the
    Task leaves another pending reason (Suspended)."""
    if recorded.phase not in (None, TaskPhase.PENDING):
        return recorded  # never undoes a start or an end
    if recorded.reason in (
        None,
        Reason.WAITING,
        Reason.RETRY_REQUESTED,
    ):
        return recorded
    return pending(recorded, Reason.WAITING, None)


def pending(
    recorded: TaskResourceStatus, reason: Reason, message: str | None
) -> TaskResourceStatus:
    return recorded.model_copy(
        update={"phase": TaskPhase.PENDING, "reason": reason, "message": message}
    )


def finished(
    recorded: TaskResourceStatus,
    phase: TaskPhase,
    reason: Reason,
    message: str | None,
    when: datetime,
) -> TaskResourceStatus:
    status = recorded.model_copy(
        update={
            "phase": phase,
            "reason": reason,
            "message": message,
            "finished_at": recorded.finished_at if recorded.phase == phase else when,
            "next_attempt_at": None,
        }
    )
    condition = ConditionStatus.TRUE if phase == TaskPhase.SUCCEEDED else ConditionStatus.FALSE
    return with_condition(status, condition, reason, when)


def parse_outputs(message: str | None, task: ResolvedTask) -> tuple[dict[str, str], str | None]:
    """Outputs from the container's termination message (a JSON object), and why the task's
    declared outputs cannot be had from it (None when they all can)."""
    declared = [output.name for output in task.definition.outputs or []]
    parsed: Any = None
    problem = None
    if message:
        try:
            parsed = json.loads(message)
        except (ValueError, RecursionError) as error:
            # The parse error, never the text: a message can hold whatever the script
            # printed, and this one goes to the Task's status and an Event. ValueError also
            # covers an integer past Python's 4,300 digits (issue 6).
            problem = f"the termination message is not valid JSON ({str(error)[:200]})"
        else:
            if not isinstance(parsed, dict):
                problem = (
                    f"the termination message is JSON but not an object (it is "
                    f"{_json_type(parsed)}); write outputs as " + '{"name": value, ...}'
                )
    outputs = (
        {
            str(key): value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
            for key, value in parsed.items()
            # Datasets reported at run time (issue 10) are no output.
            if key != DATASETS_KEY
        }
        if isinstance(parsed, dict)
        else {}
    )
    missing = ", ".join(name for name in declared if name not in outputs)
    if not missing:
        return outputs, None
    if problem is None:
        return outputs, f"declared outputs missing from the termination message: {missing}"
    return outputs, f"{problem}; declared outputs not read: {missing}"


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"


def describe_failure(job: ObservedJob) -> str:
    """`exit code 3 (Error): <message>`, with whatever parts are known."""
    parts = []
    if job.exit_code is not None:
        parts.append(f"exit code {job.exit_code}")
    if job.reason:
        parts.append(f"({job.reason})" if parts else job.reason)
    text = " ".join(parts) or "the Job failed"
    return f"{text}: {job.message}" if job.message else text


def with_condition(
    status: TaskResourceStatus,
    condition_status: ConditionStatus,
    reason: Reason,
    now: datetime | None,
) -> TaskResourceStatus:
    message = status.message or ""
    return status.model_copy(
        update={
            "conditions": set_condition(
                status.conditions, SUCCEEDED, condition_status, reason, message, now
            )
        }
    )


def set_condition(
    conditions: list[Condition],
    condition_type: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: datetime | None,
    generation: int | None = None,
) -> list[Condition]:
    """Conditions with `condition_type` set; lastTransitionTime moves only when the
    status itself changes, as the API conventions ask."""
    current = next((c for c in conditions if c.type == condition_type), None)
    transition = (
        now if current is None or current.status != status else current.last_transition_time
    )
    updated = Condition(
        type=condition_type,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=transition,
        observed_generation=generation,
    )
    others = [c for c in conditions if c.type != condition_type]
    return sorted([*others, updated], key=lambda c: c.type)


def count_phases(phases: Mapping[str, TaskPhase]) -> TaskCounts:
    values = list(phases.values())
    return TaskCounts(
        total=len(values),
        pending=values.count(TaskPhase.PENDING),
        running=values.count(TaskPhase.RUNNING),
        succeeded=values.count(TaskPhase.SUCCEEDED),
        failed=values.count(TaskPhase.FAILED),
        skipped=values.count(TaskPhase.SKIPPED),
    )
