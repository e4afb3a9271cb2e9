"""The CronWorkflow controller's I/O order and memory (kubedag.controller.cron_workflows):
runs first, status after; a failed create writes no status; a run the watch has not shown
yet still counts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from kubedag.controller.cron_workflows import CronViews, CronWorkflowController
from kubedag.k8s.observe import read_cron_workflow

NOW = datetime(2026, 5, 1, 10, 0, 1, tzinfo=UTC)


class FakeApi:
    def __init__(self, *, fail_creates: bool = False) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail_creates = fail_creates

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return {"metadata": {"name": name}}

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        if self.fail_creates:
            raise ConnectionError("API server unreachable")
        self.calls.append(("create", manifest["metadata"]["name"]))
        return manifest

    async def merge_patch(self, kind: str, namespace: str, name: str, patch: Any) -> bool:
        self.calls.append(("stop", name))
        return True

    async def delete(self, kind: str, namespace: str, name: str) -> None:
        self.calls.append(("delete", name))

    async def patch_status(self, kind: str, namespace: str, name: str, status: Any) -> str:
        self.calls.append(("status", status["lastScheduleTime"] or ""))
        return "1"

    async def post_event(self, **fields: Any) -> None:
        self.calls.append(("event", fields["reason"]))


def cron_body(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "hourly",
            "namespace": "ns",
            "uid": "uid-1",
            "generation": 1,
            "creationTimestamp": "2026-05-01T07:30:00Z",
        },
        "spec": {
            "schedules": ["0 * * * *"],
            "workflowSpec": {"tasks": [{"name": "a", "image": "busybox"}]},
            **spec,
        },
        "status": {"lastScheduleTime": "2026-05-01T08:00:00Z"},
    }


def controller_for(api: FakeApi, body: dict[str, Any]) -> CronWorkflowController:
    controller = CronWorkflowController(api, clock=lambda: NOW)  # type: ignore[arg-type]
    record = read_cron_workflow(body)
    controller.views = CronViews(cron_workflows={("ns", "hourly"): [record]}, workflows={})
    return controller


def test_runs_are_created_before_the_status_records_them() -> None:
    api = FakeApi()
    controller = controller_for(api, cron_body(catchUp={"policy": "All"}))
    asyncio.run(controller._reconcile(("ns", "hourly"), 0.0))
    kinds = [kind for kind, _ in api.calls]
    assert kinds[:2] == ["create", "create"]
    assert kinds.index("status") > max(i for i, kind in enumerate(kinds) if kind == "create")
    assert ("status", "2026-05-01T10:00:00Z") in api.calls


def test_a_failed_create_writes_no_status_so_the_next_pass_decides_the_same_ticks() -> None:
    api = FakeApi(fail_creates=True)
    controller = controller_for(api, cron_body())
    with pytest.raises(ConnectionError):
        asyncio.run(controller._reconcile(("ns", "hourly"), 0.0))
    assert not [call for call in api.calls if call[0] == "status"]


def test_a_run_created_but_not_yet_seen_by_the_watch_keeps_forbid_from_starting_another() -> None:
    api = FakeApi()
    controller = controller_for(api, cron_body(concurrencyPolicy="Forbid"))
    asyncio.run(controller._reconcile(("ns", "hourly"), 0.0))
    # The watch still shows the old status and no run; an hour later the next tick is due.
    later = datetime(2026, 5, 1, 11, 0, 1, tzinfo=UTC)
    controller.clock = lambda: later
    asyncio.run(controller._reconcile(("ns", "hourly"), 0.0))
    assert [name for kind, name in api.calls if kind == "create"] == ["hourly-20260501-090000"]


def test_a_change_of_a_run_asks_for_a_pass_of_the_cron_workflow_that_made_it() -> None:
    from kubedag.frozen_watches import WatchMonitor
    from kubedag.handlers import Caches

    class Requests:
        def __init__(self) -> None:
            self.requested: list[tuple[str, str]] = []
            self.views: Any = None

        def request(self, key: tuple[str, str]) -> None:
            self.requested.append(key)

    workflows, crons = Requests(), Requests()
    controller = CronWorkflowController(FakeApi())  # type: ignore[arg-type]
    controller.queue = crons  # type: ignore[assignment]
    caches = Caches(
        None,  # type: ignore[arg-type]
        workflows,  # type: ignore[arg-type]
        [None],
        WatchMonitor(),
        source=lambda *_: None,  # type: ignore[arg-type,return-value]
        cron_workflows=controller,
    )
    labelled = {"kubedag.io/cron-workflow": "hourly"}
    caches.on_workflow(
        "MODIFIED", {"metadata": {"name": "r1", "namespace": "ns", "labels": labelled}}
    )
    caches.on_workflow("MODIFIED", {"metadata": {"name": "adhoc", "namespace": "ns"}})
    assert crons.requested == [("ns", "hourly")]
    assert workflows.requested == [("ns", "r1"), ("ns", "adhoc")]


def test_a_trigger_run_name_taken_by_a_workflow_it_did_not_make_is_reported_not_retried() -> None:
    # Someone made a Workflow named like the trigger's next run (`<name>-ds-1`) by hand: the
    # create meets 409 forever. The pass says so (RunRejected) and goes on with -ds-2 next.
    from kubedag.engine.datasets import dataset_object_name
    from kubedag.k8s.observe import read_dataset

    class TakenApi(FakeApi):
        async def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
            if manifest["metadata"]["name"] == "hourly-ds-1":
                return None
            return await super().create(manifest)

        async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
            return {"metadata": {"name": name, "labels": {"team": "other"}}}

        async def patch_status(self, kind: str, namespace: str, name: str, status: Any) -> str:
            self.calls.append(("status", str((status.get("datasetTrigger") or {}).get("runs"))))
            return "1"

    api = TakenApi()
    body = cron_body(datasetTrigger={"datasets": [{"namespace": "s3://lake", "name": "orders"}]})
    del body["spec"]["schedules"]
    body["status"] = {
        "datasetTrigger": {
            "runs": 0,
            "consumed": [{"namespace": "s3://lake", "name": "orders", "materializations": 1}],
        }
    }
    controller = controller_for(api, body)
    object_name = dataset_object_name("s3://lake", "orders")
    dataset = read_dataset(
        {
            "metadata": {"name": object_name, "namespace": "ns"},
            "spec": {"namespace": "s3://lake", "name": "orders"},
            "status": {"materializations": 2},
        }
    )
    controller.views = CronViews(
        cron_workflows=controller.views.cron_workflows,  # type: ignore[union-attr]
        workflows={},
        datasets={("ns", object_name): [dataset]},
    )
    asyncio.run(controller._reconcile(("ns", "hourly"), 0.0))
    assert ("event", "RunRejected") in api.calls
    assert ("status", "1") in api.calls


def test_runs_of_an_earlier_cron_workflow_of_the_same_name_are_not_adopted() -> None:
    # The CronWorkflow was deleted and made again; its old trigger run hourly-ds-1 (same
    # label, owned by the old uid) waits for the garbage collector, or was orphaned. The
    # new one does not take the old run's consumption as its own, and is not stuck on it.
    from kubedag.engine.datasets import dataset_object_name
    from kubedag.k8s.observe import read_dataset, read_workflow

    old_run_body = {
        "metadata": {
            "name": "hourly-ds-1",
            "namespace": "ns",
            "uid": "old-run",
            "labels": {"kubedag.io/cron-workflow": "hourly"},
            "annotations": {
                "kubedag.io/dataset-trigger": '[{"namespace":"s3://lake","name":"orders",'
                '"materializations":2}]'
            },
            "ownerReferences": [{"uid": "old-uid", "controller": True, "kind": "CronWorkflow"}],
        },
        "spec": {"tasks": [{"name": "a", "image": "busybox"}]},
        "status": {"phase": "Running"},
    }

    class TakenApi(FakeApi):
        async def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
            if manifest["metadata"]["name"] == "hourly-ds-1":
                return None
            return await super().create(manifest)

        async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
            return old_run_body

        async def patch_status(self, kind: str, namespace: str, name: str, status: Any) -> str:
            self.calls.append(("status", str((status.get("datasetTrigger") or {}).get("runs"))))
            return "1"

    api = TakenApi()
    body = cron_body(datasetTrigger={"datasets": [{"namespace": "s3://lake", "name": "orders"}]})
    del body["spec"]["schedules"]
    body["status"] = {
        "datasetTrigger": {
            "runs": 0,
            "consumed": [{"namespace": "s3://lake", "name": "orders", "materializations": 2}],
        }
    }
    controller = controller_for(api, body)
    object_name = dataset_object_name("s3://lake", "orders")
    dataset = read_dataset(
        {
            "metadata": {"name": object_name, "namespace": "ns"},
            "spec": {"namespace": "s3://lake", "name": "orders"},
            "status": {"materializations": 3},
        }
    )
    controller.views = CronViews(
        cron_workflows=controller.views.cron_workflows,  # type: ignore[union-attr]
        workflows={("ns", "hourly-ds-1"): [read_workflow(old_run_body)]},
        datasets={("ns", object_name): [dataset]},
    )
    asyncio.run(controller._reconcile(("ns", "hourly"), 0.0))
    # Not adopted (that would record run 1 as made and consume nothing new) and not a
    # pass failing on 409 forever: said, and the trigger goes on with the next number.
    assert ("event", "RunRejected") in api.calls
    assert ("status", "1") in api.calls


def test_a_trigger_dataset_written_only_in_another_namespace_is_pointed_out() -> None:
    # Team b's CronWorkflow waits on s3://lake orders, which team a's tasks write: its
    # Dataset object is in namespace a. Triggers see their own namespace's Datasets; the
    # CronWorkflow says so instead of waiting without a word.
    from kubedag.engine.datasets import dataset_object_name
    from kubedag.k8s.observe import read_dataset

    class Api(FakeApi):
        async def post_event(self, **fields: Any) -> None:
            self.calls.append(("event", f"{fields['reason']}: {fields['message']}"))

        async def patch_status(self, kind: str, namespace: str, name: str, status: Any) -> str:
            return "1"

    api = Api()
    body = cron_body(datasetTrigger={"datasets": [{"namespace": "s3://lake", "name": "orders"}]})
    del body["spec"]["schedules"]
    controller = controller_for(api, body)
    object_name = dataset_object_name("s3://lake", "orders")
    elsewhere = read_dataset(
        {
            "metadata": {"name": object_name, "namespace": "team-a"},
            "spec": {"namespace": "s3://lake", "name": "orders"},
            "status": {"materializations": 3},
        }
    )
    controller.views = CronViews(
        cron_workflows=controller.views.cron_workflows,  # type: ignore[union-attr]
        workflows={},
        datasets={("team-a", object_name): [elsewhere]},
    )
    asyncio.run(controller._reconcile(("ns", "hourly"), 0.0))
    said = [text for kind, text in api.calls if kind == "event"]
    assert any(
        text.startswith("DatasetInOtherNamespace") and "team-a" in text and "orders" in text
        for text in said
    ), said
    assert not [name for kind, name in api.calls if kind == "create"]
