"""Deleting a Workflow removes its Tasks, Jobs and Pods through the garbage collector."""

from __future__ import annotations

from tests.e2e.cluster import Kubectl, task, wait_for, workflow
from tests.e2e.helpers import wait_for_phase


def test_deleting_a_workflow_removes_its_tasks_jobs_and_pods(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow("doomed", [task("a"), task("b", depends_on=["a"]), task("slow", seconds=600)]),
    )
    wait_for(
        "b to succeed while slow is still running",
        lambda: any(
            (t.get("status") or {}).get("phase") == "Succeeded" and t["spec"]["name"] == "b"
            for t in kubectl.list(namespace, "tasks")
        ),
    )
    assert len(kubectl.list(namespace, "pods", "kubedag.io/workflow=doomed")) == 3
    body = kubectl.get(namespace, "workflow", "doomed")
    assert body["status"]["phase"] == "Running"

    kubectl.run("delete", "-n", namespace, "workflow", "doomed", "--wait=false")
    for resource in ("tasks", "jobs", "pods"):
        wait_for(
            f"{resource} of the deleted workflow to be garbage-collected",
            lambda resource=resource: (
                kubectl.list(namespace, resource, "kubedag.io/workflow=doomed") == []
            ),
            timeout=120,
        )


def test_finished_workflow_keeps_its_records_until_deleted(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(namespace, workflow("kept", [task("only")]))
    wait_for_phase(kubectl, namespace, "kept", "Succeeded")
    assert len(kubectl.list(namespace, "tasks", "kubedag.io/workflow=kept")) == 1
    assert len(kubectl.list(namespace, "jobs", "kubedag.io/workflow=kept")) == 1
