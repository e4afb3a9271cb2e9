"""The Workflow resource: one run of a DAG of tasks."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from kubedag.api.common import (
    ANY_JSON_VALUE,
    DNS_LABEL_PATTERN,
    PRESERVE_UNKNOWN_FIELDS,
    ApiModel,
    Condition,
    EnvVar,
    PodMetadata,
    ResourceRequirements,
    condition_list_field,
)
from kubedag.api.dataset import DatasetRefList
from kubedag.api.pod import PodFields

# Bounds that keep the API server's CEL cost estimate finite (it rejects rules over lists
# and strings of unbounded size) and a Workflow far below etcd's 1.5 MB object limit.
MAX_TASKS = 10_000
MAX_DEPENDENCIES = 100
# Fan-out items are named <task>-<index>, and a name must fit a 63-character label value.
MAX_TASK_NAME_LENGTH = 50
MAX_ITEMS = 10_000
# Tasks plus fan-out items of one workflow (each is a Task object and at least one Job).
# Checked by the engine's spec rules (an invalid spec before anything runs, and by
# `kubedag lint`) and by the planner when a withParam list arrives (issue 6: one run must
# not be able to flood the cluster). The API server cannot check it: CEL sees no field of
# an untyped withItems list to add up across tasks.
MAX_NODES = 10_000
MAX_EXPRESSION_LENGTH = 4096

TaskName = Annotated[
    str,
    Field(min_length=1, max_length=MAX_TASK_NAME_LENGTH, pattern=DNS_LABEL_PATTERN),
]
ParamName = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")
]
# The longest duration any field takes (ten years). The API server would store any int64;
# past about 2.9e11 seconds a date cannot even be computed, and one such value made every
# pass of its workflow raise (issue 6): refused at admission instead.
MAX_SECONDS = 10 * 365 * 24 * 3600
Seconds = Annotated[int, Field(ge=1, le=MAX_SECONDS)]


class Param(ApiModel):
    """A workflow parameter: `value` if given, else `default`; one of them is needed."""

    name: ParamName
    value: str | None = None
    default: str | None = None
    description: str | None = None


class OutputSpec(ApiModel):
    """A named output a task publishes in its termination message (a JSON object)."""

    name: ParamName
    description: str | None = None


class Backoff(ApiModel):
    """Delay before attempt n+1: delaySeconds * factor^(n-1), at most maxDelaySeconds."""

    delay_seconds: Annotated[int, Field(ge=0, le=MAX_SECONDS)] = 10
    factor: Annotated[float, Field(ge=1)] = 2.0
    max_delay_seconds: Annotated[int, Field(ge=0, le=MAX_SECONDS)] | None = None


class RetryPolicy(StrEnum):
    ON_FAILURE = "OnFailure"  # the container failed (non-zero exit, timeout, missing output)
    ON_ERROR = "OnError"  # the infrastructure failed (Pod evicted or deleted, no exit code)
    ALWAYS = "Always"


class RetryStrategy(ApiModel):
    limit: Annotated[int, Field(ge=0, le=100)] = 0
    retry_policy: RetryPolicy = RetryPolicy.ON_FAILURE
    backoff: Backoff | None = None


class TemplateRef(ApiModel):
    name: Annotated[str, Field(min_length=1, max_length=253)]


PendingTimeout = Annotated[
    int,
    Field(
        ge=1,
        description="Seconds an attempt's Pod may take to start running (to be created, "
        "scheduled, pull its image, run its init containers); past them the attempt fails "
        "with PendingTimeout, an infrastructure error (retried by retryPolicy OnError).",
    ),
]


class TaskContainer(PodFields):
    """The container fields a task or a TaskTemplate defines (and the Pod's: PodFields)."""

    image: Annotated[str | None, Field(min_length=1, max_length=1024)] = None
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[EnvVar] | None = None
    resources: ResourceRequirements | None = None
    working_dir: str | None = None
    metadata: PodMetadata | None = None
    outputs: list[OutputSpec] | None = None
    retry_strategy: RetryStrategy | None = None
    active_deadline_seconds: Seconds | None = None
    pending_timeout: PendingTimeout | None = None
    # Airflow's lineage words for the datasets a task reads and writes (issue 10); not
    # inputs/outputs: `outputs` already names the values a task publishes.
    inlets: Annotated[
        DatasetRefList,
        Field(description="Datasets the task reads ({namespace, name, partition}, templated)."),
    ] = None
    outlets: Annotated[
        DatasetRefList,
        Field(
            description="Datasets the task writes: each successful attempt updates their "
            "Dataset objects."
        ),
    ] = None


class TaskDefaults(PodFields):
    """What every task of a Workflow gets unless its TaskTemplate or itself says otherwise."""

    pending_timeout: PendingTimeout | None = None


class WorkflowTask(TaskContainer):
    """One node of the DAG: a container (or a TaskTemplate) and when it may run."""

    name: TaskName
    template_ref: TemplateRef | None = None
    params: dict[str, str] | None = None
    depends_on: Annotated[
        list[Annotated[str, Field(max_length=MAX_TASK_NAME_LENGTH)]],
        Field(
            default_factory=list,
            max_length=MAX_DEPENDENCIES,
            description="Names of the tasks that must succeed before this one starts.",
        ),
    ]
    depends: Annotated[str | None, Field(max_length=MAX_EXPRESSION_LENGTH)] = None
    when: Annotated[str | None, Field(max_length=MAX_EXPRESSION_LENGTH)] = None
    with_items: Annotated[
        list[Annotated[Any, Field(json_schema_extra=ANY_JSON_VALUE)]] | None,
        Field(max_length=MAX_ITEMS),
    ] = None
    with_param: Annotated[str | None, Field(max_length=1024)] = None
    parallelism: Annotated[int, Field(ge=1)] | None = None

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.dependsOn) || !(self.name in self.dependsOn)",
                    "message": "a task cannot depend on itself",
                },
                {
                    "rule": "has(self.image) != has(self.templateRef)",
                    "message": "a task needs exactly one of image and templateRef",
                },
                {
                    "rule": "!has(self.depends) || !has(self.dependsOn) "
                    "|| size(self.dependsOn) == 0",
                    "message": "use either dependsOn or depends, not both",
                },
            ]
        }
    }


