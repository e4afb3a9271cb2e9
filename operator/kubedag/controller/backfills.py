"""One pass over one Backfill: read its source and its runs, ask kubedag.engine.backfilling
what to do, do it through the API client. Only I/O here; the rules are the engine's.

A pass runs when the Backfill changes, when one of its runs changes (label
kubedag.io/backfill), when any run with a data interval in its namespace changes (a
scheduled or hand-made run of one of its intervals), and every RESYNC_SECONDS while it is
not finished (a CronWorkflow it waits for is not watched here; a WorkflowTemplate's change
wakes the Backfills of its namespace).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from kubedag.api import API_VERSION
from kubedag.api.backfill import BackfillSpec, BackfillStatus
from kubedag.api.workflow import WorkflowSpec
from kubedag.controller.queue import CoalescingQueue
from kubedag.controller.reconciler import workflow_key
from kubedag.engine.backfilling import (
    RUN_CREATED,
    RUN_RECREATING,
    RUN_STOPPED,
    BackfillEvent,
    BackfillPlan,
    ExistingRun,
    PlannedRun,
    RangeTooLarge,
    intervals_in_range,
    named_intervals,
    plan_backfill,
    plan_blocked,
)
from kubedag.engine.intervals import Cadence, InvalidCadence
from kubedag.k8s.client import KubeApi, Rejected
from kubedag.k8s.manifests import build_run_manifest, owner_reference
from kubedag.k8s.observe import (
    BackfillRecord,
    ScheduleSource,
    WorkflowRecord,
    WorkflowTemplateRecord,
    read_cron_workflow_source,
)
from kubedag.names import BACKFILL_LABEL, event_name, shorten

logger = logging.getLogger(__name__)

BackfillKey = tuple[str, str]  # (namespace, name)

RESYNC_SECONDS = 30.0
# A run this process created is counted as active until the watch shows it (or this long
# has passed): a pass planned before the watch delivers it must not start another run in
# its place (maxConcurrentRuns).
CREATED_MEMORY_SECONDS = 60.0
PASS_CONCURRENCY = 4


@dataclass(frozen=True)
class BackfillViews:
    """The watch caches a pass reads: Workflows by workflow_key, Backfills by key,
    WorkflowTemplates by namespace."""

    workflows: Mapping[tuple[str, str], Iterable[WorkflowRecord]]
    backfills: Mapping[BackfillKey, Iterable[BackfillRecord]]
    workflow_templates: Mapping[str, Iterable[WorkflowTemplateRecord]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Source:
    """What the runs of one Backfill are: their base name and content."""

    base: str
    cadence: tuple[tuple[str, ...], str | None]
    workflow_template: str | None
    workflow_spec: Mapping[str, Any] | None
    params: tuple[Mapping[str, str], ...]
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


@dataclass(frozen=True)
class _Blocked:
    reason: str
    message: str


class BackfillController:
    def __init__(self, api: KubeApi, *, resync_seconds: float = RESYNC_SECONDS) -> None:
        self.api = api
        self.resync_seconds = resync_seconds
        self.views: BackfillViews | None = None
        self.queue: CoalescingQueue[BackfillKey] = CoalescingQueue(
            self._reconcile, concurrency=PASS_CONCURRENCY
        )
        # The last status written per Backfill: the watch may not have delivered it yet.
        self._written: dict[BackfillKey, tuple[str, BackfillStatus]] = {}
        self._created: dict[BackfillKey, dict[str, float]] = {}  # run name -> monotonic
        # The range's intervals and run names per Backfill, computed once per (uid,
        # generation, source).
        self._intervals: dict[BackfillKey, tuple[Any, list[PlannedRun]]] = {}

    def request(self, key: BackfillKey) -> None:
        self.queue.request(key)

    def run_changed(self, namespace: str, labels: Mapping[str, str], has_interval: bool) -> None:
        """A Workflow changed. A run of a Backfill asks for a pass of it; any other run
        with a data interval (scheduled, by hand) for a pass of every Backfill of its
        namespace, which may be waiting for it."""
        if self.views is None:
            return
        owner = labels.get(BACKFILL_LABEL)
        if owner is None and not has_interval:
            return
        for (backfill_namespace, name), _ in self.views.backfills.items():
            if backfill_namespace == namespace and (owner is None or shorten(name, 63) == owner):
                self.queue.request((namespace, name))

    def namespace_changed(self, namespace: str) -> None:
        """A WorkflowTemplate of `namespace` changed: the Backfills waiting for one go on."""
        if self.views is None:
            return
        for backfill_namespace, name in list(self.views.backfills):
            if backfill_namespace == namespace:
                self.queue.request((namespace, name))

    # -- one pass ---------------------------------------------------------------------

    async def _reconcile(self, key: BackfillKey, requested_at: float) -> None:
        if self.views is None:
            return  # the caches hand the views over, then ask for a pass of each
        record = next(iter(self.views.backfills.get(key, ())), None)
        if record is None or record.deleting:
            self._forget(key)
            return
        written = self._written.get(key)
        previous = written[1] if written and written[0] == record.uid else record.status
        if (
            previous.phase is not None
            and previous.phase.is_finished
            and previous.observed_generation == record.generation
        ):
            return  # finished until its spec changes (engine.backfilling): no request at all
        now = datetime.now(UTC)
        plan, source = await self._plan(record, previous, now)
        if source is not None:
            plan = await self._apply(record, source, plan, now)
        # The other Events (the end, a reason to wait) before the status that records it:
        # a pass retried after a failed status write posts them again under the same name,
        # which the API server refuses as existing; the other way round they could be lost.
        for event in plan.events:
            if event.run is None:
                await self._post(record, event)
        if plan.status != previous:
            rv = await self.api.patch_status(
                "Backfill",
                record.namespace,
                record.name,
                plan.status.model_dump(mode="json", by_alias=True),
            )
            if rv is None:
                self._forget(key)
                return
            self._written[key] = (record.uid, plan.status)
        if not (plan.status.phase and plan.status.phase.is_finished):
            self.queue.request_later(key, self.resync_seconds)

    async def _plan(
        self, record: BackfillRecord, previous: BackfillStatus, now: datetime
    ) -> tuple[BackfillPlan, _Source | None]:
        if record.spec is None:
            return plan_blocked(
                previous,
                reason="InvalidSpec",
                message=record.spec_problem or "the spec cannot be read",
                generation=record.generation,
                now=now,
            ), None
        source = await self._source(record, record.spec)
        intervals: list[PlannedRun] | _Blocked = (
            source if isinstance(source, _Blocked) else self._range(record, record.spec, source)
        )
        if isinstance(intervals, _Blocked):
            return plan_blocked(
                previous,
                reason=intervals.reason,
                message=intervals.message,
                generation=record.generation,
                now=now,
            ), None
        assert isinstance(source, _Source)
        plan = plan_backfill(
            record.spec,
            named=intervals,
            runs=self._runs(record, intervals),
            status=previous,
            generation=record.generation,
            now=now,
        )
        return plan, source

    async def _source(self, record: BackfillRecord, spec: BackfillSpec) -> _Source | _Blocked:
        """The Backfill's source: a CronWorkflow is read from the API server (one GET per
        pass, as a plain object: see read_cron_workflow_source), a WorkflowTemplate from
        the watch cache. A Backfill waits for a missing one; a WorkflowTemplate's arrival
        wakes it, a CronWorkflow's is seen at the next resync."""
        params = tuple(param.to_wire() for param in spec.params or [])
        if spec.cron_workflow_ref is not None:
            name = spec.cron_workflow_ref.name
            body = await self.api.get("CronWorkflow", record.namespace, name)
            if body is None:
                return _Blocked(
                    "CronWorkflowNotFound",
                    f"CronWorkflow {name!r} not found in namespace {record.namespace!r}; "
                    "the Backfill waits for it",
                )
            try:
                cron: ScheduleSource = read_cron_workflow_source(body)
            except ValueError as error:
                return _Blocked("InvalidCronWorkflow", f"CronWorkflow {name!r}: {error}")
            overridden = {param["name"] for param in params}
            return _Source(
                base=name,
                cadence=(cron.schedules, cron.time_zone),
                workflow_template=cron.workflow_template,
                workflow_spec=cron.workflow_spec,
                params=tuple(p for p in cron.params if p["name"] not in overridden) + params,
                labels=cron.labels,
                annotations=cron.annotations,
            )
        cadence = (tuple(spec.schedules or ()), spec.time_zone)
        if spec.workflow_template_ref is not None:
            name = spec.workflow_template_ref.name
            assert self.views is not None
            templates = self.views.workflow_templates.get(record.namespace, ())
            if not any(template.name == name for template in templates):
                return _Blocked(
                    "WorkflowTemplateNotFound",
                    f"WorkflowTemplate {name!r} not found in namespace {record.namespace!r}; "
                    "the Backfill waits for it",
                )
            return _Source(name, cadence, name, None, params, {}, {})
        assert spec.workflow_spec is not None
        try:
            WorkflowSpec.model_validate(spec.workflow_spec)
        except ValidationError as error:
            problem = "; ".join(
                f"spec.workflowSpec.{'.'.join(str(p) for p in issue['loc'])}: {issue['msg']}"
                for issue in error.errors()
            )
            return _Blocked("InvalidSpec", problem)
        # Runs of an inline spec are named after the Backfill itself.
        return _Source(record.name, cadence, None, spec.workflow_spec, params, {}, {})

    def _range(
        self, record: BackfillRecord, spec: BackfillSpec, source: _Source
    ) -> list[PlannedRun] | _Blocked:
        key = (record.namespace, record.name)
        identity = (record.uid, record.generation, source.cadence, source.base)
        cached = self._intervals.get(key)
        if cached is not None and cached[0] == identity:
            return cached[1]
        try:
            cadence = Cadence(source.cadence[0], source.cadence[1])
            named = named_intervals(source.base, intervals_in_range(cadence, spec.start, spec.end))
        except InvalidCadence as error:
            return _Blocked("InvalidSchedule", str(error))
        except RangeTooLarge as error:
            return _Blocked(error.reason, str(error))
        self._intervals[key] = (identity, named)
        return named

    def _runs(self, record: BackfillRecord, named: list[PlannedRun]) -> dict[str, ExistingRun]:
        """The Workflows named like the range's runs, from the watch cache (whoever made
        them), plus the runs this process created that the watch has not shown yet."""
        assert self.views is not None
        key = (record.namespace, record.name)
        created = self._created.get(key, {})
        horizon = time.monotonic() - CREATED_MEMORY_SECONDS
        runs: dict[str, ExistingRun] = {}
        for planned in named:
            name = planned.name
            found = next(
                (
                    workflow
                    for workflow in self.views.workflows.get(
                        workflow_key(record.namespace, name), ()
                    )
                    if workflow.name == name
                ),
                None,
            )
            if found is not None:
                created.pop(name, None)
                runs[name] = ExistingRun(
                    name=name,
                    phase=found.status.phase,
                    ours=found.owner == record.uid,
                    deleting=found.deleting,
                    shutdown=found.spec is not None and found.spec.shutdown is not None,
                    # Compared as instants; a run without a data interval (made by hand
                    # under the interval's name) is taken as the interval's.
                    other_interval=found.spec is not None
                    and found.spec.data_interval is not None
                    and (found.spec.data_interval.start, found.spec.data_interval.end)
                    != (planned.interval.start, planned.interval.end),
                )
            elif created.get(name, 0.0) > horizon:
                runs[name] = ExistingRun(name=name, phase=None, ours=True)
        return runs

    async def _apply(
        self, record: BackfillRecord, source: _Source, plan: BackfillPlan, now: datetime
    ) -> BackfillPlan:
        """Stops, deletes and creates what the plan says, each with its Event. A run the
        API server refuses (an inline spec the Workflow schema does not accept) blocks the
        Backfill with the server's reason; a run that already exists (409) is no error and
        gets no Event."""
        namespace = record.namespace
        # Each action's Event is posted right after it: should a later write of this pass
        # fail, the retried pass would not plan the action again, nor its Event.
        about = {(event.reason, event.run): event for event in plan.events if event.run}
        for name in plan.stop:
            await self.api.merge_patch(
                "Workflow", namespace, name, {"spec": {"shutdown": "Terminate"}}
            )
            await self._post(record, about.get((RUN_STOPPED, name)))
        for name in plan.recreate:
            await self.api.delete("Workflow", namespace, name)
            await self._post(record, about.get((RUN_RECREATING, name)))
        owner = owner_reference(
            api_version=API_VERSION, kind="Backfill", name=record.name, uid=record.uid
        )
        created = self._created.setdefault((namespace, record.name), {})
        for planned in plan.create:
            manifest = build_run_manifest(
                name=planned.name,
                namespace=namespace,
                interval=planned.interval,
                workflow_template=source.workflow_template,
                workflow_spec=source.workflow_spec,
                params=source.params,
                labels={**source.labels, BACKFILL_LABEL: shorten(record.name, 63)},
                annotations=source.annotations,
                owner=owner,
            )
            try:
                result = await self.api.create(manifest)
            except Rejected as error:
                return plan_blocked(
                    plan.status,
                    reason="RunRejected",
                    message=f"the API server refused run {planned.name}: {error}",
                    generation=record.generation,
                    now=now,
                )
            if result is not None:
                created[planned.name] = time.monotonic()
                await self._post(record, about.get((RUN_CREATED, planned.name)))
        return plan

    async def _post(self, record: BackfillRecord, event: BackfillEvent | None) -> None:
        if event is None:
            return
        await self.api.post_event(
            regarding={
                "apiVersion": API_VERSION,
                "kind": "Backfill",
                "name": record.name,
                "namespace": record.namespace,
                "uid": record.uid,
            },
            event_type=event.type.value,
            reason=event.reason,
            message=event.message,
            name=event_name(record.name, record.uid, event.reason, event.key),
        )

    def _forget(self, key: BackfillKey) -> None:
        self._written.pop(key, None)
        self._created.pop(key, None)
        self._intervals.pop(key, None)
