"""Reading a workflow's outcome the way a user would."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.e2e.cluster import Kubectl, wait_for


def wait_for_phase(
    kubectl: Kubectl, namespace: str, name: str, *phases: str, timeout: float = 120
) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        body = kubectl.get(namespace, "workflows.kubedag.io", name)
        return body if (body.get("status") or {}).get("phase") in phases else None

    return wait_for(f"workflow {name} to reach {phases}", finished, timeout=timeout)


def tasks_by_name(kubectl: Kubectl, namespace: str, workflow: str) -> dict[str, dict[str, Any]]:
    return {
        task["spec"]["name"]: task
        for task in kubectl.list(namespace, "tasks.kubedag.io", f"kubedag.io/workflow={workflow}")
    }


def jobs_by_task(
    kubectl: Kubectl, namespace: str, workflow: str
) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for job in kubectl.list(namespace, "jobs", f"kubedag.io/workflow={workflow}"):
        found.setdefault(job["metadata"]["labels"]["kubedag.io/task"], []).append(job)
    return found


def timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def attempt_ended(task: dict[str, Any], attempt: int = 1) -> datetime:
    """When the task's attempt ended, as its Task records it: its Pod's finishedAt (the
    Job controller's completionTime or Failed condition may come a second later)."""
    found = next(a for a in task["status"]["attempts"] if a["number"] == attempt)
    return timestamp(found["finishedAt"])


def condition(body: dict[str, Any], condition_type: str) -> dict[str, Any]:
    """The status condition of that type (Succeeded, Completed, Suspended)."""
    found: dict[str, Any] = next(
        c for c in body["status"]["conditions"] if c["type"] == condition_type
    )
    return found


def container_args(job: dict[str, Any]) -> list[str]:
    """The rendered args of a Job's container."""
    return list(job["spec"]["template"]["spec"]["containers"][0].get("args", []))
