"""The Task resource: one node of one Workflow run, created by the operator and owning the
Jobs of its attempts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from kubedag.api.common import ApiModel, Condition, condition_list_field
from kubedag.api.workflow import WorkflowTask


class TaskPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"

    @property
    def is_finished(self) -> bool:
        return self in (TaskPhase.SUCCEEDED, TaskPhase.FAILED, TaskPhase.SKIPPED)


class TaskResourceSpec(WorkflowTask):
    """The task as it runs: the workflow's node with everything resolved, plus the name of
    the Workflow it belongs to."""

    workflow: Annotated[str, Field(min_length=1, max_length=253)]


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
    phase: TaskPhase | None = None
    reason: str | None = None
    message: str | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    observed_generation: int | None = None
    conditions: Annotated[list[Condition], condition_list_field()]
