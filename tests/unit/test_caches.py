"""The restart contract of the operator's watch caches (kubedag.handlers.Caches): the
controller gets its views only once every cache has listed its objects — a pass planned
from a half-filled view would not see a Job that exists and create it again — and then
every Workflow gets one pass."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from kubedag.frozen_watches import WatchMonitor
from kubedag.handlers import Caches
from kubedag.k8s.watch_cache import Listing, Source
from kubedag.names import WORKFLOW_LABEL, job_labels, job_name


def workflow(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"namespace": namespace, "name": name, "uid": f"uid-{name}"},
        "spec": {"tasks": [{"name": "a", "image": "busybox:1.36"}]},
    }


def job(namespace: str, workflow_name: str) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": namespace,
            "name": job_name(workflow_name, "a", 1),
            "uid": f"uid-job-{workflow_name}",
            "labels": job_labels(workflow_name, "a", 1),
        },
        "status": {},
    }


class Gated:
    """A resource whose list answers only once `gate` is set, then watches quietly."""

    def __init__(self, kind: str, items: list[dict[str, Any]], gate: asyncio.Event) -> None:
        self.name = kind
        self.items = items
        self.gate = gate
        self.asked: list[tuple[str | None, str | None]] = []

    async def list(self) -> AsyncIterator[Listing]:
        await self.gate.wait()
        yield Listing(self.items, "1")

    async def watch(self, resource_version: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        await asyncio.sleep(3600)
        yield ("BOOKMARK", {})  # never reached


class Controller:
    """What Caches asks of the controller, recorded."""

    def __init__(self) -> None:
        self.views: Any = None
        self.requested: list[tuple[str, str]] = []
        self.views_when_requested: list[Any] = []

    def request(self, key: tuple[str, str]) -> None:
        self.requested.append(key)
        self.views_when_requested.append(self.views)


def test_views_are_handed_over_only_once_every_cache_listed_then_every_workflow_gets_a_pass() -> (
    None
):
    async def main() -> None:
        ready, jobs_ready = asyncio.Event(), asyncio.Event()
        sources: dict[tuple[str, str | None], Gated] = {}

        def source(kind: str, namespace: str | None, labels: str | None) -> Source:
            items = {
                "Workflow": [workflow("ns", "etl"), workflow("ns", "ml")],
                "Job": [job("ns", "etl")],
            }.get(kind, [])
            gated = Gated(kind, items, jobs_ready if kind == "Job" else ready)
            gated.asked.append((namespace, labels))
            sources[(kind, namespace)] = gated
            return gated

        controller = Controller()
        caches = Caches(
            None,  # type: ignore[arg-type]  # no API server: every source is a fake
            controller,  # type: ignore[arg-type]
            [None],
            WatchMonitor(),
            source=source,
        )
        handing_over = caches.start()
        ready.set()  # everything but the Jobs has listed
        await asyncio.sleep(0.05)
        assert controller.views is None
        assert controller.requested == []

        jobs_ready.set()
        await asyncio.wait_for(handing_over, timeout=5)
        assert controller.views is not None
        assert sorted(controller.requested) == [("ns", "etl"), ("ns", "ml")]
        assert all(views is not None for views in controller.views_when_requested)
        assert [record.name for record in controller.views.jobs[("ns", "etl")]] == [
            job_name("etl", "a", 1)
        ]
        # Jobs and Pods are watched by the label kubedag gives them, the rest whole.
        assert sources[("Job", None)].asked == [(None, WORKFLOW_LABEL)]
        assert sources[("Pod", None)].asked == [(None, WORKFLOW_LABEL)]
        assert sources[("Workflow", None)].asked == [(None, None)]
        await caches.stop()

    asyncio.run(main())


def test_one_watch_per_resource_and_namespace_when_the_operator_is_given_namespaces() -> None:
    async def main() -> None:
        made: list[tuple[str, str | None]] = []

        def source(kind: str, namespace: str | None, labels: str | None) -> Source:
            made.append((kind, namespace))
            return Gated(kind, [], asyncio.Event())

        Caches(None, Controller(), ["a", "b"], WatchMonitor(), source=source)  # type: ignore[arg-type]
        kinds = ["Workflow", "Task", "Job", "Pod", "TaskTemplate", "WorkflowTemplate"]
        assert sorted(made) == sorted((kind, ns) for kind in kinds for ns in ("a", "b"))

    asyncio.run(main())


def test_tasks_a_crash_left_uncounted_are_found_in_the_first_listing() -> None:
    """The first listing tells no events; a Succeeded Task whose outlets were not counted
    (the operator died between the Dataset's write and the Task's) is handed to the
    Dataset controller once every cache has listed (issue 10)."""

    class Datasets:
        def __init__(self) -> None:
            self.seen: list[tuple[str, str, str, str]] = []

        def task_seen(self, **fields: Any) -> None:
            self.seen.append(
                (fields["namespace"], fields["object_name"], fields["workflow"], fields["task"])
            )

    task = {
        "metadata": {"namespace": "ns", "name": "etl-a-xyz", "uid": "uid-task"},
        "spec": {"workflow": "etl", "name": "a"},
        "status": {
            "phase": "Succeeded",
            "datasets": {"outlets": [{"namespace": "s3://b", "name": "x"}]},
        },
    }

    async def main() -> None:
        ready = asyncio.Event()

        def source(kind: str, namespace: str | None, labels: str | None) -> Source:
            return Gated(kind, [task] if kind == "Task" else [], ready)

        datasets = Datasets()
        caches = Caches(
            None,  # type: ignore[arg-type]
            Controller(),  # type: ignore[arg-type]
            [None],
            WatchMonitor(),
            source=source,
            datasets=datasets,  # type: ignore[arg-type]
        )
        handing_over = caches.start()
        ready.set()
        await asyncio.wait_for(handing_over, timeout=5)
        assert datasets.seen == [("ns", "etl-a-xyz", "etl", "a")]
        await caches.stop()

    asyncio.run(main())
