"""Durable OpenLineage delivery (issue 10): never lost, never blocking.

What must be sent is derived from the API objects the watch caches hold (Workflows and
Tasks, kubedag.lineage.events), not kept only in memory: after an operator restart, or a
watch that relisted, the same events are derived again and whatever is not recorded as
delivered is sent again (identical duplicates: run ids and contents depend on stored
fields only).

- **Off the scheduling path.** The watch callbacks only mark a workflow (and its changed
  Tasks) as dirty and wake one asyncio task; events are built and sent there, and the
  client's `emit` (synchronous: `requests`, file writes, Kafka's flush) runs on one worker
  thread of its own. A slow or dead backend never holds a reconciliation pass.
- **Retried until accepted.** An event counts as delivered when the transport's `emit`
  returns; an exception keeps it (and every later event) pending, and the loop tries again
  after a backoff of 1 s doubling to 60 s, for as long as it takes. The client's HTTP
  transport raises on a refused request after its own urllib3 retries (OpenLineage #3521:
  integrations that call it fire-and-forget lose the event there; kubedag keeps it). Per
  run, events leave in order (START before the end); a Workflow's end waits for its tasks'.
  Between runs there is no order: a run whose event failed goes to the back of the line,
  so one run the backend keeps refusing never holds the others' events.
- **Given up only when the backend refuses the event itself**: HTTP 400, 413, 415 or 422
  (REFUSED_FOR_GOOD) say that these bytes will never be accepted, so sending them again
  forever would only hold the run (and keep its Workflow from its TTL). Such an event is
  not sent again; the Workflow gets `LineageDelivered=False` (reason `EventRejected`, the
  backend's answer) and `kubedag_lineage_events_rejected_total` counts it. Every other
  failure (connection, 5xx, 401/403/404 — settings an operator restart fixes —, 408, 429,
  any exception of another transport) is retried.
- **Recorded compactly.** Once a finished Workflow's events are all delivered, the label
  `kubedag.io/lineage-delivered=<number of events>` is put on it: one metadata patch per
  Workflow, none per Task. A Workflow whose label matches the events derived from it is
  skipped after a restart; any other has its events sent again (a retried run derives more
  events than its label counts). A finished Workflow is not deleted by its
  ttlSecondsAfterFinished before that (kubedag.controller.reconciler asks `holds`).
- **Visible.** Metrics (kubedag.metrics): events sent by type, failed sends, the backlog
  and the age of its oldest event. A run whose events have waited longer than 60 s while
  sends fail gets the condition `LineageDelivered=False` (reason `DeliveryFailing`, the
  last error) on its Workflow, set back to True (`Delivered`) once they are through: two
  status writes per affected Workflow and outage, none otherwise.

Not covered: events of a Workflow deleted (by hand, or its Tasks by the garbage collector)
before they were derived and while the operator was down; the transport's own buffering
(Kafka: `emit` returns once the producer has the message; `flush: true` waits for the
broker; a composite transport with `continue_on_failure` swallows its transports' errors).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from openlineage.client.event_v2 import RunEvent, RunState

from kubedag import metrics
from kubedag.api.common import ConditionStatus
from kubedag.engine import statuses
from kubedag.k8s.client import KubeApi
from kubedag.k8s.observe import TaskRecord, WorkflowRecord
from kubedag.lineage import events
from kubedag.lineage.run_ids import task_attempt_run_id, workflow_run_id
from kubedag.names import LABEL_PREFIX, shorten

logger = logging.getLogger(__name__)

DELIVERED_LABEL = f"{LABEL_PREFIX}/lineage-delivered"
CONDITION = "LineageDelivered"
REASON_FAILING = "DeliveryFailing"
REASON_DELIVERED = "Delivered"
RETRY_INITIAL_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0
# How long a run's events may wait, while sends fail, before its Workflow says so.
LATE_AFTER_SECONDS = 60.0
# How soon a failed label or condition write is tried again.
WRITE_RETRY_SECONDS = 5.0
REASON_REJECTED = "EventRejected"
# HTTP answers that refuse the event itself (RFC 9110 §15.5: bad request, content too
# large, unsupported media type, unprocessable content): sent again, it is refused again.
REFUSED_FOR_GOOD = frozenset({400, 413, 415, 422})

WorkflowKey = tuple[str, str]  # (namespace, workflow name)


class Emitter(Protocol):
    """What delivery needs of openlineage.client.OpenLineageClient: `emit` returns once the
    transport has the event, and raises when it does not."""

    def emit(self, event: RunEvent) -> None: ...


@dataclass(frozen=True)
class LineageViews:
    """The watch caches' Workflows and Tasks, grouped as the controller's Views are (by
    namespace and the workflow label's value: kubedag.controller.reconciler.workflow_key)."""

    workflows: Mapping[WorkflowKey, Collection[WorkflowRecord]]
    tasks: Mapping[WorkflowKey, Collection[TaskRecord]]


@dataclass
class _Run:
    """What delivery knows of one Workflow run (by uid) in this process."""

    namespace: str
    name: str
    uid: str
    delivered: set[str] = field(default_factory=set)
    pending: dict[str, RunEvent] = field(default_factory=dict)  # in sending order
    pending_since: float | None = None  # time.monotonic() of the oldest pending event
    workflow_keys: tuple[str, ...] = ()
    task_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)  # by Task uid
    finished: bool = False
    end_key: str | None = None
    # Events the backend refused for good (REFUSED_FOR_GOOD): why, newest last. Their
    # keys are in `delivered` too: nothing more is done with them.
    rejected: list[str] = field(default_factory=list)

    @property
    def event_count(self) -> int:
        return len(self.workflow_keys) + sum(len(keys) for keys in self.task_keys.values())


