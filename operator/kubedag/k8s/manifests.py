"""The one place that builds the manifests kubedag creates: Task objects and Jobs."""

from __future__ import annotations

from typing import Any

from kubedag.api import API_VERSION
from kubedag.api.task import TaskResourceSpec
from kubedag.k8s.observe import MAIN_CONTAINER
from kubedag.names import job_labels, job_name, task_labels, task_object_name


def owner_reference(*, api_version: str, kind: str, name: str, uid: str) -> dict[str, Any]:
    # controller + blockOwnerDeletion: the garbage collector deletes the children when the
    # owner goes, and a foreground delete of the owner waits for them.
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def build_task_manifest(
    *, spec: TaskResourceSpec, workflow_uid: str, namespace: str
) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Task",
        "metadata": {
            "name": task_object_name(spec.workflow, spec.name),
            "namespace": namespace,
            "labels": task_labels(spec.workflow, spec.name),
            "ownerReferences": [
                owner_reference(
                    api_version=API_VERSION, kind="Workflow", name=spec.workflow, uid=workflow_uid
                )
            ],
        },
        "spec": spec.to_wire(),
    }


def build_job_manifest(
    *,
    task: TaskResourceSpec,
    task_uid: str,
    namespace: str,
    attempt: int,
    service_account_name: str | None,
) -> dict[str, Any]:
    labels = job_labels(task.workflow, task.name, attempt)
    pod_metadata = task.metadata
    container: dict[str, Any] = {
        "name": MAIN_CONTAINER,
        "image": task.image,
        # The last lines of a failed container's log become its termination message, so
        # the reason for a failure shows on the Task without reading logs.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    for field_name, value in (
        ("command", task.command),
        ("args", task.args),
        ("workingDir", task.working_dir),
        ("env", [env.to_wire() for env in task.env] if task.env else None),
        ("resources", task.resources.to_wire() if task.resources else None),
    ):
        if value is not None:
            container[field_name] = value
    pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if service_account_name:
        pod_spec["serviceAccountName"] = service_account_name
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(task.workflow, task.name, attempt),
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [
                owner_reference(
                    api_version=API_VERSION,
                    kind="Task",
                    name=task_object_name(task.workflow, task.name),
                    uid=task_uid,
                )
            ],
        },
        "spec": {
            # kubedag owns retries (one Job per attempt, with its own history), so the Job
            # controller must not retry on its own.
            "backoffLimit": 0,
            **(
                {"activeDeadlineSeconds": task.active_deadline_seconds}
                if task.active_deadline_seconds
                else {}
            ),
            "template": {
                "metadata": {
                    "labels": {**((pod_metadata.labels if pod_metadata else None) or {}), **labels},
                    "annotations": (pod_metadata.annotations if pod_metadata else None) or {},
                },
                "spec": pod_spec,
            },
        },
    }
