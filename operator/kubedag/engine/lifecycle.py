"""Plans for a workflow outside its DAG run: rejected (invalid spec), waiting for its
TaskTemplates, finished (Job clean-up, TTL), and retried from the point of failure."""

from __future__ import annotations

from datetime import datetime

from kubedag.api.common import ConditionStatus
from kubedag.api.task import TaskPhase, TaskResourceStatus
from kubedag.api.workflow import JobCleanup, TaskCounts, WorkflowPhase, WorkflowStatus
from kubedag.engine.dag import SpecError, invalid_spec_message
from kubedag.engine.events import task_transition_events
from kubedag.engine.observations import JobOutcome
from kubedag.engine.plan import COMPLETED, SUCCEEDED, Event, EventType, Plan, Reason, WorkflowState
from kubedag.engine.statuses import count_phases, finished, later, set_condition


def reject(state: WorkflowState, errors: list[SpecError], task_count: int, now: datetime) -> Plan:
    """The run fails for its spec. A spec can stop resolving mid-run (a TaskTemplate edited,
    read again by a restarted operator; a stored spec an upgraded operator cannot read):
    then the run's unfinished Tasks end with it and their running Jobs are deleted, so a
    finished run never leaves a Task Running (issue 6)."""
    message = invalid_spec_message(errors)
    ended = _end_unfinished_tasks(state, message, now)
    if state.status.phase is not None and state.status.phase.is_finished:
        return ended
    plan = _final_without_running(state, Reason.INVALID_SPEC, message, task_count, now)
    if state.tasks and plan.workflow_status is not None:
        phases = {
            name: task.status.phase or TaskPhase.PENDING for name, task in state.tasks.items()
        }
        phases.update(
            {
                name: status.phase or TaskPhase.PENDING
                for name, status in ended.task_statuses.items()
            }
        )
        counts = count_phases(phases)
        done = counts.succeeded + counts.failed + counts.skipped
        plan.workflow_status = plan.workflow_status.model_copy(
            update={"tasks": counts, "progress": f"{done}/{counts.total}"}
        )
    plan.task_statuses = ended.task_statuses
    plan.delete_jobs = ended.delete_jobs
    plan.events = [*ended.events, *plan.events]
    return plan


def _end_unfinished_tasks(state: WorkflowState, message: str, now: datetime) -> Plan:
    """Fails the Tasks that had started and skips those that had not, with the run's
    reason; deletes their running Jobs. Nothing is started again."""
    plan = Plan()
    for name, task in state.tasks.items():
        recorded = task.status
        if recorded.phase is not None and recorded.phase.is_finished:
            continue
        phase = TaskPhase.FAILED if recorded.attempts else TaskPhase.SKIPPED
        desired = finished(
            recorded, phase, Reason.INVALID_SPEC, f"not run to its end: {message}", now
        )
        plan.task_statuses[name] = desired
        plan.events.extend(task_transition_events(name, recorded, desired))
        for (node, _), job in state.jobs.items():
            if node == name and job.outcome == JobOutcome.RUNNING:
                plan.delete_jobs.append(job.name)
    return plan


def _final_without_running(
    state: WorkflowState, reason: Reason, message: str, task_count: int, now: datetime
) -> Plan:
    conditions = set_condition(
        state.status.conditions,
        SUCCEEDED,
        ConditionStatus.FALSE,
        reason,
        message,
        now,
        state.generation,
    )
    conditions = set_condition(
        conditions, COMPLETED, ConditionStatus.TRUE, reason, message, now, state.generation
    )
    status = WorkflowStatus(
        phase=WorkflowPhase.FAILED,
        message=message,
        progress=f"0/{task_count}",
        tasks=TaskCounts(total=task_count, pending=task_count),
        started_at=state.status.started_at or now,
        finished_at=now,
        observed_generation=state.generation,
        retry_handled=state.status.retry_handled,
        conditions=conditions,
    )
    return Plan(workflow_status=status, events=[Event(EventType.WARNING, reason, message)])


