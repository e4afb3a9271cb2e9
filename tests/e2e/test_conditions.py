"""Dependency logic: `depends` expressions and `when` conditions decide which tasks run."""

from __future__ import annotations

from typing import Any

import pytest

from kubedag.names import task_object_name
from tests.e2e.cluster import Kubectl, task, wait_for, workflow
from tests.e2e.helpers import jobs_by_task, tasks_by_name, wait_for_phase

PUBLISH_DEPENDS = "extract.Succeeded && (validate.Succeeded || validate.Skipped)"


@pytest.mark.parametrize(
    ("validate", "workflow_phase", "publish_phase", "publish_reason"),
    [
        (task("validate", depends_on=["extract"]), "Succeeded", "Succeeded", "Succeeded"),
        (
            task("validate", depends_on=["extract"], when="{{params.strict}} == yes"),
            "Succeeded",
            "Succeeded",
            "Succeeded",
        ),
        (
            task("validate", depends_on=["extract"], exit_code=2),
            "Failed",
            "Skipped",
            "DependsFalse",
        ),
    ],
    ids=["validate-succeeded", "validate-skipped", "validate-failed"],
)
def test_depends_expression_decides_whether_a_task_runs_once_its_terms_are_known(
    kubectl: Kubectl,
    namespace: str,
    validate: dict[str, Any],
    workflow_phase: str,
    publish_phase: str,
    publish_reason: str,
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "publish",
            [
                task("extract"),
                validate,
                task("publish", depends=PUBLISH_DEPENDS),
            ],
            params=[{"name": "strict", "value": "no"}],
        ),
    )
    body = wait_for_phase(kubectl, namespace, "publish", "Succeeded", "Failed")
    assert body["status"]["phase"] == workflow_phase

    publish = tasks_by_name(kubectl, namespace, "publish")["publish"]
    assert (publish["status"]["phase"], publish["status"]["reason"]) == (
        publish_phase,
        publish_reason,
    )
    has_job = "publish" in jobs_by_task(kubectl, namespace, "publish")
    assert has_job == (publish_phase == "Succeeded")


@pytest.mark.parametrize(
    ("load_exit_code", "handler_phase", "handler_reason"),
    [(4, "Succeeded", "Succeeded"), (0, "Skipped", "DependsFalse")],
    ids=["load-failed", "load-succeeded"],
)
def test_error_handler_runs_only_when_the_task_it_watches_failed(
    kubectl: Kubectl,
    namespace: str,
    load_exit_code: int,
    handler_phase: str,
    handler_reason: str,
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "nightly",
            [
                task("load", exit_code=load_exit_code),
                task("page-on-call", depends="load.Failed"),
            ],
        ),
    )
    body = wait_for_phase(kubectl, namespace, "nightly", "Succeeded", "Failed")
    # The handler is the only task depending on `load`: a failure it handled does not fail
    # the run (as in Argo Workflows and Airflow), but the status says it happened.
    assert body["status"]["phase"] == "Succeeded"
    if load_exit_code:
        assert "'load'" in body["status"]["message"]
        assert "handled" in body["status"]["message"]
        load = tasks_by_name(kubectl, namespace, "nightly")["load"]
        assert load["status"]["phase"] == "Failed"

    handler = tasks_by_name(kubectl, namespace, "nightly")["page-on-call"]
    assert (handler["status"]["phase"], handler["status"]["reason"]) == (
        handler_phase,
        handler_reason,
    )
    if handler_phase == "Skipped":
        assert "load.Failed" in handler["status"]["message"]
        assert "page-on-call" not in jobs_by_task(kubectl, namespace, "nightly")


