"""What `kubectl get` shows a user."""

from __future__ import annotations

import json
from typing import Any

from kubedag.names import task_object_name
from tests.e2e.cluster import Kubectl, task, wait_for, workflow
from tests.e2e.helpers import wait_for_phase


def test_kubectl_get_shows_phase_and_progress_columns(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(namespace, workflow("shown", [task("a"), task("b", depends_on=["a"])]))
    wait_for_phase(kubectl, namespace, "shown", "Succeeded")
    table = kubectl.run("get", "-n", namespace, "kdwf", "shown").stdout.splitlines()
    assert table[0].split() == ["NAME", "PHASE", "PROGRESS", "AGE"]
    assert table[1].split()[:3] == ["shown", "Succeeded", "2/2"]

    tasks = kubectl.run("get", "-n", namespace, "tasks.kubedag.io").stdout.splitlines()
    assert tasks[0].split() == ["NAME", "WORKFLOW", "PHASE", "REASON", "AGE"]
    assert sorted(line.split()[:3] for line in tasks[1:]) == [
        [task_object_name("shown", "a"), "shown", "Succeeded"],
        [task_object_name("shown", "b"), "shown", "Succeeded"],
    ]


def test_the_kubedag_category_lists_workflows_and_tasks(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(namespace, workflow("listed", [task("a")]))
    wait_for_phase(kubectl, namespace, "listed", "Succeeded")
    names = kubectl.run("get", "-n", namespace, "kubedag", "-o", "name").stdout.split()
    assert "workflow.kubedag.io/listed" in names
    assert f"task.kubedag.io/{task_object_name('listed', 'a')}" in names


def test_a_waiting_task_reads_pending_waiting_without_a_status_write(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace, workflow("queued", [task("slow", seconds=6), task("b", depends_on=["slow"])])
    )

    def waiting_task() -> dict[str, Any] | None:
        found = kubectl.run(
            "get",
            "-n",
            namespace,
            "task",
            task_object_name("queued", "b"),
            "-o",
            "json",
            "--show-managed-fields",
            check=False,
        )
        return json.loads(found.stdout) if found.returncode == 0 else None

    waiting = wait_for("the dependent Task to exist", waiting_task)
    # Its start is written once its Job is 2 s old (it runs 6 s).
    slow = wait_for(
        "the first task to read Running",
        lambda: (
            found
            if (found := kubectl.get(namespace, "task", task_object_name("queued", "slow")))[
                "status"
            ]["phase"]
            == "Running"
            else None
        ),
    )
    assert slow["status"]["attempts"][0]["jobName"]
    # The API server fills the status in from the CRD's schema defaults...
    assert waiting["status"]["phase"] == "Pending"
    assert waiting["status"]["reason"] == "Waiting"
    # ...and nobody has written it: no manager owns any field of the status subresource.
    managers = [
        (entry["manager"], entry.get("subresource"))
        for entry in waiting["metadata"]["managedFields"]
    ]
    assert ("kubedag-operator", None) in managers  # it created the Task...
    assert [manager for manager in managers if manager[1] == "status"] == []  # ...not the status
    row = kubectl.run(
        "get", "-n", namespace, "task", task_object_name("queued", "b"), "--no-headers"
    ).stdout.split()
    assert row[2:4] == ["Pending", "Waiting"]

    body = wait_for_phase(kubectl, namespace, "queued", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"
