"""Reading API objects into the planner's observations. Pure: dicts in, data out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from kubedag.api.task import TaskResourceStatus
from kubedag.api.template import TaskTemplateSpec
from kubedag.api.workflow import WorkflowSpec, WorkflowStatus
from kubedag.engine.observations import JobOutcome, ObservedJob, ObservedTask
from kubedag.names import ATTEMPT_LABEL, RETRY_ANNOTATION, TASK_LABEL

MAIN_CONTAINER = "main"

_timestamp = TypeAdapter(datetime)


def _parse_time(value: str | None) -> datetime | None:
    return _timestamp.validate_python(value) if value else None


@dataclass(frozen=True)
class PodTermination:
    """How the main container of one attempt's Pod ended."""

    task: str
    attempt: int
    exit_code: int
    reason: str | None
    message: str | None
    finished_at: datetime | None
    disrupted: bool = False
    job_uid: str | None = None  # the Job that owns the Pod


@dataclass(frozen=True)
class JobRecord:
    name: str
    task: str
    attempt: int
    outcome: JobOutcome
    finished_at: datetime | None
    reason: str | None
    message: str | None
    uid: str | None = None
    task_uid: str | None = None  # the Task that owns the Job
    succeeded_pods: int = 0


def owner_uid(body: Mapping[str, Any]) -> str | None:
    """The uid of the object's controller (its first owner when none is marked)."""
    owners = body["metadata"].get("ownerReferences") or []
    controller = next((o for o in owners if o.get("controller")), owners[0] if owners else None)
    return str(controller["uid"]) if controller else None


def _attempt_of(labels: Mapping[str, str]) -> int | None:
    try:
        return int(labels.get(ATTEMPT_LABEL, ""))
    except ValueError:
        return None


def read_task(body: Mapping[str, Any]) -> ObservedTask:
    return ObservedTask(
        name=body["spec"]["name"],
        uid=body["metadata"]["uid"],
        status=TaskResourceStatus.model_validate(body.get("status") or {}),
    )


def read_job(body: Mapping[str, Any]) -> JobRecord | None:
    labels = body["metadata"].get("labels") or {}
    attempt = _attempt_of(labels)
    if attempt is None or TASK_LABEL not in labels:
        return None
    status = body.get("status") or {}
    outcome, finished_at, reason, message = JobOutcome.RUNNING, None, None, None
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        # Complete and Failed are the terminal conditions: the Job controller sets them
        # only once every Pod has terminated (SuccessCriteriaMet/FailureTarget come first).
        if condition["type"] == "Complete":
            outcome = JobOutcome.SUCCEEDED
            finished_at = _parse_time(
                status.get("completionTime") or condition.get("lastTransitionTime")
            )
        elif condition["type"] == "Failed":
            outcome = JobOutcome.FAILED
            finished_at = _parse_time(condition.get("lastTransitionTime"))
            reason, message = condition.get("reason"), condition.get("message")
    return JobRecord(
        name=body["metadata"]["name"],
        task=labels[TASK_LABEL],
        attempt=attempt,
        outcome=outcome,
        finished_at=finished_at,
        reason=reason,
        message=message,
        uid=body["metadata"].get("uid"),
        task_uid=owner_uid(body),
        succeeded_pods=int(status.get("succeeded") or 0),
    )


def read_pod_termination(body: Mapping[str, Any]) -> PodTermination | None:
    labels = body["metadata"].get("labels") or {}
    attempt = _attempt_of(labels)
    if attempt is None or TASK_LABEL not in labels:
        return None
    status = body.get("status") or {}
    disrupted = any(
        condition.get("type") == "DisruptionTarget" and condition.get("status") == "True"
        for condition in status.get("conditions") or []
    )
    for container in status.get("containerStatuses") or []:
        if container.get("name") != MAIN_CONTAINER:
            continue
        terminated = (container.get("state") or {}).get("terminated")
        if terminated is None:
            return None
        return PodTermination(
            task=labels[TASK_LABEL],
            attempt=attempt,
            exit_code=int(terminated.get("exitCode", 0)),
            reason=terminated.get("reason"),
            message=(terminated.get("message") or "").strip() or None,
            finished_at=_parse_time(terminated.get("finishedAt")),
            disrupted=disrupted,
            job_uid=owner_uid(body),
        )
    return None


