"""Argo CD's view of kubedag's objects (issue 12): the health checks in
examples/gitops/argocd/health/ run in gopher-lua (Argo CD's Lua VM) on live objects read
from the API server (`kubectl get -o json`, what Argo CD's cache holds), one for each
phase the operator puts them in.

With KUBEDAG_SAVE_HEALTH_FIXTURES=1 the objects are also saved to
tests/chart/fixtures/argocd_health/ (the cluster-free tests in
tests/chart/test_argocd_health.py replay them); each file is named after the health the
check must give."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.chart.argocd_health import health_of
from tests.e2e.cluster import Kubectl, task, wait_for, workflow
from tests.e2e.helpers import wait_for_phase

FIXTURES = Path(__file__).resolve().parents[1] / "chart" / "fixtures" / "argocd_health"
CLEAN_METADATA = ("managedFields", "uid", "resourceVersion", "creationTimestamp", "namespace")


def observed(kubectl: Kubectl, namespace: str, kind: str, name: str, case: str) -> dict[str, Any]:
    """The live object; saved as the fixture `case` when asked to."""
    body = kubectl.get(namespace, kind, name)
    if os.environ.get("KUBEDAG_SAVE_HEALTH_FIXTURES"):
        saved = json.loads(json.dumps(body))
        for key in CLEAN_METADATA:
            saved["metadata"].pop(key, None)
        saved["metadata"].get("annotations", {}).pop(
            "kubectl.kubernetes.io/last-applied-configuration", None
        )
        FIXTURES.mkdir(parents=True, exist_ok=True)
        (FIXTURES / f"{case}.json").write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")
    return body


def patch(kubectl: Kubectl, namespace: str, kind: str, name: str, spec: dict[str, Any]) -> None:
    body = json.dumps({"spec": spec})
    kubectl.run("patch", "-n", namespace, kind, name, "--type=merge", "-p", body)


def test_workflow_health_follows_its_run(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(
        namespace,
        workflow("long", [task("a", seconds=60), task("b", depends_on=["a"])]),
        workflow("quick", [task("a"), task("b", depends_on=["a"])]),
        workflow("broken", [task("a"), task("b", depends_on=["a"], exit_code=3)]),
        workflow("cyclic", [task("a", depends_on=["b"]), task("b", depends_on=["a"])]),
    )
    wait_for_phase(kubectl, namespace, "long", "Running")
    status, message = health_of(
        observed(kubectl, namespace, "workflow", "long", "workflow-running.Progressing")
    )
    assert status == "Progressing"
    assert "0/2" in message

    patch(kubectl, namespace, "workflow", "long", {"suspend": True})
    wait_for(
        "the Suspended condition",
        lambda: any(
            c["type"] == "Suspended" and c["status"] == "True"
            for c in kubectl.get(namespace, "workflow", "long")["status"].get("conditions", [])
        ),
    )
    status, message = health_of(
        observed(kubectl, namespace, "workflow", "long", "workflow-suspended.Suspended")
    )
    assert status == "Suspended"
    assert "suspend" in message

    wait_for_phase(kubectl, namespace, "quick", "Succeeded")
    status, message = health_of(
        observed(kubectl, namespace, "workflow", "quick", "workflow-succeeded.Healthy")
    )
    assert (status, message.endswith("2/2)") or message.endswith("2/2")) == ("Healthy", True)

    wait_for_phase(kubectl, namespace, "broken", "Failed")
    status, message = health_of(
        observed(kubectl, namespace, "workflow", "broken", "workflow-failed.Degraded")
    )
    assert status == "Degraded"
    assert "b" in message

    wait_for_phase(kubectl, namespace, "cyclic", "Failed")
    status, message = health_of(
        observed(kubectl, namespace, "workflow", "cyclic", "workflow-invalid.Degraded")
    )
    assert status == "Degraded"
    assert "cycle" in message.lower()


@pytest.mark.parametrize(
    "document",
    [
        workflow("new", [task("a")]),
        {
            "apiVersion": "kubedag.io/v1alpha1",
            "kind": "CronWorkflow",
            "metadata": {"name": "new"},
            "spec": {"schedules": ["0 3 * * *"], "workflowSpec": {"tasks": [task("a")]}},
        },
        {
            "apiVersion": "kubedag.io/v1alpha1",
            "kind": "Backfill",
            "metadata": {"name": "new"},
            "spec": {
                "workflowSpec": {"tasks": [task("a")]},
                "schedules": ["0 0 * * *"],
                "start": "2026-10-01T00:00:00Z",
                "end": "2026-10-02T00:00:00Z",
            },
        },
    ],
    ids=["Workflow", "CronWorkflow", "Backfill"],
)
def test_an_object_the_operator_has_not_seen_yet_is_progressing(
    kubectl: Kubectl, namespace: str, document: dict[str, Any]
) -> None:
    # What the API server stored at creation, before any pass could write a status: the
    # object as Argo CD sees it right after its sync created it.
    created = json.loads(
        kubectl.run(
            "create", "-n", namespace, "-f", "-", "-o", "json", stdin=json.dumps(document)
        ).stdout
    )
    assert "status" not in created or not created["status"].get("conditions")
    status, message = health_of(created)
    assert status == "Progressing"
    assert "waiting for the kubedag operator" in message


def cron_workflow(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": {"name": name},
        "spec": {"schedules": ["0 3 * * *"], "workflowSpec": {"tasks": [task("a")]}, **spec},
    }


def ready_reason(kubectl: Kubectl, namespace: str, name: str) -> str | None:
    conditions = (kubectl.get(namespace, "cronworkflow", name).get("status") or {}).get(
        "conditions"
    ) or []
    ready = next((c for c in conditions if c["type"] == "Ready"), None)
    return f"{ready['status']}/{ready['reason']}" if ready else None


def test_cron_workflow_health_says_whether_the_schedule_works(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        cron_workflow("nightly"),
        cron_workflow("paused", suspend=True),
        cron_workflow("bad-zone", timeZone="Mars/Olympus_Mons"),
        {
            "apiVersion": "kubedag.io/v1alpha1",
            "kind": "CronWorkflow",
            "metadata": {"name": "no-template"},
            "spec": {"schedules": ["0 3 * * *"], "workflowTemplateRef": {"name": "absent"}},
        },
    )
    wait_for(
        "nightly to be ready",
        lambda: ready_reason(kubectl, namespace, "nightly") == "True/Scheduling",
    )
    status, message = health_of(
        observed(kubectl, namespace, "cronworkflow", "nightly", "cronworkflow-scheduling.Healthy")
    )
    assert status == "Healthy"
    assert "next run at" in message

    wait_for(
        "paused to be read", lambda: ready_reason(kubectl, namespace, "paused") == "True/Suspended"
    )
    status, _ = health_of(
        observed(kubectl, namespace, "cronworkflow", "paused", "cronworkflow-suspended.Suspended")
    )
    assert status == "Suspended"

    wait_for(
        "bad-zone to be refused",
        lambda: (ready_reason(kubectl, namespace, "bad-zone") or "").startswith("False/"),
    )
    status, message = health_of(
        observed(kubectl, namespace, "cronworkflow", "bad-zone", "cronworkflow-invalid.Degraded")
    )
    assert status == "Degraded"
    assert "InvalidSchedule" in message and "Mars" in message

    wait_for(
        "no-template to wait for its template",
        lambda: (ready_reason(kubectl, namespace, "no-template") or "").startswith("False/"),
    )
    status, message = health_of(
        observed(
            kubectl, namespace, "cronworkflow", "no-template", "cronworkflow-no-template.Degraded"
        )
    )
    assert status == "Degraded"
    assert "absent" in message


def backfill(name: str, days: int, seconds: float, **spec: Any) -> dict[str, Any]:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    return {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "Backfill",
        "metadata": {"name": name},
        "spec": {
            "workflowSpec": {"tasks": [task("extract", seconds=seconds)]},
            "schedules": ["0 0 * * *"],
            "start": start.isoformat().replace("+00:00", "Z"),
            "end": (start + timedelta(days=days)).isoformat().replace("+00:00", "Z"),
            **spec,
        },
    }


def backfill_phase(kubectl: Kubectl, namespace: str, name: str) -> str | None:
    return (kubectl.get(namespace, "backfill", name).get("status") or {}).get("phase")


def test_backfill_health_follows_its_phase(kubectl: Kubectl, namespace: str) -> None:
    failing = backfill("failing", 2, 0)
    failing["spec"]["workflowSpec"]["tasks"] = [task("extract", exit_code=2)]
    kubectl.apply(
        namespace,
        backfill("done", 2, 0),
        failing,
        backfill("slow", 4, 60, maxConcurrentRuns=1),
        backfill("paused", 4, 60, maxConcurrentRuns=1),
        backfill("stopped", 4, 60, maxConcurrentRuns=1),
        {
            "apiVersion": "kubedag.io/v1alpha1",
            "kind": "Backfill",
            "metadata": {"name": "orphan"},
            "spec": {
                "cronWorkflowRef": {"name": "absent"},
                "start": "2026-10-01T00:00:00Z",
                "end": "2026-10-03T00:00:00Z",
            },
        },
    )
    wait_for("slow to run", lambda: backfill_phase(kubectl, namespace, "slow") == "Running")
    status, message = health_of(
        observed(kubectl, namespace, "backfill", "slow", "backfill-running.Progressing")
    )
    assert status == "Progressing"
    assert "1 running" in message

    patch(kubectl, namespace, "backfill", "paused", {"suspend": True})
    wait_for(
        "paused to suspend", lambda: backfill_phase(kubectl, namespace, "paused") == "Suspended"
    )
    status, _ = health_of(
        observed(kubectl, namespace, "backfill", "paused", "backfill-suspended.Suspended")
    )
    assert status == "Suspended"

    patch(kubectl, namespace, "backfill", "stopped", {"cancel": True})
    wait_for(
        "stopped to cancel", lambda: backfill_phase(kubectl, namespace, "stopped") == "Cancelled"
    )
    status, message = health_of(
        observed(kubectl, namespace, "backfill", "stopped", "backfill-cancelled.Suspended")
    )
    assert status == "Suspended"
    assert "cancelled" in message

    wait_for(
        "done to succeed",
        lambda: backfill_phase(kubectl, namespace, "done") == "Succeeded",
        timeout=180,
    )
    status, _ = health_of(
        observed(kubectl, namespace, "backfill", "done", "backfill-succeeded.Healthy")
    )
    assert status == "Healthy"

    wait_for(
        "failing to fail",
        lambda: backfill_phase(kubectl, namespace, "failing") == "Failed",
        timeout=180,
    )
    status, message = health_of(
        observed(kubectl, namespace, "backfill", "failing", "backfill-failed.Degraded")
    )
    assert status == "Degraded"
    assert "2 of 2 runs failed" in message

    wait_for("orphan to wait", lambda: backfill_phase(kubectl, namespace, "orphan") == "Pending")
    status, message = health_of(
        observed(kubectl, namespace, "backfill", "orphan", "backfill-unresolved.Degraded")
    )
    assert status == "Degraded"
    assert "CronWorkflowNotFound" in message


def test_the_pipelines_folder_managed_from_git_applies_and_is_healthy(
    kubectl: Kubectl, operator: object
) -> None:
    # What Argo CD or Flux does with examples/gitops/pipelines: apply the folder as it is
    # (its own namespace included), then judge each object's health.
    folder = Path(__file__).resolve().parents[2] / "examples" / "gitops" / "pipelines"
    try:
        kubectl.run("apply", "--server-side", "-f", str(folder / "namespace.yaml"))
        kubectl.run("apply", "--server-side", "-f", str(folder))
        wait_for(
            "the schedules to be read",
            lambda: all(
                ready_reason(kubectl, "data-pipelines", name)
                in ("True/Scheduling", "True/Suspended")
                for name in ("orders-nightly", "orders-hourly-preview")
            ),
        )
        nightly = health_of(kubectl.get("data-pipelines", "cronworkflow", "orders-nightly"))
        assert nightly[0] == "Healthy", nightly
        preview = health_of(kubectl.get("data-pipelines", "cronworkflow", "orders-hourly-preview"))
        assert preview[0] == "Suspended", preview
    finally:
        kubectl.run("delete", "namespace", "data-pipelines", "--wait=false", check=False)
