"""Kopf wiring: the operator's startup and cleanup. What the operator knows of the cluster
comes from kubedag's own watch caches (kubedag.k8s.watch_cache), one list + watch per
resource and namespace on the operator's API client, and every change goes to the
controller from there.

Kopf's indices and event handlers did this job until issue 8: their pre-population made
startup grow with the square of the objects in the cluster (131 s to the first reconcile
with ~4,900 objects), and Kopf's per-event processing (a diff-base copy of every body,
causes, per-object workers) was ~45 % of the operator's CPU while kubedag used none of it.
Kopf persists nothing for startup and cleanup handlers (no finalizers, no annotations, no
status fields of its own), so the operator's only writes are the ones kubedag.controller
makes on purpose.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import kopf

from kubedag import frozen_watches, health, metrics
from kubedag.admission.settings import AdmissionSettings
from kubedag.api import GROUP, VERSION
from kubedag.controller.backfills import BackfillController, BackfillViews
from kubedag.controller.cron_workflows import CronKey, CronViews, CronWorkflowController
from kubedag.controller.datasets import DatasetController
from kubedag.controller.reconciler import Views, WorkflowController, WorkflowKey, workflow_key
from kubedag.k8s.client import KubeApi
from kubedag.k8s.observe import (
    BackfillRecord,
    CronWorkflowRecord,
    DatasetRecord,
    JobRecord,
    PodRecord,
    TaskRecord,
    TemplateRecord,
    WorkflowRecord,
    WorkflowTemplateRecord,
    read_backfill,
    read_cron_workflow,
    read_dataset,
    read_job,
    read_pod,
    read_task_record,
    read_template,
    read_workflow,
    read_workflow_template,
)
from kubedag.k8s.watch_cache import ApiSource, IndexedStore, Reflector, Source
from kubedag.leadership import LeaderElector
from kubedag.lineage import config as lineage_config
from kubedag.lineage.delivery import LineageDelivery, LineageViews
from kubedag.names import WORKFLOW_LABEL
from kubedag.validation import Templates

if TYPE_CHECKING:
    from kubedag.admission.server import WebhookServer

# Jobs and Pods are watched only when they carry the workflow label kubedag gives them.
OWNED = WORKFLOW_LABEL  # a label selector: the label exists
logger = logging.getLogger(__name__)
Body = Mapping[str, Any]


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # kubedag posts its own, structured events; kopf's log-to-event mirroring would double
    # the writes per task.
    settings.posting.enabled = False
    settings.peering.standalone = True
    # Kopf serves no resource now (the watch caches do): its scans and watches of CRDs and
    # namespaces, which find the resources it would serve, would only cost requests.
    settings.scanning.disabled = True
    settings.networking.request_timeout = 60
    api = KubeApi()
    admission = AdmissionSettings.from_environment()
    await _wait_until_served(api)
    # Leader election (issue 12): the caches fill on every replica, the controllers act
    # only on the leader (kubedag.leadership).
    election = memo.get("election")
    memo.elector = LeaderElector(api, election) if election is not None else None
    if memo.elector is not None:
        api.may_write = memo.elector.leading
        memo.electing = asyncio.create_task(memo.elector.run())
        stop_flag = memo.get("stop_flag")
        if stop_flag is not None:
            # SIGTERM (a rolling update, a drain): the Lease is released at once, before
            # Kopf's own shutdown, which waits for its tasks and may take long; then Kopf
            # stops. Kopf installed its handler before this one (its startup activity
            # runs once the reactor is set up), so this one replaces it.
            async def resign() -> None:
                await memo.elector.release()
                stop_flag.set()

            def on_sigterm() -> None:
                memo.resigning = asyncio.create_task(resign())

            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, on_sigterm)
    controller = WorkflowController(
        api,
        task_pod_defaults=memo.get("task_pod_defaults"),
        normal_task_events=bool(memo.get("normal_task_events")),
        service_accounts=admission.service_accounts,
    )
    memo.controller = controller
    # OpenLineage (issue 10): only when a transport is configured; otherwise nothing runs.
    client = lineage_config.make_client()
    memo.lineage = (
        LineageDelivery(api, client, lineage_config.naming()) if client is not None else None
    )
    controller.lineage = memo.lineage
    memo.cron_workflows = CronWorkflowController(api)
    memo.backfills = BackfillController(api)
    memo.datasets = DatasetController(api)
    memo.watches = frozen_watches.WatchMonitor()
    memo.caches = Caches(
        api,
        controller,
        memo.get("namespaces") or [None],
        memo.watches,
        cron_workflows=memo.cron_workflows,
        backfills=memo.backfills,
        datasets=memo.datasets,
        leadership=memo.elector.managing if memo.elector is not None else None,
        lineage=memo.lineage,
    )
    memo.caching = memo.caches.start()
    # Ready once every cache has listed: a standby is ready too (it serves the webhook and
    # takes over at once), so a rolling update with maxUnavailable 0 can proceed.
    memo.readiness = asyncio.create_task(_ready_when_listed(memo.caches))
    metrics.CLUSTER_STATE.workflows = memo.caches.workflow_samples
    metrics.CLUSTER_STATE.queues["workflows"] = controller.queue
    metrics.CLUSTER_STATE.queues["cron_workflows"] = memo.cron_workflows.queue
    metrics.CLUSTER_STATE.queues["backfills"] = memo.backfills.queue
    metrics.CLUSTER_STATE.queues["datasets"] = memo.datasets.queue
    memo.resync = asyncio.create_task(controller.resync_forever())
    memo.cron_resync = asyncio.create_task(memo.cron_workflows.resync_forever())
    if memo.lineage is not None:
        metrics.LINEAGE.delivery = memo.lineage
        memo.lineage_delivery = asyncio.create_task(memo.lineage.run())
    memo.webhook = None
    if admission.port is not None:
        # Imported here: its TLS libraries cost an operator without the webhook nothing.
        from kubedag.admission.server import WebhookServer

        memo.webhook = WebhookServer(
            admission,
            api,
            templates_in=memo.caches.templates_in,
            pod_defaults=memo.get("task_pod_defaults"),
        )
        memo.webhook_starting = asyncio.create_task(_start_webhook(memo.webhook))


async def _start_webhook(server: WebhookServer, interval: float = 5.0) -> None:
    """Starts the admission webhook, trying again until it can (the API server down, the
    certificate's Secret not writable yet): Workflows run meanwhile, checked by the
    operator itself, and the API server applies the webhook's failurePolicy."""
    while True:
        try:
            await server.start()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("admission webhook could not start; trying again in %s s", interval)
            await server.stop()
            await asyncio.sleep(interval)


# What the operator watches. Its watches start once discovery lists every one of them: an
# API server that is still starting lists some groups and not others (the chaos suite
# caught an operator that came up during an API server restart and then, under Kopf,
# served nothing, forever); a watch of a resource not served yet would only fail and retry.
WATCHED = {
    f"{GROUP}/{VERSION}": {
        "workflows",
        "tasks",
        "tasktemplates",
        "workflowtemplates",
        "cronworkflows",
        "backfills",
        "datasets",
    },
    "batch/v1": {"jobs"},
    "v1": {"pods"},
}


async def _wait_until_served(api: KubeApi, interval: float = 1.0) -> None:
    """Returns once discovery lists every watched resource; logs every 10 s meanwhile."""
    waited = 0.0
    while True:
        missing = [
            group_version
            for group_version, resources in WATCHED.items()
            if not await api.serves(group_version, resources)
        ]
        if not missing:
            return
        health.HEALTH.require("caches", "waiting for the API server to serve " + ", ".join(missing))
        if waited % 10 < interval:
            logger.warning(
                "waiting for the API server to serve %s (are the CRDs installed?)",
                ", ".join(missing),
            )
        await asyncio.sleep(interval)
        waited += interval


async def _ready_when_listed(caches: Caches) -> None:
    """/readyz passes once every watch cache has listed its objects (on a standby too)."""
    await caches.listed()
    health.HEALTH.set_ready("caches", True)


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    health.HEALTH.set_ready("caches", False, "the operator is stopping")
    memo.readiness.cancel()
    memo.resync.cancel()
    memo.cron_resync.cancel()
    if memo.get("lineage_delivery") is not None:
        memo.lineage_delivery.cancel()
    if memo.get("webhook") is not None:
        memo.webhook_starting.cancel()
        await memo.webhook.stop()
    await memo.caches.stop()
    await memo.controller.queue.stop()
    await memo.cron_workflows.queue.stop()
    await memo.backfills.queue.stop()
    await memo.datasets.queue.stop()
    if memo.get("elector") is not None:
        memo.electing.cancel()
        await memo.elector.release()
    await memo.controller.api.close()


class Caches:
    """One watch cache per watched resource (and namespace), feeding the controller.

    The controller gets its `Views` only once every cache has listed its objects: a pass
    planned from a half-filled view would not see Jobs that exist and create them again
    (the restart contract Kopf's index pre-population kept). Then every Workflow gets one
    pass, as after Kopf's initial listing. Changes before that moment update the caches
    and the controller's memory of deleted objects, and any pass they ask for waits for
    the views."""

    def __init__(
        self,
        api: KubeApi,
        controller: WorkflowController,
        namespaces: Sequence[str | None],
        monitor: frozen_watches.WatchMonitor,
        source: Callable[[str, str | None, str | None], Source] | None = None,
        cron_workflows: CronWorkflowController | None = None,
        backfills: BackfillController | None = None,
        datasets: DatasetController | None = None,
        leadership: asyncio.Event | None = None,
        lineage: LineageDelivery | None = None,
    ) -> None:
        """`source(kind, namespace, label selector)` serves one resource (tests pass
        fakes); by default the API server through `api`. With `cron_workflows`,
        CronWorkflows are watched too and feed that controller, and so do the changes of
        their runs; with `backfills` the same for Backfills. With `datasets`, Task changes
        feed that controller and Datasets are watched (they wake dataset triggers). With
        `leadership`, the controllers get their views only once it is set (this replica
        leads: issue 12); until then the caches stay filled, so a standby that takes over
        starts at once. With `lineage`, Workflow and Task changes also go to OpenLineage
        delivery (issue 10)."""
        self.leadership = leadership
        if source is None:

            def source(kind: str, namespace: str | None, labels: str | None) -> Source:
                return ApiSource(api, kind, namespace, labels=labels)

        self.controller = controller
        self.lineage = lineage
        self.workflows: IndexedStore[WorkflowKey, WorkflowRecord] = IndexedStore(index_workflow)
        self.tasks: IndexedStore[WorkflowKey, TaskRecord] = IndexedStore(index_task)
        self.jobs: IndexedStore[WorkflowKey, JobRecord] = IndexedStore(index_job)
        self.pods: IndexedStore[WorkflowKey, PodRecord] = IndexedStore(index_pod)
        self.templates: IndexedStore[str, TemplateRecord] = IndexedStore(index_template)
        self.workflow_templates: IndexedStore[str, WorkflowTemplateRecord] = IndexedStore(
            index_workflow_template
        )
        self.cron_controller = cron_workflows
        self.cron_workflows: IndexedStore[CronKey, CronWorkflowRecord] = IndexedStore(
            index_cron_workflow
        )
        self.reflectors: list[Reflector[Any, Any]] = []
        timeout = frozen_watches.INACTIVITY_TIMEOUT_SECONDS
        for namespace in namespaces:
            watched: list[tuple[str, IndexedStore[Any, Any], Any, Any, str | None]] = [
                ("Workflow", self.workflows, self.on_workflow, self.workflow_vanished, None),
                ("Task", self.tasks, self.on_task, self.task_vanished, None),
                ("Job", self.jobs, self.on_job, self.job_vanished, OWNED),
                ("Pod", self.pods, self.on_pod, self.pod_vanished, OWNED),
                ("TaskTemplate", self.templates, self.on_template, self.template_vanished, None),
                (
                    "WorkflowTemplate",
                    self.workflow_templates,
                    self.on_template,
                    self.template_vanished,
                    None,
                ),
            ]
            if cron_workflows is not None:
                watched.append(
                    (
                        "CronWorkflow",
                        self.cron_workflows,
                        self.on_cron_workflow,
                        self.cron_workflow_vanished,
                        None,
                    )
                )
            for kind, store, on_event, on_vanished, labels in watched:
                self.reflectors.append(
                    Reflector(
                        source(kind, namespace, labels),
                        store,
                        on_event=on_event,
                        on_vanished=on_vanished,
                        monitor=monitor,
                        inactivity_timeout=timeout,
                    )
                )
        # Backfills (issue 9): their own watch, and their own controller.
        self.backfills = backfills
        self.backfill_records: IndexedStore[tuple[str, str], BackfillRecord] = IndexedStore(
            index_backfill
        )
        for namespace in namespaces if backfills is not None else ():
            self.reflectors.append(
                Reflector(
                    source("Backfill", namespace, None),
                    self.backfill_records,
                    on_event=self.on_backfill,
                    on_vanished=self.backfill_vanished,
                    monitor=monitor,
                    inactivity_timeout=timeout,
                )
            )
        # Datasets (issue 10): counted by their controller from Task changes; watched for the
        # CronWorkflows' dataset triggers.
        self.datasets = datasets
        self.dataset_records: IndexedStore[tuple[str, str], DatasetRecord] = IndexedStore(
            index_dataset
        )
        for namespace in namespaces if datasets is not None else ():
            self.reflectors.append(
                Reflector(
                    source("Dataset", namespace, None),
                    self.dataset_records,
                    on_event=self.on_dataset,
                    on_vanished=self.dataset_vanished,
                    monitor=monitor,
                    inactivity_timeout=timeout,
                )
            )
        self._tasks: list[asyncio.Task[None]] = []

    def templates_in(self, namespace: str) -> Templates:
        """The namespace's TaskTemplates and WorkflowTemplates as the caches hold them (the
        admission webhook checks references against these)."""
        return Templates(
            tasks={
                record.name: record.spec
                for record in self.templates.get(namespace, ())
                if record.spec is not None
            },
            workflows={
                record.name: record.spec
                for record in self.workflow_templates.get(namespace, ())
                if record.spec is not None
            },
        )

    def workflow_samples(self) -> list[metrics.WorkflowSample] | None:
        """The Workflows for the metrics' gauges (kubedag.metrics), or None until every
        cache has listed (the controller has its views): a half-listed cache would show
        too few. Called from the scrape thread."""
        if self.controller.views is None:
            return None
        return [
            metrics.WorkflowSample(record.namespace, record.status)
            for record in self.workflows.records()
        ]

    def start(self) -> asyncio.Task[None]:
        """Starts every watch; returns the task that hands the views over once all listed."""
        self._tasks = [asyncio.create_task(reflector.run()) for reflector in self.reflectors]
        handing_over = asyncio.create_task(self._hand_over())
        self._tasks.append(handing_over)
        return handing_over

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def listed(self) -> None:
        """Returns once every watch has listed its objects."""
        await asyncio.gather(*(reflector.listed.wait() for reflector in self.reflectors))

    async def _hand_over(self) -> None:
        await self.listed()
        if self.leadership is not None and not self.leadership.is_set():
            logger.info("watch caches filled; waiting for the leadership")
            await self.leadership.wait()
        self.controller.views = Views(
            workflows=self.workflows,
            tasks=self.tasks,
            jobs=self.jobs,
            pods=self.pods,
            templates=self.templates,
            workflow_templates=self.workflow_templates,
        )
        logger.info(
            "watch caches filled: %d objects; first passes requested",
            sum(len(reflector._uids) for reflector in self.reflectors),
        )
        for records in list(self.workflows.values()):
            for record in list(records):
                self.controller.request((record.namespace, record.name))
        if self.datasets is not None:
            # The first listing tells no events: the Tasks a crash left uncounted are
            # found here.
            for (namespace, _), task_records in list(self.tasks.items()):
                for task in list(task_records):
                    self.datasets.task_seen(
                        namespace=namespace,
                        object_name=task.object_name,
                        workflow=task.workflow,
                        task=task.task.name,
                        uid=task.task.uid,
                        status=task.task.status,
                    )
        if self.cron_controller is not None:
            self.cron_controller.views = CronViews(
                cron_workflows=self.cron_workflows,
                workflows=self.workflows,
                workflow_templates=self.workflow_templates,
                datasets=self.dataset_records,
            )
            self.cron_controller.request_all()
        if self.backfills is not None:
            self.backfills.views = BackfillViews(
                self.workflows, self.backfill_records, self.workflow_templates
            )
            for key in list(self.backfill_records):
                self.backfills.request(key)
        if self.lineage is not None:
            self.lineage.views = LineageViews(self.workflows, self.tasks)
            self.lineage.request_all()

    # -- what a change asks of the controller ---------------------------------------

    def on_workflow(self, event_type: str | None, body: Body) -> None:
        metadata = body["metadata"]
        namespace = metadata.get("namespace") or ""
        self.controller.request((namespace, metadata["name"]))
        if self.lineage is not None:
            self.lineage.changed(namespace, metadata["name"])
        labels = metadata.get("labels") or {}
        if self.cron_controller is not None:
            self.cron_controller.run_changed(namespace, labels)
        if self.backfills is not None:
            self.backfills.run_changed(
                namespace, labels, has_interval=bool((body.get("spec") or {}).get("dataInterval"))
            )

    def workflow_vanished(self, key: WorkflowKey, record: WorkflowRecord) -> None:
        self.controller.request((record.namespace, record.name))
        if self.lineage is not None:
            self.lineage.changed(record.namespace, record.name)
        if self.cron_controller is not None:
            self.cron_controller.run_changed(record.namespace, record.labels)
        if self.backfills is not None:
            self.backfills.run_changed(
                record.namespace,
                record.labels,
                has_interval=record.spec is not None and record.spec.data_interval is not None,
            )

    def on_cron_workflow(self, event_type: str | None, body: Body) -> None:
        if self.cron_controller is not None:
            metadata = body["metadata"]
            self.cron_controller.request((metadata.get("namespace") or "", metadata["name"]))

    def cron_workflow_vanished(self, key: CronKey, record: CronWorkflowRecord) -> None:
        if self.cron_controller is not None:
            self.cron_controller.request(key)

    def on_backfill(self, event_type: str | None, body: Body) -> None:
        if self.backfills is not None:
            metadata = body["metadata"]
            self.backfills.request((metadata.get("namespace") or "", metadata["name"]))

    def backfill_vanished(self, key: tuple[str, str], record: BackfillRecord) -> None:
        if self.backfills is not None:
            self.backfills.request(key)

    def on_dataset(self, event_type: str | None, body: Body) -> None:
        if self.cron_controller is not None:
            metadata = body["metadata"]
            self.cron_controller.dataset_changed(metadata.get("namespace") or "", metadata["name"])

    def dataset_vanished(self, key: tuple[str, str], record: DatasetRecord) -> None:
        if self.cron_controller is not None:
            self.cron_controller.dataset_changed(*key)

    def on_task(self, event_type: str | None, body: Body) -> None:
        if self.datasets is not None:
            # A Succeeded Task whose outlets are not counted yet (also on the first listing
            # after a restart: what a crash left half done).
            if event_type == "DELETED":
                self.datasets.task_deleted(str(body["metadata"].get("uid") or ""))
            else:
                self.datasets.task_changed(body)
        # Task changes are nearly always our own status writes, already known to the
        # controller; only a deletion (by hand) needs a new pass to recreate the record.
        workflow = (body.get("spec") or {}).get("workflow")
        if self.lineage is not None and workflow and event_type != "DELETED":
            metadata = body["metadata"]
            self.lineage.task_changed(metadata.get("namespace") or "", workflow, metadata["uid"])
        if event_type == "DELETED" and workflow:
            key = (body["metadata"].get("namespace") or "", workflow)
            self.controller.task_deleted(key, read_task_record(body))

    def task_vanished(self, key: WorkflowKey, record: TaskRecord) -> None:
        self.controller.task_deleted(key, record)
        if self.datasets is not None:
            self.datasets.task_deleted(record.task.uid)

    def on_job(self, event_type: str | None, body: Body) -> None:
        namespace, label = _labelled(body)
        self.controller.request_labelled(namespace, label)

    def job_vanished(self, key: WorkflowKey, record: JobRecord) -> None:
        self.controller.request_labelled(*key)

    def on_pod(self, event_type: str | None, body: Body) -> None:
        record = read_pod(body)
        if record is None:
            return
        namespace, label = _labelled(body)
        if event_type == "DELETED":
            self.controller.pod_deleted(namespace, label, record)
        else:
            self.controller.pod_changed(namespace, label, record)

    def pod_vanished(self, key: WorkflowKey, record: PodRecord) -> None:
        self.controller.pod_deleted(*key, record)

    def on_template(self, event_type: str | None, body: Body) -> None:
        """A TaskTemplate or WorkflowTemplate changed: the runs that wait for one, or have
        not stored theirs yet, may go on (those that keep stored copies plan nothing new)."""
        self.template_vanished(body["metadata"].get("namespace") or "", None)

    def template_vanished(self, key: str, record: TemplateRecord | None) -> None:
        self.controller.request_namespace(key)
        if self.cron_controller is not None:
            self.cron_controller.namespace_changed(key)
        if self.backfills is not None:
            self.backfills.namespace_changed(key)


def _labelled(body: Body) -> tuple[str, str]:
    metadata = body["metadata"]
    return metadata.get("namespace") or "", (metadata.get("labels") or {})[WORKFLOW_LABEL]


# -- how each resource is indexed: key -> record, or None for an object not tracked ----


def index_workflow(body: Body) -> tuple[WorkflowKey, WorkflowRecord]:
    metadata = body["metadata"]
    return workflow_key(metadata.get("namespace") or "", metadata["name"]), read_workflow(body)


def index_task(body: Body) -> tuple[WorkflowKey, TaskRecord] | None:
    workflow = (body.get("spec") or {}).get("workflow")
    if not workflow:
        return None  # not made by kubedag (a Task written by hand); nothing to track
    namespace = body["metadata"].get("namespace") or ""
    return workflow_key(namespace, workflow), read_task_record(body)


def index_job(body: Body) -> tuple[WorkflowKey, JobRecord] | None:
    record = read_job(body)
    return (_labelled(body), record) if record else None


def index_pod(body: Body) -> tuple[WorkflowKey, PodRecord] | None:
    # One record per Pod, and none for a Pod on its way to running with nothing wrong.
    record = read_pod(body)
    if record is None or not record.worth_keeping:
        return None
    return _labelled(body), record


def index_cron_workflow(body: Body) -> tuple[CronKey, CronWorkflowRecord]:
    record = read_cron_workflow(body)
    return (record.namespace, record.name), record


def index_template(body: Body) -> tuple[str, TemplateRecord]:
    return body["metadata"].get("namespace") or "", read_template(body)


def index_backfill(body: Body) -> tuple[tuple[str, str], BackfillRecord]:
    record = read_backfill(body)
    return (record.namespace, record.name), record


def index_dataset(body: Body) -> tuple[tuple[str, str], DatasetRecord]:
    record = read_dataset(body)
    return (record.namespace, record.name), record


def index_workflow_template(body: Body) -> tuple[str, WorkflowTemplateRecord]:
    return body["metadata"].get("namespace") or "", read_workflow_template(body)
