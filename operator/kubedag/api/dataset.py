"""Datasets (issue 10): what a task reads (`inlets`) and writes (`outlets`), and the
Dataset resource the operator keeps for each dataset written in a namespace.

A dataset is named the OpenLineage way (https://openlineage.io/docs/spec/naming):
`namespace` says where it lives (`s3://bucket`, `postgres://host:5432`, `bigquery`) and
`name` what it is there (`raw/orders`, `db.schema.table`). The pair is its identity;
`partition` (often `{{schedule.ds}}`) says which part of it a task read or wrote.

The rules on the values (kubedag.engine.datasets) are checked once templates are resolved;
the schema here only bounds sizes, since a field may hold `{{params.x}}`."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from kubedag.api.common import ApiModel, Condition, condition_list_field

MAX_DATASET_NAMESPACE_LENGTH = 512
MAX_DATASET_NAME_LENGTH = 1024
MAX_PARTITION_LENGTH = 256
# Per task: declared plus reported at run time (more reported ones are cut, with a message).
MAX_DATASETS_PER_TASK = 50
# Materializations the Dataset's status lists (newest first); the count has no bound.
MAX_HISTORY = 10
# Attempts (task UID and attempt number) the Dataset remembers having counted, so that an
# attempt recorded just before a crash is not counted again (kubedag.engine.datasets).
MAX_RECORDED_ATTEMPTS = 200
MAX_TRIGGER_DATASETS = 20

DatasetNamespace = Annotated[str, Field(min_length=1, max_length=MAX_DATASET_NAMESPACE_LENGTH)]
DatasetName = Annotated[str, Field(min_length=1, max_length=MAX_DATASET_NAME_LENGTH)]


class DatasetKey(ApiModel):
    """A dataset's identity: its OpenLineage namespace and name."""

    namespace: DatasetNamespace
    name: DatasetName


class DatasetRef(DatasetKey):
    """A dataset a task reads or writes, and optionally which partition of it. Every field
    may hold templates, resolved like the task's other fields (`{{params.x}}`, `{{item}}`,
    `{{schedule.ds}}`)."""

    partition: Annotated[str | None, Field(min_length=1, max_length=MAX_PARTITION_LENGTH)] = None


DatasetRefList = Annotated[list[DatasetRef] | None, Field(max_length=MAX_DATASETS_PER_TASK)]


class TaskDatasets(ApiModel):
    """A Task's datasets with templates resolved: declared in its spec and reported by its
    container (termination message key `kubedag.io/datasets`)."""

    inlets: DatasetRefList = None
    outlets: DatasetRefList = None
    recorded_attempt: Annotated[
        int | None,
        Field(
            description="The attempt whose outlets were counted on their Dataset objects "
            "(set by the operator after the Datasets were updated)."
        ),
    ] = None
    message: Annotated[
        str | None,
        Field(description="Why some reported datasets were not taken (invalid or too many)."),
    ] = None


class DatasetSpec(ApiModel):
    """The dataset's identity; its object's name is derived from it
    (kubedag.names.dataset_object_name), so it cannot change."""

    namespace: DatasetNamespace
    name: DatasetName

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self == oldSelf",
                    "message": "a Dataset's spec is its identity and cannot change; the "
                    "operator makes one Dataset per (namespace, name)",
                }
            ]
        }
    }


class Materialization(ApiModel):
    """One successful task attempt that wrote the dataset."""

    time: datetime
    workflow: str
    task: str
    attempt: int
    partition: str | None = None
    run_id: Annotated[
        str | None, Field(description="The OpenLineage runId of the task attempt.")
    ] = None
    task_uid: Annotated[str | None, Field(description="The UID of the Task object.")] = None


class RecordedAttempt(ApiModel):
    """An attempt already counted in `materializations` (Task UID and attempt number)."""

    task_uid: str
    attempt: int


class DatasetStatus(ApiModel):
    last_materialization: Materialization | None = None
    materializations: Annotated[
        int,
        Field(
            ge=0,
            description="How many successful task attempts wrote this dataset; each counts "
            "once, also across operator restarts.",
        ),
    ] = 0
    history: Annotated[
        list[Materialization] | None,
        Field(max_length=MAX_HISTORY, description="The newest materializations, newest first."),
    ] = None
    recorded_attempts: Annotated[
        list[RecordedAttempt] | None, Field(max_length=MAX_RECORDED_ATTEMPTS)
    ] = None
    conditions: Annotated[list[Condition], condition_list_field()]


class TriggerCondition(StrEnum):
    ALL = "All"  # a run once every dataset of the trigger was updated since the last run
    ANY = "Any"  # a run once any of them was


class DatasetTrigger(ApiModel):
    """Start a run when datasets (Dataset objects of the CronWorkflow's namespace) are
    updated; kubedag.engine.dataset_triggers has the rules."""

    datasets: Annotated[list[DatasetKey], Field(min_length=1, max_length=MAX_TRIGGER_DATASETS)]
    condition: TriggerCondition = TriggerCondition.ALL


class ConsumedDataset(ApiModel):
    """How many materializations of a dataset the trigger has consumed (the Dataset's
    status.materializations when the last run was decided)."""

    namespace: str
    name: str
    materializations: int


class DatasetTriggerStatus(ApiModel):
    runs: Annotated[
        int, Field(ge=0, description="How many runs the trigger started (names end -ds-N).")
    ] = 0
    consumed: Annotated[list[ConsumedDataset] | None, Field(max_length=MAX_TRIGGER_DATASETS)] = None
    last_triggered_run: str | None = None
    last_trigger_time: datetime | None = None
