"""The heart of kubedag: from a workflow's spec and what has been observed of its Tasks
and Jobs, decide what to do next.

`plan_next_steps` is level-triggered: it looks only at the current state, never at the
event that woke it, so it may be called any number of times, in any order, after any
crash. Every action it returns is safe to repeat (objects have deterministic names).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from kubedag.api.common import Condition, ConditionStatus
from kubedag.api.task import Attempt, TaskPhase, TaskResourceStatus
from kubedag.api.workflow import TaskCounts, WorkflowPhase, WorkflowSpec, WorkflowStatus
from kubedag.engine.dag import SpecError, topological_order, validate_dag
from kubedag.engine.observations import JobOutcome, ObservedJob, ObservedTask
from kubedag.names import job_name

# Condition types, after Tekton and Kubernetes Jobs: `Completed` turns True when the run
# is over whatever the outcome (`kubectl wait --for=condition=Completed`), `Succeeded` is
# Unknown while running, then True or False with the reason.
COMPLETED = "Completed"
SUCCEEDED = "Succeeded"


class Reason(StrEnum):
    """Machine-readable reasons used in conditions, statuses and events."""

    INVALID_SPEC = "InvalidSpec"
    RUNNING = "Running"
    WAITING = "WaitingForDependencies"
    SUCCEEDED = "Succeeded"
    TASK_FAILED = "TaskFailed"
    UPSTREAM_FAILED = "UpstreamFailed"
    TASK_STARTED = "TaskStarted"
    TASK_SUCCEEDED = "TaskSucceeded"
    TASK_SKIPPED = "TaskSkipped"
    WORKFLOW_STARTED = "WorkflowStarted"
    WORKFLOW_SUCCEEDED = "WorkflowSucceeded"
    WORKFLOW_FAILED = "WorkflowFailed"


class EventType(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True)
class WorkflowState:
    """Everything the planner may look at. `tasks` is keyed by task name; `jobs` by
    (task name, attempt number)."""

    name: str
    generation: int
    spec: WorkflowSpec | None
    status: WorkflowStatus
    tasks: Mapping[str, ObservedTask]
    jobs: Mapping[tuple[str, int], ObservedJob]
    spec_problem: str | None = None


@dataclass(frozen=True)
class JobStart:
    task: str
    attempt: int


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post; `task` None means on the Workflow itself."""

    type: EventType
    reason: Reason
    message: str
    task: str | None = None


@dataclass(frozen=True)
class Plan:
    create_tasks: list[str] = field(default_factory=list)
    start_jobs: list[JobStart] = field(default_factory=list)
    task_statuses: dict[str, TaskResourceStatus] = field(default_factory=dict)
    workflow_status: WorkflowStatus | None = None
    events: list[Event] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (
            self.create_tasks
            or self.start_jobs
            or self.task_statuses
            or self.workflow_status
            or self.events
        )


def plan_next_steps(state: WorkflowState, *, now: datetime) -> Plan:
    """The actions that move the workflow forward from `state`."""
    if state.status.phase is not None and state.status.phase.is_finished:
        # A finished run is history: nothing is recomputed, nothing restarts.
        return Plan()
    if state.spec is None:
        problem = SpecError("spec", state.spec_problem or "missing")
        return _reject_invalid_spec(state, [problem], task_count=0, now=now)
    errors = validate_dag(state.spec.tasks)
    if errors:
        return _reject_invalid_spec(state, errors, task_count=len(state.spec.tasks), now=now)

    dependencies = {task.name: task.depends_on for task in state.spec.tasks}
    phases: dict[str, TaskPhase] = {}
    plan = Plan()
    for name in topological_order(dependencies):
        observed = state.tasks.get(name)
        recorded = observed.status if observed else TaskResourceStatus()
        if observed is None:
            plan.create_tasks.append(name)
        desired, start = _desired_task_status(
            state, name, recorded, {dep: phases[dep] for dep in dependencies[name]}, now=now
        )
        phases[name] = desired.phase or TaskPhase.PENDING
        if start:
            plan.start_jobs.append(JobStart(name, start))
        if desired != recorded:
            plan.task_statuses[name] = desired
            plan.events.extend(_task_transition_events(name, recorded, desired))

    workflow_status = _desired_workflow_status(state, phases, now=now)
    if workflow_status != state.status:
        plan = _with_workflow_status(plan, workflow_status)
        plan.events.extend(_workflow_transition_events(state.status, workflow_status))
    return plan


def _with_workflow_status(plan: Plan, status: WorkflowStatus) -> Plan:
    return Plan(
        create_tasks=plan.create_tasks,
        start_jobs=plan.start_jobs,
        task_statuses=plan.task_statuses,
        workflow_status=status,
        events=plan.events,
    )


