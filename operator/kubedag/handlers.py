"""Kopf wiring, and nothing else: indices that keep what the watches saw, and event
handlers that ask for a reconciliation pass of the workflow concerned.

Only indexing and event handlers are used. Kopf persists nothing for those (no finalizers,
no annotations, no status fields of its own), so the operator's only writes are the ones
kubedag.controller makes on purpose.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from kubedag import frozen_watches
from kubedag.api import GROUP, VERSION
from kubedag.controller.reconciler import Views, WorkflowController, WorkflowKey, workflow_key
from kubedag.k8s.client import KubeApi
from kubedag.k8s.observe import (
    JobRecord,
    PodRecord,
    TaskRecord,
    TemplateRecord,
    WorkflowRecord,
    read_job,
    read_pod,
    read_task_record,
    read_template,
    read_workflow,
)
from kubedag.names import WORKFLOW_LABEL

OWNED = {WORKFLOW_LABEL: kopf.PRESENT}
logger = logging.getLogger(__name__)


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # kubedag posts its own, structured events; kopf's log-to-event mirroring would double
    # the writes per task.
    settings.posting.enabled = False
    settings.peering.standalone = True
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    # Kopf restarts a watch that delivered nothing for this long; frozen_watches logs a
    # WARNING when the restart shows the watch was frozen rather than quiet.
    settings.watching.inactivity_timeout = frozen_watches.INACTIVITY_TIMEOUT_SECONDS
    memo.watches = frozen_watches.WatchMonitor(timeout=settings.watching.inactivity_timeout)
    frozen_watches.install(memo.watches)
    settings.networking.request_timeout = 60
    # Kopf keeps one worker per object that saw an event, lingering `idle_timeout` seconds.
    # A cap on workers plus a long linger throttles a burst (a namespace of 600 objects
    # deleted at once) to a few objects per second; measured in bench/scale.py.
    settings.queueing.worker_limit = None
    settings.queueing.idle_timeout = 1.0
    api = KubeApi()
    await _wait_until_served(api)
    memo.controller = WorkflowController(
        api,
        task_pod_defaults=memo.get("task_pod_defaults"),
        normal_task_events=bool(memo.get("normal_task_events")),
    )
    memo.resync = asyncio.create_task(memo.controller.resync_forever())


# What the operator watches. Kopf resolves them once, from API discovery, right after the
# startup activity; whatever discovery misses then is never served (Kopf logs "Unresolved
# resources cannot be served" and does nothing for them until a CRD changes). An API server
# that is still starting lists some groups and not others: the chaos suite caught an
# operator that came up during an API server restart and then served nothing, forever.
WATCHED = {
    f"{GROUP}/{VERSION}": {"workflows", "tasks", "tasktemplates"},
    "batch/v1": {"jobs"},
    "v1": {"pods"},
    "apiextensions.k8s.io/v1": {"customresourcedefinitions"},
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
        if waited % 10 < interval:
            logger.warning(
                "waiting for the API server to serve %s (are the CRDs installed?)",
                ", ".join(missing),
            )
        await asyncio.sleep(interval)
        waited += interval


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    memo.resync.cancel()
    await memo.controller.queue.stop()
    await memo.controller.api.close()


@kopf.index(GROUP, VERSION, "workflows")
async def workflows(
    *, namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[WorkflowKey, WorkflowRecord]:
    return {workflow_key(namespace or "", name): read_workflow(body)}


@kopf.index(GROUP, VERSION, "tasks")
async def tasks(
    *, namespace: str | None, body: kopf.Body, **_: Any
) -> dict[WorkflowKey, TaskRecord] | None:
    workflow = (body.get("spec") or {}).get("workflow")
    if not workflow:
        return None  # not made by kubedag (a Task written by hand); nothing to track
    return {workflow_key(namespace or "", workflow): read_task_record(body)}


@kopf.index("batch", "v1", "jobs", labels=OWNED)
async def jobs(
    *, namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[WorkflowKey, JobRecord] | None:
    record = read_job(body)
    return {(namespace or "", labels[WORKFLOW_LABEL]): record} if record else None


@kopf.index("", "v1", "pods", labels=OWNED)
async def pods(
    *, namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[WorkflowKey, PodRecord] | None:
    # One record per Pod, and none for a Pod on its way to running with nothing wrong.
    record = read_pod(body)
    if record is None or not record.worth_keeping:
        return None
    return {(namespace or "", labels[WORKFLOW_LABEL]): record}


@kopf.index(GROUP, VERSION, "tasktemplates")
async def templates(
    *, namespace: str | None, body: kopf.Body, **_: Any
) -> dict[str, TemplateRecord]:
    return {namespace or "": read_template(body)}


def _controller(memo: kopf.Memo, kwargs: dict[str, Any]) -> WorkflowController:
    controller: WorkflowController = memo.controller
    if controller.views is None:
        # Kopf hands its live indices to handlers only; the controller keeps them.
        controller.views = Views(
            workflows=kwargs["workflows"],
            tasks=kwargs["tasks"],
            jobs=kwargs["jobs"],
            pods=kwargs["pods"],
            templates=kwargs["templates"],
        )
    return controller


def _saw_event(memo: kopf.Memo, kwargs: dict[str, Any]) -> None:
    # Tells a frozen watch from a quiet one: see kubedag.frozen_watches.
    watches: frozen_watches.WatchMonitor = memo.watches
    watches.saw_event(str(kwargs["resource"]))


@kopf.on.event(GROUP, VERSION, "workflows")
async def on_workflow(*, namespace: str | None, name: str, memo: kopf.Memo, **kwargs: Any) -> None:
    _saw_event(memo, kwargs)
    _controller(memo, kwargs).request((namespace or "", name))


@kopf.on.event(GROUP, VERSION, "tasks")
async def on_task(
    *, type: str, namespace: str | None, body: kopf.Body, memo: kopf.Memo, **kwargs: Any
) -> None:
    _saw_event(memo, kwargs)
    # Task changes are nearly always our own status writes, already known to the
    # controller; only a deletion (by hand) needs a new pass to recreate the record.
    workflow = (body.get("spec") or {}).get("workflow")
    if type == "DELETED" and workflow:
        _controller(memo, kwargs).task_deleted((namespace or "", workflow), read_task_record(body))


@kopf.on.event("batch", "v1", "jobs", labels=OWNED)
async def on_job(
    *, namespace: str | None, labels: kopf.Labels, memo: kopf.Memo, **kwargs: Any
) -> None:
    _saw_event(memo, kwargs)
    _controller(memo, kwargs).request_labelled(namespace or "", labels[WORKFLOW_LABEL])


@kopf.on.event("", "v1", "pods", labels=OWNED)
async def on_pod(
    *,
    type: str,
    namespace: str | None,
    labels: kopf.Labels,
    body: kopf.Body,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    _saw_event(memo, kwargs)
    record = read_pod(body)
    if record is None:
        return
    controller = _controller(memo, kwargs)
    if type == "DELETED":
        controller.pod_deleted(namespace or "", labels[WORKFLOW_LABEL], record)
    else:
        controller.pod_changed(namespace or "", labels[WORKFLOW_LABEL], record)


@kopf.on.event(GROUP, VERSION, "tasktemplates")
async def on_template(*, namespace: str | None, memo: kopf.Memo, **kwargs: Any) -> None:
    _saw_event(memo, kwargs)
    _controller(memo, kwargs).request_namespace(namespace or "")
