"""Task Pod fields on a real API server: a hardened namespace admits the Pods, volumes,
config and placement reach them, a TaskTemplate's default gives way to the task's, and
the API server refuses a malformed field at admission with Kubernetes' own schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.e2e.cluster import ROOT, Kubectl, task, wait_for, workflow
from tests.e2e.helpers import jobs_by_task, wait_for_phase

EXAMPLES = ROOT / "examples"


def pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = job["spec"]["template"]["spec"]
    return spec


def pods_of(kubectl: Kubectl, namespace: str, workflow_name: str) -> list[dict[str, Any]]:
    return kubectl.list(namespace, "pods", f"kubedag.io/workflow={workflow_name}")


def apply_example(kubectl: Kubectl, namespace: str, name: str) -> None:
    kubectl.run("apply", "-n", namespace, "-f", str(EXAMPLES / name))


def test_restricted_ready_example_succeeds_in_a_namespace_enforcing_restricted(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.run("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    apply_example(kubectl, namespace, "restricted-ready.yaml")
    body = wait_for_phase(kubectl, namespace, "restricted-ready", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded", body["status"].get("message")
    # Admitted for real: the Job controller created the Pods (a refused Pod never exists).
    pods = {
        p["metadata"]["labels"]["kubedag.io/task"]: p
        for p in pods_of(kubectl, namespace, "restricted-ready")
    }
    assert set(pods) == {"extract", "report"}
    extract = pods["extract"]["spec"]
    assert extract["securityContext"]["runAsNonRoot"] is True
    sidecar = next(c for c in extract["initContainers"] if c["name"] == "heartbeat")
    assert sidecar["restartPolicy"] == "Always"
    assert sidecar["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_the_same_task_without_security_fields_gets_no_pod_in_a_restricted_namespace(
    kubectl: Kubectl, namespace: str
) -> None:
    """The counterpart of the test above: admission really checks (the e2e operator runs
    without cluster-wide defaults)."""
    kubectl.run("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    kubectl.apply(namespace, workflow("plain", [task("a")]))
    wait_for("the Job", lambda: jobs_by_task(kubectl, namespace, "plain").get("a"))
    forbidden = wait_for(
        "the Job controller's FailedCreate event",
        lambda: [
            e
            for e in kubectl.list(namespace, "events")
            if e["reason"] == "FailedCreate" and "PodSecurity" in e["message"]
        ],
    )
    assert "restricted" in forbidden[0]["message"]
    assert pods_of(kubectl, namespace, "plain") == []


def test_secret_and_config_map_volumes_and_env_from_reach_the_pod(
    kubectl: Kubectl, namespace: str
) -> None:
    apply_example(kubectl, namespace, "volumes-and-config.yaml")
    body = wait_for_phase(kubectl, namespace, "volumes-and-config", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded", body["status"].get("message")
    (job,) = jobs_by_task(kubectl, namespace, "volumes-and-config")["export"]
    (pod,) = [
        p
        for p in pods_of(kubectl, namespace, "volumes-and-config")
        if p["metadata"]["labels"]["kubedag.io/task"] == "export"
    ]
    for spec in (pod_spec(job), pod["spec"]):
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["credentials"]["secret"]["secretName"] == "warehouse-credentials"
        assert volumes["settings"]["configMap"]["name"] == "pipeline-settings"
        assert "emptyDir" in volumes["scratch"]
        container = spec["containers"][0]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounts["/etc/pipeline"] == "settings"
        assert mounts["/var/run/secrets/warehouse"] == "credentials"
        assert container["envFrom"] == [
            {"configMapRef": {"name": "pipeline-settings"}},
            {"secretRef": {"name": "warehouse-credentials"}},
        ]
    (publish,) = jobs_by_task(kubectl, namespace, "volumes-and-config")["publish"]
    assert [v["name"] for v in pod_spec(publish)["volumes"]] == ["settings"]


def test_a_template_default_is_overridden_by_the_task_and_placement_reaches_the_pod(
    kubectl: Kubectl, namespace: str
) -> None:
    apply_example(kubectl, namespace, "node-placement.yaml")
    body = wait_for_phase(kubectl, namespace, "node-placement", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded", body["status"].get("message")
    jobs = jobs_by_task(kubectl, namespace, "node-placement")
    transform, train = pod_spec(jobs["transform"][0]), pod_spec(jobs["train"][0])
    assert transform["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert transform["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "batch", "effect": "NoSchedule"}
    ]
    assert transform["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert train["nodeSelector"] == {"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
    assert train["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert train["containers"][0]["imagePullPolicy"] == "Always"
    # The workflow's default reaches both.
    assert transform["affinity"] == train["affinity"]
    assert "nodeAffinity" in train["affinity"]
    # And the Pods were scheduled onto a node with that selector.
    nodes = {p["spec"].get("nodeName") for p in pods_of(kubectl, namespace, "node-placement")}
    assert None not in nodes


def test_a_node_selector_no_node_matches_leaves_the_pod_pending_with_it(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "gpu",
            [
                {
                    **task("train"),
                    "nodeSelector": {"kubedag.io/test-pool": "does-not-exist"},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
                }
            ],
        ),
    )
    (pod,) = wait_for("the task's Pod", lambda: pods_of(kubectl, namespace, "gpu") or None)
    assert pod["spec"]["nodeSelector"] == {"kubedag.io/test-pool": "does-not-exist"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists"} in pod["spec"]["tolerations"]
    scheduled = wait_for(
        "the scheduler's verdict",
        lambda: next(
            (
                c
                for c in kubectl.get(namespace, "pod", pod["metadata"]["name"])["status"].get(
                    "conditions", []
                )
                if c["type"] == "PodScheduled"
            ),
            None,
        ),
    )
    assert scheduled["status"] == "False"
    assert scheduled["reason"] == "Unschedulable"


def test_the_api_server_refuses_a_malformed_pod_field_at_admission(
    kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    bad_volume = workflow(
        "bad-volume", [{**task("a"), "volumes": [{"name": "data", "secret": "my-secret"}]}]
    )
    bad_field = workflow("bad-field", [{**task("a"), "podSecurityContext": {"runAsNonRot": True}}])
    bad_template = {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "TaskTemplate",
        "metadata": {"name": "bad-template"},
        "spec": {"image": "x", "tolerations": [{"key": "a", "tolerationSeconds": "soon"}]},
    }
    for document, expected in (
        (bad_volume, 'spec.tasks[0].volumes[0].secret: Invalid value: "string"'),
        (bad_field, 'unknown field "spec.tasks[0].podSecurityContext.runAsNonRot"'),
        (bad_template, 'spec.tolerations[0].tolerationSeconds: Invalid value: "string"'),
    ):
        path = tmp_path / f"{document['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(document))
        result = kubectl.run("apply", "-n", namespace, "-f", str(path), check=False)
        assert result.returncode != 0
        assert expected in result.stderr, result.stderr
    assert kubectl.list(namespace, "workflows") == []


def test_a_pod_the_schema_cannot_refuse_fails_the_task_when_its_job_is_refused(
    kubectl: Kubectl, namespace: str
) -> None:
    """A mount of a volume the Pod does not declare passes the CRD schema; the API server
    refuses the Job, and the task fails saying so."""
    kubectl.apply(
        namespace,
        workflow(
            "undeclared-volume",
            [{**task("a"), "volumeMounts": [{"name": "missing", "mountPath": "/data"}]}],
        ),
    )
    body = wait_for_phase(kubectl, namespace, "undeclared-volume", "Failed", "Succeeded")
    assert body["status"]["phase"] == "Failed"
    (task_object,) = kubectl.list(namespace, "tasks")
    assert task_object["status"]["reason"] == "JobRejected"
    assert "volumeMounts[0].name" in task_object["status"]["message"]
    assert "missing" in task_object["status"]["message"]
