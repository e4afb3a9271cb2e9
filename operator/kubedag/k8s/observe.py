"""Reading API objects into the planner's observations. Pure: dicts in, data out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from kubedag.api.backfill import BackfillSpec, BackfillStatus
from kubedag.api.cron_workflow import CronWorkflowSpec, CronWorkflowStatus
from kubedag.api.dataset import DatasetSpec, DatasetStatus
from kubedag.api.task import TaskResourceStatus
from kubedag.api.template import TaskTemplateSpec
from kubedag.api.workflow import WorkflowSpec, WorkflowStatus
from kubedag.engine.observations import (
    WAITING_FOR_ADMISSION,
    JobOutcome,
    ObservedJob,
    ObservedTask,
    PodProblem,
)
from kubedag.names import (
    ATTEMPT_LABEL,
    DATASET_TRIGGER_ANNOTATION,
    KUEUE_QUEUE_LABEL,
    RETRY_ANNOTATION,
    TASK_LABEL,
)

M = TypeVar("M", bound=BaseModel)
MAIN_CONTAINER = "main"
# Container waiting reasons on the way to running: nothing is wrong (yet).
_STARTING = frozenset({"ContainerCreating", "PodInitializing"})
# The phases of a Pod that has ended (restartPolicy Never: its containers will not run again).
_POD_ENDED = frozenset({"Succeeded", "Failed"})
# The Job status fields that count its Pods.
_POD_COUNTS = ("active", "succeeded", "failed", "terminating")

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
    # The Pod itself has ended (phase Succeeded or Failed) on its own: not deleted (no
    # deletionTimestamp: a Job's deadline, a manual or API eviction delete the Pod) and not
    # disrupted. Then its phase is final, and so is the Job's verdict, which follows it.
    final: bool = False
    pod_succeeded: bool = False  # the Pod's phase is Succeeded


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
    created_at: datetime | None = None  # metadata.creationTimestamp
    # The Job controller has synced the Job (status.startTime) and counts no Pod of it, not
    # even a failed one: it could not create the Pod. Why is only in the Job's Events
    # (FailedCreate: Pod Security admission, a ResourceQuota, a webhook).
    pod_creation_failing: bool = False
    # Created suspended (spec.suspend: a Job queued in Kueue) and not admitted yet: the
    # LocalQueue it waits in (its kueue.x-k8s.io/queue-name label), "" without one.
    suspended_in: str | None = None
    # status.startTime: when the Job controller started the Job, or last resumed it from
    # suspension (Kueue's admission); None while suspended.
    resumed_at: datetime | None = None


@dataclass(frozen=True)
class PodRecord:
    """What one Pod of an attempt tells: whether its task container has run, why it does
    not run yet, how it ended. One small record per Pod (the operator's index of Pods)."""

    task: str
    attempt: int
    job_uid: str | None = None  # the Job that owns the Pod
    started: bool = False  # the task container is running or has ended
    running_since: datetime | None = None  # the task container's startedAt (1 s resolution)
    not_running: PodProblem | None = None
    # The Pod's DisruptionTarget condition (evicted, preempted, ...), with the Pod's own
    # reason and message when it has them (a kubelet eviction says `Evicted`).
    disruption: PodProblem | None = None
    termination: PodTermination | None = None

    @property
    def worth_keeping(self) -> bool:
        """A Pod on its way to running with nothing wrong tells nothing the Job does not."""
        return self.started or self.not_running is not None or self.disruption is not None


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
        created_at=_parse_time(body["metadata"].get("creationTimestamp")),
        pod_creation_failing=outcome == JobOutcome.RUNNING
        and bool(status.get("startTime"))
        and not any(status.get(count) for count in _POD_COUNTS),
        suspended_in=str(labels.get(KUEUE_QUEUE_LABEL) or "")
        if (body.get("spec") or {}).get("suspend") is True
        else None,
        resumed_at=_parse_time(status.get("startTime")),
    )


