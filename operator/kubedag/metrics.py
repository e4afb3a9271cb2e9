"""Prometheus metrics of the operator (served by `kubedag operator --metrics-port`).

Named after Prometheus' conventions ("Metric and label naming", prometheus.io/docs/practices/
naming): a `kubedag_` prefix, base units in the name (`_seconds`), `_total` on counters.
No label holds a workflow's or a task's name (one series per run would grow without bound,
issue 11); `namespace`, `phase`, `verb`, `resource`, `outcome`, `reason` and `queue` take a
bounded set of values. docs-draft/metrics.md is the reference table.

Two kinds of values:

- counters and histograms, updated where the operator acts (kubedag.controller.reconciler,
  kubedag.k8s.client); they restart from zero with the process, which `rate()` and
  `increase()` handle;
- gauges of what exists (workflows and tasks by phase, the work queue), computed when
  Prometheus scrapes, from the watch caches and the queue the operator keeps anyway: no API
  request, and always right after a deletion or a restart (nothing to decrement, nothing to
  rebuild). Before the watch caches have listed everything, the cluster gauges are absent
  rather than wrongly zero.

The scrape runs on prometheus_client's HTTP thread while the event loop changes the caches:
the collectors read them through copies (`list()` of a dict runs without releasing the
GIL in CPython), and a copy that still meets a change is taken again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from kubedag.api.task import TaskPhase
from kubedag.api.workflow import WorkflowPhase, WorkflowStatus

logger = logging.getLogger(__name__)
T = TypeVar("T")

API_REQUESTS = Counter(
    "kubedag_api_requests_total",
    "Requests the operator sent to the Kubernetes API server, by verb (create, get, list, "
    "watch, patch, delete), resource kind and outcome (ok, exists, gone, error).",
    ["verb", "resource", "outcome"],
)
API_LATENCY = Histogram(
    "kubedag_api_request_duration_seconds",
    "Latency of the operator's requests to the Kubernetes API server.",
    ["verb", "resource"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
RECONCILES = Counter(
    "kubedag_reconciles_total",
    "Workflow reconciliations (passes), by outcome: changed, noop, error. An error pass is "
    "retried with backoff and said on the Workflow's Synced condition.",
    ["outcome"],
)
RECONCILE_DURATION = Histogram(
    "kubedag_reconcile_duration_seconds",
    "Time to plan and apply one reconciliation of one workflow.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
TASK_TRANSITIONS = Counter(
    "kubedag_task_transitions_total",
    "Task phase transitions written by the operator, by the new phase.",
    ["phase"],
)
WORKFLOWS_FINISHED = Counter(
    "kubedag_workflows_finished_total",
    "Workflows that reached a final phase (Succeeded, Failed), by namespace.",
    ["namespace", "phase"],
)
# Tasks run for seconds to hours: the buckets span 1 s to a day.
TASK_DURATION = Histogram(
    "kubedag_task_duration_seconds",
    "From a task's first attempt starting to the task finishing (retries included), for "
    "tasks that ran, by final phase (Succeeded, Failed). 1 s resolution: Kubernetes records "
    "container start and end times in seconds.",
    ["phase"],
    buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
)
# What a user waits between one task ending and the next one's Job existing: about a second
# when the operator keeps up, minutes behind a parallelism limit or a saturated operator.
TASK_START_DELAY = Histogram(
    "kubedag_task_start_delay_seconds",
    "From a task's dependencies all being done (the latest finish time among them; the "
    "run's start for a task without dependencies) to its first Job being created. Includes "
    "waits for a parallelism slot; retries and exit handlers are not counted. Finish times "
    "have 1 s resolution.",
    buckets=(0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
)
TASK_RETRIES = Counter(
    "kubedag_task_retries_total",
    "Retries started: Jobs created for a task's second or later attempt.",
)
EVENTS_POSTED = Counter(
    "kubedag_events_total",
    "Kubernetes Events the operator posted, by type (Normal, Warning) and reason.",
    ["type", "reason"],
)


# -- gauges computed at scrape time ----------------------------------------------------


def copied(read: Callable[[], Iterable[T]], tries: int = 5) -> list[T]:
    """`list(read())`, taken again when the event loop changed the collection meanwhile
    (RuntimeError: changed size during iteration); [] after `tries` such changes."""
    for _ in range(tries):
        try:
            return list(read())
        except RuntimeError:
            continue
    return []


@dataclass(frozen=True)
class WorkflowSample:
    """What the gauges need of one Workflow: its namespace and its stored status."""

    namespace: str
    status: WorkflowStatus


class QueueStats(Protocol):
    def stats(self) -> tuple[int, float, float]:
        """(requests waiting, age in seconds of the oldest waiting request, seconds the
        longest running pass has run so far); zeros when idle."""
        ...


class ClusterStateCollector(Collector):
    """The gauges of workflows, tasks and work queues. `workflows` returns the Workflows the
    watch cache holds, or None while the caches are still listing (tests pass fakes)."""

    def __init__(self) -> None:
        self.workflows: Callable[[], list[WorkflowSample] | None] | None = None
        self.queues: dict[str, QueueStats] = {}
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def describe(self) -> list[Metric]:
        return []  # collected on demand: registering must not call into the caches

    def collect(self) -> Iterator[Metric]:
        yield from self._queues()
        try:
            found = self.workflows() if self.workflows is not None else None
        except Exception:  # a scrape never breaks on a half-built view
            logger.exception("reading the watch caches for the metrics")
            return
        if found is None:
            return
        yield from self._cluster(found)

    def _cluster(self, samples: list[WorkflowSample]) -> Iterator[Metric]:
        workflows = GaugeMetricFamily(
            "kubedag_workflows",
            "Workflows by namespace and phase, as their status says (no status yet: Pending).",
            labels=["namespace", "phase"],
        )
        tasks = GaugeMetricFamily(
            "kubedag_tasks",
            "Tasks of the existing Workflows by namespace and phase, from the Workflows' "
            "status.tasks counts (written at least every 5 s while they change).",
            labels=["namespace", "phase"],
        )
        longest = GaugeMetricFamily(
            "kubedag_workflow_longest_running_seconds",
            "Seconds the longest running Workflow of the namespace has run (since its "
            "status.startedAt); 0 when none runs.",
            labels=["namespace"],
        )
        now = self.now()
        workflow_counts: dict[tuple[str, str], int] = {}
        task_counts: dict[tuple[str, str], int] = {}
        running_for: dict[str, float] = {}
        for sample in samples:
            status, namespace = sample.status, sample.namespace
            phase = status.phase or WorkflowPhase.PENDING
            for value in WorkflowPhase:
                workflow_counts.setdefault((namespace, value.value), 0)
            workflow_counts[(namespace, phase.value)] += 1
            counts = status.tasks
            for task_phase in TaskPhase:
                number = getattr(counts, task_phase.value.lower(), 0) if counts else 0
                task_counts[(namespace, task_phase.value)] = (
                    task_counts.get((namespace, task_phase.value), 0) + number
                )
            running_for.setdefault(namespace, 0.0)
            if phase == WorkflowPhase.RUNNING and status.started_at is not None:
                age = max(0.0, (now - status.started_at).total_seconds())
                running_for[namespace] = max(running_for[namespace], age)
        for (namespace, phase_value), count in sorted(workflow_counts.items()):
            workflows.add_metric([namespace, phase_value], count)
        for (namespace, phase_value), count in sorted(task_counts.items()):
            tasks.add_metric([namespace, phase_value], count)
        for namespace, seconds in sorted(running_for.items()):
            longest.add_metric([namespace], seconds)
        yield workflows
        yield tasks
        yield longest

    def _queues(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "kubedag_workqueue_depth",
            "Objects waiting for a reconciliation pass (requested, not started yet).",
            labels=["queue"],
        )
        oldest = GaugeMetricFamily(
            "kubedag_workqueue_oldest_request_age_seconds",
            "How long the oldest waiting request has waited; 0 when none waits.",
            labels=["queue"],
        )
        longest = GaugeMetricFamily(
            "kubedag_workqueue_longest_running_pass_seconds",
            "How long the longest pass still running has run; 0 when none runs.",
            labels=["queue"],
        )
        for name, queue in sorted(self.queues.items()):
            waiting, age, running = queue.stats()
            depth.add_metric([name], waiting)
            oldest.add_metric([name], age)
            longest.add_metric([name], running)
        yield depth
        yield oldest
        yield longest


CLUSTER_STATE = ClusterStateCollector()


def register(registry: CollectorRegistry = REGISTRY) -> None:
    """Adds the scrape-time gauges to `registry` (once per process: kubedag.operator_main)."""
    registry.register(CLUSTER_STATE)
    registry.register(LINEAGE)


# -- OpenLineage delivery (issue 10; kubedag.lineage.delivery) ----------------------------

LINEAGE_EVENTS = Counter(
    "kubedag_lineage_events_total",
    "OpenLineage RunEvents the transport accepted, by event type (START, COMPLETE, FAIL, "
    "ABORT). A re-sent event (after a restart) counts again.",
    ["event_type"],
)
LINEAGE_FAILURES = Counter(
    "kubedag_lineage_delivery_failures_total",
    "Sends of an OpenLineage event that the transport refused or that failed; the event is "
    "kept and sent again with backoff.",
)
LINEAGE_REJECTED = Counter(
    "kubedag_lineage_events_rejected_total",
    "OpenLineage events the backend refused as such (HTTP 400, 413, 415, 422): not sent "
    "again; the Workflow's condition LineageDelivered says so (reason EventRejected).",
)


class LineageBacklog(Protocol):
    def backlog(self) -> tuple[int, float]:
        """(events waiting to be accepted, age in seconds of the oldest of them)."""
        ...


class LineageCollector(Collector):
    """The backlog of OpenLineage events; absent while lineage is off (nothing configured)."""

    def __init__(self) -> None:
        self.delivery: LineageBacklog | None = None

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        if self.delivery is None:
            return
        waiting, age = self.delivery.backlog()
        yield GaugeMetricFamily(
            "kubedag_lineage_backlog_events",
            "OpenLineage events derived from the runs and not yet accepted by the transport.",
            value=waiting,
        )
        yield GaugeMetricFamily(
            "kubedag_lineage_oldest_pending_event_age_seconds",
            "How long the oldest OpenLineage event not yet accepted has waited; 0 when none.",
            value=age,
        )


LINEAGE = LineageCollector()
