"""The Task resource: one node of one Workflow run, created by the operator and owning the
Jobs of its attempts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from kubedag.api.common import ANY_JSON_VALUE, ApiModel, Condition, condition_list_field
from kubedag.api.dataset import TaskDatasets
from kubedag.api.workflow import TaskContainer


class TaskPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"

    @property
    def is_finished(self) -> bool:
        return self in (TaskPhase.SUCCEEDED, TaskPhase.FAILED, TaskPhase.SKIPPED)


# The reason of a Task that waits for its dependencies or for a parallelism slot. It is the
# CRD's schema default, with phase Pending: the API server fills both in on a Task whose
# status was never written, so waiting costs no write.
WAITING_REASON = "Waiting"


def _server_default(value: str) -> dict[str, Any]:
    return {"x-kubedag-server-default": value}


class TaskResourceSpec(TaskContainer):
    """The task as it runs: the workflow's node with params and its fan-out item
    substituted (references to upstream outputs are filled in when its Job is created)."""

    workflow: Annotated[str, Field(min_length=1, max_length=253)]
    name: Annotated[str, Field(min_length=1, max_length=63)]
    task: Annotated[str | None, Field(description="The workflow task this node comes from.")] = None
    item_index: int | None = None
    item: Annotated[Any, Field(json_schema_extra=ANY_JSON_VALUE)] = None
    exit_handler: bool | None = None
    depends_on: list[str] = Field(default_factory=list)


class Attempt(ApiModel):
    """One try at running the task: one Job."""

    number: Annotated[int, Field(ge=1)]
    job_name: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None


class TaskResourceStatus(ApiModel):
    phase: Annotated[
        TaskPhase | None, Field(json_schema_extra=_server_default(TaskPhase.PENDING.value))
    ] = None
    reason: Annotated[str | None, Field(json_schema_extra=_server_default(WAITING_REASON))] = None
    message: str | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    outputs: dict[str, str] | None = None
    datasets: Annotated[
        TaskDatasets | None,
        Field(description="The datasets the task read and wrote, templates resolved."),
    ] = None
    next_attempt_at: Annotated[
        datetime | None, Field(description="When the next retry starts (backoff).")
    ] = None
    retries_from: Annotated[
        int | None,
        Field(description="Attempts up to this number belong to an earlier, retried run."),
    ] = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    observed_generation: int | None = None
    conditions: Annotated[list[Condition], condition_list_field()]


def with_server_defaults(status: TaskResourceStatus) -> TaskResourceStatus:
    """The status as the API server returns it: the schema defaults filled in."""
    return status.model_copy(
        update={
            "phase": status.phase or TaskPhase.PENDING,
            "reason": status.reason or WAITING_REASON,
        }
    )