def combine_job_and_pods(job: JobRecord, terminations: Iterable[PodTermination]) -> ObservedJob:
    """The Job's outcome with the exit code and reason of its Pod's main container.

    Jobs carry no exit code; the Pod does. A failed Job's own reason (for example
    DeadlineExceeded) is used when no Pod ever terminated.
    """
    termination = next(
        (
            t
            for t in terminations
            if t.task == job.task
            and t.attempt == job.attempt
            and (t.job_uid is None or job.uid is None or t.job_uid == job.uid)
        ),
        None,
    )
    if job.outcome == JobOutcome.RUNNING or termination is None:
        return ObservedJob(
            name=job.name,
            task=job.task,
            attempt=job.attempt,
            outcome=job.outcome,
            finished_at=job.finished_at,
            reason=job.reason,
            message=job.message,
            succeeded_pods=job.succeeded_pods,
        )
    return ObservedJob(
        name=job.name,
        task=job.task,
        attempt=job.attempt,
        outcome=job.outcome,
        finished_at=job.finished_at or termination.finished_at,
        exit_code=termination.exit_code,
        reason=termination.reason or job.reason,
        # On success the termination message carries the task's outputs (a JSON object).
        message=termination.message,
        disrupted=termination.disrupted,
        succeeded_pods=job.succeeded_pods,
    )


@dataclass(frozen=True)
class WorkflowRecord:
    """A Workflow as last seen. `spec` is None when the stored spec does not even parse
    (for example written against an older CRD); `spec_problem` then says why."""

    namespace: str
    name: str
    uid: str
    generation: int
    resource_version: str
    spec: WorkflowSpec | None
    spec_problem: str | None
    status: WorkflowStatus
    retry_request: str | None = None
    deleting: bool = False  # metadata.deletionTimestamp is set


@dataclass(frozen=True)
class TaskRecord:
    resource_version: str
    task: ObservedTask
    workflow_uid: str | None = None  # the Workflow that owns the Task


def read_workflow(body: Mapping[str, Any]) -> WorkflowRecord:
    metadata = body["metadata"]
    spec: WorkflowSpec | None = None
    problem: str | None = None
    try:
        spec = WorkflowSpec.model_validate(body.get("spec") or {})
    except ValidationError as error:
        problem = "; ".join(
            f"spec.{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}"
            for issue in error.errors()
        )
    except (RecursionError, ValueError, TypeError) as error:
        # Whatever a stored object holds, reading it fails only that workflow.
        problem = f"spec: cannot be read ({type(error).__name__}: {str(error)[:200]})"
    try:
        status = WorkflowStatus.model_validate(body.get("status") or {})
    except (ValidationError, RecursionError, ValueError, TypeError):
        status = WorkflowStatus()
    return WorkflowRecord(
        namespace=metadata["namespace"],
        name=metadata["name"],
        uid=metadata["uid"],
        generation=int(metadata.get("generation", 1)),
        resource_version=str(metadata.get("resourceVersion", "")),
        spec=spec,
        spec_problem=problem,
        status=status,
        retry_request=(metadata.get("annotations") or {}).get(RETRY_ANNOTATION),
        deleting=metadata.get("deletionTimestamp") is not None,
    )


@dataclass(frozen=True)
class TemplateRecord:
    name: str
    resource_version: str
    spec: TaskTemplateSpec | None


def read_template(body: Mapping[str, Any]) -> TemplateRecord:
    try:
        spec: TaskTemplateSpec | None = TaskTemplateSpec.model_validate(body.get("spec") or {})
    except ValidationError:
        spec = None
    metadata = body["metadata"]
    return TemplateRecord(metadata["name"], str(metadata.get("resourceVersion", "")), spec)


def read_task_record(body: Mapping[str, Any]) -> TaskRecord:
    return TaskRecord(
        str(body["metadata"].get("resourceVersion", "")), read_task(body), owner_uid(body)
    )