def _immutable(what: str) -> dict[str, Any]:
    return {
        "x-kubernetes-validations": [
            {
                "rule": "self == oldSelf",
                "message": f"the {what} of a Workflow cannot change after it is created; "
                "submit a new Workflow instead",
            }
        ]
    }


class Shutdown(StrEnum):
    STOP = "Stop"  # start nothing new, let running tasks finish, run the exit handler
    TERMINATE = "Terminate"  # also delete running Jobs; no exit handler


class JobCleanup(StrEnum):
    NEVER = "Never"
    ON_TASK_SUCCESS = "OnTaskSuccess"
    ON_TASK_COMPLETION = "OnTaskCompletion"


class DataInterval(ApiModel):
    """The span of data a run processes, `[start, end)` (Airflow's data interval). Set by
    CronWorkflows and Backfills; read by `{{schedule.*}}` (kubedag.engine.intervals)."""

    start: datetime
    end: datetime


class WorkflowSpec(ApiModel):
    params: Annotated[
        list[Param] | None,
        Field(
            max_length=200,
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                **_immutable("params"),
            },
        ),
    ] = None
    workflow_template_ref: Annotated[
        TemplateRef | None,
        Field(
            description="The WorkflowTemplate this run runs (then `tasks` is absent); "
            "`params` override the template's. The run keeps the template as it was when "
            "the run started (status.storedWorkflowTemplate).",
            json_schema_extra=_immutable("workflowTemplateRef"),
        ),
    ] = None
    tasks: Annotated[
        list[WorkflowTask] | None,
        Field(
            min_length=1,
            max_length=MAX_TASKS,
            json_schema_extra={
                # Unique task names, checked by the API server without an O(n²) CEL rule.
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                # A Workflow is one run: its DAG is fixed once submitted (as in Argo
                # Workflows). A changed pipeline is a new Workflow.
                **_immutable("tasks"),
            },
        ),
    ] = None
    on_exit: Annotated[
        list[WorkflowTask] | None,
        Field(
            max_length=100,
            description="Tasks that run after all others, whatever the outcome; "
            "{{workflow.status}} is Succeeded or Failed.",
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                **_immutable("exit handler"),
            },
        ),
    ] = None
    parallelism: Annotated[int, Field(ge=1)] | None = None
    active_deadline_seconds: Seconds | None = None
    retry_strategy: RetryStrategy | None = None
    suspend: bool | None = None
    shutdown: Shutdown | None = None
    ttl_seconds_after_finished: Annotated[int, Field(ge=0, le=MAX_SECONDS)] | None = None
    job_cleanup: JobCleanup | None = None
    service_account_name: Annotated[str | None, Field(max_length=253)] = None
    data_interval: Annotated[
        DataInterval | None,
        Field(
            description="The data interval this run covers: {{schedule.intervalStart}}, "
            "{{schedule.intervalEnd}}, {{schedule.logicalDate}} and {{schedule.ds}}.",
            json_schema_extra={
                "x-kubernetes-validations": [
                    *_immutable("data interval")["x-kubernetes-validations"],
                    {"rule": "self.start < self.end", "message": "start must be before end"},
                ]
            },
        ),
    ] = None
    task_defaults: Annotated[
        TaskDefaults | None,
        Field(
            description="Pod and container fields for every task of this Workflow (Argo's "
            "templateDefaults): a TaskTemplate's and a task's own fields override them."
        ),
    ] = None

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            # A Workflow runs its own tasks or a WorkflowTemplate's, and keeps to that
            # choice: the field-level `self == oldSelf` rules cannot see a field added or
            # removed, the second rule can.
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.tasks) != has(self.workflowTemplateRef)",
                    "message": "a Workflow needs exactly one of tasks and workflowTemplateRef",
                },
                {
                    "rule": "has(self.workflowTemplateRef) == has(oldSelf.workflowTemplateRef)",
                    "message": "the workflowTemplateRef of a Workflow cannot be added or removed "
                    "after it is created; submit a new Workflow instead",
                },
            ]
        }
    }


class WorkflowPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

    @property
    def is_finished(self) -> bool:
        return self in (WorkflowPhase.SUCCEEDED, WorkflowPhase.FAILED)


class TaskCounts(ApiModel):
    """How many of the workflow's tasks are in each phase. The Workflow keeps counts, not a
    map of nodes, so its size does not grow with the number of tasks."""

    total: int = 0
    pending: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0


class WorkflowStatus(ApiModel):
    phase: WorkflowPhase | None = None
    message: str | None = None
    progress: str | None = None
    tasks: TaskCounts | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    observed_generation: int | None = None
    retry_handled: Annotated[
        str | None,
        Field(description="The last kubedag.io/retry annotation value acted upon."),
    ] = None
    stored_workflow_template: Annotated[
        dict[str, Any] | None,
        Field(
            description="The spec of the WorkflowTemplate (spec.workflowTemplateRef) as it "
            "was when the run started: the run plans from this copy, whatever becomes of "
            "the template.",
            json_schema_extra=PRESERVE_UNKNOWN_FIELDS,
        ),
    ] = None
    stored_task_templates: Annotated[
        dict[str, Annotated[dict[str, Any], Field(json_schema_extra=PRESERVE_UNKNOWN_FIELDS)]]
        | None,
        Field(
            description="TaskTemplate name -> its spec as it was when the run started, for "
            "every TaskTemplate the run uses: the run plans from these copies.",
        ),
    ] = None
    conditions: Annotated[list[Condition], condition_list_field()]
