"""Durable OpenLineage delivery (issue 10): in order, retried until accepted, recorded on
the Workflow, sent again after a restart unless recorded, never blocking the event loop."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterable
from typing import Any

import pytest
from openlineage.client.event_v2 import RunEvent
from openlineage.client.serde import Serde

from kubedag.k8s.observe import TaskRecord, WorkflowRecord, read_workflow
from kubedag.lineage.delivery import (
    CONDITION,
    DELIVERED_LABEL,
    LineageDelivery,
    LineageViews,
)
from tests.unit.test_lineage_events import WORKFLOW_UID, attempt, task, workflow

KEY = ("team-a", "etl-20261101")


class Receiver:
    """An emitter that fails while `down` is set; keeps what it accepted (as JSON)."""

    def __init__(self) -> None:
        self.accepted: list[dict[str, Any]] = []
        self.down = False
        self.refused = 0

    def emit(self, event: RunEvent) -> None:
        if self.down:
            self.refused += 1
            raise ConnectionError("lineage backend unreachable")
        self.accepted.append(json.loads(Serde.to_json(event)))


class FakeApi:
    def __init__(self) -> None:
        self.patches: list[tuple[str, str, dict[str, Any]]] = []
        self.status_patches: list[tuple[str, dict[str, Any]]] = []

    async def merge_patch(
        self, kind: str, namespace: str, name: str, patch: dict[str, Any]
    ) -> bool:
        self.patches.append((kind, name, patch))
        return True

    async def patch_status(
        self, kind: str, namespace: str, name: str, patch: dict[str, Any]
    ) -> str:
        self.status_patches.append((name, patch))
        return "2"


class World:
    """The watch caches' contents, as LineageViews reads them."""

    def __init__(self, wf: WorkflowRecord, tasks: Iterable[TaskRecord] = ()) -> None:
        self.workflows: dict[tuple[str, str], list[WorkflowRecord]] = {KEY: [wf]}
        self.tasks: dict[tuple[str, str], list[TaskRecord]] = {KEY: list(tasks)}

    def views(self) -> LineageViews:
        return LineageViews(self.workflows, self.tasks)  # type: ignore[arg-type]


def finished_run() -> tuple[WorkflowRecord, list[TaskRecord]]:
    wf = workflow(phase="Succeeded", finished="2026-11-02T00:01:00Z")
    tasks = [
        task(
            "extract",
            "t-1",
            [attempt(1, "2026-11-02T00:00:10Z", "2026-11-02T00:00:20Z", exitCode=0)],
        ),
        task(
            "load",
            "t-2",
            [attempt(1, "2026-11-02T00:00:21Z", "2026-11-02T00:00:30Z", exitCode=0)],
            depends_on=["extract"],
        ),
    ]
    return wf, tasks


def delivery(
    world: World, receiver: Receiver, api: FakeApi | None = None, **options: Any
) -> LineageDelivery:
    sender = LineageDelivery(api or FakeApi(), receiver, **options)  # type: ignore[arg-type]
    sender.views = world.views()
    return sender


def labelled(wf: WorkflowRecord, value: str) -> WorkflowRecord:
    from dataclasses import replace

    return replace(wf, labels={**wf.labels, DELIVERED_LABEL: value})


def test_every_run_starts_before_it_ends_and_the_workflow_ends_last() -> None:
    wf, tasks = finished_run()
    receiver = Receiver()
    sender = delivery(World(wf, tasks), receiver)
    sender.request_all()
    asyncio.run(sender.drain())
    seen: dict[str, list[str]] = {}
    for event in receiver.accepted:
        seen.setdefault(event["run"]["runId"], []).append(event["eventType"])
    assert all(types == ["START", "COMPLETE"] for types in seen.values())
    assert len(seen) == 3
    assert receiver.accepted[-1]["job"]["name"] == "etl-20261101"
    assert receiver.accepted[-1]["eventType"] == "COMPLETE"


def test_a_finished_run_is_labelled_with_its_event_count_once_all_are_delivered() -> None:
    wf, tasks = finished_run()
    api = FakeApi()
    sender = delivery(World(wf, tasks), Receiver(), api)
    sender.request_all()
    assert sender.holds(WORKFLOW_UID) is False  # not derived yet: nothing known
    asyncio.run(sender.drain())
    assert api.patches == [
        ("Workflow", "etl-20261101", {"metadata": {"labels": {DELIVERED_LABEL: "6"}}})
    ]
    assert not sender.holds(WORKFLOW_UID)