class LineageDelivery:
    """See the module docstring. `changed`/`task_changed` are called from the watch
    callbacks; `run` is the delivery loop (one asyncio task); `holds` tells the controller
    whether a finished Workflow still has events to deliver."""

    def __init__(
        self,
        api: KubeApi,
        emitter: Emitter,
        naming: events.Naming | None = None,
        *,
        retry_initial: float = RETRY_INITIAL_SECONDS,
        retry_max: float = RETRY_MAX_SECONDS,
        late_after: float = LATE_AFTER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.emitter = emitter
        self.naming = naming or events.Naming()
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.late_after = late_after
        self.clock = clock
        self.views: LineageViews | None = None
        self._runs: dict[str, _Run] = {}  # by Workflow uid
        # Per workflow: the uids of the Tasks that changed, or None for all of them.
        self._dirty: dict[WorkflowKey, set[str] | None] = {}
        self._wake = asyncio.Event()  # something changed: derive
        self._send_wake = asyncio.Event()  # something to send or record
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openlineage")
        self._backoff = retry_initial
        self.last_error: str | None = None
        self._failing_since: float | None = None

    # -- called from the watch callbacks: cheap, never blocking --------------------------

    def changed(self, namespace: str, workflow: str) -> None:
        """A Workflow changed (or vanished): derive its events again, all of its tasks'
        too the first time it is seen."""
        self._dirty[(namespace, workflow)] = None
        self._wake.set()

    def task_changed(self, namespace: str, workflow: str, task_uid: str) -> None:
        key = (namespace, workflow)
        if key not in self._dirty:
            self._dirty[key] = {task_uid}
        else:
            changed = self._dirty[key]
            if changed is not None:  # None: the whole workflow is dirty already
                changed.add(task_uid)
        self._wake.set()

    def request_all(self) -> None:
        """Every Workflow the caches hold (after they have listed: startup)."""
        if self.views is None:
            return
        for records in list(self.views.workflows.values()):
            for record in list(records):
                self.changed(record.namespace, record.name)

    def holds(self, workflow_uid: str) -> bool:
        """Whether the Workflow's delivery is not recorded yet (its deletion should wait):
        events pending, or its label not written."""
        return workflow_uid in self._runs

    def backlog(self) -> tuple[int, float]:
        """(events waiting, age in seconds of the oldest); read by the metrics' scrape."""
        runs = metrics.copied(lambda: self._runs.values())
        waiting = sum(len(run.pending) for run in runs)
        oldest = min(
            (run.pending_since for run in runs if run.pending and run.pending_since is not None),
            default=None,
        )
        return waiting, (self.clock() - oldest) if oldest is not None else 0.0

    # -- the loop --------------------------------------------------------------------------

    async def run(self) -> None:
        """Derives what changed and sends it; forever (cancel to stop). Deriving goes on
        while a send waits for the backend (the client retries inside `emit`), so the
        backlog always holds every event due."""
        sender = asyncio.create_task(self._send_forever())
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                try:
                    self._derive_dirty()
                except Exception:  # a bug must not end delivery
                    logger.exception("deriving OpenLineage events failed")
                self._send_wake.set()
        finally:
            sender.cancel()
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def _send_forever(self) -> None:
        while True:
            await self._send_wake.wait()
            self._send_wake.clear()
            sent = await self._send_pending()
            await self._record()
            if sent:
                self._backoff = self.retry_initial
                continue
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, self.retry_max)
            self._send_wake.set()

    async def drain(self) -> None:
        """One round without waiting (tests): derive, send, record."""
        self._derive_dirty()
        await self._send_pending()
        await self._record()

    # -- deriving --------------------------------------------------------------------------

    def _derive_dirty(self) -> None:
        if self.views is None:
            return
        dirty, self._dirty = self._dirty, {}
        for (namespace, name), task_uids in dirty.items():
            try:
                self._derive(namespace, name, task_uids)
            except Exception:  # one run's bug must not cost the others their events
                logger.exception("%s/%s: deriving OpenLineage events failed", namespace, name)

    def _find(self, namespace: str, name: str) -> WorkflowRecord | None:
        assert self.views is not None
        group = self.views.workflows.get((namespace, shorten(name, 63)), ())
        return next((record for record in group if record.name == name), None)

    def _tasks(self, workflow: WorkflowRecord) -> list[TaskRecord]:
        assert self.views is not None
        group = self.views.tasks.get((workflow.namespace, shorten(workflow.name, 63)), ())
        return [
            task for task in group if task.workflow_uid in (None, workflow.uid) and task.task.name
        ]

    def _derive(self, namespace: str, name: str, task_uids: set[str] | None) -> None:
        workflow = self._find(namespace, name)
        if workflow is None:
            # Gone: what was derived is still sent; a run with nothing left is forgotten.
            for uid, gone in list(self._runs.items()):
                if gone.namespace == namespace and gone.name == name and not gone.pending:
                    del self._runs[uid]
            return
        tasks = self._tasks(workflow)
        known = self._runs.get(workflow.uid)
        if known is None:
            if self._already_delivered(workflow, tasks):
                return
            known = self._runs[workflow.uid] = _Run(namespace, name, workflow.uid)
            task_uids = None
        run = known
        changed = tasks if task_uids is None else [t for t in tasks if t.task.uid in task_uids]
        workflow_id = str(workflow_run_id(workflow.uid))
        planned_workflow = events.workflow_events(workflow, workflow_id)
        run.finished = workflow.status.phase is not None and workflow.status.phase.is_finished
        if run.finished and any(not _task_finished(task) for task in tasks):
            # The Task watch has not brought every task's end yet (the Workflow's status is
            # written after its Tasks', but two watches deliver in no common order): the
            # run's end waits, so that it is the last event of the run.
            planned_workflow = [p for p in planned_workflow if p.event_type == RunState.START]
            run.finished = False
        run.workflow_keys = tuple(p.key for p in planned_workflow)
        upstream: dict[str, list[tuple[str, str]]] | None = None
        for task in changed:
            planned = events.task_events(task, task_attempt_run_id)
            run.task_keys[task.task.uid] = tuple(p.key for p in planned)
            for event in planned:
                if event.key in run.delivered or event.key in run.pending:
                    continue
                if upstream is None:
                    upstream = _upstream_runs(tasks)
                self._add(
                    run,
                    event.key,
                    events.build_task_event(
                        event,
                        workflow,
                        task,
                        workflow_run_id=workflow_id,
                        upstream=upstream,
                        naming=self.naming,
                    ),
                )
        for event in planned_workflow:
            if event.key in run.delivered or event.key in run.pending:
                continue
            self._add(run, event.key, events.build_workflow_event(event, workflow, self.naming))
            if event.event_type != RunState.START:
                run.end_key = event.key

    def _already_delivered(self, workflow: WorkflowRecord, tasks: list[TaskRecord]) -> bool:
        """A finished Workflow whose label counts every event derived from it."""
        label = workflow.labels.get(DELIVERED_LABEL)
        if label is None or workflow.status.phase is None or not workflow.status.phase.is_finished:
            return False
        count = len(events.workflow_events(workflow, "-")) + sum(
            len(events.task_events(task, _no_run_id)) for task in tasks
        )
        return label == str(count)

    def _add(self, run: _Run, key: str, event: RunEvent) -> None:
        if not run.pending:
            run.pending_since = self.clock()
        run.pending[key] = event

    # -- sending ---------------------------------------------------------------------------

    async def _send_pending(self) -> bool:
        """Sends every pending event, each run's in order; False at the first the transport
        refuses (that run then goes to the back of the line: the next round starts with
        the others)."""
        for uid, run in list(self._runs.items()):
            # Events derived while one is sent join the queue: loop until none is left.
            while others := [key for key in run.pending if key != run.end_key]:
                for key in others:
                    if not await self._send(run, key):
                        self._to_the_back(uid)
                        return False
            # The Workflow's end goes after its tasks' events.
            if run.end_key in run.pending and not await self._send(run, run.end_key):
                self._to_the_back(uid)
                return False
        if self._failing_since is not None:
            logger.info("the OpenLineage transport accepts events again")
        self._failing_since = None
        self.last_error = None
        return True

    def _to_the_back(self, uid: str) -> None:
        run = self._runs.pop(uid, None)
        if run is not None:
            self._runs[uid] = run

    async def _send(self, run: _Run, key: str) -> bool:
        event = run.pending[key]
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self.emitter.emit, event)
        except asyncio.CancelledError:
            raise  # this task is stopped (the operator's shutdown)
        except BaseException as error:  # raised in the transport's thread
            # A transport calling sys.exit() (SystemExit) in the worker thread would else
            # end the delivery loop, and the event loop with it: a failed send like another.
            if not isinstance(error, Exception):
                error = RuntimeError(f"the transport raised {type(error).__name__}: {error}")
            if refused_for_good(error) is None:
                self._failed(error)
                return False
            self._rejected(run, key, error)
            return True
        event_type = event.eventType.value if event.eventType else "OTHER"
        metrics.LINEAGE_EVENTS.labels(event_type=event_type).inc()
        del run.pending[key]
        run.delivered.add(key)
        run.pending_since = self.clock() if run.pending else None
        return True

    def _rejected(self, run: _Run, key: str, error: Exception) -> None:
        """The backend refused the event itself: it is not sent again (module docstring)."""
        metrics.LINEAGE_REJECTED.inc()
        text = f"{type(error).__name__}: {error}"[:500]
        logger.warning(
            "%s/%s: the OpenLineage backend refused event %s for good (%s); not sent again",
            run.namespace,
            run.name,
            key,
            text,
        )
        del run.pending[key]
        run.delivered.add(key)
        run.rejected.append(text)
        run.pending_since = self.clock() if run.pending else None

    def _failed(self, error: Exception) -> None:
        metrics.LINEAGE_FAILURES.inc()
        self.last_error = f"{type(error).__name__}: {error}"[:500]
        if self._failing_since is None:
            self._failing_since = self.clock()
            logger.warning(
                "the OpenLineage transport refused an event (%s); kept, retrying with backoff",
                self.last_error,
            )

    # -- recording on the objects ------------------------------------------------------------

    async def _record(self) -> None:
        """Labels finished, fully delivered Workflows; sets LineageDelivered on late ones."""
        retry = False
        for uid, run in list(self._runs.items()):
            try:
                if not run.pending and run.finished and run.end_key in run.delivered:
                    if await self._label_delivered(run):
                        del self._runs[uid]
                    continue
                await self._say_when_late(run)
            except Exception:
                logger.warning(
                    "%s/%s: could not record lineage delivery on the Workflow",
                    run.namespace,
                    run.name,
                    exc_info=True,
                )
                retry = True
        if retry:
            asyncio.get_running_loop().call_later(WRITE_RETRY_SECONDS, self._send_wake.set)

    async def _label_delivered(self, run: _Run) -> bool:
        """True when the run needs no more attention (labelled, or gone)."""
        workflow = self._find(run.namespace, run.name)
        if workflow is None or workflow.uid != run.uid:
            return True
        condition = next((c for c in workflow.status.conditions if c.type == CONDITION), None)
        if run.rejected:
            if condition is None or condition.reason != REASON_REJECTED:
                await self._set_condition(
                    workflow,
                    ConditionStatus.FALSE,
                    REASON_REJECTED,
                    f"the lineage backend refused {len(run.rejected)} OpenLineage event(s) "
                    f"of this run, which are not sent again; last: {run.rejected[-1]}",
                )
        elif condition is not None and condition.status != ConditionStatus.TRUE:
            await self._set_condition(
                workflow,
                ConditionStatus.TRUE,
                REASON_DELIVERED,
                "every OpenLineage event of the run was delivered",
            )
        count = str(run.event_count)
        if workflow.labels.get(DELIVERED_LABEL) == count:
            return True
        # Gone meanwhile (False) needs nothing more either.
        await self.api.merge_patch(
            "Workflow", run.namespace, run.name, {"metadata": {"labels": {DELIVERED_LABEL: count}}}
        )
        return True

    async def _say_when_late(self, run: _Run) -> None:
        late = (
            run.pending
            and self._failing_since is not None
            and run.pending_since is not None
            and self.clock() - run.pending_since >= self.late_after
        )
        if not late:
            return  # while sends fail, every retry (at most 60 s apart) looks again
        workflow = self._find(run.namespace, run.name)
        if workflow is None or workflow.uid != run.uid:
            return
        condition = next((c for c in workflow.status.conditions if c.type == CONDITION), None)
        if condition is not None and condition.status == ConditionStatus.FALSE:
            return
        await self._set_condition(
            workflow,
            ConditionStatus.FALSE,
            REASON_FAILING,
            f"{len(run.pending)} OpenLineage events of this run wait for the lineage backend, "
            f"retried with backoff: {self.last_error}",
        )

    async def _set_condition(
        self, workflow: WorkflowRecord, status: ConditionStatus, reason: str, message: str
    ) -> None:
        conditions = statuses.set_condition(
            workflow.status.conditions,
            CONDITION,
            status,
            reason,
            message,
            datetime.now(UTC),
            workflow.generation,
        )
        await self.api.patch_status(
            "Workflow",
            workflow.namespace,
            workflow.name,
            {"conditions": [c.model_dump(mode="json", by_alias=True) for c in conditions]},
        )


def refused_for_good(error: BaseException) -> int | None:
    """The HTTP status of a refusal of the event itself (REFUSED_FOR_GOOD), else None. The
    HTTP transport raises requests' HTTPError, whose `response` has the status."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    return status if isinstance(status, int) and status in REFUSED_FOR_GOOD else None


def _task_finished(task: TaskRecord) -> bool:
    phase = task.task.status.phase
    return phase is not None and phase.is_finished


def _no_run_id(task_uid: str, attempt: int) -> str:
    return "-"


def _upstream_runs(tasks: Iterable[TaskRecord]) -> dict[str, list[tuple[str, str]]]:
    """Workflow task name -> (node, run id of its last attempt) for the nodes that ran."""
    runs: dict[str, list[tuple[str, str]]] = {}
    for task in tasks:
        attempts = task.task.status.attempts
        if not attempts:
            continue
        name = task.node_task or task.task.name
        run_id = str(task_attempt_run_id(task.task.uid, attempts[-1].number))
        runs.setdefault(name, []).append((task.task.name, run_id))
    return runs