def read_pod(body: Mapping[str, Any]) -> PodRecord | None:
    labels = body["metadata"].get("labels") or {}
    attempt = _attempt_of(labels)
    if attempt is None or TASK_LABEL not in labels:
        return None
    status = body.get("status") or {}
    conditions = status.get("conditions") or []
    disruption = next(
        (
            PodProblem(
                status.get("reason") or condition.get("reason") or "Disrupted",
                status.get("message") or condition.get("message") or "",
            )
            for condition in conditions
            if condition.get("type") == "DisruptionTarget" and condition.get("status") == "True"
        ),
        None,
    )
    main: Mapping[str, Any] = next(
        (c for c in status.get("containerStatuses") or [] if c.get("name") == MAIN_CONTAINER),
        {},
    )
    state = main.get("state") or {}
    terminated = state.get("terminated")
    termination = None
    if terminated is not None:
        termination = PodTermination(
            task=labels[TASK_LABEL],
            attempt=attempt,
            exit_code=int(terminated.get("exitCode", 0)),
            reason=terminated.get("reason"),
            message=(terminated.get("message") or "").strip() or None,
            finished_at=_parse_time(terminated.get("finishedAt")),
            disrupted=disruption is not None,
            job_uid=owner_uid(body),
            final=status.get("phase") in _POD_ENDED
            and disruption is None
            and not body["metadata"].get("deletionTimestamp"),
            pod_succeeded=status.get("phase") == "Succeeded",
        )
    started = "running" in state or terminated is not None
    running_since = _parse_time((state.get("running") or terminated or {}).get("startedAt"))
    return PodRecord(
        task=labels[TASK_LABEL],
        attempt=attempt,
        job_uid=owner_uid(body),
        started=started,
        running_since=running_since,
        not_running=None if started or disruption else _why_not_running(status),
        disruption=disruption,
        termination=termination,
    )


