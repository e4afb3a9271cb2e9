"""One reconciliation pass over one workflow: read the watched state, ask the planner,
apply its plan through the API client."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubedag import metrics
from kubedag.api import API_VERSION
from kubedag.api.pod import PodFields
from kubedag.api.task import TaskPhase, TaskResourceStatus
from kubedag.api.workflow import WorkflowStatus
from kubedag.controller.own_writes import CreatedObjects, WrittenValues
from kubedag.controller.queue import CoalescingQueue
from kubedag.engine import statuses
from kubedag.engine.events import task_transition_events
from kubedag.engine.observations import ObservedJob, ObservedTask
from kubedag.engine.plan import (
    Event,
    EventType,
    JobStart,
    Plan,
    Reason,
    TaskCreate,
    WorkflowState,
)
from kubedag.engine.planning import plan_next_steps
from kubedag.engine.specs import SpecResolution, resolve_spec
from kubedag.k8s.client import KubeApi, Rejected
from kubedag.k8s.manifests import build_job_manifest, build_task_manifest
from kubedag.k8s.observe import (
    JobRecord,
    PodTermination,
    TaskRecord,
    TemplateRecord,
    WorkflowRecord,
    combine_job_and_pods,
    owner_uid,
)
from kubedag.names import shorten, task_object_name

logger = logging.getLogger(__name__)

# (namespace, value of the kubedag.io/workflow label)
WorkflowKey = tuple[str, str]

RESYNC_INTERVAL_SECONDS = 30.0
# How soon a task whose object name is taken by another Workflow's object looks again.
NAME_TAKEN_RETRY_SECONDS = 5.0


def workflow_key(namespace: str, workflow: str) -> WorkflowKey:
    return (namespace, shorten(workflow, 63))


@dataclass(frozen=True)
class Views:
    """Read-only, live views of what the watches have seen, grouped by workflow."""

    workflows: Mapping[WorkflowKey, Iterable[WorkflowRecord]]
    tasks: Mapping[WorkflowKey, Iterable[TaskRecord]]
    jobs: Mapping[WorkflowKey, Iterable[JobRecord]]
    pods: Mapping[WorkflowKey, Iterable[PodTermination]]
    templates: Mapping[str, Iterable[TemplateRecord]]  # by namespace


class WorkflowController:
    def __init__(
        self,
        api: KubeApi,
        *,
        write_concurrency: int = 32,
        task_pod_defaults: PodFields | None = None,
    ) -> None:
        self.api = api
        self.task_pod_defaults = task_pod_defaults  # the cluster-wide ones (the chart's)
        self.views: Views | None = None
        self.queue: CoalescingQueue[WorkflowKey] = CoalescingQueue(self._reconcile)
        self._writes = asyncio.Semaphore(write_concurrency)
        self._task_statuses: WrittenValues[TaskResourceStatus] = WrittenValues()
        self._workflow_statuses: WrittenValues[WorkflowStatus] = WrittenValues()
        self._created_tasks: dict[tuple[WorkflowKey, str], ObservedTask] = {}
        self._created_jobs = CreatedObjects()
        self._name_warnings: set[tuple[WorkflowKey, str]] = set()
        self._deleted_jobs = CreatedObjects()
        # Per workflow: ((uid, generation, template versions), its resolved spec).
        self._resolutions: dict[WorkflowKey, tuple[tuple[Any, ...], SpecResolution]] = {}

    def request(self, key: WorkflowKey) -> None:
        self.queue.request(key)

    def request_namespace(self, namespace: str) -> None:
        """A TaskTemplate changed: every workflow of its namespace gets a pass."""
        if self.views is None:
            return
        for key in list(self.views.workflows):
            if key[0] == namespace:
                self.queue.request(key)

    async def resync_forever(self, interval: float = RESYNC_INTERVAL_SECONDS) -> None:
        """A safety net under the watches: every unfinished workflow gets a pass now and
        then even if no event arrives (a pass with nothing to do writes nothing)."""
        while True:
            await asyncio.sleep(interval)
            if self.views is None:
                continue
            for key, records in list(self.views.workflows.items()):
                if any(not (r.status.phase and r.status.phase.is_finished) for r in records):
                    self.queue.request(key)

    # -- one pass ------------------------------------------------------------------

    async def _reconcile(self, key: WorkflowKey, requested_at: float) -> None:
        if self.views is None:
            return
        records = list(self.views.workflows.get(key, ()))
        if not records:
            self._forget(key)
            return
        workflow = records[0]
        started = time.perf_counter()
        state = self._observe(key, workflow)
        plan = plan_next_steps(
            state, now=datetime.now(UTC), resolution=self._resolution(key, workflow, state)
        )
        if plan.requeue_after is not None:
            self.queue.request_later(key, plan.requeue_after)
        try:
            if not plan.is_empty:
                await self._apply(key, workflow, state, plan, requested_at)
        except Exception:
            metrics.RECONCILES.labels(outcome="error").inc()
            raise
        finally:
            metrics.RECONCILE_DURATION.observe(time.perf_counter() - started)
        metrics.RECONCILES.labels(outcome="changed" if not plan.is_empty else "noop").inc()
        if plan.delete_workflow:
            self._forget(key)

    def _resolution(
        self, key: WorkflowKey, workflow: WorkflowRecord, state: WorkflowState
    ) -> SpecResolution | None:
        """The resolved spec, computed again only when one of the namespace's TaskTemplates
        changed before the run started. Once it started, a run keeps the templates it
        started with: editing or deleting a TaskTemplate affects later runs, not this one
        (the resolved part of a spec — tasks, params, onExit — cannot change after
        creation). An operator restart resolves again from the TaskTemplates of the day."""
        if state.spec is None:
            return None
        assert self.views is not None
        cached = self._resolutions.get(key)
        if (
            cached is not None
            and cached[0][0] == workflow.uid
            and state.status.started_at is not None
            and cached[1][0] is not None
            and not cached[1][0].missing_templates
        ):
            return cached[1]
        templates = tuple(
            sorted(
                (record.name, record.resource_version)
                for record in self.views.templates.get(workflow.namespace, ())
            )
        )
        version = (workflow.uid, workflow.generation, templates)
        if cached is None or cached[0] != version:
            cached = (version, resolve_spec(state.spec, state.templates))
            self._resolutions[key] = cached
        return cached[1]

    def _observe(self, key: WorkflowKey, workflow: WorkflowRecord) -> WorkflowState:
        assert self.views is not None
        # Only this Workflow's objects: after a delete and re-create under the same name, the
        # old run's Tasks, Jobs and Pods stay until the garbage collector removes them.
        tasks: dict[str, ObservedTask] = {}
        for record in self.views.tasks.get(key, ()):
            if record.workflow_uid is not None and record.workflow_uid != workflow.uid:
                continue
            observed = record.task
            self._created_tasks.pop((key, observed.name), None)
            status = self._task_statuses.overlay(
                (key, observed.name), record.resource_version, observed.status
            )
            tasks[observed.name] = dataclasses.replace(observed, status=status)
        for (created_key, name), observed in self._created_tasks.items():
            if created_key == key and name not in tasks:
                status = self._task_statuses.overlay((key, name), None, observed.status)
                tasks[name] = dataclasses.replace(observed, status=status)

        task_uids = {task.uid for task in tasks.values()}
        terminations = list(self.views.pods.get(key, ()))
        jobs: dict[tuple[str, int], ObservedJob] = {}
        for job in self.views.jobs.get(key, ()):
            if job.task_uid is not None and job.task_uid not in task_uids:
                continue
            self._created_jobs.seen((key, job.task, job.attempt))
            jobs[(job.task, job.attempt)] = combine_job_and_pods(job, terminations)

        workflow_status = self._workflow_statuses.overlay(
            key, workflow.resource_version, workflow.status
        )
        return WorkflowState(
            name=workflow.name,
            generation=workflow.generation,
            spec=workflow.spec,
            spec_problem=workflow.spec_problem,
            status=workflow_status,
            tasks=tasks,
            jobs=jobs,
            namespace=workflow.namespace,
            templates={
                record.name: record.spec
                for record in self.views.templates.get(workflow.namespace, ())
                if record.spec is not None
            },
            retry_request=workflow.retry_request,
        )

    async def _apply(
        self,
        key: WorkflowKey,
        workflow: WorkflowRecord,
        state: WorkflowState,
        plan: Plan,
        requested_at: float,
    ) -> None:
        """Carries the plan out. One refused or failed write does not stop the others: a
        Job the API server rejects fails its task (reason JobRejected); a name taken by
        another Workflow's object holds that task back with a Warning; any other error is
        raised once everything else is written, so the queue retries the pass."""
        namespace = workflow.namespace
        uids = {name: task.uid for name, task in state.tasks.items()}
        service_account = workflow.spec.service_account_name if workflow.spec else None
        taken: dict[str, str] = {}  # node -> the object whose name it cannot have
        rejected: dict[str, str] = {}  # node -> why the API server refused its Job
        errors: list[BaseException] = []

        async def create_task(create: TaskCreate) -> None:
            manifest = build_task_manifest(
                spec=create.spec, workflow_uid=workflow.uid, namespace=namespace
            )
            name = manifest["metadata"]["name"]
            created = await self.api.create(manifest) or await self.api.get("Task", namespace, name)
            if created is None:
                raise RuntimeError(f"Task {name} vanished right after creation")
            if owner_uid(created) != workflow.uid:
                taken[create.node] = f"Task {name}"
                return
            uids[create.node] = created["metadata"]["uid"]
            self._created_tasks[(key, create.node)] = ObservedTask(
                create.node, uids[create.node], TaskResourceStatus()
            )

        errors += await self._gather(create_task(create) for create in plan.create_tasks)

        async def start_job(start: JobStart) -> None:
            job_key = (key, start.node, start.attempt)
            if start.node not in uids or self._created_jobs.recently_created(job_key):
                return
            manifest = build_job_manifest(
                task=start.spec,
                task_uid=uids[start.node],
                namespace=namespace,
                attempt=start.attempt,
                service_account_name=service_account,
                pod_defaults=self.task_pod_defaults,
            )
            name = manifest["metadata"]["name"]
            try:
                created = await self.api.create(manifest)
            except Rejected as refusal:
                rejected[start.node] = f"the API server refused Job {name}: {refusal}"
                return
            if created is None:  # it exists: ours (a repeated start) or another Task's
                existing = await self.api.get("Job", namespace, name)
                if existing is not None and owner_uid(existing) != uids[start.node]:
                    taken[start.node] = f"Job {name}"
                    return
                self._created_jobs.remember(job_key)
                return
            self._created_jobs.remember(job_key)
            waited = time.perf_counter() - requested_at
            metrics.JOB_START_LATENCY.observe(waited)
            logger.info(
                "%s/%s: started Job %s (%.0f ms after the triggering event)",
                namespace,
                workflow.name,
                name,
                1000 * waited,
            )

        errors += await self._gather(start_job(start) for start in plan.start_jobs)
        task_statuses = dict(plan.task_statuses)
        events = list(plan.events)
        for node, reason in rejected.items():
            recorded = state.tasks[node].status if node in state.tasks else TaskResourceStatus()
            failed = statuses.finished(
                task_statuses.get(node) or recorded,
                TaskPhase.FAILED,
                Reason.JOB_REJECTED,
                reason,
                datetime.now(UTC),
            )
            task_statuses[node] = failed
            events = [event for event in events if event.task != node]
            events += task_transition_events(node, recorded, failed)
        warnings: list[Event] = []
        for node, holder in taken.items():
            # Not ours to write; the Workflow says why, once.
            task_statuses.pop(node, None)
            events = [event for event in events if event.task != node]
            if (key, node) not in self._name_warnings:
                self._name_warnings.add((key, node))
                warnings.append(
                    Event(
                        EventType.WARNING,
                        Reason.NAME_TAKEN,
                        f"task {node!r} waits: {holder} belongs to another Workflow (an "
                        "earlier run of the same name still being deleted, or a workflow "
                        "whose name and task names join to the same object name)",
                    )
                )
            self.queue.request_later(key, NAME_TAKEN_RETRY_SECONDS)

        async def delete_job(name: str) -> None:
            if self._deleted_jobs.recently_created((key, name)):
                return
            await self.api.delete("Job", namespace, name)
            self._deleted_jobs.remember((key, name))

        errors += await self._gather(delete_job(name) for name in plan.delete_jobs)

        unwritten: set[str | None] = set()

        async def write_task_status(name: str, status: TaskResourceStatus) -> None:
            try:
                version = await self.api.patch_status(
                    "Task", namespace, task_object_name(workflow.name, name), _status_patch(status)
                )
            except BaseException:
                unwritten.add(name)
                raise
            if version is None:
                unwritten.add(name)
                return
            self._task_statuses.remember((key, name), version, status)
            previous = state.tasks.get(name)
            if status.phase and (previous is None or previous.status.phase != status.phase):
                metrics.TASK_TRANSITIONS.labels(phase=status.phase.value).inc()

        errors += await self._gather(
            write_task_status(name, status) for name, status in task_statuses.items()
        )

        if plan.workflow_status is not None:
            try:
                version = await self.api.patch_status(
                    "Workflow", namespace, workflow.name, _status_patch(plan.workflow_status)
                )
            except Exception as error:
                errors.append(error)
                version = None
            if version is None:
                unwritten.add(None)
            else:
                self._workflow_statuses.remember(key, version, plan.workflow_status)
                phase = plan.workflow_status.phase
                if phase and phase.is_finished and phase != state.status.phase:
                    metrics.WORKFLOWS_FINISHED.labels(phase=phase.value).inc()

        def regarding(task: str | None) -> dict[str, Any]:
            if task is None:
                return {
                    "apiVersion": API_VERSION,
                    "kind": "Workflow",
                    "name": workflow.name,
                    "namespace": namespace,
                    "uid": workflow.uid,
                }
            return {
                "apiVersion": API_VERSION,
                "kind": "Task",
                "name": task_object_name(workflow.name, task),
                "namespace": namespace,
                "uid": uids.get(task, ""),
            }

        if plan.delete_workflow:
            logger.info("%s/%s: deleting the finished workflow (TTL)", namespace, workflow.name)
            errors += await self._gather([self.api.delete("Workflow", namespace, workflow.name)])

        # An event goes out with the status write it tells of; when that write did not
        # happen, the next pass plans the same transition and its events again.
        told = [event for event in events if event.task not in unwritten] + warnings
        errors += await self._gather(
            self.api.post_event(
                regarding=regarding(event.task),
                event_type=event.type.value,
                reason=event.reason.value,
                message=event.message,
            )
            for event in told
        )
        if errors:
            raise errors[0]

    async def _gather(self, coroutines: Iterable[Awaitable[Any]]) -> list[BaseException]:
        """Runs the writes (a bounded number at a time); returns the errors, in order."""

        async def bounded(coroutine: Awaitable[Any]) -> Any:
            async with self._writes:
                return await coroutine

        results = await asyncio.gather(*(bounded(c) for c in coroutines), return_exceptions=True)
        return [result for result in results if isinstance(result, BaseException)]

    def _forget(self, key: WorkflowKey) -> None:
        self._task_statuses.forget(key)
        self._workflow_statuses.entries.pop(key, None)
        self._created_jobs.forget(key)
        self._deleted_jobs.forget(key)
        self._resolutions.pop(key, None)
        self._name_warnings = {w for w in self._name_warnings if w[0] != key}
        for created in [k for k in self._created_tasks if k[0] == key]:
            del self._created_tasks[created]


def _status_patch(status: TaskResourceStatus | WorkflowStatus) -> dict[str, Any]:
    # A JSON merge patch: None must be sent as null so a cleared field is removed.
    return status.model_dump(mode="json", by_alias=True)
