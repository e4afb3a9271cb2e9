"""Hostile input and faults (issue 6): nothing wedges, nothing runs twice behind the user's
back, nothing is lost — as a user sees it with kubectl."""

from __future__ import annotations

import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.chaos.policies import REFUSAL_LABEL, install_policies
from tests.e2e.cluster import Kubectl, task, wait_for, workflow
from tests.e2e.helpers import jobs_by_task, tasks_by_name, wait_for_phase
from tests.e2e.operator_process import OperatorProcess


def reasons(kubectl: Kubectl, namespace: str, event_type: str = "Warning") -> list[str]:
    return [e["reason"] for e in kubectl.list(namespace, "events") if e["type"] == event_type]


def pods_created(kubectl: Kubectl, namespace: str, job: str) -> int:
    """Pods the Job controller made for `job` (its SuccessfulCreate events)."""
    return sum(
        e.get("count", 1)
        for e in kubectl.events(namespace, "Job", job)
        if e["reason"] == "SuccessfulCreate"
    )


@pytest.fixture
def deep_json() -> Iterator[None]:
    """This test reads the deep object back too (kubectl get -o json)."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(50_000)
    yield
    sys.setrecursionlimit(previous)


def test_a_workflow_nested_thousands_of_levels_deep_fails_alone_and_the_others_run(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, deep_json: None
) -> None:
    depth = 9_990  # the API server stores up to 10,000 levels
    deep = "[" * depth + '"x"' + "]" * depth
    body = (
        '{"apiVersion":"kubedag.io/v1alpha1","kind":"Workflow","metadata":{"name":"deep"},'
        '"spec":{"tasks":[{"name":"fan","image":"busybox:1.36","withItems":[' + deep + ',"ok"]}]}}'
    )
    kubectl.run(
        "create", "--raw", f"/apis/kubedag.io/v1alpha1/namespaces/{namespace}/workflows", "-f", "-",
        stdin=body,
    )  # fmt: skip
    kubectl.apply(namespace, workflow("fine", [task("a")]))
    assert (
        wait_for_phase(kubectl, namespace, "fine", "Succeeded", "Failed")["status"]["phase"]
        == "Succeeded"
    )
    failed = wait_for_phase(kubectl, namespace, "deep", "Succeeded", "Failed")
    assert failed["status"]["phase"] == "Failed"
    tasks = tasks_by_name(kubectl, namespace, "deep")
    assert tasks["fan-0"]["status"]["reason"] == "InvalidSpec"
    assert tasks["fan-0"]["status"]["message"] == (
        "spec.tasks[0].withItems[0]: item 0 is nested deeper than 32 levels"
    )
    assert tasks["fan-1"]["status"]["phase"] == "Succeeded"
    assert operator.process is not None and operator.process.poll() is None


def test_a_fan_out_item_lacking_a_key_fails_that_item_naming_field_item_and_key(
    kubectl: Kubectl, namespace: str
) -> None:
    per_table = {
        "name": "per-table",
        "image": "busybox:1.36",
        "withItems": [{"table": "orders", "mode": "append"}, {"table": "customers"}],
        "command": ["sh", "-c", "echo load $0 $1"],
        "args": ["{{item.table}}", "{{item.mode}}"],
    }
    kubectl.apply(namespace, workflow("tables", [per_table]))
    body = wait_for_phase(kubectl, namespace, "tables", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Failed"
    message = "spec.tasks[0].args[1]: item 1 of 'per-table' has no key 'mode'"
    assert message in body["status"]["message"]
    tasks = tasks_by_name(kubectl, namespace, "tables")
    assert tasks["per-table-1"]["status"]["reason"] == "InvalidSpec"
    assert tasks["per-table-0"]["status"]["phase"] == "Succeeded"
    assert {
        node: len(jobs) for node, jobs in jobs_by_task(kubectl, namespace, "tables").items()
    } == {"per-table-0": 1}
    assert "TaskFailed" in reasons(kubectl, namespace)


def test_a_job_deleted_by_hand_fails_its_attempt_and_is_never_made_again(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(namespace, workflow("deleted", [task("load", seconds=30)]))
    job = wait_for(
        "load's Job",
        lambda: (jobs_by_task(kubectl, namespace, "deleted").get("load") or [None])[0],
    )
    name = job["metadata"]["name"]
    kubectl.run("delete", "job", "-n", namespace, name, "--wait=true")
    body = wait_for_phase(kubectl, namespace, "deleted", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Failed"
    load = tasks_by_name(kubectl, namespace, "deleted")["load"]["status"]
    assert load["reason"] == "JobDeleted"
    assert [a["reason"] for a in load["attempts"]] == ["JobDeleted"]
    time.sleep(3)
    assert jobs_by_task(kubectl, namespace, "deleted") == {}  # not made again
    assert "TaskFailed" in reasons(kubectl, namespace)


def test_a_job_deleted_while_the_operator_is_down_is_retried_as_a_new_attempt_on_error(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    retry = {"limit": 1, "retryPolicy": "OnError"}
    kubectl.apply(namespace, workflow("down", [task("load", seconds=20, retryStrategy=retry)]))
    job = wait_for(
        "load's Job", lambda: (jobs_by_task(kubectl, namespace, "down").get("load") or [None])[0]
    )
    wait_for(
        "load to be Running",
        lambda: (
            (tasks_by_name(kubectl, namespace, "down")["load"].get("status") or {}).get("phase")
            == "Running"
        ),
    )
    operator.kill()
    try:
        kubectl.run("delete", "job", "-n", namespace, job["metadata"]["name"], "--wait=true")
    finally:
        operator.start()
    wait_for(
        "a second attempt",
        lambda: len(tasks_by_name(kubectl, namespace, "down")["load"]["status"]["attempts"]) == 2,
    )
    attempts = tasks_by_name(kubectl, namespace, "down")["load"]["status"]["attempts"]
    assert attempts[0]["reason"] == "JobDeleted"
    assert attempts[0]["jobName"] != attempts[1]["jobName"]
    assert "TaskRetrying" in reasons(kubectl, namespace)


@pytest.fixture
def refused_task_success(kubectl: Kubectl, namespace: str) -> Iterator[Callable[[], None]]:
    """Task status writes saying Succeeded or Failed are refused in this namespace — a
    stand-in for a write that fails (an API error, a webhook down) — by the chaos suite's
    ValidatingAdmissionPolicy. Yields the call that ends the refusal."""
    install_policies(kubectl)
    kubectl.run("label", "namespace", namespace, f"{REFUSAL_LABEL}=task-final")
    time.sleep(2)  # the policy compiles before it applies

    def stop_refusing() -> None:
        kubectl.run("label", "namespace", namespace, f"{REFUSAL_LABEL}-", check=False)

    yield stop_refusing
    stop_refusing()


def test_clean_up_waits_for_the_stored_final_status_so_a_lost_write_never_reruns_a_task(
    kubectl: Kubectl, namespace: str, refused_task_success: Callable[[], None]
) -> None:
    kubectl.apply(
        namespace, workflow("once", [task("load", seconds=1)], jobCleanup="OnTaskSuccess")
    )
    job = wait_for(
        "load's Job", lambda: (jobs_by_task(kubectl, namespace, "once").get("load") or [None])[0]
    )
    wait_for(
        "the refused write to show on the Workflow",
        lambda: any(
            c["type"] == "Synced" and c["status"] == "False"
            for c in (kubectl.get(namespace, "workflow", "once").get("status") or {}).get(
                "conditions", []
            )
        ),
    )
    # Refused for a while: the Job stays, the run is not over.
    assert kubectl.get(namespace, "workflow", "once")["status"]["phase"] == "Running"
    assert (
        jobs_by_task(kubectl, namespace, "once")["load"][0]["metadata"]["uid"]
        == (job["metadata"]["uid"])
    )
    assert "ReconcileError" in reasons(kubectl, namespace)
    refused_task_success()
    body = wait_for_phase(kubectl, namespace, "once", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"
    assert [c["status"] for c in body["status"]["conditions"] if c["type"] == "Synced"] == ["True"]
    wait_for(
        "the Job to be cleaned up", lambda: "load" not in jobs_by_task(kubectl, namespace, "once")
    )
    assert pods_created(kubectl, namespace, job["metadata"]["name"]) == 1


def test_a_run_is_not_finished_while_a_task_final_status_is_refused(
    kubectl: Kubectl, namespace: str, refused_task_success: Callable[[], None]
) -> None:
    kubectl.apply(namespace, workflow("last-write", [task("only", seconds=1)]))
    wait_for(
        "the Job to succeed",
        lambda: any(
            (job.get("status") or {}).get("succeeded")
            for job in jobs_by_task(kubectl, namespace, "last-write").get("only", [])
        ),
    )
    time.sleep(3)
    assert kubectl.get(namespace, "workflow", "last-write")["status"]["phase"] == "Running"
    refused_task_success()
    body = wait_for_phase(kubectl, namespace, "last-write", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"
    only = tasks_by_name(kubectl, namespace, "last-write")["only"]["status"]
    assert only["phase"] == "Succeeded"
    assert "TaskSucceeded" in reasons(kubectl, namespace, "Normal")


def _jobs_created(operator: OperatorProcess) -> float:
    """Jobs the operator created so far, from its Prometheus metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics") as reply:
        text = reply.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("kubedag_api_requests_total{") and all(
            label in line for label in ('verb="create"', 'resource="Job"', 'outcome="ok"')
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_deleting_a_large_fan_out_stops_its_job_creation_and_other_runs_go_on(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    items: list[Any] = list(range(1000))
    kubectl.apply(namespace, workflow("big", [task("part", withItems=items)]))
    wait_for("the first Jobs", lambda: jobs_by_task(kubectl, namespace, "big"))
    kubectl.run("delete", "workflow", "-n", namespace, "big", "--wait=false")
    deleted_at = _jobs_created(operator)
    kubectl.apply(namespace, workflow("small", [task("a")]))
    body = wait_for_phase(kubectl, namespace, "small", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"
    time.sleep(3)
    # At most one group of creations between two checks, and small's Job.
    assert _jobs_created(operator) - deleted_at <= 51


def test_a_task_deleted_by_hand_while_it_runs_comes_back_failed_and_is_not_run_again(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(namespace, workflow("gone", [task("load", seconds=30)]))
    wait_for(
        "load to be Running",
        lambda: (
            (tasks_by_name(kubectl, namespace, "gone").get("load", {}).get("status") or {}).get(
                "phase"
            )
            == "Running"
        ),
    )
    job = jobs_by_task(kubectl, namespace, "gone")["load"][0]["metadata"]["name"]
    load = tasks_by_name(kubectl, namespace, "gone")["load"]["metadata"]["name"]
    kubectl.run("delete", "task", "-n", namespace, load, "--wait=true")
    body = wait_for_phase(kubectl, namespace, "gone", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Failed"
    status = tasks_by_name(kubectl, namespace, "gone")["load"]["status"]
    assert status["reason"] == "TaskDeleted"
    assert len(status["attempts"]) == 1
    wait_for(
        "the garbage collector to remove the old Job",
        lambda: "load" not in jobs_by_task(kubectl, namespace, "gone"),
    )
    time.sleep(3)
    assert "load" not in jobs_by_task(kubectl, namespace, "gone")  # not made again
    assert pods_created(kubectl, namespace, job) == 1
