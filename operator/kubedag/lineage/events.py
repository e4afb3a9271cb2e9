"""OpenLineage RunEvents of kubedag's runs, derived from Workflow and Task objects (issue 10).
Pure: records in, events out; kubedag.lineage.delivery sends them.

What is sent, per the OpenLineage spec's run cycle (one START, then one of COMPLETE, FAIL
or ABORT per run; openlineage.io/docs/spec/run-cycle):

- **A Workflow run** is a run of the job `<pipeline>` (jobType DAG): START at its
  `status.startedAt`, and COMPLETE (Succeeded), ABORT (stopped or terminated: its Succeeded
  condition says `Stopped` or `Terminated`) or FAIL at its `status.finishedAt`.
- **Each attempt of a Task** (one Job) is a run of the job `<pipeline>.<task>` (jobType
  TASK), whose parent and root run is the Workflow's: START at the attempt's `startedAt`,
  then COMPLETE (the attempt that made the task Succeed), ABORT (the run was terminated
  while it ran) or FAIL (every other ended attempt) at its `finishedAt`. A fan-out item is
  one more run of its task's job, as Airflow's mapped task instances are. Skipped tasks
  have no Job and no run.

`<pipeline>` is what stays the same from one run to the next: the WorkflowTemplate a run
comes from, else the CronWorkflow that made it, else the Workflow's own name. Job
namespaces are `<base>/<Kubernetes namespace>` (base: OPENLINEAGE_NAMESPACE, default
`kubedag`), so equal pipeline names in two Kubernetes namespaces stay apart.

Every event is a function of stored fields only (uids, attempt numbers, recorded times,
reasons), so an event derived again after an operator restart is identical to the first
one: a re-sent event is a duplicate, never a new run. Run ids: kubedag.lineage.run_ids.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import attr
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    JobFacet,
    RunFacet,
    error_message_run,
    job_dependencies_run,
    job_type_job,
    nominal_time_run,
    parent_run,
    processing_engine_run,
)

from kubedag import __version__
from kubedag.api.task import Attempt, TaskPhase
from kubedag.api.workflow import WorkflowPhase
from kubedag.k8s.observe import TaskRecord, WorkflowRecord
from kubedag.names import CRON_WORKFLOW_LABEL

PRODUCER = f"https://kubedag.io/operator/v{__version__}"
DEFAULT_NAMESPACE_BASE = "kubedag"
INTEGRATION = "KUBEDAG"
ENGINE = "kubedag"
# Task attempts carry no programming language (a container runs anything); the
# ErrorMessageRunFacet requires one.
PROGRAMMING_LANGUAGE = "unknown"
# The Workflow's Succeeded condition reasons that mean someone ended the run.
_ABORT_REASONS = frozenset({"Stopped", "Terminated"})
# A Task ended by its workflow's termination (spec.shutdown: Terminate).
_TERMINATED = "Terminated"
_MAX_MESSAGE = 4000


def _client_version() -> str:
    try:
        return importlib.metadata.version("openlineage-python")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - installed with kubedag
        return "unknown"


OPENLINEAGE_CLIENT_VERSION = _client_version()


@attr.define
class KubedagRunFacet(RunFacet):
    """Where a run lives in Kubernetes: the namespace, the Workflow, and for a task attempt
    its node (fan-out items are `<task>-<index>`), attempt number and Job."""

    namespace: str
    workflow: str
    workflowUid: str
    node: str | None = attr.field(default=None)
    attempt: int | None = attr.field(default=None)
    jobName: str | None = attr.field(default=None)
    exitCode: int | None = attr.field(default=None)

    _additional_skip_redact: ClassVar[list[str]] = [
        "namespace",
        "workflow",
        "workflowUid",
        "node",
        "attempt",
        "jobName",
        "exitCode",
    ]

    @staticmethod
    def _get_schema() -> str:
        return "https://kubedag.io/spec/facets/1-0-0/KubedagRunFacet.json#/$defs/KubedagRunFacet"


@dataclass(frozen=True)
class PlannedEvent:
    """One event a run has to send: `key` names it among all the events of its Workflow
    (`<runId>/start`, `<runId>/end`, the Workflow's end with its time: a retried run
    ends again); `attempt` is None for the Workflow run's own events."""

    key: str
    event_type: RunState
    event_time: datetime
    run_id: str
    attempt: int | None = None


@dataclass(frozen=True)
class Naming:
    """How kubedag names OpenLineage jobs (see the module docstring)."""

    namespace_base: str = DEFAULT_NAMESPACE_BASE

    def job_namespace(self, kubernetes_namespace: str) -> str:
        return f"{self.namespace_base}/{kubernetes_namespace}"


