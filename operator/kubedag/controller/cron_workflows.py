"""The CronWorkflow controller: the I/O around kubedag.engine.scheduling (issue 9).

A pass reads one CronWorkflow and its runs from the watch caches, asks
`decide_schedule` what to do, and does it in this order: create the runs, stop the
replaced ones, delete the ones past the history limits, write the status, post the events.
The status (lastScheduleTime) is written only after the runs exist: a crash in between
makes the next pass (of this or another replica) decide the same ticks again, and the run
names being deterministic, the API server answers 409 AlreadyExists instead of making a
second run. Then it asks for a pass at the next tick (`CoalescingQueue.request_later`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubedag.api import API_VERSION
from kubedag.api.cron_workflow import CronWorkflowStatus
from kubedag.controller.queue import CoalescingQueue
from kubedag.engine.dataset_triggers import DatasetIdentity, DatasetState, read_consumed
from kubedag.engine.scheduling import (
    EventReason,
    ExistingRun,
    ReadyReason,
    RunToCreate,
    ScheduleDecision,
    ScheduleEvent,
    decide_schedule,
    ready_conditions,
)
from kubedag.k8s.client import KubeApi, Rejected
from kubedag.k8s.manifests import build_run_manifest, owner_reference
from kubedag.k8s.observe import (
    CronWorkflowRecord,
    DatasetRecord,
    WorkflowRecord,
    WorkflowTemplateRecord,
    owner_uid,
)
from kubedag.names import (
    CRON_WORKFLOW_LABEL,
    DATASET_TRIGGER_ANNOTATION,
    dataset_object_name,
    event_name,
)

logger = logging.getLogger(__name__)

CronKey = tuple[str, str]  # (namespace, name)
# Runs created (and events posted) at once by one pass (catch-up All may ask for 1,000).
CREATE_CONCURRENCY = 16
# A wake-up timer fires on the event loop's clock; a little after the tick, so the pass
# finds it due on the wall clock too (one that fires early only sets a new timer).
WAKE_MARGIN_SECONDS = 0.05
RESYNC_INTERVAL_SECONDS = 60.0
# How long a run this process created counts while the Workflow watch has not shown it.
UNSEEN_RUN_MEMORY_SECONDS = 120.0


@dataclass(frozen=True)
class CronViews:
    """Live views of the watch caches: CronWorkflows by (namespace, name), every Workflow
    (runs are found by their kubedag.io/cron-workflow label), WorkflowTemplates by
    namespace."""

    cron_workflows: Mapping[CronKey, Iterable[CronWorkflowRecord]]
    workflows: Mapping[Any, Iterable[WorkflowRecord]]
    workflow_templates: Mapping[str, Iterable[WorkflowTemplateRecord]] = field(default_factory=dict)
    # Dataset objects by (namespace, object name), for dataset triggers (issue 10).
    datasets: Mapping[tuple[str, str], Iterable[DatasetRecord]] = field(default_factory=dict)


class TriggerRunExists(Exception):
    """A dataset trigger's run exists already (409) though the pass did not see it."""