def _desired_task_status(
    state: WorkflowState,
    name: str,
    recorded: TaskResourceStatus,
    dependency_phases: Mapping[str, TaskPhase],
    *,
    now: datetime,
) -> tuple[TaskResourceStatus, int | None]:
    """The status the Task should have, and the attempt to start now (if any)."""
    attempt_number = recorded.attempts[-1].number if recorded.attempts else 1
    job = state.jobs.get((name, attempt_number))
    if job is not None:
        return _status_from_job(recorded, job, attempt_number, state.name, name), None
    if recorded.phase is not None and recorded.phase.is_finished:
        # The Job is gone (deleted by hand or by a clean-up policy): the record stands.
        return recorded, None
    if recorded.attempts:
        # The Job was created but has not been observed yet (or was deleted while
        # running): ask for it again; creating it is idempotent.
        return recorded, attempt_number

    blocked = sorted(
        dep
        for dep, phase in dependency_phases.items()
        if phase in (TaskPhase.FAILED, TaskPhase.SKIPPED)
    )
    if blocked:
        failed = [dep for dep in blocked if dependency_phases[dep] == TaskPhase.FAILED]
        verb = "failed" if failed else "was skipped"
        culprit = (failed or blocked)[0]
        status = recorded.model_copy(
            update={
                "phase": TaskPhase.SKIPPED,
                "reason": Reason.UPSTREAM_FAILED,
                "message": f"not run because dependency {culprit!r} {verb}",
                "finished_at": recorded.finished_at or now,
            }
        )
        return _with_condition(status, ConditionStatus.FALSE, Reason.UPSTREAM_FAILED, now), None
    if all(phase == TaskPhase.SUCCEEDED for phase in dependency_phases.values()):
        status = recorded.model_copy(
            update={
                "phase": TaskPhase.RUNNING,
                "reason": Reason.RUNNING,
                "message": None,
                "started_at": recorded.started_at or now,
                "attempts": [
                    Attempt(
                        number=attempt_number,
                        job_name=job_name(state.name, name, attempt_number),
                        started_at=now,
                    )
                ],
            }
        )
        return _with_condition(status, ConditionStatus.UNKNOWN, Reason.RUNNING, now), (
            attempt_number
        )
    # The message names every dependency, not the ones still running, so it is written
    # once and not rewritten each time one of them finishes.
    status = recorded.model_copy(
        update={
            "phase": TaskPhase.PENDING,
            "reason": Reason.WAITING,
            "message": "waiting for " + ", ".join(sorted(dependency_phases)),
        }
    )
    return status, None


def _status_from_job(
    recorded: TaskResourceStatus, job: ObservedJob, attempt_number: int, workflow: str, task: str
) -> TaskResourceStatus:
    previous = recorded.attempts[-1] if recorded.attempts else None
    attempt = Attempt(
        number=attempt_number,
        job_name=job.name,
        started_at=previous.started_at if previous else None,
        finished_at=job.finished_at,
        exit_code=job.exit_code,
        reason=job.reason,
        message=job.message,
    )
    attempts = [*recorded.attempts[:-1], attempt] if recorded.attempts else [attempt]
    started_at = recorded.started_at or attempt.started_at
    if job.outcome == JobOutcome.RUNNING:
        status = recorded.model_copy(
            update={
                "phase": TaskPhase.RUNNING,
                "reason": Reason.RUNNING,
                "attempts": attempts,
                "started_at": started_at,
            }
        )
        return _with_condition(status, ConditionStatus.UNKNOWN, Reason.RUNNING, attempt.started_at)
    if job.outcome == JobOutcome.SUCCEEDED:
        status = recorded.model_copy(
            update={
                "phase": TaskPhase.SUCCEEDED,
                "reason": Reason.SUCCEEDED,
                "message": None,
                "attempts": attempts,
                "started_at": started_at,
                "finished_at": job.finished_at,
            }
        )
        return _with_condition(status, ConditionStatus.TRUE, Reason.SUCCEEDED, job.finished_at)
    status = recorded.model_copy(
        update={
            "phase": TaskPhase.FAILED,
            "reason": Reason.TASK_FAILED,
            "message": describe_failure(job),
            "attempts": attempts,
            "started_at": started_at,
            "finished_at": job.finished_at,
        }
    )
    return _with_condition(status, ConditionStatus.FALSE, Reason.TASK_FAILED, job.finished_at)


def describe_failure(job: ObservedJob) -> str:
    """`exit code 3 (Error): <message>`, with whatever parts are known."""
    parts = []
    if job.exit_code is not None:
        parts.append(f"exit code {job.exit_code}")
    if job.reason:
        parts.append(f"({job.reason})" if parts else job.reason)
    text = " ".join(parts) or "the Job failed"
    return f"{text}: {job.message}" if job.message else text


def _with_condition(
    status: TaskResourceStatus,
    condition_status: ConditionStatus,
    reason: Reason,
    now: datetime | None,
) -> TaskResourceStatus:
    message = status.message or ""
    return status.model_copy(
        update={
            "conditions": _set_condition(
                status.conditions, SUCCEEDED, condition_status, reason, message, now
            )
        }
    )


