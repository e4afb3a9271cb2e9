"""OpenLineage RunEvents derived from Workflow and Task objects (issue 10)."""

from __future__ import annotations

import json
from typing import Any

from openlineage.client.event_v2 import RunState
from openlineage.client.serde import Serde

from kubedag.k8s.observe import TaskRecord, WorkflowRecord, read_task_record, read_workflow
from kubedag.lineage import events
from kubedag.lineage.run_ids import task_attempt_run_id, workflow_run_id
from tests.openlineage_spec.validation import problems

NAMING = events.Naming("kubedag")
WORKFLOW_UID = "11111111-1111-4111-8111-111111111111"


def workflow(
    *,
    phase: str | None = "Running",
    finished: str | None = None,
    succeeded_reason: str | None = None,
    labels: dict[str, str] | None = None,
    template: str | None = None,
    interval: tuple[str, str] | None = ("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
    message: str | None = None,
) -> WorkflowRecord:
    spec: dict[str, Any] = (
        {"workflowTemplateRef": {"name": template}}
        if template
        else {"tasks": [{"name": "extract", "image": "busybox"}]}
    )
    if interval:
        spec["dataInterval"] = {"start": interval[0], "end": interval[1]}
    status: dict[str, Any] = {"startedAt": "2026-11-02T00:00:05Z"}
    if phase:
        status["phase"] = phase
    if finished:
        status["finishedAt"] = finished
    if message:
        status["message"] = message
    if succeeded_reason:
        status["conditions"] = [
            {"type": "Succeeded", "status": "False", "reason": succeeded_reason, "message": ""}
        ]
    return read_workflow(
        {
            "metadata": {
                "namespace": "team-a",
                "name": "etl-20261101",
                "uid": WORKFLOW_UID,
                "labels": labels or {},
                "creationTimestamp": "2026-11-02T00:00:00Z",
            },
            "spec": spec,
            "status": status,
        }
    )


def task(
    name: str,
    uid: str,
    attempts: list[dict[str, Any]],
    *,
    phase: str = "Succeeded",
    reason: str | None = None,
    depends_on: list[str] | None = None,
    datasets: dict[str, Any] | None = None,
    node_task: str | None = None,
) -> TaskRecord:
    status: dict[str, Any] = {"phase": phase, "attempts": attempts}
    if reason:
        status["reason"] = reason
    if datasets:
        status["datasets"] = datasets
    return read_task_record(
        {
            "metadata": {
                "name": f"etl-{name}",
                "uid": uid,
                "resourceVersion": "1",
                "ownerReferences": [{"uid": WORKFLOW_UID, "controller": True}],
            },
            "spec": {
                "workflow": "etl-20261101",
                "name": name,
                "task": node_task or name,
                "dependsOn": depends_on or [],
            },
            "status": status,
        }
    )


def attempt(number: int, started: str, finished: str | None = None, **extra: Any) -> dict[str, Any]:
    value = {"number": number, "jobName": f"job-{number}", "startedAt": started, **extra}
    if finished:
        value["finishedAt"] = finished
    return value


def as_json(event: Any) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(Serde.to_json(event))
    return result


def all_events(wf: WorkflowRecord, tasks: list[TaskRecord]) -> list[dict[str, Any]]:
    run_id = str(workflow_run_id(wf.uid))
    upstream = {
        t.node_task or t.task.name: [
            (t.task.name, str(task_attempt_run_id(t.task.uid, t.task.status.attempts[-1].number)))
        ]
        for t in tasks
        if t.task.status.attempts
    }
    built = [
        as_json(events.build_workflow_event(p, wf, NAMING))
        for p in events.workflow_events(wf, run_id)
    ]
    for t in tasks:
        built += [
            as_json(
                events.build_task_event(
                    p, wf, t, workflow_run_id=run_id, upstream=upstream, naming=NAMING
                )
            )
            for p in events.task_events(t, task_attempt_run_id)
        ]
    return built


def test_a_running_workflow_has_started_and_a_finished_one_has_ended() -> None:
    running = events.workflow_events(workflow(), "run")
    assert [e.event_type for e in running] == [RunState.START]
    done = events.workflow_events(workflow(phase="Succeeded", finished="2026-11-02T00:01:00Z"), "r")
    assert [e.event_type for e in done] == [RunState.START, RunState.COMPLETE]
    assert events.workflow_events(workflow(phase=None), "run") == []


def test_a_stopped_or_terminated_workflow_aborts_and_a_failed_one_fails() -> None:
    for reason, expected in [
        ("Terminated", RunState.ABORT),
        ("Stopped", RunState.ABORT),
        ("TaskFailed", RunState.FAIL),
    ]:
        wf = workflow(phase="Failed", finished="2026-11-02T00:01:00Z", succeeded_reason=reason)
        assert events.workflow_events(wf, "r")[-1].event_type == expected


def test_each_attempt_is_a_run_that_starts_and_ends() -> None:
    record = task(
        "load",
        "t-1",
        [
            attempt(1, "2026-11-02T00:00:10Z", "2026-11-02T00:00:20Z", exitCode=1),
            attempt(2, "2026-11-02T00:00:30Z", "2026-11-02T00:00:40Z", exitCode=0),
        ],
    )
    planned = events.task_events(record, task_attempt_run_id)
    assert [(e.attempt, e.event_type) for e in planned] == [
        (1, RunState.START),
        (1, RunState.FAIL),
        (2, RunState.START),
        (2, RunState.COMPLETE),
    ]
    assert planned[0].run_id == planned[1].run_id == str(task_attempt_run_id("t-1", 1))
    assert planned[2].run_id != planned[0].run_id


def test_an_attempt_still_running_has_only_started() -> None:
    record = task("load", "t-1", [attempt(1, "2026-11-02T00:00:10Z")], phase="Running")
    assert [e.event_type for e in events.task_events(record, task_attempt_run_id)] == [
        RunState.START
    ]


def test_an_attempt_ended_by_terminating_its_workflow_aborts() -> None:
    record = task(
        "load", "t-1", [attempt(1, "2026-11-02T00:00:10Z")], phase="Failed", reason="Terminated"
    )
    assert [e.event_type for e in events.task_events(record, task_attempt_run_id)] == [
        RunState.START,
        RunState.ABORT,
    ]


def test_a_task_attempt_names_its_workflow_run_as_parent_and_root() -> None:
    wf = workflow()
    record = task("load", "t-1", [attempt(1, "2026-11-02T00:00:10Z")], phase="Running")
    (start,) = [e for e in all_events(wf, [record]) if e["job"]["name"].endswith(".load")]
    parent = start["run"]["facets"]["parent"]
    assert parent["run"]["runId"] == str(workflow_run_id(WORKFLOW_UID))
    assert (parent["job"]["namespace"], parent["job"]["name"]) == ("kubedag/team-a", "etl-20261101")
    assert parent["root"]["run"]["runId"] == str(workflow_run_id(WORKFLOW_UID))
    assert start["job"]["name"] == "etl-20261101.load"
    assert start["job"]["facets"]["jobType"]["jobType"] == "TASK"
    assert start["job"]["facets"]["jobType"]["integration"] == "KUBEDAG"
    assert start["job"]["facets"]["jobType"]["processingType"] == "BATCH"


def test_nominal_time_is_the_runs_data_interval() -> None:
    started = all_events(workflow(), [])[0]
    assert started["run"]["facets"]["nominalTime"]["nominalStartTime"] == "2026-11-01T00:00:00.000Z"
    assert started["run"]["facets"]["nominalTime"]["nominalEndTime"] == "2026-11-02T00:00:00.000Z"
    assert "nominalTime" not in all_events(workflow(interval=None), [])[0]["run"]["facets"]


def test_a_failed_attempt_says_why() -> None:
    record = task(
        "load",
        "t-1",
        [
            attempt(
                1,
                "2026-11-02T00:00:10Z",
                "2026-11-02T00:00:20Z",
                exitCode=3,
                reason="Error",
                message="disk full",
            )
        ],
        phase="Failed",
    )
    failed = all_events(workflow(), [record])[-1]
    assert failed["eventType"] == "FAIL"
    assert failed["run"]["facets"]["errorMessage"]["message"] == "Error, exit code 3: disk full"


def test_dependencies_name_the_upstream_jobs_and_runs() -> None:
    extract = task("extract", "t-1", [attempt(1, "2026-11-02T00:00:10Z", "2026-11-02T00:00:20Z")])
    load = task(
        "load", "t-2", [attempt(1, "2026-11-02T00:00:21Z")], phase="Running", depends_on=["extract"]
    )
    start = all_events(workflow(), [extract, load])[-1]
    (upstream,) = start["run"]["facets"]["jobDependencies"]["upstream"]
    assert upstream["job"] == {"namespace": "kubedag/team-a", "name": "etl-20261101.extract"}
    assert upstream["run"]["runId"] == str(task_attempt_run_id("t-1", 1))


def test_datasets_go_with_the_end_of_an_attempt() -> None:
    record = task(
        "load",
        "t-1",
        [attempt(1, "2026-11-02T00:00:10Z", "2026-11-02T00:00:20Z", exitCode=0)],
        datasets={
            "inlets": [{"namespace": "s3://raw", "name": "orders", "partition": "2026-11-01"}],
            "outlets": [
                {"namespace": "postgres://db:5432", "name": "dw.public.orders", "partition": "a"},
                {"namespace": "postgres://db:5432", "name": "dw.public.orders", "partition": "b"},
            ],
        },
    )
    start, complete = all_events(workflow(), [record])[1:]
    assert start["inputs"] == [] and start["outputs"] == []
    assert [(d["namespace"], d["name"]) for d in complete["inputs"]] == [("s3://raw", "orders")]
    assert [(d["namespace"], d["name"]) for d in complete["outputs"]] == [
        ("postgres://db:5432", "dw.public.orders")
    ]


def test_the_pipeline_is_the_template_then_the_schedule_then_the_run() -> None:
    assert events.pipeline_name(workflow(template="etl")) == "etl"
    assert (
        events.pipeline_name(workflow(labels={"kubedag.io/cron-workflow": "nightly"})) == "nightly"
    )
    assert events.pipeline_name(workflow()) == "etl-20261101"


def test_events_derived_again_are_identical() -> None:
    wf = workflow(phase="Failed", finished="2026-11-02T00:01:00Z", message="task 'load' failed")
    tasks = [
        task(
            "load",
            "t-1",
            [attempt(1, "2026-11-02T00:00:10Z", "2026-11-02T00:00:20Z", exitCode=2)],
            phase="Failed",
        )
    ]
    assert all_events(wf, tasks) == all_events(wf, tasks)


def test_every_event_is_valid_against_the_openlineage_schemas() -> None:
    wf = workflow(phase="Failed", finished="2026-11-02T00:01:00Z", message="task failed")
    tasks = [
        task(
            "extract",
            "t-1",
            [attempt(1, "2026-11-02T00:00:10Z", "2026-11-02T00:00:20Z", exitCode=0)],
        ),
        task(
            "load",
            "t-2",
            [
                attempt(
                    1, "2026-11-02T00:00:21Z", "2026-11-02T00:00:30Z", exitCode=1, reason="Error"
                )
            ],
            phase="Failed",
            depends_on=["extract"],
            datasets={"outlets": [{"namespace": "s3://b", "name": "x"}]},
        ),
    ]
    built = all_events(wf, tasks)
    assert len(built) == 6
    for event in built:
        assert problems(event) == [], event


def test_the_schema_check_catches_a_broken_event() -> None:
    event = all_events(workflow(), [])[0]
    event["run"]["runId"] = "not-a-uuid"
    del event["job"]["name"]
    assert problems(event)


def test_events_stay_valid_with_what_the_client_adds_when_it_emits() -> None:
    # openlineage-python adds facets of its own on the way out (tags: the client version).
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.transport import Transport

    class Capture(Transport):
        kind = "capture"

        def __init__(self) -> None:
            self.sent: list[dict[str, Any]] = []

        def emit(self, event: Any) -> None:
            self.sent.append(json.loads(Serde.to_json(event)))

    capture = Capture()
    client = OpenLineageClient(transport=capture)
    wf = workflow()
    for planned in events.workflow_events(wf, str(workflow_run_id(wf.uid))):
        client.emit(events.build_workflow_event(planned, wf, NAMING))
    assert capture.sent and all(problems(event) == [] for event in capture.sent)