def _why_not_running(status: Mapping[str, Any]) -> PodProblem | None:
    """The first thing that holds a waiting Pod back, as Kubernetes words it: the
    scheduler's PodScheduled=False (Unschedulable, SchedulingGated), then an init
    container (or native sidecar) that waits for a reason other than starting, then the
    task container's own waiting reason (ErrImagePull, ImagePullBackOff,
    CreateContainerConfigError, ...)."""
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            reason = condition.get("reason") or "Unschedulable"
            return PodProblem(reason, condition.get("message") or reason)
    for container in status.get("initContainerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason and reason not in _STARTING:
            name = container.get("name", "")
            return PodProblem(
                reason, f"init container {name!r}: {waiting.get('message') or reason}"
            )
    for container in status.get("containerStatuses") or []:
        if container.get("name") != MAIN_CONTAINER:
            continue
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason and reason not in _STARTING:
            return PodProblem(reason, waiting.get("message") or reason)
    return None


def read_pod_termination(body: Mapping[str, Any]) -> PodTermination | None:
    record = read_pod(body)
    return record.termination if record else None


def read_creation_failure(events: Iterable[Mapping[str, Any]]) -> PodProblem | None:
    """The latest FailedCreate Event of a Job: why the Job controller cannot create its Pod
    (`pods "x" is forbidden: violates PodSecurity "restricted:latest": ...`)."""

    def when(event: Mapping[str, Any]) -> str:
        return str(
            event.get("lastTimestamp")
            or event.get("eventTime")
            or event.get("firstTimestamp")
            or event["metadata"].get("creationTimestamp")
            or ""
        )

    failed = [event for event in events if event.get("reason") == "FailedCreate"]
    if not failed:
        return None
    latest = max(failed, key=when)
    message = str(latest.get("message") or "").removeprefix("Error creating: ")
    return PodProblem("FailedCreate", message or "the Job controller cannot create the Pod")


def combine_job_and_pods(
    job: JobRecord, pods: Iterable[PodRecord], creation_failure: PodProblem | None = None
) -> ObservedJob:
    """The Job's outcome with what its Pod says: whether the task container has run, why
    it does not yet (or, from `creation_failure`, why there is no Pod at all), and how it
    ended (exit code, reason; Jobs carry none of that).

    A failed Job's own reason (for example DeadlineExceeded) is used when no Pod ever
    terminated, unless Kubernetes disrupted the Pod (evicted, preempted): then that is the
    reason, never the Job's BackoffLimitExceeded.
    """
    own = [
        pod
        for pod in pods
        if pod.task == job.task
        and pod.attempt == job.attempt
        and (pod.job_uid is None or job.uid is None or pod.job_uid == job.uid)
    ]
    # With backoffLimit 0 a Job has one Pod; should it have more, the most advanced tells.
    pod = max(
        own,
        key=lambda p: (p.termination is not None, p.disruption is not None, p.started),
        default=None,
    )
    termination = pod.termination if pod else None
    disruption = pod.disruption if pod else None
    started = pod is not None and pod.started
    not_running = (pod.not_running if pod else None) or (
        creation_failure if job.pod_creation_failing and pod is None else None
    )
    base = ObservedJob(
        name=job.name,
        task=job.task,
        attempt=job.attempt,
        outcome=job.outcome,
        finished_at=job.finished_at,
        reason=job.reason,
        message=job.message,
        succeeded_pods=job.succeeded_pods,
        created_at=job.created_at,
        started=started,
        running_since=pod.running_since if pod else None,
        not_running=None if started else not_running,
        resumed_at=job.resumed_at,
    )
    if job.suspended_in is not None and not started and job.outcome == JobOutcome.RUNNING:
        # Waiting for Kueue's admission (issue 12): no Pod yet, and none is due.
        queue = f" in LocalQueue {job.suspended_in}" if job.suspended_in else ""
        return replace(
            base,
            suspended=True,
            not_running=PodProblem(
                WAITING_FOR_ADMISSION,
                f"Job {job.name} is suspended, waiting for Kueue to admit it{queue}",
            ),
        )
    if job.outcome == JobOutcome.RUNNING and _decided_by_its_pod(own):
        # The Pod's end decides the attempt, about a second before the Job controller says
        # so (it batches every Job sync by 1 s before writing Complete or Failed; issue 8).
        # kubedag's Jobs run one Pod with backoffLimit 0: that Pod succeeding completes the
        # Job and its failing fails it, so the Job's verdict, when it comes, is this one.
        assert termination is not None
        outcome = JobOutcome.SUCCEEDED if termination.pod_succeeded else JobOutcome.FAILED
        base = replace(base, outcome=outcome, finished_at=termination.finished_at)
        job = replace(job, outcome=outcome)
    if job.outcome != JobOutcome.FAILED:
        disruption = None  # a disrupted Pod whose Job still succeeded: the result counts
    if job.outcome == JobOutcome.RUNNING or (termination is None and disruption is None):
        return base
    if termination is None:
        assert disruption is not None
        return replace(
            base,
            reason=disruption.reason,
            message=disruption.message or job.message,
            disrupted=True,
        )
    return replace(
        base,
        finished_at=job.finished_at or termination.finished_at,
        exit_code=termination.exit_code,
        reason=(disruption.reason if disruption else None) or termination.reason or job.reason,
        # On success the termination message carries the task's outputs (a JSON object).
        message=(disruption.message if disruption else None) or termination.message,
        disrupted=termination.disrupted,
    )


def _decided_by_its_pod(own: list[PodRecord]) -> bool:
    """Whether the attempt's one Pod has ended on its own (see PodTermination.final). A
    second Pod (one replaced: deleted by hand before it ran), a deleted or disrupted Pod,
    or a Pod still running leave the verdict to the Job controller: its deadline, its
    disruption rules and its replacement Pods are its own to judge."""
    return len(own) == 1 and own[0].termination is not None and own[0].termination.final


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
    created_at: datetime | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    owner: str | None = None  # the uid of its controller (a CronWorkflow, a Backfill)
    # A run of a dataset trigger: its kubedag.io/dataset-trigger annotation (issue 10).
    trigger_annotation: str | None = None


@dataclass(frozen=True)
class TaskRecord:
    resource_version: str
    task: ObservedTask
    workflow_uid: str | None = None  # the Workflow that owns the Task
    object_name: str = ""  # metadata.name
    workflow: str = ""  # spec.workflow, in full
    # From the Task's spec, for lineage (kubedag.lineage): the workflow task the node
    # comes from (a fan-out item's task) and the workflow tasks it depends on.
    node_task: str | None = None
    depends_on: tuple[str, ...] = ()


def read_spec(model: type[M], body: Mapping[str, Any]) -> tuple[M | None, str | None]:
    """The object's spec as `model`, or None and why not, with the paths the user wrote
    (`spec.tasks.0.image: ...`). Never raises: whatever a stored object holds, reading it
    fails only that object (issue 6: one deeply nested object stopped the operator)."""
    try:
        return model.model_validate(body.get("spec") or {}), None
    except ValidationError as error:
        return None, "; ".join(
            f"spec.{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}"
            for issue in error.errors()
        )
    except (RecursionError, ValueError, TypeError) as error:
        return None, f"spec: cannot be read ({type(error).__name__}: {str(error)[:200]})"


def read_status(model: type[M], body: Mapping[str, Any]) -> M:
    """The object's status as `model`; an empty one when it does not parse (the operator
    writes it again)."""
    try:
        return model.model_validate(body.get("status") or {})
    except (ValidationError, RecursionError, ValueError, TypeError):
        return model()


def read_workflow(body: Mapping[str, Any]) -> WorkflowRecord:
    metadata = body["metadata"]
    spec, problem = read_spec(WorkflowSpec, body)
    status = read_status(WorkflowStatus, body)
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
        created_at=_parse_time(metadata.get("creationTimestamp")),
        labels=metadata.get("labels") or {},
        owner=owner_uid(body),
        trigger_annotation=(metadata.get("annotations") or {}).get(DATASET_TRIGGER_ANNOTATION),
    )


