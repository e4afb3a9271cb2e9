"""Plans for a workflow outside its DAG run: rejected (invalid spec), waiting for its
TaskTemplates, finished (Job clean-up, TTL), and retried from the point of failure."""

from __future__ import annotations

from datetime import datetime, timedelta

from kubedag.api.common import ConditionStatus
from kubedag.api.task import TaskPhase, TaskResourceStatus
from kubedag.api.workflow import JobCleanup, TaskCounts, WorkflowPhase, WorkflowStatus
from kubedag.engine.dag import SpecError
from kubedag.engine.observations import JobOutcome
from kubedag.engine.plan import COMPLETED, SUCCEEDED, Event, EventType, Plan, Reason, WorkflowState
from kubedag.engine.statuses import set_condition


def reject(state: WorkflowState, errors: list[SpecError], task_count: int, now: datetime) -> Plan:
    if state.status.phase is not None and state.status.phase.is_finished:
        return Plan()
    message = "invalid spec: " + "; ".join(str(error) for error in errors)
    return _final_without_running(state, Reason.INVALID_SPEC, message, task_count, now)


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
    state: WorkflowState, missing: list[str], task_count: int, now: datetime
) -> Plan:
    message = "waiting for TaskTemplate " + ", ".join(repr(name) for name in sorted(set(missing)))
    if state.status.message == message:
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
        expires = state.status.finished_at + timedelta(seconds=ttl)
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
    names = {task.name for task in [*state.spec.tasks, *(state.spec.on_exit or [])]}
    if node in names:
        return node
    head, _, tail = node.rpartition("-")
    return head if tail.isdigit() and head in names else node
