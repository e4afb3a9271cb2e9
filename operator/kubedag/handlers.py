"""Kopf wiring, and nothing else: indices that keep what the watches saw, and event
handlers that ask for a reconciliation pass of the workflow concerned.

Only indexing and event handlers are used. Kopf persists nothing for those (no finalizers,
no annotations, no status fields of its own), so the operator's only writes are the ones
kubedag.controller makes on purpose.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from kubedag import frozen_watches
from kubedag.api import GROUP, VERSION
from kubedag.controller.reconciler import Views, WorkflowController, WorkflowKey, workflow_key
from kubedag.k8s.client import KubeApi
from kubedag.k8s.observe import (
    JobRecord,
    PodTermination,
    TaskRecord,
    TemplateRecord,
    WorkflowRecord,
    read_job,
    read_pod_termination,
    read_task_record,
    read_template,
    read_workflow,
)
from kubedag.names import WORKFLOW_LABEL

OWNED = {WORKFLOW_LABEL: kopf.PRESENT}


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
    memo.controller = WorkflowController(KubeApi(), task_pod_defaults=memo.get("task_pod_defaults"))
    memo.resync = asyncio.create_task(memo.controller.resync_forever())


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
) -> dict[WorkflowKey, PodTermination] | None:
    termination = read_pod_termination(body)
    return {(namespace or "", labels[WORKFLOW_LABEL]): termination} if termination else None


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
    *, namespace: str | None, labels: kopf.Labels, body: kopf.Body, memo: kopf.Memo, **kwargs: Any
) -> None:
    _saw_event(memo, kwargs)
    # A Pod matters once its container has terminated: that is where the exit code is.
    if read_pod_termination(body) is not None:
        _controller(memo, kwargs).request_labelled(namespace or "", labels[WORKFLOW_LABEL])


@kopf.on.event(GROUP, VERSION, "tasktemplates")
async def on_template(*, namespace: str | None, memo: kopf.Memo, **kwargs: Any) -> None:
    _saw_event(memo, kwargs)
    _controller(memo, kwargs).request_namespace(namespace or "")