def pipeline_name(workflow: WorkflowRecord) -> str:
    """The name that stays the same across the runs of one pipeline (module docstring)."""
    spec = workflow.spec
    if spec is not None and spec.workflow_template_ref is not None:
        return spec.workflow_template_ref.name
    return workflow.labels.get(CRON_WORKFLOW_LABEL) or workflow.name


def task_job_name(pipeline: str, task: str) -> str:
    return f"{pipeline}.{task}"


# -- which events a run has (cheap: no event objects are built) -------------------------


def workflow_events(workflow: WorkflowRecord, run_id: str) -> list[PlannedEvent]:
    """The Workflow run's events so far: none before it starts, START once it runs, and
    its end once its phase is final."""
    status = workflow.status
    phase = status.phase
    if phase is None or phase == WorkflowPhase.PENDING:
        return []
    started = status.started_at or status.finished_at or workflow.created_at
    if started is None:
        return []
    planned = [PlannedEvent(f"{run_id}/start", RunState.START, started, run_id)]
    if phase.is_finished:
        finished = status.finished_at or started
        planned.append(
            PlannedEvent(
                f"{run_id}/end/{_iso(finished)}", _workflow_end_type(workflow), finished, run_id
            )
        )
    return planned


def task_events(task: TaskRecord, run_id_of: Any) -> list[PlannedEvent]:
    """The events of every attempt of one Task; `run_id_of(task_uid, attempt)` gives run
    ids (kubedag.lineage.run_ids.task_attempt_run_id)."""
    status = task.task.status
    planned: list[PlannedEvent] = []
    attempts = status.attempts
    for index, attempt in enumerate(attempts):
        last = index == len(attempts) - 1
        started = attempt.started_at or attempt.finished_at or status.started_at
        if started is None:
            continue
        run_id = str(run_id_of(task.task.uid, attempt.number))
        planned.append(
            PlannedEvent(f"{run_id}/start", RunState.START, started, run_id, attempt.number)
        )
        finished = attempt.finished_at
        if finished is None and last and status.phase is not None and status.phase.is_finished:
            finished = status.finished_at or started  # ended with its run (terminated)
        if finished is None:
            continue
        planned.append(
            PlannedEvent(
                f"{run_id}/end",
                _attempt_end_type(attempt, last=last, phase=status.phase, reason=status.reason),
                max(finished, started),
                run_id,
                attempt.number,
            )
        )
    return planned


def _workflow_end_type(workflow: WorkflowRecord) -> RunState:
    if workflow.status.phase == WorkflowPhase.SUCCEEDED:
        return RunState.COMPLETE
    succeeded = next((c for c in workflow.status.conditions if c.type == "Succeeded"), None)
    if succeeded is not None and succeeded.reason in _ABORT_REASONS:
        return RunState.ABORT
    return RunState.FAIL


def _attempt_end_type(
    attempt: Attempt, *, last: bool, phase: TaskPhase | None, reason: str | None
) -> RunState:
    if last and phase == TaskPhase.SUCCEEDED:
        return RunState.COMPLETE
    if last and phase == TaskPhase.FAILED and reason == _TERMINATED:
        return RunState.ABORT
    return RunState.FAIL


# -- the events themselves -----------------------------------------------------------------


def build_workflow_event(
    planned: PlannedEvent, workflow: WorkflowRecord, naming: Naming
) -> RunEvent:
    namespace = naming.job_namespace(workflow.namespace)
    facets: dict[str, RunFacet] = {
        **_common_run_facets(workflow),
        "kubedag": KubedagRunFacet(
            namespace=workflow.namespace,
            workflow=workflow.name,
            workflowUid=workflow.uid,
            producer=PRODUCER,
        ),
    }
    if planned.event_type in (RunState.FAIL, RunState.ABORT):
        facets["errorMessage"] = _error(workflow.status.message or "the workflow failed")
    return RunEvent(
        eventType=planned.event_type,
        eventTime=_iso(planned.event_time),
        run=Run(runId=planned.run_id, facets=facets),
        job=Job(namespace=namespace, name=pipeline_name(workflow), facets=_job_facets("DAG")),
        producer=PRODUCER,
        inputs=[],
        outputs=[],
    )