@dataclass(frozen=True)
class DatasetRecord:
    """A Dataset object as last seen (issue 10); `spec` None when it does not parse."""

    namespace: str
    name: str
    spec: DatasetSpec | None
    status: DatasetStatus


def read_dataset(body: Mapping[str, Any]) -> DatasetRecord:
    metadata = body["metadata"]
    spec, _ = read_spec(DatasetSpec, body)
    return DatasetRecord(
        namespace=metadata.get("namespace") or "",
        name=metadata["name"],
        spec=spec,
        status=read_status(DatasetStatus, body),
    )


@dataclass(frozen=True)
class TemplateRecord:
    name: str
    resource_version: str
    spec: TaskTemplateSpec | None


def read_template(body: Mapping[str, Any]) -> TemplateRecord:
    spec, _ = read_spec(TaskTemplateSpec, body)
    metadata = body["metadata"]
    return TemplateRecord(metadata["name"], str(metadata.get("resourceVersion", "")), spec)


@dataclass(frozen=True)
class WorkflowTemplateRecord:
    """A WorkflowTemplate as last seen; `spec` is None when it does not parse."""

    name: str
    resource_version: str
    spec: WorkflowSpec | None


def read_workflow_template(body: Mapping[str, Any]) -> WorkflowTemplateRecord:
    spec, _ = read_spec(WorkflowSpec, body)
    metadata = body["metadata"]
    return WorkflowTemplateRecord(metadata["name"], str(metadata.get("resourceVersion", "")), spec)


def read_task_record(body: Mapping[str, Any]) -> TaskRecord:
    spec = body.get("spec") or {}
    task = spec.get("task")
    depends_on = spec.get("dependsOn")
    return TaskRecord(
        str(body["metadata"].get("resourceVersion", "")),
        read_task(body),
        owner_uid(body),
        object_name=str(body["metadata"].get("name", "")),
        workflow=str((body.get("spec") or {}).get("workflow", "")),
        node_task=task if isinstance(task, str) else None,
        depends_on=tuple(str(name) for name in depends_on) if isinstance(depends_on, list) else (),
    )


