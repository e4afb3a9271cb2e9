"""The metrics' meaning (issue 11): gauges computed from what the watch caches hold, the work
queue's depth and ages, and the task start delay measured from the dependencies' finish."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from kubedag.api.workflow import TaskCounts, WorkflowPhase, WorkflowSpec, WorkflowStatus
from kubedag.controller.queue import CoalescingQueue
from kubedag.engine.plan import JobStart
from kubedag.metrics import ClusterStateCollector, WorkflowSample
from tests.unit.simulated_world import EPOCH, World, make_spec

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def scrape(
    collector: ClusterStateCollector,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
    }


def running(namespace: str, started_minutes_ago: int, **counts: int) -> WorkflowSample:
    return WorkflowSample(
        namespace,
        WorkflowStatus(
            phase=WorkflowPhase.RUNNING,
            started_at=NOW - timedelta(minutes=started_minutes_ago),
            tasks=TaskCounts(total=sum(counts.values()), **counts),
        ),
    )


def collector_of(samples: list[WorkflowSample] | None) -> ClusterStateCollector:
    collector = ClusterStateCollector()
    collector.workflows = lambda: samples
    collector.now = lambda: NOW
    return collector


def test_workflows_and_tasks_are_counted_by_namespace_and_phase() -> None:
    values = scrape(
        collector_of(
            [
                running("a", 10, running=2, pending=3),
                running("a", 5, succeeded=4, running=1),
                WorkflowSample("a", WorkflowStatus()),  # no status yet: Pending
                WorkflowSample(
                    "b",
                    WorkflowStatus(phase=WorkflowPhase.FAILED, tasks=TaskCounts(failed=1)),
                ),
            ]
        )
    )
    workflows = {
        labels: value for (name, labels), value in values.items() if name == "kubedag_workflows"
    }
    assert workflows[(("namespace", "a"), ("phase", "Running"))] == 2
    assert workflows[(("namespace", "a"), ("phase", "Pending"))] == 1
    assert workflows[(("namespace", "b"), ("phase", "Failed"))] == 1
    # Every phase has a series, zero included: an alert on a phase never sees "no data".
    assert workflows[(("namespace", "b"), ("phase", "Succeeded"))] == 0
    assert len(workflows) == 2 * len(WorkflowPhase)
    tasks = {labels: value for (name, labels), value in values.items() if name == "kubedag_tasks"}
    assert tasks[(("namespace", "a"), ("phase", "Running"))] == 3
    assert tasks[(("namespace", "a"), ("phase", "Pending"))] == 3
    assert tasks[(("namespace", "a"), ("phase", "Succeeded"))] == 4
    assert tasks[(("namespace", "b"), ("phase", "Failed"))] == 1
    assert tasks[(("namespace", "b"), ("phase", "Skipped"))] == 0


def test_the_longest_running_workflow_age_is_per_namespace_and_zero_without_one() -> None:
    values = scrape(
        collector_of(
            [
                running("a", 10),
                running("a", 90),
                WorkflowSample("b", WorkflowStatus(phase=WorkflowPhase.SUCCEEDED)),
            ]
        )
    )
    name = "kubedag_workflow_longest_running_seconds"
    assert values[(name, (("namespace", "a"),))] == 90 * 60
    assert values[(name, (("namespace", "b"),))] == 0


def test_a_deleted_workflow_leaves_the_gauges_at_the_next_scrape() -> None:
    samples = [running("a", 1, running=5), running("a", 2, running=1)]
    collector = collector_of(samples)
    key = ("kubedag_tasks", (("namespace", "a"), ("phase", "Running")))
    assert scrape(collector)[key] == 6
    samples.pop(0)  # the watch cache dropped it
    assert scrape(collector)[key] == 1


def test_before_the_caches_have_listed_there_are_no_cluster_gauges_rather_than_zeros() -> None:
    names = {name for name, _ in scrape(collector_of(None))}
    assert "kubedag_workflows" not in names
    assert "kubedag_tasks" not in names


def test_the_queue_reports_waiting_requests_their_age_and_the_running_pass() -> None:
    async def scenario() -> None:
        release = asyncio.Event()
        started: list[str] = []

        async def work(key: str, requested_at: float) -> None:
            started.append(key)
            await release.wait()

        queue: CoalescingQueue[str] = CoalescingQueue(work, concurrency=1)
        collector = collector_of([])
        collector.queues["workflows"] = queue
        assert queue.stats() == (0, 0.0, 0.0)
        requested = time.perf_counter()
        queue.request("first")
        queue.request("second")
        queue.request("second")  # coalesces
        await asyncio.sleep(0.05)
        assert started == ["first"]  # the only slot is taken
        waiting, oldest, longest = queue.stats()
        assert waiting == 1
        assert 0 < oldest <= time.perf_counter() - requested
        assert 0 < longest <= time.perf_counter() - requested
        await asyncio.sleep(0.01)
        _, older, longer = queue.stats()
        assert older > oldest and longer > longest  # the ages grow while nothing moves
        values = scrape(collector)
        assert values[("kubedag_workqueue_depth", (("queue", "workflows"),))] == 1
        release.set()
        await queue.idle()
        assert started == ["first", "second"]
        assert queue.stats() == (0, 0.0, 0.0)

    asyncio.run(scenario())


def test_a_task_is_ready_when_its_last_dependency_finished_and_a_root_when_the_run_started() -> (
    None
):
    world = World(make_spec({"a": [], "b": [], "c": ["a", "b"]}))
    first = world.plan()
    assert {start.node: start.ready_at for start in first.start_jobs} == {
        "a": EPOCH,
        "b": EPOCH,
    }
    world.apply(first)
    world.finish(("a", 1))  # at EPOCH + 1 s
    world.apply(world.plan())
    world.finish(("b", 1))  # at EPOCH + 2 s
    world.clock += 7  # the operator sees it late
    (start,) = world.plan().start_jobs
    assert start.node == "c"
    assert start.ready_at == EPOCH + timedelta(seconds=2)
    assert world.now() - start.ready_at == timedelta(seconds=7)


def test_a_retry_has_no_ready_time() -> None:
    spec = WorkflowSpec.model_validate(
        {"tasks": [{"name": "a", "image": "busybox", "retryStrategy": {"limit": 1}}]}
    )
    world = World(spec, exit_codes={"a": [1, 0]})
    world.apply(world.plan())
    world.finish(("a", 1))
    retries: list[JobStart] = []
    for _ in range(10):
        plan = world.plan()
        retries = [start for start in plan.start_jobs if start.attempt == 2]
        if retries:
            break
        world.apply(plan)
        world.clock += 30
    assert [start.ready_at for start in retries] == [None]