def wait_for_templates(
    state: WorkflowState,
    missing: list[str],
    task_count: int,
    now: datetime,
    *,
    kind: str = "TaskTemplate",
) -> Plan:
    """The run waits for templates of `kind` named `missing` to exist (condition
    Succeeded=Unknown, reason TemplateNotFound, one Warning Event); a finished run is left
    as it is."""
    message = f"waiting for {kind} " + ", ".join(repr(name) for name in sorted(set(missing)))
    if state.status.message == message or (
        state.status.phase is not None and state.status.phase.is_finished
    ):
        return Plan()
    conditions = set_condition(
        state.status.conditions,
        SUCCEEDED,
        ConditionStatus.UNKNOWN,
        Reason.TEMPLATE_NOT_FOUND,
        message,
        now,
        state.generation,
    )
    if state.status.started_at is not None:
        # Deleted while the run was going (seen after an operator restart): nothing new
        # starts until it is back, and what the run has done so far stays as it is.
        status = state.status.model_copy(update={"message": message, "conditions": conditions})
    else:
        status = WorkflowStatus(
            phase=WorkflowPhase.PENDING,
            message=message,
            progress=f"0/{task_count}",
            tasks=TaskCounts(total=task_count, pending=task_count),
            observed_generation=state.generation,
            retry_handled=state.status.retry_handled,
            conditions=conditions,
        )
    return Plan(
        workflow_status=status,
        events=[Event(EventType.WARNING, Reason.TEMPLATE_NOT_FOUND, message)],
    )


def after_finish(state: WorkflowState, now: datetime) -> Plan:
    """A finished run is history: nothing restarts. What is left: deleting finished
    Jobs (clean-up policy) and the whole Workflow (TTL)."""
    assert state.spec is not None
    plan = Plan()
    policy = state.spec.job_cleanup or JobCleanup.NEVER
    if policy != JobCleanup.NEVER:
        for (node, _), job in state.jobs.items():
            task = state.tasks.get(node)
            phase = task.status.phase if task else None
            if job.outcome == JobOutcome.RUNNING or phase is None or not phase.is_finished:
                continue
            if policy == JobCleanup.ON_TASK_COMPLETION or phase == TaskPhase.SUCCEEDED:
                plan.delete_jobs.append(job.name)
    ttl = state.spec.ttl_seconds_after_finished
    if ttl is not None and state.status.finished_at is not None:
        expires = later(state.status.finished_at, ttl)
        if now >= expires:
            plan.delete_workflow = True
        else:
            plan.requeue((expires - now).total_seconds())
    return plan


def retry_from_failure(state: WorkflowState, now: datetime) -> Plan:
    """kubedag.io/retry changed: a failed run goes again from where it failed. Succeeded
    tasks keep their results; failed and skipped ones (and the exit handler) run again."""
    assert state.spec is not None
    token = state.retry_request
    plan = Plan()
    exit_names = {task.name for task in state.spec.on_exit or []}
    if state.status.phase != WorkflowPhase.FAILED:
        plan.workflow_status = state.status.model_copy(update={"retry_handled": token})
        plan.events.append(
            Event(
                EventType.NORMAL,
                Reason.WORKFLOW_RETRIED,
                f"retry {token!r} ignored: the workflow has not failed",
            )
        )
        return plan
    for name, task in state.tasks.items():
        status = task.status
        is_exit = _node_task(name, state) in exit_names
        if status.phase in (TaskPhase.FAILED, TaskPhase.SKIPPED) or (is_exit and status.phase):
            last = status.attempts[-1].number if status.attempts else 0
            reset = TaskResourceStatus(
                phase=TaskPhase.PENDING,
                reason=Reason.RETRY_REQUESTED,
                message=f"to run again (retry {token!r})",
                attempts=status.attempts,
                retries_from=last,
                started_at=status.started_at,
            )
            plan.task_statuses[name] = reset
    conditions = [c for c in state.status.conditions if c.type not in (SUCCEEDED, COMPLETED)]
    plan.workflow_status = state.status.model_copy(
        update={
            "phase": WorkflowPhase.RUNNING,
            "message": None,
            # The run starts over, and its activeDeadlineSeconds with it (as in Argo).
            "started_at": now,
            "finished_at": None,
            "retry_handled": token,
            "conditions": conditions,
        }
    )
    plan.events.append(
        Event(
            EventType.NORMAL,
            Reason.WORKFLOW_RETRIED,
            f"retrying from the point of failure ({len(plan.task_statuses)} tasks run again)",
        )
    )
    return plan


def _node_task(node: str, state: WorkflowState) -> str:
    """The spec task a node belongs to (a fan-out item `<task>-<index>` or the task)."""
    assert state.spec is not None
    names = {task.name for task in [*(state.spec.tasks or []), *(state.spec.on_exit or [])]}
    if node in names:
        return node
    head, _, tail = node.rpartition("-")
    return head if tail.isdigit() and head in names else node
