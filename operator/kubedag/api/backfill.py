"""The Backfill resource: run a schedule's pipeline over a past range of data intervals
(issue 9, point 3).

A Backfill names where its runs come from — a CronWorkflow (its cadence, time zone,
pipeline and params), or a WorkflowTemplate (or an inline Workflow spec) with a cadence of
its own — and a range `[start, end)` of interval starts. Its runs share the schedule's
naming (kubedag.engine.intervals.run_name), so a scheduled run and a backfill run of one
interval are one object. The rules are in kubedag.engine.backfilling.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from kubedag.api.common import (
    PRESERVE_UNKNOWN_FIELDS,
    ApiModel,
    Condition,
    condition_list_field,
)
from kubedag.api.workflow import ParamName, TemplateRef

# Bounds for the API server's CEL cost estimate (unbounded lists and strings make it refuse
# the rules) and for the object's size.
MAX_SCHEDULES = 20
MAX_SCHEDULE_LENGTH = 256
MAX_PARAMS = 200
MAX_PARAM_VALUE_LENGTH = 32 * 1024
MAX_CONCURRENT_RUNS = 1_000
# The most intervals one Backfill may cover: a range beyond it is refused with the count
# (kubedag.engine.backfilling), so one object cannot ask for a million runs.
MAX_INTERVALS = 10_000
# How many failed intervals the status lists by name (the count is always complete).
MAX_FAILED_INTERVALS_LISTED = 50


class BackfillOrder(StrEnum):
    OLDEST_FIRST = "OldestFirst"
    NEWEST_FIRST = "NewestFirst"


class ParamValue(ApiModel):
    """A value for one of the runs' params (`{{schedule.*}}` may be used in it)."""

    name: ParamName
    value: Annotated[str, Field(max_length=MAX_PARAM_VALUE_LENGTH)]


def _server_default(value: Any) -> dict[str, Any]:
    return {"x-kubedag-server-default": value}


class BackfillSpec(ApiModel):
    cron_workflow_ref: Annotated[
        TemplateRef | None,
        Field(
            description="The CronWorkflow whose cadence, time zone, pipeline and params the "
            "runs use; its runs and these share names, so an interval runs once."
        ),
    ] = None
    workflow_template_ref: Annotated[
        TemplateRef | None,
        Field(description="The WorkflowTemplate the runs run (with `schedules`)."),
    ] = None
    workflow_spec: Annotated[
        dict[str, Any] | None,
        Field(
            description="An inline Workflow spec the runs run (with `schedules`); checked "
            "against the Workflow schema when the first run is created.",
            json_schema_extra=PRESERVE_UNKNOWN_FIELDS,
        ),
    ] = None
    schedules: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=MAX_SCHEDULE_LENGTH)]] | None,
        Field(
            max_length=MAX_SCHEDULES,
            description="Cron expressions whose merged ticks cut the range into data "
            "intervals (with workflowTemplateRef or workflowSpec).",
        ),
    ] = None
    time_zone: Annotated[
        str | None,
        Field(max_length=64, description="IANA time zone of `schedules` (default UTC)."),
    ] = None
    params: Annotated[
        list[ParamValue] | None,
        Field(
            max_length=MAX_PARAMS,
            description="Param values of every run; with cronWorkflowRef they override the "
            "CronWorkflow's.",
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
            },
        ),
    ] = None
    start: Annotated[
        datetime, Field(description="The first interval start of the range (inclusive).")
    ]
    end: Annotated[
        datetime, Field(description="The end of the range of interval starts (exclusive).")
    ]
    max_concurrent_runs: Annotated[
        int,
        Field(ge=1, le=MAX_CONCURRENT_RUNS, json_schema_extra=_server_default(1)),
    ] = 1
    rerun_succeeded: Annotated[
        bool,
        Field(
            description="Run again the intervals whose run Succeeded before this Backfill "
            "(by default they count as done).",
            json_schema_extra=_server_default(False),
        ),
    ] = False
    order: Annotated[
        BackfillOrder, Field(json_schema_extra=_server_default(BackfillOrder.OLDEST_FIRST.value))
    ] = BackfillOrder.OLDEST_FIRST
    suspend: Annotated[bool | None, Field(description="Create no new run; running ones go on.")] = (
        None
    )
    cancel: Annotated[
        bool | None,
        Field(
            description="Create no new run and stop this Backfill's running ones "
            "(their shutdown: Terminate)."
        ),
    ] = None

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "(has(self.cronWorkflowRef) ? 1 : 0) "
                    "+ (has(self.workflowTemplateRef) ? 1 : 0) "
                    "+ (has(self.workflowSpec) ? 1 : 0) == 1",
                    "message": "a Backfill needs exactly one of cronWorkflowRef, "
                    "workflowTemplateRef and workflowSpec",
                },
                {
                    "rule": "has(self.cronWorkflowRef) || "
                    "(has(self.schedules) && size(self.schedules) > 0)",
                    "message": "workflowTemplateRef and workflowSpec need schedules",
                },
                {
                    "rule": "!has(self.cronWorkflowRef) || "
                    "(!has(self.schedules) && !has(self.timeZone))",
                    "message": "with cronWorkflowRef, the schedules and time zone are the "
                    "CronWorkflow's",
                },
                {"rule": "self.start < self.end", "message": "start must be before end"},
            ]
        }
    }


class BackfillPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUSPENDED = "Suspended"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def is_finished(self) -> bool:
        return self in (BackfillPhase.SUCCEEDED, BackfillPhase.FAILED)


class RunCounts(ApiModel):
    """How many intervals of the range are in each state; they add up to `total`."""

    total: int = 0
    succeeded: int = 0
    failed: int = 0
    running: int = 0
    pending: int = 0  # no run yet, or one waiting to be made again


class FailedInterval(ApiModel):
    run: str
    interval_start: datetime


class BackfillStatus(ApiModel):
    phase: BackfillPhase | None = None
    progress: Annotated[str | None, Field(description="Finished intervals / total.")] = None
    message: str | None = None
    runs: RunCounts | None = None
    failed_intervals: Annotated[
        list[FailedInterval] | None,
        Field(
            max_length=MAX_FAILED_INTERVALS_LISTED,
            description="The first failed intervals (their count is runs.failed).",
        ),
    ] = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    observed_generation: int | None = None
    conditions: Annotated[list[Condition], condition_list_field()]
