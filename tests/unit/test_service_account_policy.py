"""Which ServiceAccounts task Pods may run as (kubedag.engine.service_accounts): each task's
account found as the Job will have it, checked against the namespace's allow-list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubedag.admission.settings import AdmissionSettings, SettingsError
from kubedag.api.pod import PodFields
from kubedag.api.template import TaskTemplateSpec
from kubedag.api.workflow import WorkflowSpec
from kubedag.engine.service_accounts import ServiceAccountPolicy, load_policy, workflow_problems
from kubedag.engine.specs import resolve_spec

POLICY = ServiceAccountPolicy(allowed=["default", "runner"], namespaces={"ops": ["*"]})


def problems(
    spec: dict[str, Any],
    *,
    namespace: str = "team",
    templates: dict[str, TaskTemplateSpec] | None = None,
    pod_defaults: PodFields | None = None,
) -> list[str]:
    workflow = WorkflowSpec.model_validate(spec)
    resolved, errors = resolve_spec(workflow, templates or {})
    assert resolved is not None and not errors
    return [
        str(error)
        for error in workflow_problems(
            resolved, workflow, namespace=namespace, policy=POLICY, pod_defaults=pod_defaults
        )
    ]


def test_a_task_without_an_account_runs_as_the_namespace_default_which_is_checked() -> None:
    assert problems({"tasks": [{"name": "a", "image": "x"}]}) == []
    strict = ServiceAccountPolicy(allowed=["runner"])
    workflow = WorkflowSpec.model_validate({"tasks": [{"name": "a", "image": "x"}]})
    resolved, _ = resolve_spec(workflow, {})
    assert resolved is not None
    found = workflow_problems(resolved, workflow, namespace="team", policy=strict)
    assert [error.path for error in found] == [
        "spec.tasks[0] (no serviceAccountName: the namespace's default)"
    ]
    assert "ServiceAccount 'default' is not allowed" in found[0].message


def test_the_account_the_job_runs_as_is_the_one_checked() -> None:
    # The task's own account wins over taskDefaults', which wins over the Workflow's.
    spec = {
        "serviceAccountName": "admin",
        "taskDefaults": {"serviceAccountName": "runner"},
        "tasks": [
            {"name": "a", "image": "x"},
            {"name": "b", "image": "x", "serviceAccountName": "builder"},
        ],
    }
    assert problems(spec) == [
        "spec.tasks[1].serviceAccountName: ServiceAccount 'builder' is not allowed for task "
        "Pods in namespace 'team' (allowed: 'default', 'runner'; the operator's "
        "ServiceAccount policy, Helm value serviceAccountPolicy)"
    ]


def test_the_workflows_account_is_reported_once_for_all_its_tasks() -> None:
    spec = {
        "serviceAccountName": "admin",
        "tasks": [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}],
        "onExit": [{"name": "notify", "image": "x"}],
    }
    assert [line.split(":")[0] for line in problems(spec)] == ["spec.serviceAccountName"]


def test_a_task_templates_account_is_checked_where_the_workflow_uses_it() -> None:
    template = TaskTemplateSpec(image="x", service_account_name="builder")
    spec = {"tasks": [{"name": "a", "templateRef": {"name": "build"}}]}
    assert [line.split(":")[0] for line in problems(spec, templates={"build": template})] == [
        "spec.tasks[0].serviceAccountName"
    ]


def test_the_operators_task_pod_defaults_account_is_checked_too() -> None:
    found = problems(
        {"tasks": [{"name": "a", "image": "x"}]}, pod_defaults=PodFields(service_account_name="ci")
    )
    assert [line.split(":")[0] for line in found] == ["the operator's task Pod defaults"]


def test_a_namespace_list_replaces_the_general_one_and_a_star_allows_any() -> None:
    spec = {"serviceAccountName": "anything", "tasks": [{"name": "a", "image": "x"}]}
    assert problems(spec, namespace="ops") == []
    assert len(problems(spec, namespace="team")) == 1


def test_the_policy_file_is_read_strictly(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("allowed: [default]\nnamespaces:\n  etl: [default, loader]\n")
    assert load_policy(path) == ServiceAccountPolicy(
        allowed=["default"], namespaces={"etl": ["default", "loader"]}
    )
    path.write_text("allowed: [default]\nnamespace: {etl: [x]}\n")  # a typo
    with pytest.raises(ValueError, match="namespace"):
        load_policy(path)


def test_settings_without_a_policy_file_allow_any_account_as_before() -> None:
    settings = AdmissionSettings.from_environment({})
    assert settings.port is None
    assert settings.service_accounts.unrestricted


@pytest.mark.parametrize(
    ("environment", "variable"),
    [
        ({"KUBEDAG_WEBHOOK_PORT": "https"}, "KUBEDAG_WEBHOOK_PORT"),
        ({"KUBEDAG_WEBHOOK_PORT": "9443"}, "KUBEDAG_WEBHOOK_SECRET"),
        (
            {"KUBEDAG_WEBHOOK_PORT": "9443", "KUBEDAG_WEBHOOK_SECRET": "kd/tls"},
            "KUBEDAG_WEBHOOK_HOSTS",
        ),
        ({"KUBEDAG_SERVICE_ACCOUNT_POLICY": "/nonexistent.yaml"}, "KUBEDAG_SERVICE_ACCOUNT_POLICY"),
    ],
)
def test_settings_that_cannot_work_name_their_variable(
    environment: dict[str, str], variable: str
) -> None:
    with pytest.raises(SettingsError, match=variable):
        AdmissionSettings.from_environment(environment)
