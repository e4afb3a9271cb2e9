"""WorkflowTemplates (issue 9): a whole Workflow spec kept under a name, run by Workflows
with `spec.workflowTemplateRef`; each run keeps the templates it started with."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import yaml

from tests.e2e.cluster import Kubectl, task, wait_for
from tests.e2e.helpers import condition, container_args, jobs_by_task, wait_for_phase
from tests.e2e.operator_process import OperatorProcess


def nightly_template(*, first_seconds: float = 0.5) -> dict[str, Any]:
    """Two tasks in a chain: `extract` (its own container) then `load` (a TaskTemplate)."""
    extract = task("extract", seconds=first_seconds)
    extract["args"] = ["--date", "{{params.date}}", "--source", "{{params.source}}"]
    return {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": "nightly"},
        "spec": {
            "params": [
                {"name": "date", "description": "the day to load"},
                {"name": "source", "default": "orders"},
            ],
            "tasks": [
                extract,
                {
                    "name": "load",
                    "templateRef": {"name": "load-table"},
                    "params": {"table": "{{params.source}}_{{params.date}}"},
                    "dependsOn": ["extract"],
                },
            ],
        },
    }


def load_table_template(*, mode: str = "append") -> dict[str, Any]:
    return {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "TaskTemplate",
        "metadata": {"name": "load-table"},
        "spec": {
            "params": [{"name": "table"}],
            "image": "busybox:1.36",
            "command": ["sh", "-c", "true"],
            "args": ["--table", "{{params.table}}", "--mode", mode],
            "metadata": {"annotations": {"sim.kubedag.io/duration": "300ms"}},
        },
    }


def run_of(name: str, template: str, **params: str) -> dict[str, Any]:
    return {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {
            "workflowTemplateRef": {"name": template},
            "params": [{"name": key, "value": value} for key, value in params.items()],
        },
    }


def kubedag(kubectl: Kubectl, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubedag.cli", *args],
        env=kubectl.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_run_of_a_workflow_template_runs_its_tasks_with_the_runs_params(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(namespace, load_table_template(), nightly_template())
    kubectl.apply(namespace, run_of("nightly-1", "nightly", date="20261129"))

    body = wait_for_phase(kubectl, namespace, "nightly-1", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded", body["status"].get("message")
    jobs = jobs_by_task(kubectl, namespace, "nightly-1")
    # The run's date; the template's default source.
    assert container_args(jobs["extract"][0]) == ["--date", "20261129", "--source", "orders"]
    assert container_args(jobs["load"][0]) == ["--table", "orders_20261129", "--mode", "append"]
    stored = body["status"]["storedWorkflowTemplate"]
    assert [t["name"] for t in stored["tasks"]] == ["extract", "load"]
    assert body["status"]["storedTaskTemplates"]["load-table"]["args"][3] == "append"

    wide = kubectl.run("get", "-n", namespace, "workflow", "nightly-1", "-o", "wide").stdout
    header, row = wide.splitlines()
    assert header.split()[-1] == "TEMPLATE"
    assert row.split()[-1] == "nightly"
    templates = kubectl.run(
        "get", "-n", namespace, "workflowtemplates.kubedag.io"
    ).stdout.splitlines()
    assert [line.split()[0] for line in templates] == ["NAME", "nightly"]


def test_templates_edited_mid_run_do_not_change_the_run_even_across_an_operator_restart(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    kubectl.apply(namespace, load_table_template(), nightly_template(first_seconds=6))
    kubectl.apply(namespace, run_of("steady", "nightly", date="20261129", source="refunds"))
    wait_for(
        "the first task's Job",
        lambda: "extract" in jobs_by_task(kubectl, namespace, "steady"),
    )

    edited = nightly_template()
    edited["spec"]["tasks"][1]["params"]["table"] = "edited_{{params.date}}"
    edited["spec"]["tasks"].append(task("added-later"))
    kubectl.apply(namespace, edited, load_table_template(mode="overwrite"))
    operator.kill()
    operator.start()

    body = wait_for_phase(kubectl, namespace, "steady", "Succeeded", "Failed", timeout=180)
    assert body["status"]["phase"] == "Succeeded", body["status"].get("message")
    jobs = jobs_by_task(kubectl, namespace, "steady")
    assert sorted(jobs) == ["extract", "load"]
    assert container_args(jobs["load"][0]) == ["--table", "refunds_20261129", "--mode", "append"]
    assert {name: len(found) for name, found in jobs.items()} == {"extract": 1, "load": 1}

    # A run started after the edits runs the edited templates.
    kubectl.apply(namespace, run_of("after-edit", "nightly", date="20261130"))
    later = wait_for_phase(kubectl, namespace, "after-edit", "Succeeded", "Failed")
    assert later["status"]["phase"] == "Succeeded", later["status"].get("message")
    jobs = jobs_by_task(kubectl, namespace, "after-edit")
    assert sorted(jobs) == ["added-later", "extract", "load"]
    assert container_args(jobs["load"][0]) == [
        "--table",
        "edited_20261130",
        "--mode",
        "overwrite",
    ]


def test_a_run_of_a_missing_workflow_template_waits_with_a_condition_and_a_warning(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(namespace, run_of("early", "nightly", date="20261129"))

    def waiting() -> dict[str, Any] | None:
        body = kubectl.get(namespace, "workflow", "early")
        status = body.get("status") or {}
        if status.get("phase") != "Pending":
            return None
        succeeded = condition(body, "Succeeded")
        return succeeded if succeeded.get("reason") == "TemplateNotFound" else None

    succeeded = wait_for("the run to wait for its WorkflowTemplate", waiting)
    assert succeeded["status"] == "Unknown"
    assert succeeded["message"] == "waiting for WorkflowTemplate 'nightly'"
    warnings = wait_for(
        "the TemplateNotFound warning",
        lambda: [
            event
            for event in kubectl.events(namespace, "Workflow", "early")
            if event["type"] == "Warning" and event["reason"] == "TemplateNotFound"
        ],
    )
    assert "WorkflowTemplate 'nightly'" in warnings[0]["message"]
    assert kubectl.list(namespace, "tasks") == []

    kubectl.apply(namespace, load_table_template(), nightly_template())
    body = wait_for_phase(kubectl, namespace, "early", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded", body["status"].get("message")


def test_a_run_param_the_template_does_not_declare_fails_the_run_as_an_invalid_spec(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(namespace, load_table_template(), nightly_template())
    kubectl.apply(namespace, run_of("typo", "nightly", date="20261129", sourse="refunds"))

    body = wait_for_phase(kubectl, namespace, "typo", "Failed", "Succeeded")
    succeeded = condition(body, "Succeeded")
    assert succeeded["reason"] == "InvalidSpec"
    assert "WorkflowTemplate 'nightly' has no parameter 'sourse'" in succeeded["message"]
    assert kubectl.list(namespace, "tasks") == []


def test_the_api_server_refuses_a_workflow_with_both_tasks_and_a_template_ref_and_a_changed_ref(
    kubectl: Kubectl, namespace: str
) -> None:
    both = run_of("both", "nightly", date="20261129")
    both["spec"]["tasks"] = [task("extra")]
    refused = kubectl.run(
        "create", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(both), check=False
    )
    assert refused.returncode != 0
    assert "exactly one of tasks and workflowTemplateRef" in refused.stderr

    kubectl.apply(namespace, run_of("fixed", "nightly", date="20261129"))
    changed = kubectl.run(
        "patch",
        "-n",
        namespace,
        "workflow",
        "fixed",
        "--type=merge",
        "-p",
        '{"spec": {"workflowTemplateRef": {"name": "other"}}}',
        check=False,
    )
    assert changed.returncode != 0
    assert "workflowTemplateRef of a Workflow cannot change" in changed.stderr


def test_kubedag_submit_from_a_template_creates_a_run_with_the_given_params(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(namespace, load_table_template(), nightly_template())
    submitted = kubedag(
        kubectl, "submit", "--from", "template/nightly", "-n", namespace, "-p", "date=20261128"
    )
    assert submitted.returncode == 0, submitted.stderr
    name = submitted.stdout.strip()
    assert name.startswith("nightly-")

    body = wait_for_phase(kubectl, namespace, name, "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded", body["status"].get("message")
    extract = jobs_by_task(kubectl, namespace, name)["extract"][0]
    assert container_args(extract) == ["--date", "20261128", "--source", "orders"]
