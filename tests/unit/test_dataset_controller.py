"""The Dataset controller's writes (kubedag.controller.datasets, issue 10): the Dataset is
created on first write and counted before its Tasks are marked; an operator that dies
between the two counts nothing twice; a conflicting writer makes the pass start again."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from kubedag.controller.datasets import DatasetController
from kubedag.k8s.client import Conflict
from kubedag.names import dataset_object_name


class FakeApi:
    """Datasets and Tasks as the API server keeps them, with resourceVersions."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.crash_on_task_patch = False
        self.version = 0

    def _bump(self, body: dict[str, Any]) -> str:
        self.version += 1
        body["metadata"]["resourceVersion"] = str(self.version)
        return str(self.version)

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        found = self.objects.get((kind, name))
        return copy.deepcopy(found) if found else None

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        key = (manifest["kind"], manifest["metadata"]["name"])
        if key in self.objects:
            return None
        body = copy.deepcopy(manifest)
        self._bump(body)
        self.objects[key] = body
        self.calls.append(("create", manifest["kind"]))
        return copy.deepcopy(body)

    async def patch_status(
        self,
        kind: str,
        namespace: str,
        name: str,
        status: dict[str, Any],
        *,
        resource_version: str | None = None,
    ) -> str | None:
        if kind == "Task" and self.crash_on_task_patch:
            raise ConnectionError("the operator died")
        body = self.objects.get((kind, name))
        if body is None:
            return None
        if resource_version is not None and body["metadata"]["resourceVersion"] != resource_version:
            raise Conflict("changed")
        merged = body.setdefault("status", {})
        for field, value in status.items():
            if isinstance(value, dict) and isinstance(merged.get(field), dict):
                merged[field].update(value)
            else:
                merged[field] = value
        self.calls.append(("status", kind))
        return self._bump(body)


def task_body(uid: str, *outlets: str, attempt: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"name": f"task-{uid}", "namespace": "ns", "uid": uid},
        "spec": {"workflow": "producer", "name": f"write-{uid}"},
        "status": {
            "phase": "Succeeded",
            "attempts": [
                {"number": n, "jobName": f"j{n}", "finishedAt": f"2026-03-01T00:0{n}:00Z"}
                for n in range(1, attempt + 1)
            ],
            "datasets": {"outlets": [{"namespace": "s3://lake", "name": o} for o in outlets]},
        },
    }


def dataset_of(api: FakeApi, name: str) -> dict[str, Any]:
    return api.objects[("Dataset", dataset_object_name("s3://lake", name))]


def settle(controller: DatasetController, api: FakeApi, *bodies: dict[str, Any]) -> None:
    """What the watch and the queue do: each Task body is told, every pass runs."""

    async def run() -> None:
        for body in bodies:
            api.objects[("Task", body["metadata"]["name"])] = copy.deepcopy(body)
            controller.task_changed(body)
        for _ in range(20):
            await asyncio.sleep(0.01)
        await controller.queue.stop()

    asyncio.run(run())


def marked(api: FakeApi, uid: str) -> int | None:
    status = api.objects[("Task", f"task-{uid}")]["status"]
    return status["datasets"].get("recordedAttempt")  # type: ignore[no-any-return]


def test_the_dataset_is_created_counted_and_then_the_task_marked() -> None:
    api = FakeApi()
    settle(DatasetController(api), api, task_body("a", "orders"))  # type: ignore[arg-type]
    kinds = [call for call in api.calls]
    assert kinds == [("create", "Dataset"), ("status", "Dataset"), ("status", "Task")]
    found = dataset_of(api, "orders")
    assert found["spec"] == {"namespace": "s3://lake", "name": "orders"}
    assert found["status"]["materializations"] == 1
    assert found["status"]["lastMaterialization"]["task"] == "write-a"
    assert marked(api, "a") == 1


def test_a_crash_between_the_dataset_and_the_task_counts_nothing_twice() -> None:
    api = FakeApi()
    api.crash_on_task_patch = True
    settle(DatasetController(api), api, task_body("a", "orders"))  # type: ignore[arg-type]
    assert dataset_of(api, "orders")["status"]["materializations"] == 1
    # The restarted operator lists the Task again, still unmarked.
    api.crash_on_task_patch = False
    restarted = DatasetController(api)  # type: ignore[arg-type]
    settle(restarted, api, task_body("a", "orders"))
    assert dataset_of(api, "orders")["status"]["materializations"] == 1
    assert marked(api, "a") == 1


def test_a_task_with_several_outlets_is_marked_once_all_count_it() -> None:
    api = FakeApi()
    settle(DatasetController(api), api, task_body("a", "orders", "customers"))  # type: ignore[arg-type]
    assert dataset_of(api, "orders")["status"]["materializations"] == 1
    assert dataset_of(api, "customers")["status"]["materializations"] == 1
    assert marked(api, "a") == 1
    assert [call for call in api.calls if call == ("status", "Task")] == [("status", "Task")]


def test_each_attempt_of_a_retried_run_counts() -> None:
    api = FakeApi()
    controller = DatasetController(api)  # type: ignore[arg-type]
    settle(controller, api, task_body("a", "orders"))
    again = task_body("a", "orders", attempt=2)
    again["status"]["datasets"]["recordedAttempt"] = 1
    settle(DatasetController(api), api, again)  # type: ignore[arg-type]
    assert dataset_of(api, "orders")["status"]["materializations"] == 2
    assert marked(api, "a") == 2


def test_a_conflicting_write_makes_the_pass_read_again() -> None:
    api = FakeApi()
    controller = DatasetController(api)  # type: ignore[arg-type]
    settle(controller, api, task_body("a", "orders"))
    original = api.patch_status
    conflicts = iter([True])

    async def conflicting(kind: str, namespace: str, name: str, status: Any, **kw: Any) -> Any:
        if kind == "Dataset" and next(conflicts, False):
            # Another writer counted meanwhile.
            body = dataset_of(api, "orders")
            body["status"]["materializations"] += 1
            api._bump(body)
        return await original(kind, namespace, name, status, **kw)

    api.patch_status = conflicting  # type: ignore[method-assign]

    async def run() -> None:
        restarted = DatasetController(api)  # type: ignore[arg-type]
        restarted.queue._retry_initial_delay = 0.01
        body = task_body("b", "orders")
        api.objects[("Task", "task-b")] = body
        restarted.task_changed(body)
        for _ in range(100):
            await asyncio.sleep(0.01)
        await restarted.queue.stop()

    asyncio.run(run())
    assert dataset_of(api, "orders")["status"]["materializations"] == 3
    assert marked(api, "b") == 1


@pytest.mark.parametrize("phase", ["Failed", "Running", "Pending"])
def test_tasks_that_did_not_succeed_write_nothing(phase: str) -> None:
    api = FakeApi()
    body = task_body("a", "orders")
    body["status"]["phase"] = phase
    settle(DatasetController(api), api, body)  # type: ignore[arg-type]
    assert api.calls == []
