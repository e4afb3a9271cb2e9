"""Task Pod fields: the four levels' precedence, the Job's Pod they produce, and the
schemas they carry in the CRDs."""

import functools
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedag.api.crd import build_crds
from kubedag.api.kubernetes_schemas import schema, source
from kubedag.api.pod import PodFields, load_pod_defaults
from kubedag.api.task import TaskResourceSpec
from kubedag.api.template import TaskTemplateSpec
from kubedag.api.workflow import WorkflowSpec
from kubedag.cli import main
from kubedag.engine.plan import WorkflowState
from kubedag.engine.planning import plan_next_steps
from kubedag.engine.pod_fields import merge_pod_fields
from kubedag.k8s.manifests import build_job_manifest
from tests.unit.simulated_world import World

ROOT = Path(__file__).resolve().parents[2]


def fields(**values: Any) -> PodFields:
    return PodFields.model_validate(values)


def job_pod(
    task: dict[str, Any],
    *,
    task_defaults: dict[str, Any] | None = None,
    template: dict[str, Any] | None = None,
    cluster: PodFields | None = None,
    service_account_name: str | None = None,
) -> dict[str, Any]:
    """The Pod spec of the first Job the engine starts for a one-task workflow."""
    spec = WorkflowSpec.model_validate(
        {
            "tasks": [{"name": "t", **task}],
            **({"taskDefaults": task_defaults} if task_defaults else {}),
        }
    )
    state = World(spec).state()
    templates = {"tmpl": TaskTemplateSpec.model_validate(template)} if template else {}
    plan = plan_next_steps(
        WorkflowState(**{**state.__dict__, "templates": templates}), now=World(spec).now()
    )
    (start,) = plan.start_jobs
    job = build_job_manifest(
        task=start.spec,
        task_uid="uid",
        namespace="data",
        attempt=1,
        service_account_name=service_account_name,
        pod_defaults=cluster,
    )
    pod: dict[str, Any] = job["spec"]["template"]["spec"]
    return pod


# -- precedence --------------------------------------------------------------------------


def test_task_overrides_template_overrides_workflow_default_overrides_cluster_default() -> None:
    cluster = fields(
        priorityClassName="cluster", runtimeClassName="cluster", imagePullPolicy="Never"
    )
    task_defaults = {"priorityClassName": "workflow", "runtimeClassName": "workflow"}
    template = {"image": "x", "priorityClassName": "template", "imagePullPolicy": "Always"}
    both = job_pod(
        {"templateRef": {"name": "tmpl"}, "priorityClassName": "task"},
        task_defaults=task_defaults,
        template=template,
        cluster=cluster,
    )
    assert both["priorityClassName"] == "task"
    assert both["runtimeClassName"] == "workflow"
    assert both["containers"][0]["imagePullPolicy"] == "Always"
    only_cluster = job_pod({"image": "x"}, cluster=cluster)
    assert only_cluster["priorityClassName"] == "cluster"
    assert only_cluster["containers"][0]["imagePullPolicy"] == "Never"


def test_a_template_default_is_overridden_by_the_task() -> None:
    template = {"image": "x", "nodeSelector": {"pool": "cpu"}, "tolerations": [{"key": "a"}]}
    pod = job_pod(
        {"templateRef": {"name": "tmpl"}, "nodeSelector": {"pool": "gpu"}}, template=template
    )
    assert pod["nodeSelector"] == {"pool": "gpu"}  # replaced whole
    assert pod["tolerations"] == [{"key": "a"}]  # kept: the task does not set it


