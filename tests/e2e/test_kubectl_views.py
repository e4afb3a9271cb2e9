"""What `kubectl get` shows a user."""

from __future__ import annotations

from tests.e2e.cluster import Kubectl, task, workflow
from tests.e2e.helpers import wait_for_phase


def test_kubectl_get_shows_phase_and_progress_columns(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(namespace, workflow("shown", [task("a"), task("b", depends_on=["a"])]))
    wait_for_phase(kubectl, namespace, "shown", "Succeeded")
    table = kubectl.run("get", "-n", namespace, "wf", "shown").stdout.splitlines()
    assert table[0].split() == ["NAME", "PHASE", "PROGRESS", "AGE"]
    assert table[1].split()[:3] == ["shown", "Succeeded", "2/2"]

    tasks = kubectl.run("get", "-n", namespace, "tasks").stdout.splitlines()
    assert tasks[0].split() == ["NAME", "WORKFLOW", "PHASE", "REASON", "AGE"]
    assert sorted(line.split()[:3] for line in tasks[1:]) == [
        ["shown-a", "shown", "Succeeded"],
        ["shown-b", "shown", "Succeeded"],
    ]


def test_the_kubedag_category_lists_workflows_and_tasks(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(namespace, workflow("listed", [task("a")]))
    wait_for_phase(kubectl, namespace, "listed", "Succeeded")
    names = kubectl.run("get", "-n", namespace, "kubedag", "-o", "name").stdout.split()
    assert "workflow.kubedag.io/listed" in names
    assert "task.kubedag.io/listed-a" in names