def test_a_running_workflow_is_not_labelled_and_holds() -> None:
    wf = workflow()
    api = FakeApi()
    sender = delivery(World(wf), Receiver(), api)
    sender.request_all()
    asyncio.run(sender.drain())
    assert api.patches == []
    assert sender.holds(WORKFLOW_UID)


def test_events_refused_by_the_backend_are_kept_and_all_arrive_later() -> None:
    wf, tasks = finished_run()
    receiver = Receiver()
    receiver.down = True
    api = FakeApi()
    sender = delivery(World(wf, tasks), receiver, api)
    sender.request_all()
    asyncio.run(sender.drain())
    assert receiver.accepted == [] and receiver.refused == 1
    assert sender.backlog()[0] == 6
    assert sender.holds(WORKFLOW_UID)
    assert api.patches == []
    receiver.down = False
    asyncio.run(sender.drain())
    assert len(receiver.accepted) == 6
    assert sender.backlog() == (0, 0.0)
    assert len(api.patches) == 1


def test_after_a_restart_a_labelled_run_is_not_sent_again() -> None:
    wf, tasks = finished_run()
    receiver = Receiver()
    sender = delivery(World(labelled(wf, "6"), tasks), receiver)
    sender.request_all()
    asyncio.run(sender.drain())
    assert receiver.accepted == []


def test_after_a_restart_an_unlabelled_run_is_sent_again_identically() -> None:
    wf, tasks = finished_run()
    first, second = Receiver(), Receiver()
    for receiver in (first, second):  # two processes, the first died before labelling
        sender = delivery(World(wf, tasks), receiver)
        sender.request_all()
        asyncio.run(sender.drain())
    assert first.accepted == second.accepted


def test_a_retried_run_derives_more_events_than_its_label_counts_and_is_sent_again() -> None:
    wf, tasks = finished_run()
    tasks.append(
        task(
            "report",
            "t-3",
            [
                attempt(1, "2026-11-02T00:00:31Z", "2026-11-02T00:00:35Z", exitCode=1),
                attempt(2, "2026-11-02T00:00:50Z", "2026-11-02T00:00:55Z", exitCode=0),
            ],
        )
    )
    receiver = Receiver()
    sender = delivery(World(labelled(wf, "6"), tasks), receiver)
    sender.request_all()
    asyncio.run(sender.drain())
    assert len(receiver.accepted) == 10


def test_a_task_change_sends_only_that_tasks_new_events() -> None:
    wf = workflow()
    running = task("extract", "t-1", [attempt(1, "2026-11-02T00:00:10Z")], phase="Running")
    world = World(wf, [running])
    receiver = Receiver()
    sender = delivery(world, receiver)
    sender.request_all()
    asyncio.run(sender.drain())
    assert [e["eventType"] for e in receiver.accepted] == ["START", "START"]
    world.tasks[KEY] = [
        task(
            "extract",
            "t-1",
            [attempt(1, "2026-11-02T00:00:10Z", "2026-11-02T00:00:20Z", exitCode=0)],
        )
    ]
    sender.task_changed(*KEY, "t-1")
    asyncio.run(sender.drain())
    assert [e["eventType"] for e in receiver.accepted] == ["START", "START", "COMPLETE"]


def test_a_late_run_says_so_on_its_workflow_and_then_that_it_is_through() -> None:
    wf, tasks = finished_run()
    world = World(wf, tasks)
    receiver = Receiver()
    receiver.down = True
    api = FakeApi()
    sender = delivery(world, receiver, api, late_after=0.0)
    sender.request_all()

    async def rounds() -> None:
        await sender.drain()
        (_name, patch) = api.status_patches[-1]
        (condition,) = [c for c in patch["conditions"] if c["type"] == CONDITION]
        assert condition["status"] == "False"
        assert condition["reason"] == "DeliveryFailing"
        assert "lineage backend unreachable" in condition["message"]
        # The watch brings the written condition back.
        world.workflows[KEY] = [read_workflow_with_conditions(wf, patch["conditions"])]
        receiver.down = False
        sender.changed(*KEY)
        await sender.drain()

    asyncio.run(rounds())
    (_name, patch) = api.status_patches[-1]
    (condition,) = [c for c in patch["conditions"] if c["type"] == CONDITION]
    assert condition["status"] == "True"
    assert len(api.status_patches) == 2


def read_workflow_with_conditions(
    wf: WorkflowRecord, conditions: list[dict[str, Any]]
) -> WorkflowRecord:
    status = wf.status.to_wire()
    status["conditions"] = conditions
    return read_workflow(
        {
            "metadata": {
                "namespace": wf.namespace,
                "name": wf.name,
                "uid": wf.uid,
                "labels": dict(wf.labels),
            },
            "spec": wf.spec.to_wire() if wf.spec else {},
            "status": status,
        }
    )