@dataclass(frozen=True)
class CronWorkflowRecord:
    """A CronWorkflow as last seen. `spec` is None when the stored spec does not parse
    (`spec_problem` says why); `workflow_spec` is its inline workflowSpec as written (wire
    form), copied into each run as is."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: CronWorkflowSpec | None
    spec_problem: str | None
    status: CronWorkflowStatus
    workflow_spec: Mapping[str, Any] | None
    created_at: datetime | None = None
    deleting: bool = False


def read_cron_workflow(body: Mapping[str, Any]) -> CronWorkflowRecord:
    metadata = body["metadata"]
    wire = body.get("spec") or {}
    spec, problem = read_spec(CronWorkflowSpec, body)
    status = read_status(CronWorkflowStatus, body)
    inline = wire.get("workflowSpec")
    return CronWorkflowRecord(
        namespace=metadata["namespace"],
        name=metadata["name"],
        uid=metadata["uid"],
        generation=int(metadata.get("generation", 1)),
        spec=spec,
        spec_problem=problem,
        status=status,
        workflow_spec=inline if isinstance(inline, Mapping) else None,
        created_at=_parse_time(metadata.get("creationTimestamp")),
        deleting=metadata.get("deletionTimestamp") is not None,
    )


# -- Backfills (issue 9) ----------------------------------------------------------------


@dataclass(frozen=True)
class BackfillRecord:
    """A Backfill as last seen. `spec` is None when the stored spec does not parse;
    `spec_problem` then says why."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: BackfillSpec | None
    spec_problem: str | None
    status: BackfillStatus
    deleting: bool = False


def read_backfill(body: Mapping[str, Any]) -> BackfillRecord:
    metadata = body["metadata"]
    spec, problem = read_spec(BackfillSpec, body)
    status = read_status(BackfillStatus, body)
    return BackfillRecord(
        namespace=metadata.get("namespace") or "",
        name=metadata["name"],
        uid=metadata["uid"],
        generation=int(metadata.get("generation", 1)),
        spec=spec,
        spec_problem=problem,
        status=status,
        deleting=metadata.get("deletionTimestamp") is not None,
    )


@dataclass(frozen=True)
class ScheduleSource:
    """What a CronWorkflow says its runs are: the cadence, and what each run runs (a
    WorkflowTemplate's name, or an inline Workflow spec in wire form), with which params
    and metadata."""

    schedules: tuple[str, ...]
    time_zone: str | None
    workflow_template: str | None
    workflow_spec: Mapping[str, Any] | None
    params: tuple[Mapping[str, str], ...]
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


def read_cron_workflow_source(body: Mapping[str, Any]) -> ScheduleSource:
    """A CronWorkflow object (a dict, as the API server returns it) read by the field names
    of the issue-9 contract: spec.schedules, spec.timeZone, spec.workflowTemplateRef.name |
    spec.workflowSpec, spec.params ([{name, value}]), spec.workflowMetadata.{labels,
    annotations}. Kept apart from the CronWorkflow model so a Backfill reads any version
    of it. Raises ValueError saying which field is unusable."""
    spec = body.get("spec")
    if not isinstance(spec, Mapping):
        raise ValueError("the CronWorkflow has no spec")
    schedules = spec.get("schedules")
    if schedules is None and spec.get("datasetTrigger") is not None:
        raise ValueError(
            "it has no schedules (it runs on dataset updates only): a Backfill needs the "
            "cron schedules of the intervals it runs"
        )
    if not isinstance(schedules, list) or not all(isinstance(s, str) for s in schedules):
        raise ValueError("spec.schedules of the CronWorkflow is not a list of cron expressions")
    time_zone = spec.get("timeZone")
    if time_zone is not None and not isinstance(time_zone, str):
        raise ValueError("spec.timeZone of the CronWorkflow is not a string")
    reference = spec.get("workflowTemplateRef")
    template = reference.get("name") if isinstance(reference, Mapping) else None
    inline = spec.get("workflowSpec")
    if (template is None) == (inline is None) or (
        inline is not None and not isinstance(inline, Mapping)
    ):
        raise ValueError(
            "the CronWorkflow has neither a workflowTemplateRef.name nor a workflowSpec"
        )
    params = []
    for param in spec.get("params") or []:
        if not isinstance(param, Mapping) or not isinstance(param.get("name"), str):
            raise ValueError("spec.params of the CronWorkflow is not a list of {name, value}")
        params.append({"name": param["name"], "value": str(param.get("value", ""))})
    metadata = spec.get("workflowMetadata") or {}
    return ScheduleSource(
        schedules=tuple(schedules),
        time_zone=time_zone,
        workflow_template=str(template) if template is not None else None,
        workflow_spec=inline,
        params=tuple(params),
        labels=_strings(metadata.get("labels")),
        annotations=_strings(metadata.get("annotations")),
    )


def _strings(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}
