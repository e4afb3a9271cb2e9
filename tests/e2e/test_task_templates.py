"""TaskTemplates: a task definition written once per namespace, used with different params."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, wait_for, workflow
from tests.e2e.helpers import jobs_by_task, tasks_by_name, wait_for_phase


def load_table_template() -> dict[str, Any]:
    return {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "TaskTemplate",
        "metadata": {"name": "load-table"},
        "spec": {
            "params": [
                {"name": "table", "description": "target table"},
                {"name": "mode", "default": "append"},
            ],
            "image": "busybox:1.36",
            "command": ["sh", "-c", 'echo "load-table $*"', "load-table"],
            "args": ["--table", "{{params.table}}", "--mode", "{{params.mode}}"],
            "metadata": {"annotations": {"sim.kubedag.io/duration": "500ms"}},
        },
    }


def uses_template(name: str, **params: str) -> dict[str, Any]:
    return {"name": name, "templateRef": {"name": "load-table"}, "params": params}


def test_template_used_by_two_tasks_renders_each_tasks_params_into_its_job(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(namespace, load_table_template())
    kubectl.apply(
        namespace,
        workflow(
            "warehouse",
            [
                uses_template("load-orders", table="orders_{{params.date}}"),
                uses_template("load-customers", table="customers", mode="overwrite"),
            ],
            params=[{"name": "date", "value": "20240501"}],
        ),
    )
    body = wait_for_phase(kubectl, namespace, "warehouse", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"

    jobs = jobs_by_task(kubectl, namespace, "warehouse")
    orders = jobs["load-orders"][0]["spec"]["template"]["spec"]["containers"][0]
    customers = jobs["load-customers"][0]["spec"]["template"]["spec"]["containers"][0]
    assert orders["image"] == customers["image"] == "busybox:1.36"
    assert orders["args"] == ["--table", "orders_20240501", "--mode", "append"]
    assert customers["args"] == ["--table", "customers", "--mode", "overwrite"]


def test_tasks_own_container_fields_override_the_templates(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(namespace, load_table_template())
    task = uses_template("load-orders", table="orders")
    task["args"] = ["--table", "{{params.table}}", "--dry-run"]
    kubectl.apply(namespace, workflow("dry-run", [task]))
    body = wait_for_phase(kubectl, namespace, "dry-run", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"

    (job,) = jobs_by_task(kubectl, namespace, "dry-run")["load-orders"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["--table", "orders", "--dry-run"]
    assert container["command"] == ["sh", "-c", 'echo "load-table $*"', "load-table"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"table": "orders", "mdoe": "overwrite"},
            "spec.tasks[0].params: the template has no parameter 'mdoe'",
        ),
        ({"mode": "overwrite"}, "spec.tasks[0].params: parameter 'table' of the template needs"),
    ],
    ids=["unknown-param", "missing-required-param"],
)
def test_wrong_template_params_fail_with_invalid_spec(
    kubectl: Kubectl, namespace: str, params: dict[str, str], expected: str
) -> None:
    kubectl.apply(namespace, load_table_template())
    kubectl.apply(namespace, workflow("misfit", [uses_template("load-orders", **params)]))
    body = wait_for_phase(kubectl, namespace, "misfit", "Failed", "Succeeded")
    assert body["status"]["phase"] == "Failed"
    succeeded = next(c for c in body["status"]["conditions"] if c["type"] == "Succeeded")
    assert succeeded["reason"] == "InvalidSpec"
    assert expected in succeeded["message"]
    assert kubectl.list(namespace, "tasks") == []
    assert kubectl.list(namespace, "jobs") == []


def test_workflow_applied_before_its_template_waits_then_runs_once_it_exists(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(namespace, workflow("early", [uses_template("load-orders", table="orders")]))

    def waiting_condition() -> dict[str, Any] | None:
        status = kubectl.get(namespace, "workflow", "early").get("status") or {}
        conditions = {c["type"]: c for c in status.get("conditions", [])}
        succeeded = conditions.get("Succeeded")
        if status.get("phase") == "Pending" and succeeded:
            return succeeded if succeeded["reason"] == "TemplateNotFound" else None
        return None

    succeeded = wait_for("the workflow to wait for its template", waiting_condition)
    assert succeeded["status"] == "Unknown"
    assert "load-table" in succeeded["message"]
    warnings = wait_for(
        "the TemplateNotFound warning event",
        lambda: [
            e
            for e in kubectl.events(namespace, "Workflow", "early")
            if e["type"] == "Warning" and e["reason"] == "TemplateNotFound"
        ],
    )
    assert "load-table" in warnings[0]["message"]
    assert kubectl.list(namespace, "tasks") == []
    assert kubectl.list(namespace, "jobs") == []

    kubectl.apply(namespace, load_table_template())
    body = wait_for_phase(kubectl, namespace, "early", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"
    assert tasks_by_name(kubectl, namespace, "early")["load-orders"]["status"]["phase"] == (
        "Succeeded"
    )


def test_a_running_workflow_keeps_the_template_it_started_with(
    kubectl: Kubectl, namespace: str
) -> None:
    template = load_table_template()
    template["spec"]["metadata"]["annotations"]["sim.kubedag.io/duration"] = "4s"
    kubectl.apply(namespace, template)
    first = uses_template("load-orders", table="orders")
    second = {**uses_template("load-customers", table="customers"), "dependsOn": ["load-orders"]}
    kubectl.apply(namespace, workflow("warehouse", [first, second]))
    wait_for(
        "the first task to run",
        lambda: "load-orders" in jobs_by_task(kubectl, namespace, "warehouse"),
    )
    # Deleted (or edited) mid-run: this run goes on with what it resolved at its start.
    kubectl.run("delete", "-n", namespace, "tasktemplate", "load-table")

    body = wait_for_phase(kubectl, namespace, "warehouse", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"
    customers = jobs_by_task(kubectl, namespace, "warehouse")["load-customers"][0]
    container = customers["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["--table", "customers", "--mode", "append"]
