"""When a CronWorkflow's dataset trigger starts a run (issue 10). Pure, in the style of
kubedag.engine.scheduling, which calls `decide_dataset_trigger` once its cron rules are
done; the controller (kubedag.controller.cron_workflows) carries the decision out.

The rules, in the order they apply in a pass:

- **State**: `status.datasetTrigger.consumed` holds, per dataset of the trigger, the
  Dataset's `status.materializations` count when the last run was decided; `runs` how
  many runs the trigger started. A dataset is *updated* when its count is above what was
  consumed.
- **First sight**: a dataset the status does not list yet (a new trigger, or one added to
  it) is recorded at its count before the CronWorkflow was created: its materializations
  since then (as far as the Dataset's history goes back, MAX_HISTORY) are updates, older
  ones are not. A pass that comes late (the operator was busy or down) thus misses none.
- **Adoption**: the trigger's runs are named `<cron workflow>-ds-<N>` (N = runs + 1), so a
  pass repeated after a crash between creating run N and recording it finds run N, takes
  what it consumed from the run's annotation `kubedag.io/dataset-trigger`, and
  creates nothing; the API server's 409 on the name is the last guard.
- **A count below what was consumed**: the Dataset was deleted (by hand) and made again,
  or its status reset; its count starts again from 0, so what was consumed is taken as 0
  and its materializations since are updates (else the trigger would wait, silently, until
  the new count passed the old one).
- **Condition**: `All` starts a run once every dataset of the trigger was updated; `Any`
  once at least one was. The run consumes every update seen: several materializations of
  a dataset between two runs start one run (as Airflow's dataset-triggered DAG runs).
- **suspend**, an invalid source or spec: nothing is decided; the updates stay pending and
  start a run once the CronWorkflow can run again.
- **concurrencyPolicy** `Forbid`: while a run of the CronWorkflow is active, the updates
  wait (RunSkipped event, reason Forbid) and start one run once it ends. `Replace`: the
  active runs are stopped, as for a tick. `Allow`: the run starts.
- **Params**: the run gets `triggerDatasets` (JSON list, one object per updated dataset:
  namespace, name, materializations, new, and the newest materialization's time, workflow,
  task, partition and runId) and `triggerPartition` (the partition of the newest of those
  materializations, "" if none). A WorkflowTemplate gets those it declares.

At most one run per pass; the decision is a function of the status, the Dataset counts
and the existing runs alone, so a pass repeated with the same inputs decides the same."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from kubedag.api.cron_workflow import ConcurrencyPolicy, RunParam
from kubedag.api.dataset import (
    ConsumedDataset,
    DatasetKey,
    DatasetTrigger,
    DatasetTriggerStatus,
    Materialization,
    TriggerCondition,
)
from kubedag.engine.datasets import ref_problem
from kubedag.engine.intervals import rfc3339

DATASETS_PARAM = "triggerDatasets"
PARTITION_PARAM = "triggerPartition"
TRIGGER_PARAMS = (DATASETS_PARAM, PARTITION_PARAM)
RUN_SUFFIX = "-ds-"

DatasetIdentity = tuple[str, str]  # (OpenLineage namespace, name)


@dataclass(frozen=True)
class DatasetState:
    """A Dataset object as last seen: its count and newest materialization."""

    materializations: int
    last: Materialization | None = None
    recent: tuple[datetime, ...] = ()  # the times of the history's materializations


@dataclass(frozen=True)
class TriggeredRunSeen:
    """A run of this CronWorkflow made by its trigger: its sequence number and what it
    consumed (from its annotation; None when the annotation is missing or unreadable)."""

    name: str
    sequence: int
    consumed: tuple[ConsumedDataset, ...] | None


@dataclass(frozen=True)
class TriggeredRun:
    name: str
    params: list[RunParam]
    annotation: str  # the consumed counts, JSON: what a repeated pass adopts


@dataclass(frozen=True)
class TriggerEvent:
    type: str
    reason: str  # a kubedag.engine.scheduling.EventReason value
    message: str
    key: str


@dataclass
class TriggerDecision:
    create: TriggeredRun | None = None
    replace_active: bool = False  # concurrencyPolicy Replace: stop the active runs
    events: list[TriggerEvent] = field(default_factory=list)
    status: DatasetTriggerStatus = field(default_factory=DatasetTriggerStatus)


def trigger_run_name(cron_workflow: str, sequence: int) -> str:
    return f"{cron_workflow}{RUN_SUFFIX}{sequence}"


def sequence_of(cron_workflow: str, run_name: str) -> int | None:
    """N of a run named `<cron_workflow>-ds-N`, else None."""
    prefix = f"{cron_workflow}{RUN_SUFFIX}"
    tail = run_name[len(prefix) :] if run_name.startswith(prefix) else ""
    return int(tail) if tail.isdigit() and not tail.startswith("0") else None


def trigger_problem(trigger: DatasetTrigger) -> str | None:
    """Why the trigger's dataset list cannot be used (an invalid name, a duplicate)."""
    seen: set[DatasetIdentity] = set()
    for index, dataset in enumerate(trigger.datasets):
        if "{{" in dataset.namespace + dataset.name:
            return (
                f"spec.datasetTrigger.datasets[{index}]: trigger datasets are not templated "
                "(they are matched as written, before any run exists); name the dataset"
            )
        problem = ref_problem(dataset)
        if problem is not None:
            return f"spec.datasetTrigger.datasets[{index}]: {problem}"
        identity = (dataset.namespace, dataset.name)
        if identity in seen:
            return (
                f"spec.datasetTrigger.datasets[{index}]: {dataset.namespace} {dataset.name} "
                "is listed twice"
            )
        seen.add(identity)
    return None


