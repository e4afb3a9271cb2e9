"""`kubedag lint` on datasets (issue 10): it refuses what the operator would refuse, with
the same reasons, before anything is applied."""

from __future__ import annotations

from kubedag.lint import Severity, lint_text


def errors(text: str) -> list[str]:
    return [f"{f.path}: {f.message}" for f in lint_text(text) if f.severity is Severity.ERROR]


WORKFLOW = """
apiVersion: kubedag.io/v1alpha1
kind: Workflow
metadata: {name: w}
spec:
  params: [{name: day, value: "2026-01-01"}]
  tasks:
    - name: a
      image: busybox
      outlets: [%s]
"""


def test_valid_and_templated_datasets_pass() -> None:
    outlet = '{namespace: "s3://lake", name: "orders", partition: "{{params.day}}"}'
    assert errors(WORKFLOW % outlet) == []


def test_an_invalid_literal_namespace_is_refused_with_its_path() -> None:
    found = errors(WORKFLOW % '{namespace: "S3://Lake", name: "orders"}')
    assert len(found) == 1
    assert "spec.tasks[0].outlets[0]" in found[0] and "lower case" in found[0]


def test_a_run_time_reference_in_a_dataset_is_refused() -> None:
    found = errors(WORKFLOW % '{namespace: "s3://lake", name: "{{task.attempt}}"}')
    assert any("only known while the task runs" in message for message in found)


def test_an_unknown_param_in_a_dataset_is_refused() -> None:
    found = errors(WORKFLOW % '{namespace: "s3://lake", name: "{{params.nope}}"}')
    assert any("nope" in message for message in found)


def test_a_cron_workflow_needs_schedules_or_a_trigger() -> None:
    text = """
apiVersion: kubedag.io/v1alpha1
kind: CronWorkflow
metadata: {name: c}
spec:
  workflowSpec: {tasks: [{name: a, image: busybox}]}
"""
    assert any("schedules, a datasetTrigger or both" in m for m in errors(text))


def test_a_trigger_dataset_with_an_invalid_namespace_is_refused() -> None:
    text = """
apiVersion: kubedag.io/v1alpha1
kind: CronWorkflow
metadata: {name: c}
spec:
  datasetTrigger: {datasets: [{namespace: "s3://lake/raw", name: orders}]}
  workflowSpec: {tasks: [{name: a, image: busybox}]}
"""
    found = errors(text)
    assert len(found) == 1 and "spec.datasetTrigger.datasets[0]" in found[0]
