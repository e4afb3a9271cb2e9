"""What a planning pass reads (`WorkflowState`) and returns (`Plan`): the actions, the
Events to post, and the reasons they give. Data only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from kubedag.api.task import WAITING_REASON, TaskResourceSpec, TaskResourceStatus
from kubedag.api.template import TaskTemplateSpec
from kubedag.api.workflow import WorkflowSpec, WorkflowStatus
from kubedag.engine.dag import SpecError
from kubedag.engine.observations import ObservedJob, ObservedTask

# Condition types, after Tekton and Kubernetes Jobs: `Completed` turns True when the run
# is over whatever the outcome (`kubectl wait --for=condition=Completed`), `Succeeded` is
# Unknown while running, then True or False with the reason.
COMPLETED = "Completed"


SUCCEEDED = "Succeeded"


SUSPENDED = "Suspended"


class Reason(StrEnum):
    """Machine-readable reasons used in conditions, statuses and events."""

    INVALID_SPEC = "InvalidSpec"
    TEMPLATE_NOT_FOUND = "TemplateNotFound"
    RUNNING = "Running"
    WAITING = WAITING_REASON  # the schema default of a Task's status
    SUSPENDED = "Suspended"
    SUCCEEDED = "Succeeded"
    TASK_FAILED = "TaskFailed"
    OUTPUTS_MISSING = "OutputsMissing"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    UPSTREAM_FAILED = "UpstreamFailed"
    DEPENDS_FALSE = "DependsFalse"
    WHEN_FALSE = "WhenFalse"
    WHEN_ERROR = "WhenError"
    RETRY_BACKOFF = "RetryBackoff"
    STOPPED = "Stopped"
    TERMINATED = "Terminated"
    EXIT_HANDLER_FAILED = "ExitHandlerFailed"
    RETRY_REQUESTED = "RetryRequested"
    JOB_REJECTED = "JobRejected"  # the API server refused the task's Job as invalid
    JOB_DELETED = "JobDeleted"  # the attempt's Job went away before the attempt ended
    PENDING_TIMEOUT = "PendingTimeout"  # the attempt's Pod did not run within pendingTimeout
    TASK_DELETED = "TaskDeleted"  # the Task was deleted by hand while its attempt ran
    RECONCILE_ERROR = "ReconcileError"  # a pass failed unexpectedly; retried with backoff
    RECONCILED = "Reconciled"
    NAME_TAKEN = "NameTaken"  # another Workflow's object has the name a task needs
    TASK_STARTED = "TaskStarted"
    TASK_SUCCEEDED = "TaskSucceeded"
    TASK_SKIPPED = "TaskSkipped"
    TASK_RETRYING = "TaskRetrying"
    TASK_NOT_RUNNING = "TaskNotRunning"  # Kubernetes says why an attempt's Pod does not run
    # Datasets the task reported (termination message) that could not be taken (issue 10).
    DATASETS_REFUSED = "DatasetsRefused"
    WORKFLOW_STARTED = "WorkflowStarted"
    WORKFLOW_SUCCEEDED = "WorkflowSucceeded"
    WORKFLOW_FAILED = "WorkflowFailed"
    WORKFLOW_RETRIED = "WorkflowRetried"


class EventType(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True)
class WorkflowState:
    """Everything the planner may look at. `tasks` is keyed by node name; `jobs` by
    (node name, attempt number); `templates` are the namespace's TaskTemplates by name;
    `retry_request` is the value of the kubedag.io/retry annotation."""

    name: str
    generation: int
    spec: WorkflowSpec | None
    status: WorkflowStatus
    tasks: Mapping[str, ObservedTask]
    jobs: Mapping[tuple[str, int], ObservedJob]
    spec_problem: str | None = None
    # Why the spec to run could not be made (a run's params the WorkflowTemplate does not
    # declare, an unreadable stored copy): `spec` is None then.
    spec_errors: Sequence[SpecError] = ()
    # The WorkflowTemplate a run waits for (`spec` is None then).
    missing_workflow_template: str | None = None
    namespace: str = ""
    templates: Mapping[str, TaskTemplateSpec] = field(default_factory=dict)
    retry_request: str | None = None
    # (node, attempt) of Jobs this operator created moments ago that the Job watch has not
    # delivered yet: missing from `jobs` because the watch lags, not because they were
    # deleted. Any other started attempt without its Job lost it.
    jobs_in_flight: frozenset[tuple[str, int]] = frozenset()
    # (node, attempt) whose Job is gone but ran (the Job controller made its Pod) although
    # the Task has no record of that attempt: its Running write was lost, then the Job was
    # deleted while the operator was down. Looked up after an operator restart (issue 6).
    jobs_ran_before: frozenset[tuple[str, int]] = frozenset()
    # The last status of Tasks deleted by hand while the operator watched, by node: the
    # record of what already ran is put back instead of running it again.
    deleted_tasks: Mapping[str, TaskResourceStatus] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskCreate:
    node: str
    spec: TaskResourceSpec


@dataclass(frozen=True)
class JobStart:
    """Start `attempt` of `node` with the fully rendered task."""

    node: str
    attempt: int
    spec: TaskResourceSpec
    # First attempts only: when the node's dependencies were all done (the latest finish
    # among their nodes; the run's start without dependencies), for the start-delay metric.
    ready_at: datetime | None = None


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post; `task` None means on the Workflow itself.

    `key` tells this event apart from others of the same reason on the same object (an
    attempt number, a retry of the run): the shell names the Event after it, so posting it
    again after a crash or a lost write finds it already there instead of doubling it."""

    type: EventType
    reason: Reason
    message: str
    task: str | None = None
    key: str = ""


@dataclass
class Plan:
    create_tasks: list[TaskCreate] = field(default_factory=list)
    start_jobs: list[JobStart] = field(default_factory=list)
    delete_jobs: list[str] = field(default_factory=list)
    task_statuses: dict[str, TaskResourceStatus] = field(default_factory=dict)
    workflow_status: WorkflowStatus | None = None
    events: list[Event] = field(default_factory=list)
    delete_workflow: bool = False
    # Come back after this many seconds even if nothing happens (backoff, deadline, TTL).
    requeue_after: float | None = None

    @property
    def is_empty(self) -> bool:
        return not (
            self.create_tasks
            or self.start_jobs
            or self.delete_jobs
            or self.task_statuses
            or self.workflow_status
            or self.events
            or self.delete_workflow
        )

    def requeue(self, seconds: float) -> None:
        seconds = max(seconds, 0.05)
        self.requeue_after = (
            seconds if self.requeue_after is None else min(self.requeue_after, seconds)
        )