def _set_condition(
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


def _count(phases: Mapping[str, TaskPhase]) -> TaskCounts:
    values = list(phases.values())
    return TaskCounts(
        total=len(values),
        pending=values.count(TaskPhase.PENDING),
        running=values.count(TaskPhase.RUNNING),
        succeeded=values.count(TaskPhase.SUCCEEDED),
        failed=values.count(TaskPhase.FAILED),
        skipped=values.count(TaskPhase.SKIPPED),
    )


def _desired_workflow_status(
    state: WorkflowState, phases: Mapping[str, TaskPhase], *, now: datetime
) -> WorkflowStatus:
    counts = _count(phases)
    finished = counts.succeeded + counts.failed + counts.skipped
    recorded = state.status
    if finished < counts.total:
        phase, reason, message = WorkflowPhase.RUNNING, Reason.RUNNING, None
        condition = ConditionStatus.UNKNOWN
    elif counts.failed:
        phase, reason = WorkflowPhase.FAILED, Reason.TASK_FAILED
        message = _failure_summary(state, phases)
        condition = ConditionStatus.FALSE
    else:
        phase, reason, message = WorkflowPhase.SUCCEEDED, Reason.SUCCEEDED, None
        condition = ConditionStatus.TRUE
    finished_at = now if phase.is_finished else None
    conditions = _set_condition(
        recorded.conditions, SUCCEEDED, condition, reason, message or "", now, state.generation
    )
    conditions = _set_condition(
        conditions,
        COMPLETED,
        ConditionStatus.TRUE if phase.is_finished else ConditionStatus.FALSE,
        reason,
        message or "",
        now,
        state.generation,
    )
    return WorkflowStatus(
        phase=phase,
        message=message,
        progress=f"{finished}/{counts.total}",
        tasks=counts,
        started_at=recorded.started_at or now,
        finished_at=recorded.finished_at or finished_at,
        observed_generation=state.generation,
        conditions=conditions,
    )


def _failure_summary(state: WorkflowState, phases: Mapping[str, TaskPhase]) -> str:
    failed = [name for name, phase in phases.items() if phase == TaskPhase.FAILED]
    descriptions = []
    for name in failed[:3]:
        observed = state.tasks.get(name)
        status = observed.status if observed else None
        attempt = status.attempts[-1].number if status and status.attempts else 1
        job = state.jobs.get((name, attempt))
        detail = describe_failure(job) if job else (status.message if status else None)
        descriptions.append(
            f"task {name!r} failed: {detail}" if detail else f"task {name!r} failed"
        )
    more = f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""
    return "; ".join(descriptions) + more


def _reject_invalid_spec(
    state: WorkflowState, errors: list[SpecError], *, task_count: int, now: datetime
) -> Plan:
    message = "invalid spec: " + "; ".join(str(error) for error in errors)
    conditions = _set_condition(
        state.status.conditions,
        SUCCEEDED,
        ConditionStatus.FALSE,
        Reason.INVALID_SPEC,
        message,
        now,
        state.generation,
    )
    conditions = _set_condition(
        conditions,
        COMPLETED,
        ConditionStatus.TRUE,
        Reason.INVALID_SPEC,
        message,
        now,
        state.generation,
    )
    status = WorkflowStatus(
        phase=WorkflowPhase.FAILED,
        message=message,
        progress=f"0/{task_count}",
        tasks=TaskCounts(total=task_count, pending=task_count),
        started_at=state.status.started_at or now,
        finished_at=now,
        observed_generation=state.generation,
        conditions=conditions,
    )
    event = Event(EventType.WARNING, Reason.INVALID_SPEC, message)
    return Plan(workflow_status=status, events=[event])


def _task_transition_events(
    name: str, recorded: TaskResourceStatus, desired: TaskResourceStatus
) -> list[Event]:
    if recorded.phase == desired.phase:
        return []
    if desired.phase == TaskPhase.RUNNING:
        job = desired.attempts[-1].job_name if desired.attempts else "?"
        return [Event(EventType.NORMAL, Reason.TASK_STARTED, f"started Job {job}", task=name)]
    if desired.phase == TaskPhase.SUCCEEDED:
        return [Event(EventType.NORMAL, Reason.TASK_SUCCEEDED, "succeeded", task=name)]
    if desired.phase == TaskPhase.SKIPPED:
        return [Event(EventType.NORMAL, Reason.TASK_SKIPPED, desired.message or "", task=name)]
    if desired.phase == TaskPhase.FAILED:
        message = f"task {name!r} failed: {desired.message}"
        return [
            Event(EventType.WARNING, Reason.TASK_FAILED, message, task=name),
            Event(EventType.WARNING, Reason.TASK_FAILED, message),
        ]
    return []


def _workflow_transition_events(recorded: WorkflowStatus, desired: WorkflowStatus) -> list[Event]:
    if recorded.phase == desired.phase:
        return []
    if desired.phase == WorkflowPhase.RUNNING:
        return [Event(EventType.NORMAL, Reason.WORKFLOW_STARTED, f"started {desired.progress}")]
    if desired.phase == WorkflowPhase.SUCCEEDED:
        return [Event(EventType.NORMAL, Reason.WORKFLOW_SUCCEEDED, "all tasks succeeded")]
    if desired.phase == WorkflowPhase.FAILED:
        return [Event(EventType.WARNING, Reason.WORKFLOW_FAILED, desired.message or "failed")]
    return []