class CronWorkflowController:
    def __init__(
        self, api: KubeApi, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.api = api
        self.clock = clock
        self.views: CronViews | None = None
        self.queue: CoalescingQueue[CronKey] = CoalescingQueue(self._reconcile)
        # The last status written per CronWorkflow, to write only changes.
        self._written: dict[CronKey, dict[str, Any]] = {}
        self._statuses: dict[CronKey, CronWorkflowStatus] = {}
        # Runs this process created that the Workflow watch has not shown yet: a pass that
        # came before them (the CronWorkflow's own status write asks for one) must count
        # them as active, or Forbid would start a second run.
        # Forgotten after UNSEEN_RUN_MEMORY_SECONDS (a run deleted before the watch showed it).
        self._created: dict[CronKey, dict[str, tuple[float, ExistingRun]]] = {}
        self._uids: dict[CronKey, str] = {}  # whose memory the entries above are

    def request(self, key: CronKey) -> None:
        self.queue.request(key)

    def run_changed(self, namespace: str, labels: Mapping[str, str]) -> None:
        """A Workflow changed: a pass of the CronWorkflow that made it, if one did."""
        owner = labels.get(CRON_WORKFLOW_LABEL)
        if owner:
            self.queue.request((namespace, owner))

    def namespace_changed(self, namespace: str) -> None:
        """A WorkflowTemplate of `namespace` changed: its CronWorkflows look again (one
        that waits for its template goes on at once)."""
        if self.views is None:
            return
        for cron_namespace, name in list(self.views.cron_workflows):
            if cron_namespace == namespace:
                self.queue.request((namespace, name))

    def dataset_changed(self, namespace: str, object_name: str) -> None:
        """A Dataset of `namespace` changed: a pass of each CronWorkflow there whose dataset
        trigger names it."""
        if self.views is None:
            return
        for key, records in list(self.views.cron_workflows.items()):
            if key[0] != namespace:
                continue
            for record in list(records):
                trigger = record.spec.dataset_trigger if record.spec else None
                if trigger is not None and any(
                    dataset_object_name(d.namespace, d.name) == object_name
                    for d in trigger.datasets
                ):
                    self.queue.request(key)

    def request_all(self) -> None:
        if self.views is None:
            return
        for key in list(self.views.cron_workflows):
            self.queue.request(key)

    async def resync_forever(self, interval: float = RESYNC_INTERVAL_SECONDS) -> None:
        """A safety net under the watches and timers: every CronWorkflow gets a pass now and
        then (a pass with nothing due writes nothing)."""
        while True:
            await asyncio.sleep(interval)
            self.request_all()

    # -- one pass ------------------------------------------------------------------

    async def _reconcile(self, key: CronKey, requested_at: float) -> None:
        if self.views is None:
            return
        record = next(iter(self.views.cron_workflows.get(key, ())), None)
        if record is None or record.deleting:
            # Deleted: its runs go with it (ownerReferences); nothing more to create.
            for memory in (self._written, self._statuses, self._created, self._uids):
                memory.pop(key, None)
            return
        if self._uids.get(key) != record.uid:
            # Another object of the same name (deleted and made again): nothing carries over.
            for memory in (self._written, self._statuses, self._created):
                memory.pop(key, None)
            self._uids[key] = record.uid
        if record.spec is None:
            await self._report_invalid(record, record.spec_problem or "the spec cannot be read")
            return
        spec = record.spec
        source_problem = None
        declared_params: frozenset[str] | None = None
        if spec.workflow_template_ref is not None:
            template = spec.workflow_template_ref.name
            templates = self.views.workflow_templates.get(record.namespace, ())
            found = next((known for known in templates if known.name == template), None)
            if found is None:
                source_problem = (
                    f"WorkflowTemplate {template!r} not found in namespace {record.namespace}"
                )
            else:
                declared_params = frozenset(
                    param.name for param in (found.spec.params if found.spec else None) or []
                )
        now = self.clock()
        decision = decide_schedule(
            name=record.name,
            spec=spec,
            status=self._newest_status(key, record),
            runs=self._runs(key, record),
            now=now,
            created_at=record.created_at,
            generation=record.generation,
            source_problem=source_problem,
            datasets=self._datasets(record),
            declared_params=declared_params,
        )
        rejected = await self._apply(key, record, decision)
        status, events = decision.status, decision.events
        if rejected:
            status = _not_ready(status, ReadyReason.RUN_REJECTED, rejected, now, record.generation)
            key_text = f"rejected/{rejected[:200]}"
            events = [
                *events,
                ScheduleEvent("Warning", EventReason.RUN_REJECTED, rejected, key_text),
            ]
        await self._write_status(key, record, status)
        await self._post_events(record, [*events, *self._datasets_elsewhere(record)])
        if decision.wake_at is not None:
            delay = max(0.0, (decision.wake_at - self.clock()).total_seconds())
            self.queue.request_later(key, delay + WAKE_MARGIN_SECONDS)

    def _newest_status(self, key: CronKey, record: CronWorkflowRecord) -> CronWorkflowStatus:
        """The stored status, or the one this process wrote last if the watch has not shown
        it yet (its lastScheduleTime is newer, or its dataset trigger counts more runs)."""
        ours = self._statuses.get(key)
        if ours is None:
            return record.status
        mine = ours.last_schedule_time
        stored = record.status.last_schedule_time
        if mine is not None and (stored is None or mine > stored):
            return ours
        if _trigger_runs(ours) > _trigger_runs(record.status):
            return ours
        return record.status

    def _datasets(self, record: CronWorkflowRecord) -> dict[DatasetIdentity, DatasetState]:
        """The Dataset objects the CronWorkflow's trigger names, as the watch shows them."""
        assert self.views is not None
        trigger = record.spec.dataset_trigger if record.spec else None
        found: dict[DatasetIdentity, DatasetState] = {}
        for dataset in trigger.datasets if trigger else []:
            object_name = dataset_object_name(dataset.namespace, dataset.name)
            for stored in list(self.views.datasets.get((record.namespace, object_name), ())):
                if stored.spec is not None and (stored.spec.namespace, stored.spec.name) == (
                    dataset.namespace,
                    dataset.name,
                ):
                    found[(dataset.namespace, dataset.name)] = DatasetState(
                        stored.status.materializations,
                        stored.status.last_materialization,
                        tuple(m.time for m in stored.status.history or []),
                    )
        return found

    def _datasets_elsewhere(self, record: CronWorkflowRecord) -> list[ScheduleEvent]:
        """A Warning per trigger dataset that has no Dataset object in the CronWorkflow's
        namespace but has some in others: a trigger sees its own namespace's Datasets
        only (the tasks that write a dataset make its Dataset in their namespace), so it
        would wait without a word. Posted once per dataset (the event's key)."""
        assert self.views is not None
        trigger = record.spec.dataset_trigger if record.spec else None
        events = []
        for dataset in trigger.datasets if trigger else []:
            object_name = dataset_object_name(dataset.namespace, dataset.name)
            if list(self.views.datasets.get((record.namespace, object_name), ())):
                continue
            others = sorted(
                namespace
                for namespace, name in list(self.views.datasets)
                if name == object_name and namespace != record.namespace
            )
            if not others:
                continue
            events.append(
                ScheduleEvent(
                    "Warning",
                    EventReason.DATASET_ELSEWHERE,
                    f"dataset {dataset.namespace} {dataset.name} is written in namespace(s) "
                    f"{', '.join(others[:5])}, not in {record.namespace}: a dataset trigger "
                    "sees the Datasets of its own namespace only, so its updates there "
                    "start no run",
                    key=f"elsewhere/{object_name}",
                )
            )
        return events

    def _runs(self, key: CronKey, record: CronWorkflowRecord) -> list[ExistingRun]:
        """The Workflows of the CronWorkflow's namespace carrying its label, and the runs
        this process created that the watch has not shown yet."""
        assert self.views is not None
        runs = []
        for records in list(self.views.workflows.values()):
            for workflow in list(records):
                if (
                    workflow.namespace != record.namespace
                    or workflow.labels.get(CRON_WORKFLOW_LABEL) != record.name
                    # A run of an earlier CronWorkflow of the same name (deleted and made
                    # again), left to the garbage collector or orphaned: not this one's.
                    or workflow.owner not in (None, record.uid)
                ):
                    continue
                interval = workflow.spec.data_interval if workflow.spec else None
                runs.append(
                    ExistingRun(
                        name=workflow.name,
                        interval_start=interval.start.astimezone(UTC) if interval else None,
                        phase=workflow.status.phase,
                        finished_at=workflow.status.finished_at,
                        stopping=bool(workflow.spec and workflow.spec.shutdown),
                        trigger_consumed=read_consumed(workflow.trigger_annotation),
                    )
                )
        seen = {run.name for run in runs}
        oldest = time.monotonic() - UNSEEN_RUN_MEMORY_SECONDS
        unseen = {
            name: (at, run)
            for name, (at, run) in self._created.get(key, {}).items()
            if name not in seen and at > oldest
        }
        self._created[key] = unseen
        return runs + [run for _, run in unseen.values()]

    async def _apply(
        self, key: CronKey, record: CronWorkflowRecord, decision: ScheduleDecision
    ) -> str | None:
        """Creates, stops and deletes runs; returns the API server's message when it refused
        a run as invalid (sending it again cannot succeed), else None. Other errors raise:
        the queue retries the pass, and the status is not written before the runs exist."""
        assert record.spec is not None
        spec = record.spec
        metadata = spec.workflow_metadata
        labels = {
            **((metadata.labels if metadata else None) or {}),
            CRON_WORKFLOW_LABEL: record.name,
        }
        annotations = (metadata.annotations if metadata else None) or {}
        owner = owner_reference(
            api_version=API_VERSION, kind="CronWorkflow", name=record.name, uid=record.uid
        )
        params = [param.to_wire() for param in spec.params or []]
        refusals: list[str] = []

        async def create(run: RunToCreate) -> None:
            manifest = build_run_manifest(
                name=run.name,
                namespace=record.namespace,
                interval=run.interval,
                workflow_template=(
                    spec.workflow_template_ref.name if spec.workflow_template_ref else None
                ),
                workflow_spec=None if spec.workflow_template_ref else record.workflow_spec,
                params=params,
                labels=labels,
                annotations=annotations,
                owner=owner,
            )
            try:
                # None: it exists, which is fine (an earlier pass made it, or a Backfill of
                # the same interval: that one is not this CronWorkflow's run to count).
                if await self.api.create(manifest) is not None:
                    self._created.setdefault(key, {})[run.name] = (
                        time.monotonic(),
                        ExistingRun(name=run.name, interval_start=run.interval.start, phase=None),
                    )
            except Rejected as error:
                refusals.append(f"run {run.name} refused by the API server: {error}")

        await _all(create(run) for run in decision.create)
        if decision.triggered is not None:
            triggered = decision.triggered
            given = {param["name"]: param for param in params}
            given.update({param.name: param.to_wire() for param in triggered.params})
            manifest = build_run_manifest(
                name=triggered.name,
                namespace=record.namespace,
                interval=None,
                workflow_template=(
                    spec.workflow_template_ref.name if spec.workflow_template_ref else None
                ),
                workflow_spec=None if spec.workflow_template_ref else record.workflow_spec,
                params=list(given.values()),
                labels=labels,
                annotations={**annotations, DATASET_TRIGGER_ANNOTATION: triggered.annotation},
                owner=owner,
            )
            try:
                created = await self.api.create(manifest)
            except Rejected as error:
                refusals.append(f"run {triggered.name} refused by the API server: {error}")
            else:
                if created is None:
                    holder = await self.api.get("Workflow", record.namespace, triggered.name)
                    labels = ((holder or {}).get("metadata") or {}).get("labels") or {}
                    ours = labels.get(CRON_WORKFLOW_LABEL) == record.name and owner_uid(
                        holder or {"metadata": {}}
                    ) in (None, record.uid)
                    if holder is not None and not ours:
                        # Not one of this CronWorkflow's runs (made by hand, or by an
                        # earlier CronWorkflow of the same name): it would meet 409 forever.
                        # Said, and the trigger goes on with the next number.
                        refusals.append(
                            f"run {triggered.name} not created: a Workflow of that name "
                            "exists that this CronWorkflow did not make (made by hand, or "
                            "by an earlier CronWorkflow of the same name); the updates it "
                            "was for are counted as consumed"
                        )
                        return "; ".join(refusals)
                    # It exists and the watch has not shown it: what it consumed is on it,
                    # not in this decision. No status now; the retried pass adopts it.
                    raise TriggerRunExists(triggered.name)
                self._created.setdefault(key, {})[triggered.name] = (
                    time.monotonic(),
                    ExistingRun(
                        name=triggered.name,
                        interval_start=None,
                        phase=None,
                        trigger_consumed=read_consumed(triggered.annotation),
                    ),
                )
        await _all(
            self.api.merge_patch(
                "Workflow", record.namespace, name, {"spec": {"shutdown": "Terminate"}}
            )
            for name in decision.stop
        )
        await _all(self.api.delete("Workflow", record.namespace, name) for name in decision.delete)
        return "; ".join(refusals) or None

    async def _write_status(
        self, key: CronKey, record: CronWorkflowRecord, status: CronWorkflowStatus
    ) -> None:
        # A JSON merge patch: None is sent as null, so a cleared field is removed.
        wire = status.model_dump(mode="json", by_alias=True)
        stored = record.status.model_dump(mode="json", by_alias=True)
        if wire == stored or wire == self._written.get(key):
            return
        await self.api.patch_status("CronWorkflow", record.namespace, record.name, wire)
        self._written[key] = wire
        self._statuses[key] = status

    async def _post_events(self, record: CronWorkflowRecord, events: list[ScheduleEvent]) -> None:
        regarding = {
            "apiVersion": API_VERSION,
            "kind": "CronWorkflow",
            "name": record.name,
            "namespace": record.namespace,
            "uid": record.uid,
        }
        slots = asyncio.Semaphore(CREATE_CONCURRENCY)

        async def post(event: ScheduleEvent) -> None:
            async with slots:
                await self.api.post_event(
                    regarding=regarding,
                    event_type=event.type,
                    reason=event.reason.value,
                    message=event.message,
                    name=event_name(record.name, record.uid, event.reason.value, event.key),
                )

        results = await asyncio.gather(*(post(event) for event in events), return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                # Events are what the status already says; a lost one is not retried.
                logger.warning("event on CronWorkflow %s not posted: %s", record.name, result)

    async def _report_invalid(self, record: CronWorkflowRecord, problem: str) -> None:
        status = _not_ready(
            record.status, ReadyReason.INVALID_SPEC, problem, self.clock(), record.generation
        )
        await self._write_status((record.namespace, record.name), record, status)
        event = ScheduleEvent(
            "Warning", EventReason.INVALID_SPEC, problem, f"invalid/{record.generation}"
        )
        await self._post_events(record, [event])


async def _all(coroutines: Iterable[Awaitable[Any]]) -> None:
    """Runs them, CREATE_CONCURRENCY at a time; raises the first error once all ended."""
    slots = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def bounded(coroutine: Awaitable[Any]) -> Any:
        async with slots:
            return await coroutine

    results = await asyncio.gather(*(bounded(c) for c in coroutines), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _trigger_runs(status: CronWorkflowStatus) -> int:
    return status.dataset_trigger.runs if status.dataset_trigger is not None else 0


def _not_ready(
    status: CronWorkflowStatus, reason: ReadyReason, message: str, now: datetime, generation: int
) -> CronWorkflowStatus:
    conditions = ready_conditions(status, False, reason, message, now, generation)
    return status.model_copy(update={"conditions": conditions, "observed_generation": generation})