def read_consumed(annotation: str | None) -> tuple[ConsumedDataset, ...] | None:
    """The consumed counts a run's annotation holds; None when absent or unreadable."""
    if not annotation:
        return None
    try:
        entries = json.loads(annotation)
        return tuple(ConsumedDataset.model_validate(entry) for entry in entries)
    except (ValueError, TypeError):
        return None


def decide_dataset_trigger(
    *,
    name: str,
    trigger: DatasetTrigger,
    status: DatasetTriggerStatus | None,
    datasets: Mapping[DatasetIdentity, DatasetState],
    runs: Sequence[TriggeredRunSeen],
    active_runs: Sequence[str],
    concurrency_policy: ConcurrencyPolicy,
    can_run: bool,
    declared_params: frozenset[str] | None,
    now: datetime,
    created_at: datetime | None = None,
) -> TriggerDecision:
    """One pass of the trigger of CronWorkflow `name` (the module's rules).

    `datasets` are the Dataset objects of its namespace by identity (absent: not written
    yet); `runs` its runs made by the trigger; `active_runs` the names of all its runs
    that have not finished; `can_run` is False while it is suspended or its source or spec
    is unusable; `declared_params` the params a WorkflowTemplate source declares (None
    for an inline workflowSpec, which takes any); `created_at` the CronWorkflow's
    creationTimestamp (None: updates before the first pass do not count)."""
    base = status or DatasetTriggerStatus()
    base = _adopted(name, base, runs, datasets)
    wanted = [(d.namespace, d.name) for d in trigger.datasets]
    consumed = {(c.namespace, c.name): c.materializations for c in base.consumed or []}
    counts = {key: _count(datasets, key) for key in wanted}
    recorded = {
        key: consumed[key] if key in consumed else _baseline(datasets.get(key), created_at)
        for key in wanted
    }
    # A Dataset deleted and made again (or its status reset) counts from 0 again.
    recorded = {key: 0 if counts[key] < value else value for key, value in recorded.items()}
    carried = base.model_copy(update={"consumed": _consumed_list(recorded) or None})
    updated = [key for key in wanted if counts[key] > recorded[key]]
    fires = (
        len(updated) == len(wanted) if trigger.condition == TriggerCondition.ALL else bool(updated)
    )
    if not fires or not can_run:
        return TriggerDecision(status=carried)
    if concurrency_policy == ConcurrencyPolicy.FORBID and active_runs:
        names = ", ".join(sorted(active_runs))
        return TriggerDecision(
            status=carried,
            events=[
                TriggerEvent(
                    "Normal",
                    "RunSkipped",
                    f"Forbid: dataset updates wait for the active run(s) {names} "
                    "(concurrencyPolicy Forbid); one run starts once they end",
                    key=f"forbid-datasets/{base.runs + 1}",
                )
            ],
        )
    sequence = base.runs + 1
    run_name = trigger_run_name(name, sequence)
    now_consumed = _consumed_list(counts)
    params = _params(updated, datasets, recorded, declared_params)
    described = ", ".join(
        f"{namespace} {dataset} (#{counts[(namespace, dataset)]})" for namespace, dataset in updated
    )
    return TriggerDecision(
        create=TriggeredRun(
            name=run_name,
            params=params,
            annotation=json.dumps([c.to_wire() for c in now_consumed], separators=(",", ":")),
        ),
        replace_active=concurrency_policy == ConcurrencyPolicy.REPLACE and bool(active_runs),
        events=[
            TriggerEvent(
                "Normal",
                "RunCreated",
                f"created {run_name} for dataset updates: {described}",
                key=f"created/{run_name}",
            )
        ],
        status=carried.model_copy(
            update={
                "runs": sequence,
                "consumed": now_consumed,
                "last_triggered_run": run_name,
                "last_trigger_time": now,
            }
        ),
    )


