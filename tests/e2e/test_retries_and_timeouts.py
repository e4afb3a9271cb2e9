"""Retries (one Job per attempt, backoff, retry policies) and deadlines, per task and per
workflow, as a user sees them: Jobs, Task attempts, reasons and events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kubedag.names import job_name, task_object_name
from tests.e2e.cluster import Kubectl, task, wait_for, workflow
from tests.e2e.helpers import (
    attempt_ended,
    condition,
    jobs_by_task,
    tasks_by_name,
    timestamp,
    wait_for_phase,
)


def job_names(jobs: list[dict[str, Any]]) -> list[str]:
    return sorted(job["metadata"]["name"] for job in jobs)


def test_failing_task_is_retried_up_to_its_limit_with_one_job_per_attempt(
    kubectl: Kubectl, namespace: str
) -> None:
    retry = {"limit": 2, "backoff": {"delaySeconds": 1, "factor": 2}}
    kubectl.apply(namespace, workflow("flaky", [task("load", exit_code=1, retryStrategy=retry)]))

    body = wait_for_phase(kubectl, namespace, "flaky", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Failed"

    jobs = jobs_by_task(kubectl, namespace, "flaky")
    assert job_names(jobs["load"]) == [job_name("flaky", "load", n) for n in (1, 2, 3)]
    load = tasks_by_name(kubectl, namespace, "flaky")["load"]
    assert load["status"]["phase"] == "Failed"
    attempts = load["status"]["attempts"]
    assert [a["number"] for a in attempts] == [1, 2, 3]
    assert [a["jobName"] for a in attempts] == [job_name("flaky", "load", n) for n in (1, 2, 3)]
    assert [a["exitCode"] for a in attempts] == [1, 1, 1]

    retrying = [
        e
        for e in kubectl.events(namespace, "Task", task_object_name("flaky", "load"))
        if e["reason"] == "TaskRetrying"
    ]
    assert retrying and all(e["type"] == "Warning" for e in retrying), retrying


def test_retries_wait_for_the_backoff_delay_which_grows_by_the_factor(
    kubectl: Kubectl, namespace: str
) -> None:
    retry = {"limit": 2, "backoff": {"delaySeconds": 1, "factor": 2}}
    kubectl.apply(namespace, workflow("backoff", [task("load", exit_code=1, retryStrategy=retry)]))
    wait_for_phase(kubectl, namespace, "backoff", "Succeeded", "Failed")

    jobs = {j["metadata"]["name"]: j for j in jobs_by_task(kubectl, namespace, "backoff")["load"]}
    second, third = (jobs[job_name("backoff", "load", n)] for n in (2, 3))
    load = tasks_by_name(kubectl, namespace, "backoff")["load"]
    # From the end of the attempt (its Pod's, as the Task records it), both with 1 s
    # resolution: 1 s after the first failure, then 1 s * 2 after the second.
    assert timestamp(second["metadata"]["creationTimestamp"]) >= attempt_ended(load, 1) + timedelta(
        seconds=1
    )
    assert timestamp(third["metadata"]["creationTimestamp"]) >= attempt_ended(load, 2) + timedelta(
        seconds=2
    )


def test_on_error_policy_does_not_retry_a_container_that_exits_with_an_error(
    kubectl: Kubectl, namespace: str
) -> None:
    retry = {"limit": 2, "retryPolicy": "OnError"}
    kubectl.apply(namespace, workflow("onerror", [task("load", exit_code=1, retryStrategy=retry)]))

    body = wait_for_phase(kubectl, namespace, "onerror", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Failed"
    assert job_names(jobs_by_task(kubectl, namespace, "onerror")["load"]) == [
        job_name("onerror", "load", 1)
    ]
    load = tasks_by_name(kubectl, namespace, "onerror")["load"]
    assert [a["exitCode"] for a in load["status"]["attempts"]] == [1]
    reasons = {
        e["reason"] for e in kubectl.events(namespace, "Task", task_object_name("onerror", "load"))
    }
    assert "TaskRetrying" not in reasons


def test_on_error_policy_retries_a_task_whose_pod_was_deleted_while_running(
    kubectl: Kubectl, namespace: str
) -> None:
    retry = {"limit": 1, "retryPolicy": "OnError"}
    kubectl.apply(namespace, workflow("evicted", [task("load", seconds=60, retryStrategy=retry)]))

    def running_pod() -> str | None:
        pods = kubectl.list(namespace, "pods", "kubedag.io/workflow=evicted")
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        return running[0]["metadata"]["name"] if running else None

    pod = wait_for("the first attempt's pod to run", running_pod)
    kubectl.run("delete", "pod", "-n", namespace, pod, "--wait=false")

    def second_attempt() -> dict[str, Any] | None:
        load = tasks_by_name(kubectl, namespace, "evicted")["load"]
        attempts = load["status"].get("attempts") or []
        return load if len(attempts) == 2 else None

    load = wait_for("a second attempt of load", second_attempt)
    assert job_names(jobs_by_task(kubectl, namespace, "evicted")["load"]) == [
        job_name("evicted", "load", n) for n in (1, 2)
    ]
    first = load["status"]["attempts"][0]
    assert first["jobName"] == job_name("evicted", "load", 1)
    assert first.get("exitCode") is None  # the container never ended: no exit code


def test_workflow_retry_strategy_is_the_default_for_tasks_without_their_own(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "defaults",
            [
                task("inherits", exit_code=1),
                task("overrides", exit_code=1, retryStrategy={"limit": 0}),
            ],
            retryStrategy={"limit": 1},
        ),
    )
    wait_for_phase(kubectl, namespace, "defaults", "Succeeded", "Failed")

    jobs = jobs_by_task(kubectl, namespace, "defaults")
    assert job_names(jobs["inherits"]) == [job_name("defaults", "inherits", n) for n in (1, 2)]
    assert job_names(jobs["overrides"]) == [job_name("defaults", "overrides", 1)]


def test_task_past_its_deadline_fails_with_reason_deadline_exceeded(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace, workflow("slow", [task("export", seconds=60, activeDeadlineSeconds=2)])
    )

    body = wait_for_phase(kubectl, namespace, "slow", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Failed"
    (job,) = jobs_by_task(kubectl, namespace, "slow")["export"]
    assert job["spec"]["activeDeadlineSeconds"] == 2
    export = tasks_by_name(kubectl, namespace, "slow")["export"]
    assert export["status"]["phase"] == "Failed"
    assert export["status"]["reason"] == "DeadlineExceeded"


def test_workflow_past_its_deadline_deletes_running_jobs_and_skips_tasks_that_never_ran(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "overdue",
            [
                task("quick"),
                task("export", seconds=60),
                task("publish", depends_on=["export"]),
            ],
            onExit=[task("notify", args=["{{workflow.status}}"])],
            activeDeadlineSeconds=4,
        ),
    )

    body = wait_for_phase(kubectl, namespace, "overdue", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Failed"
    succeeded = condition(body, "Succeeded")
    assert (succeeded["status"], succeeded["reason"]) == ("False", "DeadlineExceeded")

    tasks = tasks_by_name(kubectl, namespace, "overdue")
    assert tasks["quick"]["status"]["phase"] == "Succeeded"
    assert (tasks["export"]["status"]["phase"], tasks["export"]["status"]["reason"]) == (
        "Failed",
        "DeadlineExceeded",
    )
    # Its upstream failed on the deadline, so it is skipped like any downstream of a failure.
    assert tasks["publish"]["status"]["phase"] == "Skipped"
    # The exit handler still runs, and learns that the workflow failed.
    assert tasks["notify"]["status"]["phase"] == "Succeeded"

    def export_job_gone() -> bool:
        return "export" not in jobs_by_task(kubectl, namespace, "overdue")

    wait_for("export's running Job to be deleted", export_job_gone)
    jobs = jobs_by_task(kubectl, namespace, "overdue")
    assert "publish" not in jobs
    (notify,) = jobs["notify"]
    assert notify["spec"]["template"]["spec"]["containers"][0]["args"] == ["Failed"]