def build_task_event(
    planned: PlannedEvent,
    workflow: WorkflowRecord,
    task: TaskRecord,
    *,
    workflow_run_id: str,
    upstream: Mapping[str, Sequence[tuple[str, str]]],
    naming: Naming,
) -> RunEvent:
    """The event `planned` of one of `task`'s attempts. `upstream` maps each task name of
    the workflow to its nodes' (node name, run id of the attempt that ended it) — only
    nodes that have run; a task with one node names its run in the JobDependencies facet,
    a fan-out only its job."""
    assert planned.attempt is not None
    namespace = naming.job_namespace(workflow.namespace)
    pipeline = pipeline_name(workflow)
    status = task.task.status
    attempt = next(a for a in status.attempts if a.number == planned.attempt)
    task_name = task.node_task or task.task.name
    ending = planned.event_type != RunState.START
    facets: dict[str, RunFacet] = {
        **_common_run_facets(workflow),
        "parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=workflow_run_id),
            job=parent_run.Job(namespace=namespace, name=pipeline),
            root=parent_run.Root(
                run=parent_run.RootRun(runId=workflow_run_id),
                job=parent_run.RootJob(namespace=namespace, name=pipeline),
            ),
            producer=PRODUCER,
        ),
        "kubedag": KubedagRunFacet(
            namespace=workflow.namespace,
            workflow=workflow.name,
            workflowUid=workflow.uid,
            node=task.task.name,
            attempt=attempt.number,
            jobName=attempt.job_name,
            exitCode=attempt.exit_code if ending else None,
            producer=PRODUCER,
        ),
    }
    if task.depends_on:
        facets["jobDependencies"] = job_dependencies_run.JobDependenciesRunFacet(
            upstream=[
                _dependency(namespace, pipeline, name, upstream.get(name, ()))
                for name in task.depends_on
            ],
            trigger_rule="ALL_SUCCESS",
            producer=PRODUCER,
        )
    if planned.event_type in (RunState.FAIL, RunState.ABORT):
        facets["errorMessage"] = _error(_attempt_error(attempt, status.message))
    inputs, outputs = _datasets(task) if ending else ([], [])
    return RunEvent(
        eventType=planned.event_type,
        eventTime=_iso(planned.event_time),
        run=Run(runId=planned.run_id, facets=facets),
        job=Job(
            namespace=namespace,
            name=task_job_name(pipeline, task_name),
            facets=_job_facets("TASK"),
        ),
        producer=PRODUCER,
        inputs=inputs,
        outputs=outputs,
    )


def _datasets(task: TaskRecord) -> tuple[list[InputDataset], list[OutputDataset]]:
    """The Task's recorded datasets (status.datasets: declared and reported, rendered),
    sent with the attempt's end only: they are complete then, and a START derived again
    after a restart must equal the one sent before. A dataset read or written in several
    partitions is one dataset (OpenLineage's identity is namespace and name)."""
    recorded = task.task.status.datasets
    if recorded is None:
        return [], []
    return (
        _unique([InputDataset(namespace=d.namespace, name=d.name) for d in recorded.inlets or ()]),
        _unique(
            [OutputDataset(namespace=d.namespace, name=d.name) for d in recorded.outlets or ()]
        ),
    )


def _unique(datasets: list[Any]) -> list[Any]:
    seen: set[tuple[str, str]] = set()
    kept = []
    for dataset in datasets:
        if (dataset.namespace, dataset.name) not in seen:
            seen.add((dataset.namespace, dataset.name))
            kept.append(dataset)
    return kept


def _dependency(
    namespace: str, pipeline: str, task: str, nodes: Sequence[tuple[str, str]]
) -> job_dependencies_run.JobDependency:
    run = job_dependencies_run.RunIdentifier(runId=nodes[0][1]) if len(nodes) == 1 else None
    return job_dependencies_run.JobDependency(
        job=job_dependencies_run.JobIdentifier(
            namespace=namespace, name=task_job_name(pipeline, task)
        ),
        run=run,
        dependency_type="DIRECT_INVOCATION",
        sequence_trigger_rule="FINISH_TO_START",
        status_trigger_rule="EXECUTE_ON_SUCCESS",
    )


def _common_run_facets(workflow: WorkflowRecord) -> dict[str, RunFacet]:
    facets: dict[str, RunFacet] = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=__version__,
            name=ENGINE,
            openlineageAdapterVersion=OPENLINEAGE_CLIENT_VERSION,
            producer=PRODUCER,
        )
    }
    interval = workflow.spec.data_interval if workflow.spec is not None else None
    if interval is not None:
        facets["nominalTime"] = nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=_iso(interval.start),
            nominalEndTime=_iso(interval.end),
            producer=PRODUCER,
        )
    return facets


def _job_facets(job_type: str) -> dict[str, JobFacet]:
    return {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration=INTEGRATION, jobType=job_type, producer=PRODUCER
        )
    }


def _error(message: str) -> RunFacet:
    return error_message_run.ErrorMessageRunFacet(
        message=message[:_MAX_MESSAGE], programmingLanguage=PROGRAMMING_LANGUAGE, producer=PRODUCER
    )


def _attempt_error(attempt: Attempt, task_message: str | None) -> str:
    parts = []
    if attempt.reason:
        parts.append(attempt.reason)
    if attempt.exit_code is not None:
        parts.append(f"exit code {attempt.exit_code}")
    detail = attempt.message or task_message
    head = ", ".join(parts)
    if head and detail:
        return f"{head}: {detail}"
    return head or detail or "the attempt failed"


def _iso(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, as the spec's examples write times."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
