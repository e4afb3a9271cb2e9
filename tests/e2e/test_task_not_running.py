"""Issue 7, point 3, on a real control plane: a task whose Pod cannot be created or placed
says why (Pending, with the Job controller's or the scheduler's own words, on the Task,
the Workflow, `kubedag get` and one Warning event), and pendingTimeout ends the wait."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from tests.e2e.cluster import Kubectl, task, wait_for, workflow
from tests.e2e.helpers import jobs_by_task, tasks_by_name, wait_for_phase

GPU = {"resources": {"limits": {"nvidia.com/gpu": 1}}}


def task_status(kubectl: Kubectl, namespace: str, workflow_name: str, name: str) -> dict[str, Any]:
    found = tasks_by_name(kubectl, namespace, workflow_name).get(name) or {}
    status: dict[str, Any] = found.get("status") or {}
    return status


def wait_for_reason(
    kubectl: Kubectl, namespace: str, workflow_name: str, name: str, reason: str, timeout: float
) -> dict[str, Any]:
    return wait_for(
        f"task {name} to say {reason}",
        lambda: (
            status
            if (status := task_status(kubectl, namespace, workflow_name, name)).get("reason")
            == reason
            else None
        ),
        timeout=timeout,
    )


def not_running_events(kubectl: Kubectl, namespace: str, task_object: str) -> list[dict[str, Any]]:
    return [
        event
        for event in kubectl.events(namespace, "Task", task_object)
        if event["reason"] == "TaskNotRunning"
    ]


def kubedag_get(kubectl: Kubectl, namespace: str, name: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "kubedag.cli", "get", name, "-n", namespace],
        env=kubectl.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_pod_refused_by_pod_security_shows_pending_with_the_violation_within_seconds(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.run("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    kubectl.apply(namespace, workflow("plain", [task("a")]))
    applied = time.monotonic()
    status = wait_for_reason(kubectl, namespace, "plain", "a", "FailedCreate", timeout=30)
    took = time.monotonic() - applied
    assert status["phase"] == "Pending"
    assert 'violates PodSecurity "restricted:latest"' in status["message"]
    assert status["attempts"][0]["jobName"]  # its Job exists; only its Pod is refused
    assert took < 15, f"took {took:.1f}s"
    body = kubectl.get(namespace, "workflow", "plain")
    assert body["status"]["phase"] == "Running"
    assert body["status"]["message"].startswith("task 'a' is not running: FailedCreate: ")
    # The Job controller keeps retrying (a FailedCreate Event each time); kubedag tells once.
    time.sleep(8)
    task_object = tasks_by_name(kubectl, namespace, "plain")["a"]["metadata"]["name"]
    events = not_running_events(kubectl, namespace, task_object)
    assert len(events) == 1, events
    assert events[0]["type"] == "Warning" and "PodSecurity" in events[0]["message"]
    assert task_status(kubectl, namespace, "plain", "a")["reason"] == "FailedCreate"


def test_a_gpu_no_node_has_shows_the_schedulers_message(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(namespace, workflow("gpu", [{**task("train"), **GPU}]))
    status = wait_for_reason(kubectl, namespace, "gpu", "train", "Unschedulable", timeout=30)
    assert status["phase"] == "Pending"
    assert "Insufficient nvidia.com/gpu" in status["message"]
    shown = kubedag_get(kubectl, namespace, "gpu")
    assert "train  Pending  not running: Unschedulable" in shown
    assert "Insufficient nvidia.com/gpu" in shown
    task_object = tasks_by_name(kubectl, namespace, "gpu")["train"]["metadata"]["name"]
    wait_for("the Warning event", lambda: not_running_events(kubectl, namespace, task_object))


def test_pending_timeout_fails_a_task_whose_pod_never_runs(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow("stuck", [{**task("train"), **GPU, "pendingTimeout": 5}, task("after")]),
    )
    body = wait_for_phase(kubectl, namespace, "stuck", "Succeeded", "Failed", timeout=60)
    assert body["status"]["phase"] == "Failed"
    status = task_status(kubectl, namespace, "stuck", "train")
    assert status["reason"] == "PendingTimeout"
    assert "did not start running within pendingTimeout (5s)" in status["message"]
    assert "Insufficient nvidia.com/gpu" in status["message"]
    assert status["attempts"][-1]["reason"] == "PendingTimeout"
    # Its Job is deleted, so its Pod stops waiting for a node.
    wait_for("the Job to go", lambda: not jobs_by_task(kubectl, namespace, "stuck").get("train"))


def test_a_task_whose_pod_runs_at_once_never_shows_pending_with_a_reason(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(namespace, workflow("fine", [task("a", seconds=1, pendingTimeout=30)]))
    body = wait_for_phase(kubectl, namespace, "fine", "Succeeded", "Failed", timeout=60)
    assert body["status"]["phase"] == "Succeeded"
    task_object = tasks_by_name(kubectl, namespace, "fine")["a"]["metadata"]["name"]
    assert not_running_events(kubectl, namespace, task_object) == []


def test_an_evicted_pod_says_so_in_the_attempts_reason(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(namespace, workflow("evicted", [task("long", seconds=300)]))
    pod = wait_for(
        "the task's running Pod",
        lambda: next(
            (
                p
                for p in kubectl.list(namespace, "pods", "kubedag.io/workflow=evicted")
                if (p.get("status") or {}).get("phase") == "Running"
            ),
            None,
        ),
    )
    name = pod["metadata"]["name"]
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": name, "namespace": namespace},
    }
    kubectl.run(
        "create",
        "--raw",
        f"/api/v1/namespaces/{namespace}/pods/{name}/eviction",
        "-f",
        "-",
        stdin=json.dumps(eviction),
    )
    body = wait_for_phase(kubectl, namespace, "evicted", "Succeeded", "Failed", timeout=60)
    assert body["status"]["phase"] == "Failed"
    status = task_status(kubectl, namespace, "evicted", "long")
    attempt = status["attempts"][-1]
    assert attempt["reason"] == "EvictionByEvictionAPI", status
    assert "BackoffLimitExceeded" not in status["message"]