def test_a_slow_backend_never_holds_the_event_loop() -> None:
    wf, tasks = finished_run()
    release = threading.Event()

    class Slow(Receiver):
        def emit(self, event: RunEvent) -> None:
            release.wait(5)
            super().emit(event)

    receiver = Slow()
    sender = delivery(World(wf, tasks), receiver)
    sender.request_all()

    async def meanwhile() -> list[float]:
        loop_task = asyncio.create_task(sender.run())
        ticks = []
        for _ in range(5):
            await asyncio.sleep(0.01)
            ticks.append(time.monotonic())
        assert receiver.accepted == []  # the first emit is still blocked in its thread
        release.set()
        for _ in range(200):
            if len(receiver.accepted) == 6:
                break
            await asyncio.sleep(0.01)
        loop_task.cancel()
        return ticks

    ticks = asyncio.run(meanwhile())
    assert len(ticks) == 5
    assert len(receiver.accepted) == 6


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_every_derived_event_is_counted_in_the_label(phase: str) -> None:
    wf = workflow(phase=phase, finished="2026-11-02T00:01:00Z", succeeded_reason="TaskFailed")
    tasks = [
        task(
            "extract",
            "t-1",
            [attempt(1, "2026-11-02T00:00:10Z", "2026-11-02T00:00:20Z", exitCode=0)],
        )
    ]
    receiver = Receiver()
    api = FakeApi()
    sender = delivery(World(wf, tasks), receiver, api)
    sender.request_all()
    asyncio.run(sender.drain())
    assert api.patches[0][2]["metadata"]["labels"][DELIVERED_LABEL] == str(len(receiver.accepted))


def test_a_finished_workflows_end_waits_for_its_tasks_ends_to_be_seen() -> None:
    wf = workflow(phase="Succeeded", finished="2026-11-02T00:01:00Z")
    running = task("extract", "t-1", [attempt(1, "2026-11-02T00:00:10Z")], phase="Running")
    world = World(wf, [running])
    receiver = Receiver()
    api = FakeApi()
    sender = delivery(world, receiver, api)
    sender.request_all()
    asyncio.run(sender.drain())
    assert [e["eventType"] for e in receiver.accepted] == ["START", "START"]
    assert api.patches == []
    world.tasks[KEY] = [
        task(
            "extract",
            "t-1",
            [attempt(1, "2026-11-02T00:00:10Z", "2026-11-02T00:00:20Z", exitCode=0)],
        )
    ]
    sender.task_changed(*KEY, "t-1")
    asyncio.run(sender.drain())
    assert [e["eventType"] for e in receiver.accepted][2:] == ["COMPLETE", "COMPLETE"]
    assert receiver.accepted[-1]["job"]["name"] == "etl-20261101"
    assert api.patches[0][2]["metadata"]["labels"][DELIVERED_LABEL] == "4"


# -- one run's refused events never hold the others' (review of issue 10) ----------------


