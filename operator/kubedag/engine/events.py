"""The Events a status change posts: on the Task, and failures on the Workflow too."""

from __future__ import annotations

from kubedag.api.task import TaskPhase, TaskResourceStatus
from kubedag.api.workflow import WorkflowPhase, WorkflowStatus
from kubedag.engine.plan import Event, EventType, Reason


def task_transition_events(
    name: str, recorded: TaskResourceStatus, desired: TaskResourceStatus
) -> list[Event]:
    if recorded.phase == desired.phase and recorded.reason == desired.reason:
        return []
    if desired.reason == Reason.RETRY_BACKOFF:
        return [Event(EventType.WARNING, Reason.TASK_RETRYING, desired.message or "", task=name)]
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


def workflow_transition_events(recorded: WorkflowStatus, desired: WorkflowStatus) -> list[Event]:
    if recorded.phase == desired.phase:
        return []
    if desired.phase == WorkflowPhase.RUNNING:
        return [Event(EventType.NORMAL, Reason.WORKFLOW_STARTED, f"started {desired.progress}")]
    if desired.phase == WorkflowPhase.SUCCEEDED:
        message = desired.message or "all tasks succeeded"  # or: failures were handled
        return [Event(EventType.NORMAL, Reason.WORKFLOW_SUCCEEDED, message)]
    if desired.phase == WorkflowPhase.FAILED:
        return [Event(EventType.WARNING, Reason.WORKFLOW_FAILED, desired.message or "failed")]
    return []
