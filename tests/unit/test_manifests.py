from kubedag.api.common import EnvVar, PodMetadata, ResourceRequirements
from kubedag.api.task import TaskResourceSpec
from kubedag.k8s.manifests import build_job_manifest, build_task_manifest
from kubedag.names import job_name, task_object_name


def test_task_manifest_is_owned_by_its_workflow_and_labelled() -> None:
    manifest = build_task_manifest(
        spec=TaskResourceSpec(
            workflow="etl", name="load", task="load", image="loader:1", depends_on=["transform"]
        ),
        workflow_uid="uid-1",
        namespace="data",
    )
    assert manifest["metadata"]["name"] == task_object_name("etl", "load")
    assert manifest["metadata"]["labels"] == {
        "kubedag.io/workflow": "etl",
        "kubedag.io/task": "load",
    }
    owner = manifest["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "Workflow",
        "etl",
        "uid-1",
        True,
    )
    assert manifest["spec"] == {
        "name": "load",
        "task": "load",
        "image": "loader:1",
        "dependsOn": ["transform"],
        "workflow": "etl",
    }


def test_job_manifest_runs_the_container_once_and_is_owned_by_its_task() -> None:
    task = TaskResourceSpec(
        workflow="etl",
        name="load",
        image="loader:1",
        command=["load"],
        args=["--date", "2026-11-28"],
        env=[EnvVar(name="TARGET", value="warehouse")],
        resources=ResourceRequirements(
            requests={"cpu": "500m", "memory": "1Gi"}, limits={"cpu": 2}
        ),
        metadata=PodMetadata(labels={"team": "data"}, annotations={"note": "x"}),
    )
    job = build_job_manifest(
        task=task, task_uid="task-uid", namespace="data", attempt=2, service_account_name="runner"
    )
    assert job["metadata"]["name"] == job_name("etl", "load", 2)
    assert job["metadata"]["ownerReferences"][0]["uid"] == "task-uid"
    assert job["spec"]["backoffLimit"] == 0
    template = job["spec"]["template"]
    assert template["metadata"]["labels"] == {
        "team": "data",
        "kubedag.io/workflow": "etl",
        "kubedag.io/task": "load",
        "kubedag.io/attempt": "2",
    }
    assert template["metadata"]["annotations"] == {"note": "x"}
    pod = template["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "runner"
    (container,) = pod["containers"]
    assert container["name"] == "main"
    assert container["command"] == ["load"]
    assert container["args"] == ["--date", "2026-11-28"]
    assert container["env"] == [{"name": "TARGET", "value": "warehouse"}]
    assert container["resources"] == {
        "limits": {"cpu": 2},
        "requests": {"cpu": "500m", "memory": "1Gi"},
    }


def test_user_labels_cannot_override_kubedag_labels() -> None:
    task = TaskResourceSpec(
        workflow="etl",
        name="load",
        image="x",
        metadata=PodMetadata(labels={"kubedag.io/task": "other"}),
    )
    job = build_job_manifest(
        task=task, task_uid="u", namespace="d", attempt=1, service_account_name=None
    )
    assert job["spec"]["template"]["metadata"]["labels"]["kubedag.io/task"] == "load"
    assert "serviceAccountName" not in job["spec"]["template"]["spec"]
