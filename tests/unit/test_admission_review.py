"""The admission webhook's decision: the engine's reasons, in the words of `kubedag lint`
and of the operator's InvalidSpec (one engine for the three)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from kubedag.admission.review import decide, review_response
from kubedag.api.workflow import WorkflowSpec
from kubedag.engine.service_accounts import UNRESTRICTED, ServiceAccountPolicy
from kubedag.lint import Check, lint_text
from kubedag.validation import Templates
from tests.unit.simulated_world import World

NO_TEMPLATES = Templates()

# Specs the API server stores (they pass the CRD's schema) and the engine refuses.
INVALID_SPECS = {
    "cycle": {
        "tasks": [
            {"name": "a", "image": "busybox", "dependsOn": ["c"]},
            {"name": "b", "image": "busybox", "dependsOn": ["a"]},
            {"name": "c", "image": "busybox", "dependsOn": ["b"]},
        ]
    },
    "unknown dependency": {"tasks": [{"name": "load", "image": "x", "dependsOn": ["transfrom"]}]},
    "expression": {
        "tasks": [{"name": "a", "image": "x"}, {"name": "b", "image": "x", "depends": "a.Nope"}]
    },
    "reference": {"tasks": [{"name": "a", "image": "x", "args": ["{{params.missing}}"]}]},
    "fan-out source": {
        "tasks": [{"name": "a", "image": "x", "withParam": "{{tasks.nowhere.outputs.items}}"}]
    },
    "item name": {
        "tasks": [
            {"name": "part", "image": "x", "withItems": ["a", "b"]},
            {"name": "part-1", "image": "x"},
        ]
    },
}


def request(kind: str, spec: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "uid": "u-1",
        "kind": {"group": "kubedag.io", "version": "v1alpha1", "kind": kind},
        "namespace": "team",
        "operation": "CREATE",
        "object": {
            "apiVersion": "kubedag.io/v1alpha1",
            "kind": kind,
            "metadata": {"name": "etl"},
            "spec": spec,
        },
        **extra,
    }


def refusal(kind: str, spec: dict[str, Any], policy: ServiceAccountPolicy = UNRESTRICTED) -> str:
    decision = decide(
        request(kind, spec), templates_in=lambda _: NO_TEMPLATES, service_accounts=policy
    )
    assert not decision.allowed
    return decision.message


@pytest.mark.parametrize("case", sorted(INVALID_SPECS))
def test_the_webhook_refuses_what_lint_and_the_operator_refuse_in_the_same_words(
    case: str,
) -> None:
    spec = INVALID_SPECS[case]
    message = refusal("Workflow", spec)
    document = {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "etl"},
    }
    findings = [
        finding
        for finding in lint_text(yaml.safe_dump({**document, "spec": spec}))
        if finding.check == Check.ENGINE
    ]
    assert findings
    # lint prints "Workflow etl: PATH: MESSAGE"; the webhook "invalid spec: PATH: MESSAGE; ..."
    assert message == "invalid spec: " + "; ".join(
        f"{finding.path}: {finding.message}" for finding in findings
    )
    plan = World(WorkflowSpec.model_validate(spec)).plan()
    assert plan.workflow_status is not None
    condition = next(c for c in plan.workflow_status.conditions if c.reason == "InvalidSpec")
    assert condition.message == message


def test_a_cycle_is_refused_with_its_path() -> None:
    message = refusal("Workflow", INVALID_SPECS["cycle"])
    assert "spec.tasks: dependency cycle: a -> c -> b -> a" in message


def test_a_workflow_template_is_checked_as_a_run_of_it_would_be() -> None:
    message = refusal("WorkflowTemplate", INVALID_SPECS["unknown dependency"])
    assert "task 'load' depends on unknown task 'transfrom'" in message


def test_schedules_of_cron_workflows_and_backfills_are_checked() -> None:
    message = refusal(
        "CronWorkflow", {"schedules": ["61 * * * *"], "workflowTemplateRef": {"name": "t"}}
    )
    assert message.startswith("invalid spec: spec.schedules[0]: ")


def test_a_valid_workflow_is_allowed_without_warnings() -> None:
    decision = decide(
        request("Workflow", {"tasks": [{"name": "a", "image": "busybox"}]}),
        templates_in=lambda _: NO_TEMPLATES,
        service_accounts=UNRESTRICTED,
    )
    assert decision.allowed and decision.warnings == []


def test_a_template_not_there_yet_is_allowed_with_a_warning() -> None:
    decision = decide(
        request("Workflow", {"tasks": [{"name": "a", "templateRef": {"name": "loader"}}]}),
        templates_in=lambda _: NO_TEMPLATES,
        service_accounts=UNRESTRICTED,
    )
    assert decision.allowed
    assert decision.warnings == ["TaskTemplate 'loader' is not in namespace 'team'; not checked"]


def test_references_are_checked_against_the_namespaces_templates() -> None:
    template = WorkflowSpec.model_validate(INVALID_SPECS["reference"])
    asked: list[str] = []

    def templates_in(namespace: str) -> Templates:
        asked.append(namespace)
        return Templates(workflows={"nightly": template})

    decision = decide(
        request("Workflow", {"workflowTemplateRef": {"name": "nightly"}}),
        templates_in=templates_in,
        service_accounts=UNRESTRICTED,
    )
    assert asked == ["team"]
    assert not decision.allowed
    assert (
        decision.message
        == "invalid spec: spec.tasks[0].args[0]: task 'a': unknown parameter 'missing'"
    )


def test_an_update_is_refused_only_for_the_problems_it_adds() -> None:
    # A Workflow stored before the webhook existed must still be labelled, stopped or
    # released; a change that breaks it further is refused.
    # Under a policy that allows `default` only, a Workflow running as `builder`.
    spec = {"serviceAccountName": "builder", "tasks": [{"name": "a", "image": "x"}]}
    old = request("Workflow", spec)["object"]
    labelled = request("Workflow", spec, operation="UPDATE", oldObject=old)
    labelled["object"]["metadata"]["labels"] = {"team": "data"}
    stopped = request("Workflow", {**spec, "shutdown": "Stop"}, operation="UPDATE", oldObject=old)
    worse_tasks = [{"name": "a", "image": "x", "serviceAccountName": "admin"}]
    worse = request("Workflow", {**spec, "tasks": worse_tasks}, operation="UPDATE", oldObject=old)
    policy = ServiceAccountPolicy(allowed=["default"])
    assert decide(labelled, templates_in=lambda _: NO_TEMPLATES, service_accounts=policy).allowed
    assert decide(stopped, templates_in=lambda _: NO_TEMPLATES, service_accounts=policy).allowed
    refused = decide(worse, templates_in=lambda _: NO_TEMPLATES, service_accounts=policy)
    assert not refused.allowed
    assert refused.message.startswith("invalid spec: spec.tasks[0].serviceAccountName: ")
    assert "builder" not in refused.message


def test_objects_of_other_groups_are_allowed_unread() -> None:
    review = request("Workflow", INVALID_SPECS["cycle"])
    review["kind"]["group"] = "argoproj.io"
    assert decide(
        review, templates_in=lambda _: NO_TEMPLATES, service_accounts=UNRESTRICTED
    ).allowed


def test_a_forbidden_service_account_is_refused_with_the_allowed_ones() -> None:
    policy = ServiceAccountPolicy(allowed=["default", "runner"])
    message = refusal(
        "Workflow",
        {"serviceAccountName": "cluster-admin-sa", "tasks": [{"name": "a", "image": "x"}]},
        policy,
    )
    assert message == (
        "invalid spec: spec.serviceAccountName: ServiceAccount 'cluster-admin-sa' is not "
        "allowed for task Pods in namespace 'team' (allowed: 'default', 'runner'; the "
        "operator's ServiceAccount policy, Helm value serviceAccountPolicy)"
    )


def test_a_task_template_naming_a_forbidden_account_is_refused() -> None:
    policy = ServiceAccountPolicy(allowed=["default"])
    message = refusal("TaskTemplate", {"image": "x", "serviceAccountName": "admin"}, policy)
    assert message.startswith("invalid spec: spec.serviceAccountName: ServiceAccount 'admin'")


def test_the_response_echoes_the_uid_and_refuses_with_422() -> None:
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "request": request("Workflow", INVALID_SPECS["cycle"]),
    }
    decision = decide(
        review["request"], templates_in=lambda _: NO_TEMPLATES, service_accounts=UNRESTRICTED
    )
    response = review_response(review, decision)
    assert response["apiVersion"] == "admission.k8s.io/v1"
    assert response["kind"] == "AdmissionReview"
    assert response["response"]["uid"] == "u-1"
    assert response["response"]["allowed"] is False
    assert response["response"]["status"]["code"] == 422
    assert response["response"]["status"]["message"] == decision.message


def test_a_cron_workflows_inline_spec_is_checked_as_its_runs_would_be() -> None:
    spec = {
        "schedules": ["0 * * * *"],
        "workflowSpec": {
            "serviceAccountName": "admin",
            "tasks": [{"name": "a", "image": "x", "args": ["{{schedule.ds}}", "{{params.day}}"]}],
        },
    }
    message = refusal("CronWorkflow", spec, ServiceAccountPolicy(allowed=["default"]))
    assert message == (
        "invalid spec: spec.workflowSpec.tasks[0].args[1]: task 'a': unknown parameter 'day'"
    )
    # {{schedule.*}} is known in a run; the params the CronWorkflow gives are the run's.
    fixed = {**spec, "params": [{"name": "day", "value": "{{schedule.ds}}"}]}
    message = refusal("CronWorkflow", fixed, ServiceAccountPolicy(allowed=["default"]))
    assert message.startswith(
        "invalid spec: spec.workflowSpec.serviceAccountName: ServiceAccount 'admin' is not allowed"
    )


def test_a_backfills_params_are_checked_against_its_workflow_template() -> None:
    template = WorkflowSpec.model_validate({"tasks": [{"name": "a", "image": "x"}]})
    review = request(
        "Backfill",
        {
            "schedules": ["@daily"],
            "start": "2026-01-01T00:00:00Z",
            "end": "2026-01-03T00:00:00Z",
            "workflowTemplateRef": {"name": "nightly"},
            "params": [{"name": "region", "value": "eu"}],
        },
    )
    decision = decide(
        review,
        templates_in=lambda _: Templates(workflows={"nightly": template}),
        service_accounts=UNRESTRICTED,
    )
    assert decision.message == (
        "invalid spec: spec.params[0]: WorkflowTemplate 'nightly' has no parameter 'region' "
        "(it declares: none)"
    )


def test_the_webhook_judges_accounts_with_the_operators_task_pod_defaults() -> None:
    """The chart's taskPodDefaults.serviceAccountName is the account of every task that
    names none (kubedag.k8s.manifests). The webhook refused such a Workflow for the
    namespace's `default` account, which its Pods never use, while the operator ran it;
    and allowed one the operator then refused (review of issue 12)."""
    from kubedag.api.pod import PodFields

    task = {"tasks": [{"name": "load", "image": "x"}]}
    runner_only = ServiceAccountPolicy(allowed=["runner"])
    as_runner = PodFields(service_account_name="runner")
    allowed = decide(
        request("Workflow", task),
        templates_in=lambda _: NO_TEMPLATES,
        service_accounts=runner_only,
        pod_defaults=as_runner,
    )
    assert allowed.allowed, allowed.message
    default_only = ServiceAccountPolicy(allowed=["default"])
    refused = decide(
        request("Workflow", task),
        templates_in=lambda _: NO_TEMPLATES,
        service_accounts=default_only,
        pod_defaults=as_runner,
    )
    assert not refused.allowed
    assert "ServiceAccount 'runner' is not allowed" in refused.message