def test_security_contexts_merge_key_by_key_so_a_task_relaxes_one_setting() -> None:
    cluster = fields(
        podSecurityContext={"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        securityContext={"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    )
    pod = job_pod(
        {
            "image": "x",
            "podSecurityContext": {"runAsNonRoot": False, "runAsUser": 0},
            "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE"]}},
        },
        task_defaults={"securityContext": {"readOnlyRootFilesystem": True}},
        cluster=cluster,
    )
    assert pod["securityContext"] == {
        "runAsNonRoot": False,
        "runAsUser": 0,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["containers"][0]["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
        "readOnlyRootFilesystem": True,
    }


def test_named_lists_merge_by_name_and_mounts_by_path() -> None:
    merged = merge_pod_fields(
        fields(
            volumes=[{"name": "a", "emptyDir": {}}, {"name": "b", "emptyDir": {}}],
            volumeMounts=[{"name": "a", "mountPath": "/a"}],
            imagePullSecrets=[{"name": "registry"}],
        ),
        fields(
            volumes=[{"name": "b", "secret": {"secretName": "s"}}, {"name": "c", "emptyDir": {}}],
            volumeMounts=[{"name": "b", "mountPath": "/a"}],
        ),
    )
    assert merged["volumes"] == [
        {"name": "a", "emptyDir": {}},
        {"name": "b", "secret": {"secretName": "s"}},
        {"name": "c", "emptyDir": {}},
    ]
    assert merged["volume_mounts"] == [{"name": "b", "mountPath": "/a"}]
    assert merged["image_pull_secrets"] == [{"name": "registry"}]


def test_service_account_is_the_tasks_then_the_workflows_then_the_cluster_default() -> None:
    cluster = fields(serviceAccountName="cluster-runner")
    assert job_pod({"image": "x"}, cluster=cluster)["serviceAccountName"] == "cluster-runner"
    on_workflow = job_pod({"image": "x"}, cluster=cluster, service_account_name="wf-runner")
    assert on_workflow["serviceAccountName"] == "wf-runner"
    on_task = job_pod(
        {"image": "x", "serviceAccountName": "task-runner"},
        cluster=cluster,
        service_account_name="wf-runner",
    )
    assert on_task["serviceAccountName"] == "task-runner"


# -- the Job's Pod -----------------------------------------------------------------------

# One value per Pod field, and where the Job's Pod must carry it.
FIELD_VALUES: dict[str, tuple[Any, str]] = {
    "securityContext": ({"runAsUser": 1000}, "containers[0].securityContext"),
    "volumeMounts": ([{"name": "v", "mountPath": "/v"}], "containers[0].volumeMounts"),
    "envFrom": ([{"configMapRef": {"name": "cm"}}], "containers[0].envFrom"),
    "imagePullPolicy": ("Always", "containers[0].imagePullPolicy"),
    "terminationMessagePolicy": (
        "FallbackToLogsOnError",
        "containers[0].terminationMessagePolicy",
    ),
    "podSecurityContext": ({"fsGroup": 2000}, "securityContext"),
    "volumes": ([{"name": "v", "emptyDir": {}}], "volumes"),
    "nodeSelector": ({"pool": "gpu"}, "nodeSelector"),
    "tolerations": ([{"key": "gpu", "operator": "Exists"}], "tolerations"),
    "affinity": ({"nodeAffinity": {}}, "affinity"),
    "topologySpreadConstraints": (
        [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"}],
        "topologySpreadConstraints",
    ),
    "imagePullSecrets": ([{"name": "registry"}], "imagePullSecrets"),
    "priorityClassName": ("high", "priorityClassName"),
    "serviceAccountName": ("runner", "serviceAccountName"),
    "runtimeClassName": ("gvisor", "runtimeClassName"),
    "initContainers": ([{"name": "fetch", "image": "curl"}], "initContainers"),
    "sidecars": (
        [{"name": "proxy", "image": "envoy"}],
        "initContainers",  # native sidecars: init containers that keep running
    ),
}


def at(document: Any, path: str) -> Any:
    for part in re.findall(r"[^.\[\]]+", path):
        document = document[int(part)] if part.isdigit() else document[part]
    return document


def test_the_table_covers_every_pod_field() -> None:
    assert set(FIELD_VALUES) == {field.alias for field in PodFields.model_fields.values()}


@pytest.mark.parametrize("level", ["task", "template", "taskDefaults", "cluster"])
@pytest.mark.parametrize("name", sorted(FIELD_VALUES))
def test_every_pod_field_reaches_the_jobs_pod_from_every_level(name: str, level: str) -> None:
    value, path = FIELD_VALUES[name]
    task: dict[str, Any] = {"image": "x"}
    kwargs: dict[str, Any] = {}
    if level == "task":
        task[name] = value
    elif level == "template":
        task = {"templateRef": {"name": "tmpl"}}
        kwargs["template"] = {"image": "x", name: value}
    elif level == "taskDefaults":
        kwargs["task_defaults"] = {name: value}
    else:
        kwargs["cluster"] = fields(**{name: value})
    pod = job_pod(task, **kwargs)
    found = at(pod, path)
    if name == "sidecars":
        assert found == [{**value[0], "restartPolicy": "Always"}]
    else:
        assert found == value


def test_sidecars_start_after_init_containers_and_inherit_the_security_context() -> None:
    pod = job_pod(
        {
            "image": "x",
            "securityContext": {"allowPrivilegeEscalation": False, "runAsUser": 1000},
            "initContainers": [{"name": "fetch", "image": "curl"}],
            "sidecars": [
                {"name": "proxy", "image": "envoy", "securityContext": {"runAsUser": 1337}}
            ],
        }
    )
    assert pod["initContainers"] == [
        {
            "name": "fetch",
            "image": "curl",
            "securityContext": {"allowPrivilegeEscalation": False, "runAsUser": 1000},
        },
        {
            "name": "proxy",
            "image": "envoy",
            "securityContext": {"allowPrivilegeEscalation": False, "runAsUser": 1337},
            "restartPolicy": "Always",
        },
    ]


def test_termination_message_is_only_the_file_by_default_so_logs_never_become_the_message() -> None:
    job = build_job_manifest(
        task=TaskResourceSpec(workflow="w", name="t", image="x"),
        task_uid="u",
        namespace="d",
        attempt=1,
        service_account_name=None,
    )
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["terminationMessagePolicy"] == "File"


def test_a_task_opts_in_to_the_log_tail_as_its_termination_message() -> None:
    pod = job_pod({"image": "x", "terminationMessagePolicy": "FallbackToLogsOnError"})
    assert pod["containers"][0]["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_the_task_object_records_the_merged_fields_but_not_the_cluster_defaults() -> None:
    spec = WorkflowSpec.model_validate(
        {
            "taskDefaults": {"nodeSelector": {"pool": "a"}},
            "tasks": [{"name": "t", "image": "x", "tolerations": [{"key": "k"}]}],
        }
    )
    (create,) = World(spec).plan().create_tasks
    assert create.spec.node_selector == {"pool": "a"}
    assert create.spec.tolerations == [{"key": "k"}]


# -- the chart's cluster-wide defaults ---------------------------------------------------


@functools.cache
def chart_defaults() -> PodFields:
    """The defaults in manifests/kubedag.yaml (the chart with its default values), read
    by the operator's own loader."""
    text = (ROOT / "manifests/kubedag.yaml").read_text()
    documents = list(yaml.load_all(text, Loader=yaml.CSafeLoader))
    (config_map,) = [
        d
        for d in documents
        if d["kind"] == "ConfigMap" and "task-pod-defaults" in d["metadata"]["name"]
    ]
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--task-pod-defaults=/etc/kubedag/task-pod-defaults.yaml" in args
    path = Path("/tmp") / f"kubedag-test-defaults-{id(config_map)}.yaml"
    path.write_text(config_map["data"]["task-pod-defaults.yaml"])
    try:
        loaded = load_pod_defaults(path)
    finally:
        path.unlink()
    assert loaded is not None
    return loaded


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """The Pod Security `restricted` checks that depend on a task's fields (the API
    server's admission is the real test: tests/e2e/test_pod_fields.py)."""
    problems = []
    pod_context = pod.get("securityContext", {})
    for container in pod["containers"] + pod.get("initContainers", []):
        context = container.get("securityContext", {})
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{container['name']}: allowPrivilegeEscalation")
        if "ALL" not in context.get("capabilities", {}).get("drop", []):
            problems.append(f"{container['name']}: capabilities")
        if not context.get("runAsNonRoot", pod_context.get("runAsNonRoot")):
            problems.append(f"{container['name']}: runAsNonRoot")
        seccomp = context.get("seccompProfile", pod_context.get("seccompProfile", {}))
        if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{container['name']}: seccompProfile")
    return problems


def test_the_charts_defaults_leave_only_run_as_non_root_to_be_restricted_ready() -> None:
    pod = job_pod(
        {"image": "x", "sidecars": [{"name": "proxy", "image": "envoy"}]},
        cluster=chart_defaults(),
    )
    assert restricted_violations(pod) == ["main: runAsNonRoot", "proxy: runAsNonRoot"]
    ready = job_pod(
        {"image": "x", "sidecars": [{"name": "proxy", "image": "envoy"}]},
        task_defaults={"podSecurityContext": {"runAsNonRoot": True, "runAsUser": 1000}},
        cluster=chart_defaults(),
    )
    assert restricted_violations(ready) == []


def test_a_task_relaxes_the_charts_defaults() -> None:
    pod = job_pod(
        {
            "image": "x",
            "securityContext": {"allowPrivilegeEscalation": True, "capabilities": {"drop": []}},
        },
        cluster=chart_defaults(),
    )
    assert pod["containers"][0]["securityContext"] == {
        "allowPrivilegeEscalation": True,
        "capabilities": {"drop": []},
    }


def test_pod_defaults_file_with_an_unknown_field_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "defaults.yaml"
    path.write_text("securityContext: {}\nnodeSelctor: {pool: a}\n")
    with pytest.raises(ValueError, match="nodeSelctor"):
        load_pod_defaults(path)
    path.write_text("")
    assert load_pod_defaults(path) is None


# -- the schemas in the CRDs -------------------------------------------------------------


def test_the_schemas_come_from_the_kubernetes_version_the_test_cluster_runs() -> None:
    build_script = (ROOT / "hack/build-control-plane.sh").read_text()
    (version,) = re.findall(r'^K8S_VERSION="\$\{KUBEDAG_K8S_VERSION:-(.*)\}"$', build_script, re.M)
    assert source() == f"k8s.io/kubernetes@v{version}/api/openapi-spec/v3/api__v1_openapi.json"


@pytest.mark.parametrize(
    ("crd", "path"),
    [
        ("workflows.yaml", "spec.properties.tasks.items.properties"),
        ("workflows.yaml", "spec.properties.onExit.items.properties"),
        ("workflows.yaml", "spec.properties.taskDefaults.properties"),
        ("tasks.yaml", "spec.properties"),
        ("tasktemplates.yaml", "spec.properties"),
    ],
)
def test_crds_carry_the_upstream_schemas_of_the_pod_fields(crd: str, path: str) -> None:
    root = build_crds()[crd]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    properties = at(root, path)
    assert properties["volumes"]["items"] == schema("Volume")
    container = json.loads(json.dumps(schema("Container")).replace("x-kubedag-server-", ""))
    assert properties["initContainers"]["items"] == container
    assert properties["sidecars"]["items"]["properties"]["ports"]["items"]["properties"][
        "protocol"
    ] == {"type": "string", "default": "TCP"}
    assert properties["securityContext"] == {
        **schema("SecurityContext"),
        "description": properties["securityContext"]["description"],
    }
    assert properties["affinity"]["properties"] == schema("Affinity")["properties"]
    assert properties["volumes"]["maxItems"] > 0


def test_an_upstream_quantity_takes_an_integer_or_a_quantity_string() -> None:
    limits = schema("Container")["properties"]["resources"]["properties"]["limits"]
    quantity = limits["additionalProperties"]
    assert quantity["x-kubernetes-int-or-string"] is True
    assert re.match(quantity["pattern"], "500m") and not re.match(quantity["pattern"], "lots")


def test_the_operator_refuses_to_start_with_a_broken_defaults_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "defaults.yaml"
    path.write_text("- not a mapping\n")
    assert main(["operator", "--task-pod-defaults", str(path)]) == 2
    assert "expected a mapping of Pod fields" in capsys.readouterr().err
