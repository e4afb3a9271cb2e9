"""The operator's /metrics while a run goes through (issue 11): the gauges go up while it runs
and back down when it ends, the counters grow by what the run did, and the histograms count
one sample per task that ran.

The operator is the session's (it serves every test): counters and histograms are compared
as the difference between a scrape before the run and one after it, and the gauges are
read for this test's namespace only."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.cluster import Kubectl, task, wait_for, workflow
from tests.e2e.operator_process import OperatorProcess

Labels = tuple[tuple[str, str], ...]
Samples = dict[tuple[str, Labels], float]


def scrape(operator: OperatorProcess) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(operator.metrics())
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name` over every series whose labels include `labels`."""
    return sum(
        value
        for (sample, series), value in samples.items()
        if sample == name and set(labels.items()) <= set(series)
    )


def grown(before: Samples, after: Samples) -> Callable[..., float]:
    def by(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    return by


def test_gauges_counters_and_histograms_follow_a_run(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    # a, then b and c in parallel; flaky fails twice (one retry), so the run Fails.
    tasks = [
        task("a", seconds=6),
        task("b", depends_on=["a"], seconds=6),
        task("c", depends_on=["a"], seconds=6),
        task("flaky", exit_code=1, retryStrategy={"limit": 1}),
    ]
    before = scrape(operator)
    assert ("kubedag_workqueue_depth", (("queue", "workflows"),)) in before
    kubectl.apply(namespace, workflow("observed", tasks))

    seen_running_workflows = 0.0
    seen_running_tasks = 0.0
    deadline = time.monotonic() + 180
    while True:
        samples = scrape(operator)
        mine = {"namespace": namespace}
        seen_running_workflows = max(
            seen_running_workflows, total(samples, "kubedag_workflows", phase="Running", **mine)
        )
        seen_running_tasks = max(
            seen_running_tasks, total(samples, "kubedag_tasks", phase="Running", **mine)
        )
        if total(samples, "kubedag_workflows", phase="Failed", **mine) == 1:
            break
        assert time.monotonic() < deadline, "the run did not end within 180 s"
        time.sleep(0.5)
    assert seen_running_workflows == 1
    assert seen_running_tasks >= 1

    # The Workflow's status may say Failed before its last task counts are written.
    def settled() -> Samples | None:
        samples = scrape(operator)
        done = total(samples, "kubedag_tasks", phase="Succeeded", namespace=namespace) == 3
        return samples if done else None

    after = wait_for("the task gauges to settle", settled)
    mine = {"namespace": namespace}
    assert total(after, "kubedag_workflows", phase="Running", **mine) == 0
    assert total(after, "kubedag_workflows", phase="Failed", **mine) == 1
    assert total(after, "kubedag_tasks", phase="Running", **mine) == 0
    assert total(after, "kubedag_tasks", phase="Succeeded", **mine) == 3
    assert total(after, "kubedag_tasks", phase="Failed", **mine) == 1
    assert total(after, "kubedag_workflow_longest_running_seconds", **mine) == 0

    by = grown(before, after)
    assert by("kubedag_workflows_finished_total", phase="Failed", **mine) == 1
    # One duration per task that ran, by its final phase.
    assert by("kubedag_task_duration_seconds_count", phase="Succeeded") == 3
    assert by("kubedag_task_duration_seconds_count", phase="Failed") == 1
    # a, b, c and flaky's first attempt waited for their dependencies; the retry did not.
    assert by("kubedag_task_start_delay_seconds_count") == 4
    assert by("kubedag_task_retries_total") == 1
    # 4 first attempts and the retry: 5 Jobs.
    assert by("kubedag_api_requests_total", verb="create", resource="Job", outcome="ok") >= 5
    assert by("kubedag_reconciles_total", outcome="changed") >= 1
    assert by("kubedag_events_total", type="Warning") >= 1
