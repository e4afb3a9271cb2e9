"""Parameters and templating, and outputs passed between tasks: what a Job really gets."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, task, wait_for, workflow
from tests.e2e.helpers import jobs_by_task, tasks_by_name, wait_for_phase


def test_workflow_params_and_builtins_are_rendered_into_the_jobs_container(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "daily-sales",
            [
                task(
                    "extract",
                    params={"table": "orders_{{params.date}}"},
                    args=[
                        "--date={{params.date}}",
                        "--region={{params.region}}",
                        "--table={{params.table}}",
                        "--run={{workflow.name}}",
                        "--attempt={{task.attempt}}",
                    ],
                    env=[
                        {"name": "RUN_DATE", "value": "{{params.date}}"},
                        {"name": "TASK_NAME", "value": "{{task.name}}"},
                        {"name": "RUN_NAMESPACE", "value": "{{workflow.namespace}}"},
                    ],
                )
            ],
            params=[
                {"name": "date", "value": "2024-05-01", "default": "1970-01-01"},
                {"name": "region", "default": "eu-west-1"},
            ],
        ),
    )
    body = wait_for_phase(kubectl, namespace, "daily-sales", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"

    container = _container(kubectl, namespace, "daily-sales", "extract")
    assert container["args"] == [
        "--date=2024-05-01",
        "--region=eu-west-1",
        "--table=orders_2024-05-01",
        "--run=daily-sales",
        "--attempt=1",
    ]
    assert container["env"] == [
        {"name": "RUN_DATE", "value": "2024-05-01"},
        {"name": "TASK_NAME", "value": "extract"},
        {"name": "RUN_NAMESPACE", "value": namespace},
    ]


def test_a_run_with_a_data_interval_renders_it_into_its_jobs(
    kubectl: Kubectl, namespace: str
) -> None:
    # What a CronWorkflow or a Backfill sets on each run (issue 9); here written by hand.
    interval = {"start": "2026-11-29T00:00:00+01:00", "end": "2026-11-30T00:00:00+01:00"}
    kubectl.apply(
        namespace,
        workflow(
            "partition",
            [
                task(
                    "load",
                    args=[
                        "--from={{schedule.intervalStart}}",
                        "--to={{schedule.intervalEnd}}",
                        "--path={{params.path}}",
                    ],
                )
            ],
            dataInterval=interval,
            params=[{"name": "path", "value": "lake/orders/dt={{schedule.ds}}"}],
        ),
    )
    body = wait_for_phase(kubectl, namespace, "partition", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"
    assert _container(kubectl, namespace, "partition", "load")["args"] == [
        "--from=2026-11-29T00:00:00+01:00",
        "--to=2026-11-30T00:00:00+01:00",
        "--path=lake/orders/dt=2026-11-29",
    ]


def test_a_run_without_a_data_interval_cannot_name_one(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(namespace, workflow("unscheduled", [task("load", args=["{{schedule.ds}}"])]))
    message = _invalid_spec_message(kubectl, namespace, "unscheduled")
    assert "spec.tasks[0].args[0]" in message and "spec.dataInterval" in message


def test_reference_to_an_unknown_param_fails_with_invalid_spec_naming_the_field(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "typo",
            [
                task("extract", args=["--date", "{{params.date}}"]),
                task("load", depends_on=["extract"], args=["--date", "{{params.dat}}"]),
            ],
            params=[{"name": "date", "value": "2024-05-01"}],
        ),
    )
    message = _invalid_spec_message(kubectl, namespace, "typo")
    assert "spec.tasks[1].args[1]: task 'load': unknown parameter 'dat'" in message
    assert kubectl.list(namespace, "tasks") == []
    assert kubectl.list(namespace, "jobs") == []


def test_param_without_value_or_default_fails_with_invalid_spec(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "no-date",
            [task("extract", args=["--date", "{{params.date}}"])],
            params=[{"name": "date", "description": "the business day to load"}],
        ),
    )
    message = _invalid_spec_message(kubectl, namespace, "no-date")
    assert "spec.params[0]: parameter 'date' needs a value or a default" in message
    assert kubectl.list(namespace, "tasks") == []
    assert kubectl.list(namespace, "jobs") == []


def test_upstream_outputs_are_on_its_task_and_in_the_downstream_jobs_args(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "handoff",
            [
                task(
                    "stage",
                    output={"rows": 1200, "table": "staging.orders_20240501"},
                    outputs=[{"name": "rows"}, {"name": "table"}],
                ),
                task(
                    "load",
                    depends_on=["stage"],
                    args=["--from={{tasks.stage.outputs.table}}"],
                    env=[{"name": "EXPECTED_ROWS", "value": "{{tasks.stage.outputs.rows}}"}],
                ),
                # Outputs of any upstream task, not only of a direct dependency.
                task("report", depends_on=["load"], args=["{{tasks.stage.outputs.rows}} rows"]),
            ],
        ),
    )
    body = wait_for_phase(kubectl, namespace, "handoff", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"

    tasks = tasks_by_name(kubectl, namespace, "handoff")
    assert tasks["stage"]["status"]["outputs"] == {
        "rows": "1200",
        "table": "staging.orders_20240501",
    }
    load = _container(kubectl, namespace, "handoff", "load")
    assert load["args"] == ["--from=staging.orders_20240501"]
    assert load["env"] == [{"name": "EXPECTED_ROWS", "value": "1200"}]
    assert _container(kubectl, namespace, "handoff", "report")["args"] == ["1200 rows"]


@pytest.mark.parametrize(
    ("load", "expected"),
    [
        (
            task("load", depends_on=["stage"], args=["{{tasks.stage.outputs.row}}"]),
            "spec.tasks[1].args[0]: task 'load': task 'stage' declares no output 'row'",
        ),
        (
            task("load", args=["{{tasks.stage.outputs.rows}}"]),
            "spec.tasks[1].args[0]: task 'load': 'stage' is not a task this one depends on",
        ),
    ],
    ids=["undeclared-output", "not-upstream"],
)
def test_reference_to_an_output_a_task_cannot_see_fails_with_invalid_spec(
    kubectl: Kubectl, namespace: str, load: dict[str, Any], expected: str
) -> None:
    stage = task("stage", output={"rows": 3}, outputs=[{"name": "rows"}])
    kubectl.apply(namespace, workflow("bad-ref", [stage, load]))
    assert expected in _invalid_spec_message(kubectl, namespace, "bad-ref")
    assert kubectl.list(namespace, "jobs") == []


def test_task_whose_message_lacks_a_declared_output_fails_with_outputs_missing(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "forgetful",
            [
                task("stage", output={"rows": 5}, outputs=[{"name": "rows"}, {"name": "table"}]),
                task("load", depends_on=["stage"], args=["{{tasks.stage.outputs.table}}"]),
            ],
        ),
    )
    body = wait_for_phase(kubectl, namespace, "forgetful", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Failed"
    assert "stage" in body["status"]["message"]

    tasks = tasks_by_name(kubectl, namespace, "forgetful")
    assert tasks["stage"]["status"]["phase"] == "Failed"
    assert tasks["stage"]["status"]["reason"] == "OutputsMissing"
    assert "table" in tasks["stage"]["status"]["message"]
    assert tasks["load"]["status"]["phase"] == "Skipped"
    assert tasks["load"]["status"]["reason"] == "UpstreamFailed"
    assert set(jobs_by_task(kubectl, namespace, "forgetful")) == {"stage"}


def _container(kubectl: Kubectl, namespace: str, workflow: str, task: str) -> dict[str, Any]:
    (job,) = jobs_by_task(kubectl, namespace, workflow)[task]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


def _invalid_spec_message(kubectl: Kubectl, namespace: str, name: str) -> str:
    """The message of a workflow that ended Failed with reason InvalidSpec, after checking
    that the condition, the status and the Warning event all say so."""
    body = wait_for_phase(kubectl, namespace, name, "Failed", "Succeeded")
    assert body["status"]["phase"] == "Failed"
    succeeded = next(c for c in body["status"]["conditions"] if c["type"] == "Succeeded")
    assert (succeeded["status"], succeeded["reason"]) == ("False", "InvalidSpec")
    assert succeeded["message"] == body["status"]["message"]
    wait_for(
        "the InvalidSpec warning event",
        lambda: [
            e
            for e in kubectl.events(namespace, "Workflow", name)
            if e["type"] == "Warning" and e["reason"] == "InvalidSpec"
        ],
    )
    return body["status"]["message"]  # type: ignore[no-any-return]


def test_quoted_braces_reach_the_job_as_literal_jinja_text(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "dbt-run",
            [
                task(
                    "models",
                    args=[
                        "--vars={day: '{{ '{{' }} ds }}'}",
                        "{{ \"{{ ref('orders') }}\" }} on {{workflow.name}}",
                    ],
                )
            ],
        ),
    )
    body = wait_for_phase(kubectl, namespace, "dbt-run", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded", body["status"]
    (job,) = jobs_by_task(kubectl, namespace, "dbt-run")["models"]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "--vars={day: '{{ ds }}'}",
        "{{ ref('orders') }} on dbt-run",
    ]


def test_an_output_message_that_is_not_json_fails_the_task_with_the_parse_error(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow("chatty", [task("count", output="rows=12", outputs=[{"name": "rows"}])]),
    )
    body = wait_for_phase(kubectl, namespace, "chatty", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Failed"
    count = tasks_by_name(kubectl, namespace, "chatty")["count"]["status"]
    assert count["reason"] == "OutputsMissing"
    assert count["message"] == (
        "the termination message is not valid JSON (Expecting value: line 1 column 1 (char 0)); "
        "declared outputs not read: rows"
    )
