"""The Workflow resource: one run of a DAG of tasks."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from kubedag.api.common import (
    DNS_LABEL_PATTERN,
    ApiModel,
    Condition,
    EnvVar,
    PodMetadata,
    ResourceRequirements,
    condition_list_field,
)

# Bounds that keep the API server's CEL cost estimate finite (it rejects rules over lists
# and strings of unbounded size) and a Workflow far below etcd's 1.5 MB object limit.
MAX_TASKS = 2000
MAX_DEPENDENCIES = 100
MAX_TASK_NAME_LENGTH = 63

TaskName = Annotated[
    str,
    Field(min_length=1, max_length=MAX_TASK_NAME_LENGTH, pattern=DNS_LABEL_PATTERN),
]


class WorkflowTask(ApiModel):
    """One node of the DAG: a container to run and the tasks it waits for."""

    name: TaskName
    image: Annotated[str, Field(min_length=1, max_length=1024)]
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[EnvVar] | None = None
    resources: ResourceRequirements | None = None
    working_dir: str | None = None
    depends_on: Annotated[
        list[Annotated[str, Field(max_length=MAX_TASK_NAME_LENGTH)]],
        Field(
            default_factory=list,
            max_length=MAX_DEPENDENCIES,
            description="Names of the tasks that must succeed before this one starts.",
        ),
    ]
    metadata: PodMetadata | None = None

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.dependsOn) || self.dependsOn.all(d, d != self.name)",
                    "message": "a task cannot depend on itself",
                },
            ]
        }
    }


class WorkflowSpec(ApiModel):
    tasks: Annotated[
        list[WorkflowTask],
        Field(
            min_length=1,
            max_length=MAX_TASKS,
            json_schema_extra={
                # Unique task names, checked by the API server without an O(n²) CEL rule.
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                # A Workflow is one run: its DAG is fixed once submitted (as in Argo
                # Workflows). A changed pipeline is a new Workflow.
                "x-kubernetes-validations": [
                    {
                        "rule": "self == oldSelf",
                        "message": "the tasks of a Workflow cannot change after it is "
                        "created; submit a new Workflow instead",
                    }
                ],
            },
        ),
    ]
    service_account_name: Annotated[str | None, Field(max_length=253)] = None


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
    conditions: Annotated[list[Condition], condition_list_field()]
