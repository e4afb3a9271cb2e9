"""A DAG runs on the real control plane: order, failure, skipping, status, events."""

from __future__ import annotations

from typing import Any

from kubedag.names import task_object_name
from tests.e2e.cluster import Kubectl, task, wait_for, workflow
from tests.e2e.helpers import attempt_ended, jobs_by_task, tasks_by_name, timestamp, wait_for_phase

DIAMOND = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}


def test_diamond_succeeds_and_no_job_starts_before_its_upstream_succeeded(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "diamond",
            [
                task("a", seconds=2),
                task("b", depends_on=["a"], seconds=1),
                task("c", depends_on=["a"], seconds=3),
                task("d", depends_on=["b", "c"]),
            ],
        ),
    )
    body = wait_for_phase(kubectl, namespace, "diamond", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"
    assert body["status"]["progress"] == "4/4"
    assert body["status"]["tasks"]["succeeded"] == 4

    # The run ends when the last Pod does; the Job controller says the same a moment later.
    def all_jobs_succeeded() -> dict[str, list[dict[str, Any]]] | None:
        found = jobs_by_task(kubectl, namespace, "diamond")
        done = all(
            (job.get("status") or {}).get("succeeded") == 1
            for jobs in found.values()
            for job in jobs
        )
        return found if done else None

    jobs = wait_for("the Job controller to mark every Job succeeded", all_jobs_succeeded)
    assert {name: len(found) for name, found in jobs.items()} == {"a": 1, "b": 1, "c": 1, "d": 1}
    tasks = tasks_by_name(kubectl, namespace, "diamond")
    for name, upstream in DIAMOND.items():
        job = jobs[name][0]
        assert job["status"]["succeeded"] == 1
        created = timestamp(job["metadata"]["creationTimestamp"])
        started = timestamp(tasks[name]["status"]["attempts"][0]["startedAt"])
        for dependency in upstream:
            # When the upstream's container ended (its Pod's finishedAt, which the Task's
            # attempt records): the Job controller's completionTime may come a second later.
            ended = attempt_ended(tasks[dependency])
            assert jobs[dependency][0]["status"]["succeeded"] == 1
            # Both clocks are this machine's; the timestamps have 1 s resolution.
            assert created >= ended, f"{name}'s Job was created before {dependency} ended"
            assert started >= timestamp(tasks[dependency]["status"]["finishedAt"])
    # d waited for the slower branch (c, 3 s), not just for b.
    assert timestamp(jobs["d"][0]["metadata"]["creationTimestamp"]) >= attempt_ended(tasks["c"])
    for name, found in tasks.items():
        assert found["status"]["phase"] == "Succeeded", name
        assert found["status"]["attempts"][0]["exitCode"] == 0
        assert found["status"]["attempts"][0]["jobName"] == jobs[name][0]["metadata"]["name"]
        owner = found["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"]) == ("Workflow", "diamond")

    conditions = {c["type"]: c for c in body["status"]["conditions"]}
    assert conditions["Succeeded"]["status"] == "True"
    assert conditions["Completed"]["status"] == "True"
    assert body["status"]["observedGeneration"] == body["metadata"]["generation"]
    reasons = {e["reason"] for e in kubectl.events(namespace, "Workflow", "diamond")}
    assert {"WorkflowStarted", "WorkflowSucceeded"} <= reasons
    task_reasons = {
        e["reason"] for e in kubectl.events(namespace, "Task", task_object_name("diamond", "d"))
    }
    assert {"TaskStarted", "TaskSucceeded"} <= task_reasons


def test_failed_task_skips_its_descendants_while_an_independent_branch_completes(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "etl",
            [
                task("extract"),
                task("transform", depends_on=["extract"], exit_code=3),
                task("load", depends_on=["transform"]),
                task("report", depends_on=["load"]),
                task("audit", seconds=2),
                task("audit-summary", depends_on=["audit"]),
            ],
        ),
    )
    body = wait_for_phase(kubectl, namespace, "etl", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Failed"
    assert "transform" in body["status"]["message"]
    assert "exit code 3" in body["status"]["message"]
    assert body["status"]["tasks"] == {
        "total": 6,
        "pending": 0,
        "running": 0,
        "succeeded": 3,
        "failed": 1,
        "skipped": 2,
    }

    tasks = tasks_by_name(kubectl, namespace, "etl")
    phases = {name: t["status"]["phase"] for name, t in tasks.items()}
    assert phases == {
        "extract": "Succeeded",
        "transform": "Failed",
        "load": "Skipped",
        "report": "Skipped",
        "audit": "Succeeded",
        "audit-summary": "Succeeded",
    }
    failed_attempt = tasks["transform"]["status"]["attempts"][0]
    assert failed_attempt["exitCode"] == 3
    assert failed_attempt["reason"] == "Error"
    assert tasks["load"]["status"]["reason"] == "UpstreamFailed"

    jobs = jobs_by_task(kubectl, namespace, "etl")
    assert "load" not in jobs and "report" not in jobs
    assert set(jobs) == {"extract", "transform", "audit", "audit-summary"}

    warnings = [e for e in kubectl.events(namespace, "Workflow", "etl") if e["type"] == "Warning"]
    assert any(
        e["reason"] == "TaskFailed"
        and "transform" in e["message"]
        and "exit code 3" in e["message"]
        for e in warnings
    ), warnings
    task_warnings = [
        e
        for e in kubectl.events(namespace, "Task", task_object_name("etl", "transform"))
        if e["type"] == "Warning"
    ]
    assert any("exit code 3" in e["message"] for e in task_warnings), task_warnings
