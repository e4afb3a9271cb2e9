"""One reconciliation pass over one workflow: read the watched state, ask the planner,
apply its plan through the API client."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Awaitable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from kubedag import metrics
from kubedag.api import API_VERSION
from kubedag.api.common import Condition, ConditionStatus
from kubedag.api.pod import PodFields
from kubedag.api.task import TaskPhase, TaskResourceStatus
from kubedag.api.workflow import WorkflowStatus
from kubedag.controller.own_writes import CreatedObjects, WrittenValues, is_newer_or_same
from kubedag.controller.pod_creation import CreationFailures
from kubedag.controller.queue import CoalescingQueue
from kubedag.controller.stored_templates import RunDefinitions, Version
from kubedag.engine import service_accounts as service_account_rules
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
from kubedag.engine.service_accounts import UNRESTRICTED, ServiceAccountPolicy
from kubedag.engine.specs import SpecResolution, resolve_spec
from kubedag.engine.workflow_templates import RunDefinition, StoredTemplates
from kubedag.k8s.client import Conflict, KubeApi, Rejected
from kubedag.k8s.manifests import build_job_manifest, build_task_manifest
from kubedag.k8s.observe import (
    JobRecord,
    PodRecord,
    TaskRecord,
    TemplateRecord,
    WorkflowRecord,
    WorkflowTemplateRecord,
    combine_job_and_pods,
    owner_uid,
)
from kubedag.names import event_name, job_name, shorten, task_object_name

logger = logging.getLogger(__name__)

T = TypeVar("T")

# (namespace, workflow name): what a pass is about. The watches' views are grouped by
# (namespace, value of the kubedag.io/workflow label), `workflow_key`: a name longer than a
# label is cut and hashed, and a shorter name can equal that value, so one group may hold
# two Workflows; each gets its own passes (issue 6).
WorkflowKey = tuple[str, str]

RESYNC_INTERVAL_SECONDS = 30.0
# How soon a run whose template copies could not be stored (its Workflow changed since the
# version the write was conditioned on) tries again.
STORE_CONFLICT_RETRY_SECONDS = 1.0
# How soon a task whose object name is taken by another Workflow's object looks again.
NAME_TAKEN_RETRY_SECONDS = 5.0
# Objects (Tasks and Jobs) one pass creates at most; the rest wait for the next pass, so
# a 10,000-item fan-out takes turns with every other workflow instead of queueing 20,000
# creations ahead of them (issue 6).
MAX_CREATIONS_PER_PASS = 200
# In a pass with more creations than this, the Workflow is read from the API server before
# each group of this many: the watch may deliver a deletion seconds late under load, and a
# deleted run must not go on creating Jobs meanwhile (issue 6).
CREATIONS_BETWEEN_CHECKS = 50
# Workflows planned at once.
PASS_CONCURRENCY = 32
# A Task's status is not written for the start of an attempt alone until its task
# container has run for this long (or its Pod has not run 5 times this long after the Job
# was made): every short task ends sooner, and one write then records both the start and
# the end (issue 8: three writes per task — the Task, the Job, the final status). Until
# then the Task says Pending (its CRD's default); its Job exists.
START_RECORD_DELAY_SECONDS = 2.0
# A Workflow's status whose only news is its task counts (`progress`, `tasks`) is written at
# most this often: a chain of short tasks would otherwise write its Workflow once per task.
# A new phase, condition or message is written at once (issue 8).
PROGRESS_WRITE_INTERVAL_SECONDS = 5.0
# How soon a Workflow whose TTL deletion waits for its lineage events looks again.
LINEAGE_HOLD_RETRY_SECONDS = 5.0
# The fields of a Workflow's status that hold the templates the run keeps (written once,
# before anything is created; see kubedag.engine.workflow_templates).
STORED_STATUS_FIELDS = ("stored_workflow_template", "stored_task_templates")
# The condition that says whether the last pass over a Workflow went through (after
# Crossplane's `Synced`): False, with the error, while passes fail and are retried.
SYNCED = "Synced"


def workflow_key(namespace: str, workflow: str) -> WorkflowKey:
    return (namespace, shorten(workflow, 63))


class LineageHold(Protocol):
    def holds(self, workflow_uid: str) -> bool:
        """Whether the Workflow still has OpenLineage events to deliver."""
        ...


@dataclass(frozen=True)
class Views:
    """Read-only, live views of what the watches have seen, grouped by workflow."""

    workflows: Mapping[WorkflowKey, Iterable[WorkflowRecord]]
    tasks: Mapping[WorkflowKey, Iterable[TaskRecord]]
    jobs: Mapping[WorkflowKey, Iterable[JobRecord]]
    pods: Mapping[WorkflowKey, Iterable[PodRecord]]
    templates: Mapping[str, Iterable[TemplateRecord]]  # by namespace
    workflow_templates: Mapping[str, Iterable[WorkflowTemplateRecord]] = dataclasses.field(
        default_factory=dict
    )  # by namespace


class WorkflowController:
    def __init__(
        self,
        api: KubeApi,
        *,
        write_concurrency: int = 32,
        task_pod_defaults: PodFields | None = None,
        normal_task_events: bool = False,
        service_accounts: ServiceAccountPolicy = UNRESTRICTED,
        start_record_delay: float = START_RECORD_DELAY_SECONDS,
        progress_write_interval: float = PROGRESS_WRITE_INTERVAL_SECONDS,
    ) -> None:
        self.api = api
        self.start_record_delay = start_record_delay
        # Per workflow, the nodes whose start is held back (see _starts_to_record_later):
        # their Pod starting asks for a pass.
        self._held_starts: dict[WorkflowKey, frozenset[str]] = {}
        self.progress_write_interval = progress_write_interval
        self._progress_written_at: dict[WorkflowKey, float] = {}  # time.monotonic()
        # Normal Events on Tasks (TaskStarted, TaskSucceeded, TaskSkipped) cost one or two
        # writes per task and say what the Task's status already says: off unless asked
        # for (`kubedag operator --task-events=all`). Warnings are always posted (issue 8).
        self.normal_task_events = normal_task_events
        self.task_pod_defaults = task_pod_defaults  # the cluster-wide ones (the chart's)
        # Which ServiceAccounts task Pods may run as: checked here too, so the rule holds
        # without the admission webhook (issue 12).
        self.service_accounts = service_accounts
        self.views: Views | None = None
        # Passes are mostly waiting on the API server; with 8 at a time, 100 small workflows
        # finishing tasks together queued behind each other (bench-compare, issue 8). Writes
        # stay bounded by `write_concurrency` whatever the number of passes.
        self.queue: CoalescingQueue[WorkflowKey] = CoalescingQueue(
            self._reconcile, concurrency=PASS_CONCURRENCY
        )
        self._writes = asyncio.Semaphore(write_concurrency)
        self._task_statuses: WrittenValues[TaskResourceStatus] = WrittenValues()
        self._workflow_statuses: WrittenValues[WorkflowStatus] = WrittenValues()
        self._created_tasks: dict[tuple[WorkflowKey, str], ObservedTask] = {}
        self._created_jobs = CreatedObjects()
        self._name_warnings: set[tuple[WorkflowKey, str]] = set()
        # (workflow, node) -> (the Workflow's uid, the last status of its deleted Task)
        self._deleted_tasks: dict[tuple[WorkflowKey, str], tuple[str, TaskResourceStatus]] = {}
        # For each run older than this process: the names of its Jobs that ran before
        # this process started, read once (see _ran_before).
        self._started_at = datetime.now(UTC)
        self._ran_before_start: dict[WorkflowKey, frozenset[str]] = {}
        # (workflow, node, attempt) of Jobs this process created whose attempt the Task does
        # not record yet (its Running write failed or is on its way): if such a Job goes
        # away before the record is made, the attempt still counts as started.
        self._unrecorded_jobs: set[tuple[WorkflowKey, str, int]] = set()
        # When this process planned the start of the attempts it made Jobs for, until the
        # Task records them (see _with_start_time).
        self._start_times: dict[tuple[WorkflowKey, str, int], datetime] = {}
        self._deleted_jobs = CreatedObjects()
        # Per workflow: what it plans from (its templates), and the version of that.
        self._run_definitions = RunDefinitions(api)
        # Per workflow: (that version, its resolved spec).
        self._resolutions: dict[WorkflowKey, tuple[Version, SpecResolution]] = {}
        self._creation_failures = CreationFailures(api)
        # Per workflow, the nodes whose Task shows that its Pod does not run (Pending with
        # an attempt), as of the last pass: their Pod starting running needs a pass.
        self._not_running_nodes: dict[WorkflowKey, frozenset[str]] = {}
        # Per workflow, the last state of disrupted Pods that are gone: an evicted or
        # preempted Pod is deleted (and leaves the Pod index) before its Job is marked
        # failed, and it alone says why the attempt failed. Kept until the attempt's end is
        # recorded.
        self._disrupted_pods: dict[WorkflowKey, dict[tuple[str, int], PodRecord]] = {}
        # OpenLineage delivery (kubedag.lineage.delivery), when lineage is on: a finished
        # Workflow is not deleted by its TTL while it has events not delivered (issue 10).
        self.lineage: LineageHold | None = None

    def request(self, key: WorkflowKey) -> None:
        self.queue.request(key)

    def request_labelled(self, namespace: str, label: str) -> None:
        """A Job or Pod labelled kubedag.io/workflow=`label` changed: a pass for every
        Workflow whose objects carry that label."""
        for key in self._labelled(namespace, label):
            self.queue.request(key)

    def pod_changed(self, namespace: str, label: str, pod: PodRecord) -> None:
        """A Pod of the workflow changed. A pass is asked for when it has something to
        say (it ended, it was disrupted, it does not run and Kubernetes says why), or when
        its container runs while its Task still says it does not. A Pod that starts
        running normally asks for nothing: its Task already says Running."""
        for key in self._labelled(namespace, label):
            if (
                pod.termination is not None
                or pod.disruption is not None
                or pod.not_running is not None
                or (pod.started and pod.task in self._not_running_nodes.get(key, ()))
                or (pod.started and pod.task in self._held_starts.get(key, ()))
            ):
                self.queue.request(key)

    def pod_deleted(self, namespace: str, label: str, pod: PodRecord) -> None:
        """A Pod of the workflow is gone. A disrupted one is remembered: see
        `_disrupted_pods`."""
        if pod.disruption is None:
            return
        for key in self._labelled(namespace, label):
            self._disrupted_pods.setdefault(key, {})[(pod.task, pod.attempt)] = pod
            self.queue.request(key)

    def _labelled(self, namespace: str, label: str) -> list[WorkflowKey]:
        """The Workflows (namespace, name) whose objects carry kubedag.io/workflow=`label`
        (a name over 63 characters is cut for the label; another may be named like it)."""
        if self.views is None:
            return []
        return [
            (record.namespace, record.name)
            for record in list(self.views.workflows.get((namespace, label), ()))
        ]

    def task_deleted(self, key: WorkflowKey, record: TaskRecord) -> None:
        """A Task was deleted (by hand, or with its Workflow): its last status is kept so a
        Task made again for the node carries the record instead of running again."""
        if record.workflow_uid is not None and record.task.status.attempts:
            self._deleted_tasks[(key, record.task.name)] = (
                record.workflow_uid,
                record.task.status,
            )
        self.queue.request(key)

    def request_namespace(self, namespace: str) -> None:
        """A TaskTemplate or WorkflowTemplate changed: every workflow of its namespace gets
        a pass."""
        if self.views is None:
            return
        for view_key, records in list(self.views.workflows.items()):
            if view_key[0] == namespace:
                for record in list(records):
                    self.queue.request((record.namespace, record.name))

    async def resync_forever(self, interval: float = RESYNC_INTERVAL_SECONDS) -> None:
        """A safety net under the watches: every unfinished workflow gets a pass now and
        then even if no event arrives (a pass with nothing to do writes nothing), and so
        does a finished one with a Task left unfinished (issue 6)."""
        while True:
            await asyncio.sleep(interval)
            if self.views is None:
                continue
            for view_key, records in list(self.views.workflows.items()):
                for workflow in list(records):
                    if not (workflow.status.phase and workflow.status.phase.is_finished) or any(
                        record.workflow_uid == workflow.uid
                        and not (record.task.status.phase and record.task.status.phase.is_finished)
                        for record in self.views.tasks.get(view_key, ())
                    ):
                        self.queue.request((workflow.namespace, workflow.name))

    # -- one pass ------------------------------------------------------------------

    async def _reconcile(self, key: WorkflowKey, requested_at: float) -> None:
        if self.views is None:
            return
        records = [
            record
            for record in self.views.workflows.get(workflow_key(*key), ())
            if record.name == key[1]
        ]
        if not records:
            self._forget(key)
            return
        workflow = records[0]
        if workflow.deleting:
            # Being deleted (a foreground delete waits for its children): nothing more
            # starts; the garbage collector removes the rest.
            return
        started = time.perf_counter()
        state: WorkflowState | None = None
        try:
            await self._look_up_refused_pods(key, workflow)
            version, definition = self._run_definitions.definition(
                key,
                workflow,
                task_templates=self.views.templates.get(workflow.namespace, ()),
                workflow_templates=self.views.workflow_templates.get(workflow.namespace, ()),
            )
            if definition.to_store is not None and not await self._store_templates(
                key, workflow, definition.to_store
            ):
                return
            state = self._observe(key, workflow, definition)
            resolution = self._resolution(key, workflow, state, version)
            plan = plan_next_steps(
                state,
                now=datetime.now(UTC),
                resolution=resolution,
                max_new_tasks=MAX_CREATIONS_PER_PASS,
            )
            ran_before = await self._ran_before(key, workflow, plan)
            if ran_before - state.jobs_ran_before:
                state = dataclasses.replace(
                    state, jobs_ran_before=state.jobs_ran_before | ran_before
                )
                plan = plan_next_steps(
                    state,
                    now=datetime.now(UTC),
                    resolution=resolution,
                    max_new_tasks=MAX_CREATIONS_PER_PASS,
                )
            plan = _marked_synced(plan, state)
            if plan.requeue_after is not None:
                self.queue.request_later(key, plan.requeue_after)
            if not plan.is_empty:
                await self._apply(key, workflow, state, plan, requested_at)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # The error boundary of one workflow: said on the Workflow, retried with backoff
            # by the queue; other workflows go on (issue 6).
            metrics.RECONCILES.labels(outcome="error").inc()
            await self._report_failure(workflow, state, error)
            raise
        finally:
            metrics.RECONCILE_DURATION.observe(time.perf_counter() - started)
        metrics.RECONCILES.labels(outcome="changed" if not plan.is_empty else "noop").inc()
        if plan.delete_workflow:
            self._forget(key)

    async def _ran_before(
        self, key: WorkflowKey, workflow: WorkflowRecord, plan: Plan
    ) -> frozenset[tuple[str, int]]:
        """The Jobs the plan would start that already ran in this run's lifetime.

        A Job is created before its Task records the attempt. If that write was lost and the
        Job then deleted while the operator was down, nothing in the cluster's objects says
        the attempt ran, and creating the Job again would run its work twice (found by the
        chaos suite). The Job controller's SuccessfulCreate Events outlive the Job, so for a
        run older than this process, the first pass that starts Jobs reads which of its Jobs
        ran (one list of Events, once per such run), and every later Job start is checked
        against that (issue 6). Events are best effort: one the Job controller could not
        post (the API server was down) is not there to tell."""
        if not plan.start_jobs:
            return frozenset()
        if workflow.created_at is None or workflow.created_at >= self._started_at:
            return frozenset()
        ran = self._ran_before_start.get(key)
        if ran is None:
            found = await self.api.jobs_run_since(workflow.namespace, workflow.created_at)
            # Only what ran before this process: later Jobs are this process's own.
            ran = self._ran_before_start[key] = frozenset(found)
        return frozenset(
            (start.node, start.attempt)
            for start in plan.start_jobs
            if job_name(workflow.name, start.node, start.attempt) in ran
        )

    async def _report_failure(
        self, workflow: WorkflowRecord, state: WorkflowState | None, error: Exception
    ) -> None:
        """Writes a failed pass onto the Workflow: condition Synced=False with the error and
        one Warning event per distinct error. Best effort: if the API server is what
        fails, this fails too and the queue's retry tries again."""
        text = f"{type(error).__name__}: {error}"[:1000]
        message = f"a reconciliation pass failed and is retried with backoff: {text}"
        status = state.status if state is not None else workflow.status
        current = next((c for c in status.conditions if c.type == SYNCED), None)
        if current is not None and current.message == message:
            return
        conditions = statuses.set_condition(
            status.conditions,
            SYNCED,
            ConditionStatus.FALSE,
            Reason.RECONCILE_ERROR,
            message,
            datetime.now(UTC),
            workflow.generation,
        )
        try:
            await self.api.patch_status(
                "Workflow", workflow.namespace, workflow.name, {"conditions": _wire(conditions)}
            )
            await self.api.post_event(
                regarding=_regarding_workflow(workflow),
                event_type=EventType.WARNING.value,
                reason=Reason.RECONCILE_ERROR.value,
                message=message,
                name=event_name(workflow.name, workflow.uid, Reason.RECONCILE_ERROR, message),
            )
        except Exception:
            logger.warning(
                "%s/%s: could not record the failed pass on the Workflow",
                workflow.namespace,
                workflow.name,
                exc_info=True,
            )

    async def _look_up_refused_pods(self, key: WorkflowKey, workflow: WorkflowRecord) -> None:
        """Why the workflow's Jobs that have no Pod cannot create one (see
        kubedag.controller.pod_creation). Best effort: without it, a refused Pod's task
        shows Running with no reason, as it did before, until a later pass finds out."""
        assert self.views is not None
        view_key = workflow_key(*key)
        with_pods = {(pod.task, pod.attempt) for pod in self.views.pods.get(view_key, ())}
        refused = [
            job
            for job in self.views.jobs.get(view_key, ())
            if job.pod_creation_failing and (job.task, job.attempt) not in with_pods
        ]
        if not refused:
            return
        try:
            again = await self._creation_failures.refresh(workflow.namespace, refused)
        except Exception:
            logger.warning(
                "%s/%s: could not list the FailedCreate Events of its Jobs",
                workflow.namespace,
                workflow.name,
                exc_info=True,
            )
            again = RESYNC_INTERVAL_SECONDS
        if again is not None:
            self.queue.request_later(key, again)

    async def _store_templates(
        self, key: WorkflowKey, workflow: WorkflowRecord, copies: StoredTemplates
    ) -> bool:
        """Stores the copies of the templates the run uses (kubedag.controller.
        stored_templates), conditioned on the Workflow's version as this process last
        wrote or saw it. False: not stored, nothing may be created in this pass; after a
        conflict the pass comes back once the watch has shown the newer version."""
        written = self._workflow_statuses.entries.get(key)
        seen = workflow.resource_version
        known = written[0] if written and not is_newer_or_same(seen, written[0]) else seen
        try:
            stored = await self._run_definitions.store(key, workflow, copies, known_version=known)
        except Conflict:
            self.queue.request_later(key, STORE_CONFLICT_RETRY_SECONDS)
            return False
        if stored:
            logger.info(
                "%s/%s: stored the templates it runs (%s)",
                workflow.namespace,
                workflow.name,
                ", ".join(copies.status_patch()),
            )
        return stored

    def _resolution(
        self,
        key: WorkflowKey,
        workflow: WorkflowRecord,
        state: WorkflowState,
        version: Version,
    ) -> SpecResolution | None:
        """The resolved spec, computed again only when the templates it is resolved with
        may have changed: never once the run keeps stored copies of them (a run that uses
        templates stores them before it creates anything, kubedag.engine.workflow_templates),
        otherwise when one of the namespace's templates changed before the run started.
        Once it started, a run keeps the templates it started with, also across an
        operator restart: editing or deleting a template affects later runs."""
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
        if cached is None or cached[0] != version:
            resolution = resolve_spec(state.spec, state.templates)
            cached = (version, self._with_service_accounts(workflow, state, resolution))
            self._resolutions[key] = cached
        return cached[1]

    def _with_service_accounts(
        self, workflow: WorkflowRecord, state: WorkflowState, resolution: SpecResolution
    ) -> SpecResolution:
        """The resolution, or the ServiceAccounts the policy does not allow as the reasons
        the run cannot run: it fails InvalidSpec before any Job, as the webhook would have
        refused it (kubedag.engine.service_accounts)."""
        resolved, errors = resolution
        if resolved is None or errors or resolved.missing_templates or state.spec is None:
            return resolution
        problems = service_account_rules.workflow_problems(
            resolved,
            state.spec,
            namespace=workflow.namespace,
            policy=self.service_accounts,
            pod_defaults=self.task_pod_defaults,
        )
        return (None, problems) if problems else resolution

    def _observe(
        self, key: WorkflowKey, workflow: WorkflowRecord, definition: RunDefinition
    ) -> WorkflowState:
        assert self.views is not None
        # Only this Workflow's objects: after a delete and re-create under the same name, the
        # old run's Tasks, Jobs and Pods stay until the garbage collector removes them.
        tasks: dict[str, ObservedTask] = {}
        view_key = workflow_key(*key)
        for record in self.views.tasks.get(view_key, ()):
            # A Task without an owner is no run's: one orphaned by `kubectl delete workflow
            # --cascade=orphan` would give a new run of the same name the old results
            # (issue 6). Its name is taken; the node waits (NameTaken) until it is deleted.
            if record.workflow_uid != workflow.uid:
                continue
            observed = record.task
            self._created_tasks.pop((key, observed.name), None)
            self._deleted_tasks.pop((key, observed.name), None)
            status = self._task_statuses.overlay(
                (key, observed.name), record.resource_version, observed.status
            )
            if status is not observed.status:
                observed = dataclasses.replace(observed, status=status)
            tasks[observed.name] = observed
        for (created_key, name), observed in self._created_tasks.items():
            if created_key == key and name not in tasks:
                status = self._task_statuses.overlay((key, name), None, observed.status)
                tasks[name] = dataclasses.replace(observed, status=status)

        nodes_by_uid = {task.uid: name for name, task in tasks.items()}
        disrupted = self._disrupted_pods.get(key, {})
        for task_name, attempt in list(disrupted):
            recorded = tasks.get(task_name)
            if recorded is None or any(
                a.number == attempt and a.finished_at is not None for a in recorded.status.attempts
            ):
                del disrupted[(task_name, attempt)]
        # By attempt, so that each Job looks at its own Pods only: scanning every Pod for
        # every Job made a pass O(n^2) in a 10,000-task run (issue 8).
        pods_by_attempt: dict[tuple[str, int], list[PodRecord]] = {}
        for pod in [*self.views.pods.get(view_key, ()), *disrupted.values()]:
            pods_by_attempt.setdefault((pod.task, pod.attempt), []).append(pod)
        jobs: dict[tuple[str, int], ObservedJob] = {}
        for job_record in self.views.jobs.get(view_key, ()):
            job = _owned_job(job_record, workflow.name, nodes_by_uid)
            if job is None:
                continue
            self._created_jobs.seen((key, job.task, job.attempt))
            owner = tasks.get(job.task)
            if owner is not None and not any(
                attempt.number >= job.attempt for attempt in owner.status.attempts
            ):
                # Seen, not recorded (its start is held back, its write was refused, another
                # process made it): should it go away before the record is made, the attempt
                # still counts as started (the chaos suite: a Job made twice otherwise).
                self._unrecorded_jobs.add((key, job.task, job.attempt))
                job = self._with_start_time(key, job)
            refused = (
                self._creation_failures.known(workflow.namespace, job.uid)
                if job.pod_creation_failing
                else None
            )
            pods = pods_by_attempt.get((job.task, job.attempt), [])
            jobs[(job.task, job.attempt)] = combine_job_and_pods(job, pods, refused)
        self._not_running_nodes[key] = frozenset(
            name
            for name, task in tasks.items()
            if task.status.phase == TaskPhase.PENDING and task.status.attempts
        )

        workflow_status = self._workflow_statuses.overlay(
            key, workflow.resource_version, workflow.status
        ).model_copy(update=dict.fromkeys(STORED_STATUS_FIELDS))
        return WorkflowState(
            name=workflow.name,
            generation=workflow.generation,
            spec=definition.spec,
            spec_problem=workflow.spec_problem,
            spec_errors=definition.errors,
            missing_workflow_template=definition.missing_workflow_template,
            status=workflow_status,
            tasks=tasks,
            jobs=jobs,
            namespace=workflow.namespace,
            templates=definition.task_templates,
            retry_request=workflow.retry_request,
            deleted_tasks={
                node: status
                for (deleted_key, node), (uid, status) in self._deleted_tasks.items()
                if deleted_key == key and uid == workflow.uid
            },
            jobs_in_flight=frozenset(
                (node, attempt) for _, node, attempt in self._created_jobs.recent(key)
            ),
            jobs_ran_before=self._still_unrecorded(key, tasks),
        )

    def _with_start_time(self, key: WorkflowKey, job: JobRecord) -> JobRecord:
        """The Job with the start this process planned for its attempt, when it made it:
        more precise than its creationTimestamp (1 s resolution), and what the Task then
        records as the attempt's start."""
        started_at = self._start_times.get((key, job.task, job.attempt))
        return dataclasses.replace(job, created_at=started_at) if started_at else job

    def _still_unrecorded(
        self, key: WorkflowKey, tasks: Mapping[str, ObservedTask]
    ) -> frozenset[tuple[str, int]]:
        """This process's Jobs whose attempt the Task does not record yet; forgets those it
        now records."""
        found = set()
        for entry in [entry for entry in self._unrecorded_jobs if entry[0] == key]:
            _, node, attempt = entry
            task = tasks.get(node)
            if task is not None and any(a.number >= attempt for a in task.status.attempts):
                self._unrecorded_jobs.discard(entry)
                self._start_times.pop(entry, None)
            else:
                found.add((node, attempt))
        return frozenset(found)

    async def _apply(
        self,
        key: WorkflowKey,
        workflow: WorkflowRecord,
        state: WorkflowState,
        plan: Plan,
        requested_at: float,
    ) -> None:
        """Carries the plan out, in an order that keeps every step safe to repeat:

        1. Tasks and Jobs are created (at most MAX_CREATIONS_PER_PASS; the rest in the next
           pass), each only while the Workflow is still there and not being deleted.
        2. The Events of the Task statuses about to be stored are posted, under names
           derived from what they tell: after a crash or a lost write, the next pass posts
           them again and finds them there (Events at least once, never twice).
        3. Task statuses are stored, except those of nodes whose Job was not made.
        4. The Workflow's status and its Events, but never a finished run while one of its
           Task statuses is not stored (issue 6).
        5. Deletions: Jobs of stopped tasks, Jobs whose final status is stored (clean-up),
           the Workflow itself (TTL).

        One refused or failed write does not stop the others: a Job the API server rejects
        fails its task (JobRejected); a name taken by another Workflow's object holds that
        task back with a Warning; any other error is raised once the rest is done, so the
        queue retries the pass."""
        namespace = workflow.namespace
        uids = {name: task.uid for name, task in state.tasks.items()}
        # The spec the run runs: a WorkflowTemplate's serviceAccountName is its runs'.
        service_account = state.spec.service_account_name if state.spec else None
        taken: dict[str, str] = {}  # node -> the object whose name it cannot have
        rejected: dict[str, str] = {}  # node -> why the API server refused its Job
        not_started: set[str] = set()  # nodes whose Job was not made in this pass
        errors: list[BaseException] = []

        async def create_task(create: TaskCreate) -> None:
            if not self._still_wanted(key, workflow.uid):
                return
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

        async def start_job(start: JobStart) -> None:
            job_key = (key, start.node, start.attempt)
            if self._created_jobs.recently_created(job_key):
                return  # made moments ago, not delivered by the watch yet
            if start.node not in uids or not self._still_wanted(key, workflow.uid):
                not_started.add(start.node)
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
            except BaseException:
                not_started.add(start.node)
                raise
            if created is None:  # it exists: ours (a repeated start) or another Task's
                existing = await self.api.get("Job", namespace, name)
                if existing is not None and owner_uid(existing) != uids[start.node]:
                    taken[start.node] = f"Job {name}"
                    return
                self._created_jobs.remember(job_key)
                self._unrecorded_jobs.add(job_key)
                return
            self._created_jobs.remember(job_key)
            self._unrecorded_jobs.add(job_key)
            planned = plan.task_statuses.get(start.node)
            started_at = (
                next((a.started_at for a in planned.attempts if a.number == start.attempt), None)
                if planned
                else None
            )
            if started_at is not None:
                self._start_times[job_key] = started_at
            if start.ready_at is not None:
                delay = (datetime.now(UTC) - start.ready_at).total_seconds()
                metrics.TASK_START_DELAY.observe(max(0.0, delay))
            if start.attempt > 1:
                metrics.TASK_RETRIES.inc()
            waited = time.perf_counter() - requested_at
            logger.info(
                "%s/%s: started Job %s (%.0f ms after the triggering event)",
                namespace,
                workflow.name,
                name,
                1000 * waited,
            )

        async def create_and_start(create: TaskCreate | None, start: JobStart | None) -> None:
            if create is not None:
                try:
                    await create_task(create)
                except BaseException:
                    not_started.add(create.node)
                    raise
            if start is not None:
                await start_job(start)

        # Each node's Task, then at once its Job: the first Job of a wide run goes out
        # after one Task creation, not after all of them (issue 8).
        creating, starting, deferred = _within_budget(plan, MAX_CREATIONS_PER_PASS)
        starts = {start.node: start for start in starting}
        steps: list[tuple[TaskCreate | None, JobStart | None]] = [
            (create, starts.pop(create.node, None)) for create in creating
        ]
        steps += [(None, start) for start in starts.values()]
        large = len(creating) + len(starting) > CREATIONS_BETWEEN_CHECKS
        for group in _groups(steps, CREATIONS_BETWEEN_CHECKS // 2):
            if large and not await self._exists(workflow):
                return
            errors += await self._gather(create_and_start(*step) for step in group)

        task_statuses = dict(plan.task_statuses)
        events = [event for event in plan.events if event.task is not None and self._posts(event)]
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
            events += filter(self._posts, task_transition_events(node, recorded, failed))
        warnings: list[Event] = []
        for node, holder in taken.items():
            # Not ours to write; the Workflow says why, once.
            if (key, node) not in self._name_warnings:
                self._name_warnings.add((key, node))
                warnings.append(
                    Event(
                        EventType.WARNING,
                        Reason.NAME_TAKEN,
                        f"task {node!r} waits: {holder} belongs to another Workflow (an "
                        "earlier run of the same name still being deleted, or a workflow "
                        "whose name and task names join to the same object name)",
                        key=node,
                    )
                )
            self.queue.request_later(key, NAME_TAKEN_RETRY_SECONDS)
        # A node whose Job was not made keeps its stored status; the next pass plans it again.
        held = deferred | not_started | set(taken)
        held |= self._starts_to_record_later(key, state, task_statuses)
        for node in held:
            task_statuses.pop(node, None)
        events = [event for event in events if event.task not in held]
        if deferred:
            self.queue.request(key)

        told = await self._post_events(workflow, uids, events + warnings)
        errors += told.errors
        # A status goes out only once its Events are posted: a failed post holds the
        # write back, so the next pass plans the same transition and posts them again.
        for untold in told.failed:
            if untold is not None:
                task_statuses.pop(untold, None)
                held.add(untold)

        unwritten: set[str] = set()

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
                if status.phase.is_finished and status.started_at and status.finished_at:
                    ran = (status.finished_at - status.started_at).total_seconds()
                    metrics.TASK_DURATION.labels(phase=status.phase.value).observe(max(0.0, ran))

        errors += await self._gather(
            write_task_status(name, status) for name, status in task_statuses.items()
        )

        workflow_status = plan.workflow_status
        finishing = (
            workflow_status is not None
            and workflow_status.phase is not None
            and workflow_status.phase.is_finished
        )
        if finishing and (unwritten or held):
            # The run is over only once every Task says so; the next pass tries again.
            workflow_status = None
        if (
            workflow_status is not None
            and _only_progress(state.status, workflow_status)
            # The Workflow's Events of this pass (a task failed) go out with its status.
            and not any(event.task is None for event in plan.events)
        ):
            since = time.monotonic() - self._progress_written_at.get(key, -math.inf)
            if since < self.progress_write_interval:
                self.queue.request_later(key, self.progress_write_interval - since)
                workflow_status = None
        if workflow_status is not None:
            workflow_events = [event for event in plan.events if event.task is None]
            told = await self._post_events(workflow, uids, workflow_events)
            errors += told.errors
            if told.failed:
                workflow_status = None
        if workflow_status is not None:
            try:
                version = await self.api.patch_status(
                    "Workflow", namespace, workflow.name, _status_patch(workflow_status)
                )
            except Exception as error:
                errors.append(error)
                version = None
            if version is not None:
                self._workflow_statuses.remember(key, version, workflow_status)
                self._progress_written_at[key] = time.monotonic()
                phase = workflow_status.phase
                if phase and phase.is_finished and phase != state.status.phase:
                    metrics.WORKFLOWS_FINISHED.labels(namespace=namespace, phase=phase.value).inc()

        async def delete_job(name: str) -> None:
            if self._deleted_jobs.recently_created((key, name)):
                return
            await self.api.delete("Job", namespace, name)
            self._deleted_jobs.remember((key, name))

        errors += await self._gather(delete_job(name) for name in plan.delete_jobs)
        if plan.delete_workflow and self.lineage is not None and self.lineage.holds(workflow.uid):
            logger.info(
                "%s/%s: TTL passed; deleted once its OpenLineage events are delivered",
                namespace,
                workflow.name,
            )
            self.queue.request_later(key, LINEAGE_HOLD_RETRY_SECONDS)
        elif plan.delete_workflow:
            logger.info("%s/%s: deleting the finished workflow (TTL)", namespace, workflow.name)
            errors += await self._gather([self.api.delete("Workflow", namespace, workflow.name)])
        if errors:
            raise errors[0]

    def _starts_to_record_later(
        self,
        key: WorkflowKey,
        state: WorkflowState,
        task_statuses: Mapping[str, TaskResourceStatus],
    ) -> set[str]:
        """The nodes whose new status only starts an attempt, held back while its Pod's
        task container has not run yet (up to `5 * start_record_delay` seconds) and for
        `start_record_delay` seconds after it started; a pass comes back when the first of
        them is due, and when a held node's Pod starts. The Job is the attempt's record
        meanwhile: the planner counts it, adopts it, and never starts the attempt again
        (see _unrecorded_jobs and _ran_before)."""
        now = datetime.now(UTC)
        waits: dict[str, float] = {}
        for node, desired in task_statuses.items():
            recorded = state.tasks[node].status if node in state.tasks else TaskResourceStatus()
            attempt = statuses.only_starts(recorded, desired)
            if attempt is None:
                continue
            started_at = attempt.started_at or now
            job = state.jobs.get((node, attempt.number))
            if job is not None and job.started:
                since = max(started_at, job.running_since or started_at)
                wait = self.start_record_delay - (now - since).total_seconds()
            else:
                wait = 5 * self.start_record_delay - (now - started_at).total_seconds()
            if wait > 0:
                waits[node] = min(wait, self.start_record_delay)
        self._held_starts[key] = frozenset(waits)
        if waits:
            self.queue.request_later(key, max(min(waits.values()), 0.05))
        return set(waits)

    def _posts(self, event: Event) -> bool:
        """Whether this operator posts the Event (see `normal_task_events`)."""
        return self.normal_task_events or event.task is None or event.type != EventType.NORMAL

    async def _exists(self, workflow: WorkflowRecord) -> bool:
        """Whether the Workflow is still there and not being deleted, asked of the API
        server itself (one read per group of creations in a large pass)."""
        found = await self.api.get("Workflow", workflow.namespace, workflow.name)
        if found is None:
            return False
        metadata = found["metadata"]
        return bool(metadata.get("uid") == workflow.uid and not metadata.get("deletionTimestamp"))

    def _still_wanted(self, key: WorkflowKey, uid: str) -> bool:
        """Whether the Workflow is still there (same uid) and not being deleted, as the
        watch saw it a moment ago: checked before each creation, so a run deleted in the
        middle of a large pass stops creating at once (issue 6)."""
        assert self.views is not None
        return any(
            record.uid == uid and not record.deleting
            for record in self.views.workflows.get(workflow_key(*key), ())
        )

    async def _post_events(
        self, workflow: WorkflowRecord, uids: Mapping[str, str], events: list[Event]
    ) -> _Posted:
        def regarding(task: str | None) -> dict[str, Any]:
            if task is None:
                return _regarding_workflow(workflow)
            return {
                "apiVersion": API_VERSION,
                "kind": "Task",
                "name": task_object_name(workflow.name, task),
                "namespace": workflow.namespace,
                "uid": uids.get(task, ""),
            }

        posted = _Posted()

        async def post(event: Event) -> None:
            about = regarding(event.task)
            try:
                await self.api.post_event(
                    regarding=about,
                    event_type=event.type.value,
                    reason=event.reason.value,
                    message=event.message,
                    name=event_name(
                        about["name"],
                        about["uid"] or workflow.uid,
                        event.reason,
                        event.key or event.message,
                    ),
                )
            except BaseException:
                posted.failed.add(event.task)
                raise

        posted.errors = await self._gather(post(event) for event in events)
        return posted

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
        self._progress_written_at.pop(key, None)
        self._held_starts.pop(key, None)
        self._created_jobs.forget(key)
        self._deleted_jobs.forget(key)
        self._resolutions.pop(key, None)
        self._run_definitions.forget(key)
        self._not_running_nodes.pop(key, None)
        self._disrupted_pods.pop(key, None)
        self._name_warnings = {w for w in self._name_warnings if w[0] != key}
        self._ran_before_start.pop(key, None)
        self._unrecorded_jobs = {entry for entry in self._unrecorded_jobs if entry[0] != key}
        self._start_times = {k: v for k, v in self._start_times.items() if k[0] != key}
        for deleted in [k for k in self._deleted_tasks if k[0] == key]:
            del self._deleted_tasks[deleted]
        for created in [k for k in self._created_tasks if k[0] == key]:
            del self._created_tasks[created]


@dataclass
class _Posted:
    errors: list[BaseException] = dataclasses.field(default_factory=list)
    failed: set[str | None] = dataclasses.field(default_factory=set)  # their tasks


def _owned_job(job: JobRecord, workflow: str, nodes_by_uid: Mapping[str, str]) -> JobRecord | None:
    """The Job as this workflow's: the node of the Task that owns it and the attempt its
    name says. Labels can be edited by hand (`kubectl label job ... --overwrite`); a Job
    relabelled as another task's must not be taken for that task's attempt, nor its own
    task's attempt for deleted (issue 6). None when the Job is no attempt of this run."""
    node = job.task
    if job.task_uid is not None:
        owner = nodes_by_uid.get(job.task_uid)
        if owner is None:
            return None  # another run's (an earlier Workflow of the same name)
        node = owner
    prefix = f"{task_object_name(workflow, node)}-"
    suffix = job.name[len(prefix) :]
    if not job.name.startswith(prefix) or not suffix.isdigit():
        return None
    attempt = int(suffix)
    if (node, attempt) == (job.task, job.attempt):
        return job
    return dataclasses.replace(job, task=node, attempt=attempt)


def _within_budget(plan: Plan, budget: int) -> tuple[list[TaskCreate], list[JobStart], set[str]]:
    """The Task creations and Job starts of this pass, at most `budget` objects, in the
    plan's order; a node whose Task is created here gets its Job here too, so a large
    fan-out starts its first Jobs in its first pass. Returns the nodes left for later."""
    starts = {start.node: start for start in plan.start_jobs}
    creating: list[TaskCreate] = []
    used = 0
    for create in plan.create_tasks:
        cost = 2 if create.node in starts else 1
        if used + cost > budget:
            break
        creating.append(create)
        used += cost
    deferred = {create.node for create in plan.create_tasks[len(creating) :]}
    created = {create.node for create in creating}
    starting = [start for start in plan.start_jobs if start.node in created]
    for start in plan.start_jobs:
        if start.node in created or start.node in deferred:
            continue
        if used < budget:
            starting.append(start)
            used += 1
        else:
            deferred.add(start.node)
    return creating, starting, deferred


def _only_progress(stored: WorkflowStatus, desired: WorkflowStatus) -> bool:
    """Whether `desired` tells nothing beyond `stored` but task counts."""
    return desired.model_copy(update={"progress": stored.progress, "tasks": stored.tasks}) == stored


def _groups(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _status_patch(status: TaskResourceStatus | WorkflowStatus) -> dict[str, Any]:
    # A JSON merge patch: None must be sent as null so a cleared field is removed. The
    # stored template copies are written by _store_templates alone: the planner never
    # sees them, and its null would delete them.
    if isinstance(status, WorkflowStatus):
        return status.model_dump(mode="json", by_alias=True, exclude=set(STORED_STATUS_FIELDS))
    patch = status.model_dump(mode="json", by_alias=True)
    if isinstance(patch.get("datasets"), dict) and patch["datasets"].get("recordedAttempt") is None:
        # Written by kubedag.controller.datasets alone: the planner's null would clear it.
        del patch["datasets"]["recordedAttempt"]
    return patch


def _wire(conditions: list[Condition]) -> list[dict[str, Any]]:
    return [condition.model_dump(mode="json", by_alias=True) for condition in conditions]


def _regarding_workflow(workflow: WorkflowRecord) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "name": workflow.name,
        "namespace": workflow.namespace,
        "uid": workflow.uid,
    }


def _marked_synced(plan: Plan, state: WorkflowState) -> Plan:
    """After failed passes (condition Synced=False), the first pass that goes through sets
    it back to True, in the status write it makes anyway or in one of its own."""
    condition = next((c for c in state.status.conditions if c.type == SYNCED), None)
    if condition is None or condition.status == ConditionStatus.TRUE:
        return plan
    base = plan.workflow_status or state.status
    synced = statuses.set_condition(
        base.conditions,
        SYNCED,
        ConditionStatus.TRUE,
        Reason.RECONCILED,
        "",
        datetime.now(UTC),
        state.generation,
    )
    return dataclasses.replace(plan, workflow_status=base.model_copy(update={"conditions": synced}))