def test_a_handled_failure_still_fails_the_run_when_another_dependent_was_skipped(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "nightly",
            [
                task("load", exit_code=4),
                task("page-on-call", depends="load.Failed"),
                task("publish", depends_on=["load"]),
            ],
        ),
    )
    body = wait_for_phase(kubectl, namespace, "nightly", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Failed"
    assert "task 'load' failed" in body["status"]["message"]
    tasks = tasks_by_name(kubectl, namespace, "nightly")
    assert tasks["page-on-call"]["status"]["phase"] == "Succeeded"
    assert tasks["publish"]["status"]["phase"] == "Skipped"


def test_depends_expression_that_does_not_parse_fails_with_invalid_spec_naming_the_task(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow("unparsable", [task("extract"), task("load", depends="extract.Succeeded &&")]),
    )
    body = wait_for_phase(kubectl, namespace, "unparsable", "Failed", "Succeeded")
    assert body["status"]["phase"] == "Failed"
    succeeded = next(c for c in body["status"]["conditions"] if c["type"] == "Succeeded")
    assert succeeded["reason"] == "InvalidSpec"
    assert "spec.tasks[1].depends: task 'load'" in succeeded["message"]
    _wait_for_invalid_spec_event(kubectl, namespace, "unparsable")
    assert kubectl.list(namespace, "tasks") == []
    assert kubectl.list(namespace, "jobs") == []


def test_task_whose_when_is_false_is_skipped_and_so_is_what_depends_on_it(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "backfill",
            [
                task("extract"),
                task("refresh-dashboard", depends_on=["extract"], when="{{params.env}} == prod"),
                task("notify-analysts", depends_on=["refresh-dashboard"]),
            ],
            params=[{"name": "env", "value": "staging"}],
        ),
    )
    body = wait_for_phase(kubectl, namespace, "backfill", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"
    assert body["status"]["tasks"]["skipped"] == 2

    tasks = tasks_by_name(kubectl, namespace, "backfill")
    refresh = tasks["refresh-dashboard"]["status"]
    assert (refresh["phase"], refresh["reason"]) == ("Skipped", "WhenFalse")
    assert "{{params.env}} == prod" in refresh["message"]
    notify = tasks["notify-analysts"]["status"]
    assert (notify["phase"], notify["reason"]) == ("Skipped", "UpstreamFailed")
    assert "refresh-dashboard" in notify["message"]
    assert set(jobs_by_task(kubectl, namespace, "backfill")) == {"extract"}
    skipped_events = wait_for(
        "the TaskSkipped event",
        lambda: [
            e
            for e in kubectl.events(
                namespace, "Task", task_object_name("backfill", "refresh-dashboard")
            )
            if e["reason"] == "TaskSkipped"
        ],
    )
    assert skipped_events[0]["type"] == "Normal"


@pytest.mark.parametrize(
    ("rows", "load_phase", "load_reason"),
    # 10 > 9 only as numbers: compared as text, "10" < "9".
    [(10, "Succeeded", "Succeeded"), (0, "Skipped", "WhenFalse")],
    ids=["rows", "no-rows"],
)
def test_when_over_an_upstream_output_decides_whether_the_task_runs(
    kubectl: Kubectl, namespace: str, rows: int, load_phase: str, load_reason: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "incremental",
            [
                task("count", output={"rows": rows}, outputs=[{"name": "rows"}]),
                task(
                    "load",
                    depends_on=["count"],
                    when="{{tasks.count.outputs.rows}} > 9",
                    args=["--rows={{tasks.count.outputs.rows}}"],
                ),
            ],
        ),
    )
    body = wait_for_phase(kubectl, namespace, "incremental", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"

    load = tasks_by_name(kubectl, namespace, "incremental")["load"]["status"]
    assert (load["phase"], load["reason"]) == (load_phase, load_reason)
    jobs = jobs_by_task(kubectl, namespace, "incremental")
    if load_phase == "Succeeded":
        container = jobs["load"][0]["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == [f"--rows={rows}"]
    else:
        assert "load" not in jobs


def _wait_for_invalid_spec_event(kubectl: Kubectl, namespace: str, name: str) -> None:
    wait_for(
        "the InvalidSpec warning event",
        lambda: [
            e
            for e in kubectl.events(namespace, "Workflow", name)
            if e["type"] == "Warning" and e["reason"] == "InvalidSpec"
        ],
    )
