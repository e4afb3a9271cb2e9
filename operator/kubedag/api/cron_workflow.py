"""The CronWorkflow resource: a Workflow run on a cron schedule, one run per data interval
(issue 9). The scheduling rules are in kubedag.engine.scheduling; this is the wire form."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from kubedag.api.common import ApiModel, Condition, condition_list_field
from kubedag.api.dataset import DatasetTrigger, DatasetTriggerStatus
from kubedag.api.workflow import MAX_SECONDS, ParamName, TemplateRef, WorkflowSpec

# A CronJob's name is limited to 52 characters so that its Jobs' names fit 63 with a suffix
# (kubernetes/kubernetes#50520); a run's name adds "-YYYYMMDD-HHMMSS" (16) and must fit a
# label value, so the same limit holds (kubedag.engine.intervals.run_name).
MAX_NAME_LENGTH = 52
NAME_RULE_MESSAGE = (
    f"a CronWorkflow's name has at most {MAX_NAME_LENGTH} characters "
    "(its runs add -YYYYMMDD-HHMMSS)"
)
MAX_SCHEDULES = 20
MAX_CRON_LENGTH = 256
DEFAULT_MAX_RUNS = 100
# Bounded so that one pass creates a bounded number of runs and the CEL cost stays finite.
MAX_CATCH_UP_RUNS = 1000
MAX_ACTIVE_LISTED = 100

CronExpression = Annotated[str, Field(min_length=1, max_length=MAX_CRON_LENGTH)]


class ConcurrencyPolicy(StrEnum):
    ALLOW = "Allow"  # a new run starts whatever the others do
    FORBID = "Forbid"  # a tick while a run is active is skipped (RunSkipped, reason Forbid)
    REPLACE = "Replace"  # the active runs are stopped (shutdown: Terminate), then the new starts


class CatchUpPolicy(StrEnum):
    NONE = "None"  # only a tick that is on time runs; missed ones are skipped
    LATEST = "Latest"  # of the ticks missed, only the newest runs (a CronJob's behaviour)
    ALL = "All"  # every missed tick runs, oldest first, at most maxRuns of them


class CatchUp(ApiModel):
    """What happens to ticks that came due while the operator was down or the schedule
    was suspended (kubedag.engine.scheduling says exactly)."""

    policy: CatchUpPolicy = CatchUpPolicy.LATEST
    max_runs: Annotated[
        int,
        Field(
            ge=1,
            le=MAX_CATCH_UP_RUNS,
            description="With policy All: at most this many of the missed ticks run (the "
            "newest); the older ones are skipped with a RunSkipped event. Also bounds the "
            "runs one pass creates.",
        ),
    ] = DEFAULT_MAX_RUNS


class RunParam(ApiModel):
    name: ParamName
    value: Annotated[str, Field(max_length=65536)]


class WorkflowMetadata(ApiModel):
    """Labels and annotations put on every run (the operator's own label wins)."""

    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class CronWorkflowSpec(ApiModel):
    schedules: Annotated[
        list[CronExpression] | None,
        Field(
            min_length=1,
            max_length=MAX_SCHEDULES,
            description="Cron expressions (5 fields, or 6 with a leading seconds field; "
            "@daily-style aliases). Their ticks are merged: each tick ends the data "
            "interval [previous tick, tick) of one run. Optional with a datasetTrigger.",
        ),
    ] = None
    dataset_trigger: Annotated[
        DatasetTrigger | None,
        Field(
            description="Also (or only) start a run when Datasets of this namespace are "
            "updated: once all of them were (condition All, the default) or any (Any)."
        ),
    ] = None
    time_zone: Annotated[
        str | None,
        Field(max_length=64, description="IANA time zone of the schedules; UTC if absent."),
    ] = None
    concurrency_policy: ConcurrencyPolicy = ConcurrencyPolicy.ALLOW
    starting_deadline_seconds: Annotated[
        int | None,
        Field(
            ge=0,
            le=MAX_SECONDS,
            description="A tick more than this many seconds in the past when the operator "
            "decides on it is skipped (RunSkipped, reason DeadlineMissed).",
        ),
    ] = None
    catch_up: CatchUp | None = None
    # Filled in by the API server, as a CronJob's is, so that `kubectl get` shows it.
    suspend: Annotated[
        bool | None, Field(json_schema_extra={"x-kubedag-server-default": False})
    ] = None
    successful_runs_history_limit: Annotated[int, Field(ge=0, le=1000)] = 3
    failed_runs_history_limit: Annotated[int, Field(ge=0, le=1000)] = 1
    workflow_template_ref: TemplateRef | None = None
    workflow_spec: WorkflowSpec | None = None
    params: Annotated[
        list[RunParam] | None,
        Field(
            max_length=200,
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
            },
        ),
    ] = None
    workflow_metadata: WorkflowMetadata | None = None

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.schedules) || has(self.datasetTrigger)",
                    "message": "a CronWorkflow needs schedules, a datasetTrigger or both",
                },
                {
                    "rule": "has(self.workflowTemplateRef) != has(self.workflowSpec)",
                    "message": "a CronWorkflow needs exactly one of workflowTemplateRef and "
                    "workflowSpec",
                },
                {
                    "rule": "!has(self.workflowSpec) || !has(self.workflowSpec.dataInterval)",
                    "message": "workflowSpec.dataInterval is set by the schedule for each run",
                },
            ]
        }
    }

    @property
    def catch_up_or_default(self) -> CatchUp:
        return self.catch_up or CatchUp()


class ActiveRun(ApiModel):
    name: str
    interval_start: datetime


class CronWorkflowStatus(ApiModel):
    last_schedule_time: Annotated[
        datetime | None,
        Field(description="The newest tick decided on (a run created, or skipped)."),
    ] = None
    next_schedule_time: datetime | None = None
    active: Annotated[list[ActiveRun] | None, Field(max_length=MAX_ACTIVE_LISTED)] = None
    last_successful_time: datetime | None = None
    last_successful_run: str | None = None
    dataset_trigger: DatasetTriggerStatus | None = None
    observed_generation: int | None = None
    conditions: Annotated[list[Condition], condition_list_field()]