def _adopted(
    name: str,
    status: DatasetTriggerStatus,
    runs: Sequence[TriggeredRunSeen],
    datasets: Mapping[DatasetIdentity, DatasetState],
) -> DatasetTriggerStatus:
    """The status with the runs it does not record yet (created by a pass whose status
    write was lost) taken in, with what they consumed."""
    by_sequence = {run.sequence: run for run in runs}
    while status.runs + 1 in by_sequence:
        run = by_sequence[status.runs + 1]
        consumed = run.consumed
        if consumed is None:
            # The run lost its annotation (edited by hand): the counts now are the best
            # guess of what it consumed; updates since may go unnoticed once.
            consumed = tuple(
                ConsumedDataset(namespace=ns, name=dataset, materializations=state.materializations)
                for (ns, dataset), state in sorted(datasets.items())
            )
        status = status.model_copy(
            update={
                "runs": run.sequence,
                "consumed": list(consumed) or None,
                "last_triggered_run": run.name,
            }
        )
    return status


def _baseline(state: DatasetState | None, created_at: datetime | None) -> int:
    """The count of a dataset before the CronWorkflow existed (first sight)."""
    if state is None:
        return 0
    if created_at is None:
        return state.materializations
    since = sum(1 for moment in state.recent if moment > created_at)
    return max(0, state.materializations - since)


def _count(datasets: Mapping[DatasetIdentity, DatasetState], key: DatasetIdentity) -> int:
    state = datasets.get(key)
    return state.materializations if state is not None else 0


def _consumed_list(counts: Mapping[DatasetIdentity, int]) -> list[ConsumedDataset]:
    return [
        ConsumedDataset(namespace=namespace, name=name, materializations=count)
        for (namespace, name), count in counts.items()
    ]


def _params(
    updated: Sequence[DatasetIdentity],
    datasets: Mapping[DatasetIdentity, DatasetState],
    recorded: Mapping[DatasetIdentity, int],
    declared: frozenset[str] | None,
) -> list[RunParam]:
    entries = []
    newest: Materialization | None = None
    for namespace, name in updated:
        state = datasets[(namespace, name)]
        entry: dict[str, object] = {
            "namespace": namespace,
            "name": name,
            "materializations": state.materializations,
            "new": state.materializations - recorded[(namespace, name)],
        }
        if state.last is not None:
            last = state.last
            entry.update(
                {
                    "time": rfc3339(last.time),
                    "workflow": last.workflow,
                    "task": last.task,
                    "partition": last.partition,
                    "runId": last.run_id,
                }
            )
            if newest is None or last.time > newest.time:
                newest = last
        entries.append(entry)
    values = {
        DATASETS_PARAM: json.dumps(entries, separators=(",", ":")),
        PARTITION_PARAM: (newest.partition if newest is not None else None) or "",
    }
    return [
        RunParam(name=key, value=value)
        for key, value in values.items()
        if declared is None or key in declared
    ]


def identity(key: DatasetKey) -> DatasetIdentity:
    return (key.namespace, key.name)
