"""The one place that builds the manifests kubedag creates: Task objects, Jobs, and the
Workflows (runs) CronWorkflows and Backfills create."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubedag.api import API_VERSION
from kubedag.api.pod import PodFields, TerminationMessagePolicy
from kubedag.api.task import TaskResourceSpec
from kubedag.engine.intervals import DataInterval, rfc3339
from kubedag.engine.pod_fields import container_security_context, with_pod_defaults
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


def build_run_manifest(
    *,
    name: str,
    namespace: str,
    interval: DataInterval | None,
    workflow_template: str | None,
    workflow_spec: Mapping[str, Any] | None,
    params: Sequence[Mapping[str, str]],
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    owner: Mapping[str, Any],
) -> dict[str, Any]:
    """A Workflow that runs one data interval (issue 9): of the WorkflowTemplate named
    `workflow_template`, or of the inline `workflow_spec` (wire form, camelCase), never both.
    `params` (`[{name, value}]`) set the run's parameter values: with a template they are
    the run's `spec.params`; with an inline spec they replace the values of the params it
    declares and add the others. `name` comes from kubedag.engine.intervals.run_name.
    Raises ValueError unless exactly one of the two sources is given."""
    if (workflow_template is None) == (workflow_spec is None):
        raise ValueError("a run needs exactly one of workflow_template and workflow_spec")
    if workflow_template is not None:
        spec: dict[str, Any] = {"workflowTemplateRef": {"name": workflow_template}}
        if params:
            spec["params"] = [dict(param) for param in params]
    else:
        assert workflow_spec is not None
        spec = dict(workflow_spec)
        given = {param["name"]: param["value"] for param in params}
        merged = []
        for declared in spec.get("params") or []:
            merged.append(
                {**declared, "value": given.pop(declared["name"])}
                if declared.get("name") in given
                else dict(declared)
            )
        merged += [{"name": key, "value": value} for key, value in given.items()]
        if merged:
            spec["params"] = merged
    if interval is not None:  # None: a run of a dataset trigger (issue 10)
        spec["dataInterval"] = {
            "start": rfc3339(interval.local_start),
            "end": rfc3339(interval.local_end),
        }
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": dict(labels),
        "ownerReferences": [dict(owner)],
    }
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": API_VERSION, "kind": "Workflow", "metadata": metadata, "spec": spec}


def build_dataset_manifest(
    *, name: str, namespace: str, dataset_namespace: str, dataset_name: str
) -> dict[str, Any]:
    """A Dataset object (issue 10); `name` is kubedag.names.dataset_object_name of the pair.
    Not owned by anything: it outlives the runs that write it."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Dataset",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"namespace": dataset_namespace, "name": dataset_name},
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
    pod_defaults: PodFields | None = None,
) -> dict[str, Any]:
    """The Job of one attempt. `service_account_name` is the Workflow's; `pod_defaults`
    are the operator's cluster-wide task Pod defaults, under the task's own fields."""
    labels = job_labels(task.workflow, task.name, attempt)
    pod_metadata = task.metadata
    # The task's own account, else the Workflow's, else the cluster-wide default.
    service_account_name = (
        task.service_account_name
        or service_account_name
        or (pod_defaults.service_account_name if pod_defaults else None)
    )
    task = with_pod_defaults(task, pod_defaults)
    container: dict[str, Any] = {
        "name": MAIN_CONTAINER,
        "image": task.image,
        # File, not FallbackToLogsOnError: the termination message becomes the Task's
        # message and an Event, and the last lines of a log may hold a secret. A task
        # opts in to the log tail with the field itself.
        "terminationMessagePolicy": (
            task.termination_message_policy or TerminationMessagePolicy.FILE
        ).value,
    }
    _set_present(
        container,
        command=task.command,
        args=task.args,
        workingDir=task.working_dir,
        env=[env.to_wire() for env in task.env] if task.env else None,
        envFrom=task.env_from,
        resources=task.resources.to_wire() if task.resources else None,
        volumeMounts=task.volume_mounts,
        imagePullPolicy=task.image_pull_policy.value if task.image_pull_policy else None,
        securityContext=task.security_context,
    )
    init_containers = [
        _with_security_context(container_spec, task.security_context)
        for container_spec in task.init_containers or []
    ]
    # Native sidecars (Kubernetes 1.29+): init containers that keep running; the Job's Pod
    # completes when the main container ends, and the kubelet then stops them.
    init_containers += [
        {**_with_security_context(container_spec, task.security_context), "restartPolicy": "Always"}
        for container_spec in task.sidecars or []
    ]
    pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    _set_present(
        pod_spec,
        initContainers=init_containers or None,
        serviceAccountName=service_account_name,
        securityContext=task.pod_security_context,
        volumes=task.volumes,
        nodeSelector=task.node_selector,
        tolerations=task.tolerations,
        affinity=task.affinity,
        topologySpreadConstraints=task.topology_spread_constraints,
        imagePullSecrets=task.image_pull_secrets,
        priorityClassName=task.priority_class_name,
        runtimeClassName=task.runtime_class_name,
    )
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


def _set_present(target: dict[str, Any], **fields: Any) -> None:
    target.update({name: value for name, value in fields.items() if value is not None})


def _with_security_context(
    container: dict[str, Any], task_context: dict[str, Any] | None
) -> dict[str, Any]:
    security_context = container_security_context(task_context, container.get("securityContext"))
    if security_context is None:
        return container
    return {**container, "securityContext": security_context}