class HttpRefusal(Exception):
    """What requests raises for a refused POST (requests.HTTPError): `response.status_code`."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"{status_code} Client Error for url: http://marquez/api/v1/lineage")
        self.response = type("Response", (), {"status_code": status_code})()


class PickyReceiver(Receiver):
    """Refuses every event of the runs named in `refuse` with `error()`."""

    def __init__(self, refuse: set[str], error: Any) -> None:
        super().__init__()
        self.refuse = refuse
        self.error = error

    def emit(self, event: RunEvent) -> None:
        facet = (event.run.facets or {}).get("kubedag")
        if facet is not None and facet.workflow in self.refuse:
            self.refused += 1
            raise self.error()
        super().emit(event)


def other_run(name: str, uid: str) -> WorkflowRecord:
    return read_workflow(
        {
            "metadata": {"namespace": "team-a", "name": name, "uid": uid, "labels": {}},
            "spec": {"tasks": [{"name": "a", "image": "busybox"}]},
            "status": {
                "phase": "Succeeded",
                "startedAt": "2026-11-02T00:00:05Z",
                "finishedAt": "2026-11-02T00:00:09Z",
            },
        }
    )


def two_runs_world() -> World:
    wf, tasks = finished_run()
    world = World(wf, tasks)
    second = other_run("report", "22222222-2222-4222-8222-222222222222")
    world.workflows[("team-a", "report")] = [second]
    world.tasks[("team-a", "report")] = []
    return world


def test_a_run_whose_events_keep_failing_does_not_hold_the_other_runs() -> None:
    # The backend answers 500 to every event of one run (it chokes on that run alone):
    # the run keeps its events and retries them; the other runs' events all arrive.
    receiver = PickyReceiver({"etl-20261101"}, lambda: ConnectionError("500 from the backend"))
    api = FakeApi()
    sender = delivery(two_runs_world(), receiver, api)
    sender.request_all()

    async def rounds() -> None:
        for _ in range(3):
            await sender.drain()

    asyncio.run(rounds())
    assert [e["run"]["facets"]["kubedag"]["workflow"] for e in receiver.accepted] == [
        "report",
        "report",
    ]
    assert sender.holds(WORKFLOW_UID)
    assert sender.backlog()[0] == 6
    assert ("Workflow", "report", {"metadata": {"labels": {DELIVERED_LABEL: "2"}}}) in api.patches


@pytest.mark.parametrize("status_code", [400, 413, 415, 422])
def test_an_event_the_backend_refuses_as_such_is_given_up_and_said_on_the_workflow(
    status_code: int,
) -> None:
    # 400/413/415/422: the backend refuses the event itself; the same bytes sent again
    # would be refused again. It is not retried forever (the run would hold its Workflow
    # from its TTL for ever): the refusal is on the Workflow and in the metrics.
    from kubedag import metrics

    before = metrics.LINEAGE_REJECTED._value.get()
    receiver = PickyReceiver({"report"}, lambda: HttpRefusal(status_code))
    api = FakeApi()
    sender = delivery(two_runs_world(), receiver, api)
    sender.request_all()
    asyncio.run(sender.drain())
    assert receiver.refused == 2  # each once
    assert len(receiver.accepted) == 6
    assert not sender.holds("22222222-2222-4222-8222-222222222222")
    assert sender.backlog() == (0, 0.0)
    assert metrics.LINEAGE_REJECTED._value.get() == before + 2
    (name, patch) = api.status_patches[-1]
    (condition,) = [c for c in patch["conditions"] if c["type"] == CONDITION]
    assert name == "report"
    assert (condition["status"], condition["reason"]) == ("False", "EventRejected")
    assert str(status_code) in condition["message"]
    assert ("Workflow", "report", {"metadata": {"labels": {DELIVERED_LABEL: "2"}}}) in api.patches


@pytest.mark.parametrize("status_code", [401, 403, 404, 408, 429])
def test_a_refusal_that_a_fix_of_the_backend_or_its_settings_can_end_is_retried(
    status_code: int,
) -> None:
    receiver = PickyReceiver({"report"}, lambda: HttpRefusal(status_code))
    sender = delivery(two_runs_world(), receiver)
    sender.request_all()
    asyncio.run(sender.drain())
    assert sender.holds("22222222-2222-4222-8222-222222222222")
    receiver.refuse = set()
    asyncio.run(sender.drain())
    assert not sender.holds("22222222-2222-4222-8222-222222222222")
    assert len(receiver.accepted) == 8


def test_a_run_whose_events_cannot_be_derived_does_not_cost_the_others_theirs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A bug (or an object no one foresaw) makes building one run's events raise: the
    # other runs changed in the same batch are still derived and sent.
    from kubedag.lineage import events

    real = events.build_workflow_event

    def build(planned: Any, wf: WorkflowRecord, naming: Any) -> RunEvent:
        if wf.name == "etl-20261101":
            raise KeyError("unforeseen")
        return real(planned, wf, naming)

    monkeypatch.setattr(events, "build_workflow_event", build)
    receiver = Receiver()
    world = two_runs_world()
    world.workflows = {key: world.workflows[key] for key in (KEY, ("team-a", "report"))}
    sender = delivery(world, receiver)
    sender.request_all()
    asyncio.run(sender.drain())
    assert {e["run"]["facets"]["kubedag"]["workflow"] for e in receiver.accepted} >= {"report"}


@pytest.mark.parametrize("raised", [SystemExit(1), KeyboardInterrupt()])
def test_a_transport_that_raises_what_is_not_an_exception_is_a_failed_send(
    raised: BaseException,
) -> None:
    # A transport (or a library under it) calling sys.exit() in its worker thread must not
    # end the delivery loop, or the operator with it: the event is kept and retried.
    class Raising(Receiver):
        def emit(self, event: RunEvent) -> None:
            if self.down:
                self.refused += 1
                raise raised
            super().emit(event)

    wf, tasks = finished_run()
    receiver = Raising()
    receiver.down = True
    sender = delivery(World(wf, tasks), receiver)
    sender.request_all()
    asyncio.run(sender.drain())
    assert receiver.refused == 1 and sender.backlog()[0] == 6
    receiver.down = False
    asyncio.run(sender.drain())
    assert len(receiver.accepted) == 6
