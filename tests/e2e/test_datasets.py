"""Datasets on a real control plane (issue 10): what tasks declare and report lands on
their Task and on Dataset objects; CronWorkflows with a dataset trigger start exactly one
run per set of updates (All and Any); an operator SIGKILLed in the middle neither counts a
materialization twice nor starts a run twice."""

from __future__ import annotations

import json
from typing import Any

from kubedag.names import dataset_object_name
from tests.e2e.cluster import Kubectl, task, wait_for, workflow
from tests.e2e.helpers import tasks_by_name, wait_for_phase
from tests.e2e.operator_process import OperatorProcess

DATASETS = "datasets.kubedag.io"
CRON_LABEL = "kubedag.io/cron-workflow"
BUCKET = "s3://e2e-lake"


def ref(name: str, partition: str | None = None) -> dict[str, str]:
    found = {"namespace": BUCKET, "name": name}
    if partition is not None:
        found["partition"] = partition
    return found


def producer(name: str, *datasets: str, **spec: Any) -> dict[str, Any]:
    """A Workflow whose one task writes `datasets` (declared outlets)."""
    return workflow(name, [task("write", outlets=[ref(dataset) for dataset in datasets])], **spec)


def produce(kubectl: Kubectl, namespace: str, name: str, *datasets: str) -> None:
    kubectl.apply(namespace, producer(name, *datasets))
    body = wait_for_phase(kubectl, namespace, name, "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded", body["status"].get("message")


def dataset(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any] | None:
    result = kubectl.run(
        "get",
        "-n",
        namespace,
        DATASETS,
        dataset_object_name(BUCKET, name),
        "-o",
        "json",
        check=False,
    )
    return json.loads(result.stdout) if result.returncode == 0 else None


def materializations(kubectl: Kubectl, namespace: str, name: str) -> int:
    found = dataset(kubectl, namespace, name)
    return int(((found or {}).get("status") or {}).get("materializations", 0))


def wait_for_count(kubectl: Kubectl, namespace: str, name: str, count: int) -> dict[str, Any]:
    return wait_for(
        f"dataset {name} to count {count} materializations",
        lambda: (
            found
            if (found := dataset(kubectl, namespace, name))
            and (found.get("status") or {}).get("materializations") == count
            else None
        ),
    )


def consumer(name: str, datasets: list[str], condition: str, **spec: Any) -> dict[str, Any]:
    """A CronWorkflow without schedules, started by updates of `datasets`; its task echoes
    the trigger params."""
    echo = task("consume", args=["{{params.triggerPartition}}", "{{params.triggerDatasets}}"])
    return {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": {"name": name},
        "spec": {
            "datasetTrigger": {
                "datasets": [{"namespace": BUCKET, "name": d} for d in datasets],
                "condition": condition,
            },
            "successfulRunsHistoryLimit": 20,
            "workflowSpec": {"tasks": [echo]},
            **spec,
        },
    }


def runs_of(kubectl: Kubectl, namespace: str, name: str) -> list[str]:
    return sorted(
        run["metadata"]["name"]
        for run in kubectl.list(namespace, "workflows", f"{CRON_LABEL}={name}")
    )


def trigger_status(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    body = kubectl.get(namespace, "cronworkflows.kubedag.io", name)
    return dict((body.get("status") or {}).get("datasetTrigger") or {})


def wait_until_watching(kubectl: Kubectl, namespace: str, name: str, count: int) -> None:
    """The trigger recorded its baseline for `count` datasets (first sight)."""
    wait_for(
        f"{name} to record its datasets' baseline",
        lambda: len(trigger_status(kubectl, namespace, name).get("consumed") or []) == count,
    )


def test_a_producer_writes_a_dataset_and_its_dataset_object_shows_it(
    kubectl: Kubectl, namespace: str
) -> None:
    day = "2026-03-01"
    writer = task(
        "write",
        outlets=[ref("clean/orders", partition="{{params.day}}/{{item}}")],
        inlets=[ref("raw/orders", partition="{{params.day}}")],
        withItems=["eu", "us"],
    )
    kubectl.apply(
        namespace, workflow("orders-daily", [writer], params=[{"name": "day", "value": day}])
    )
    body = wait_for_phase(kubectl, namespace, "orders-daily", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded", body["status"].get("message")

    tasks = tasks_by_name(kubectl, namespace, "orders-daily")
    assert tasks["write-0"]["status"]["datasets"]["outlets"] == [
        ref("clean/orders", partition=f"{day}/eu")
    ]
    assert tasks["write-1"]["status"]["datasets"]["inlets"] == [ref("raw/orders", partition=day)]

    found = wait_for_count(kubectl, namespace, "clean/orders", 2)
    assert found["spec"] == {"namespace": BUCKET, "name": "clean/orders"}
    last = found["status"]["lastMaterialization"]
    assert last["workflow"] == "orders-daily"
    assert last["partition"] in (f"{day}/eu", f"{day}/us")
    assert {entry["task"] for entry in found["status"]["history"]} == {"write-0", "write-1"}
    # Inlets are read, not written: no Dataset object for them.
    assert dataset(kubectl, namespace, "raw/orders") is None

    table = kubectl.run("get", "-n", namespace, DATASETS).stdout
    header = table.splitlines()[0].split()
    assert header[:6] == ["NAME", "NAMESPACE", "NAME", "LAST", "UPDATED", "PRODUCER"]
    assert BUCKET in table and "clean/orders" in table and "orders-daily" in table


def test_a_dataset_reported_at_run_time_lands_in_the_task_status(
    kubectl: Kubectl, namespace: str
) -> None:
    reported = {
        "rows": "3",
        "kubedag.io/datasets": {
            "inlets": [ref("raw/events")],
            "outlets": [ref("sessions", partition="hour=13"), {"namespace": "BAD", "name": "x"}],
        },
    }
    kubectl.apply(namespace, workflow("sessionize", [task("run", output=reported)]))
    body = wait_for_phase(kubectl, namespace, "sessionize", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded", body["status"].get("message")

    status = tasks_by_name(kubectl, namespace, "sessionize")["run"]["status"]
    assert status["outputs"] == {"rows": "3"}
    assert status["datasets"]["inlets"] == [ref("raw/events")]
    assert status["datasets"]["outlets"] == [ref("sessions", partition="hour=13")]
    assert "outlets[1]" in status["datasets"]["message"]
    found = wait_for_count(kubectl, namespace, "sessions", 1)
    assert found["status"]["lastMaterialization"]["partition"] == "hour=13"


def test_an_invalid_dataset_name_gets_a_clear_reason(kubectl: Kubectl, namespace: str) -> None:
    literal = workflow(
        "bad-literal", [task("write", outlets=[{"namespace": "S3://Lake", "name": "x"}])]
    )
    templated = workflow(
        "bad-templated",
        [task("write", outlets=[{"namespace": "{{params.where}}", "name": "x"}])],
        params=[{"name": "where", "value": "s3://lake/with/a/path"}],
    )
    kubectl.apply(namespace, literal, templated)
    for name in ("bad-literal", "bad-templated"):
        body = wait_for_phase(kubectl, namespace, name, "Failed")
        assert "OpenLineage namespace" in body["status"]["message"], body["status"]["message"]
        reasons = {event["reason"] for event in kubectl.events(namespace, "Workflow", name)}
        assert reasons & {"InvalidSpec", "WorkflowFailed", "TaskFailed"}


def test_condition_all_starts_one_run_once_every_dataset_was_updated(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(namespace, consumer("join", ["orders", "customers"], "All"))
    wait_until_watching(kubectl, namespace, "join", 2)

    produce(kubectl, namespace, "p1", "orders")
    produce(kubectl, namespace, "p2", "orders")
    wait_for_count(kubectl, namespace, "orders", 2)
    assert runs_of(kubectl, namespace, "join") == []

    produce(kubectl, namespace, "p3", "customers")
    wait_for("the first triggered run", lambda: runs_of(kubectl, namespace, "join"))
    run = wait_for_phase(kubectl, namespace, "join-ds-1", "Succeeded", "Failed")
    params = {param["name"]: param["value"] for param in run["spec"]["params"]}
    consumed = {entry["name"]: entry for entry in json.loads(params["triggerDatasets"])}
    assert consumed["orders"]["new"] == 2 and consumed["customers"]["new"] == 1
    assert consumed["customers"]["workflow"] == "p3"

    produce(kubectl, namespace, "p4", "customers", "orders")
    wait_for("the second triggered run", lambda: len(runs_of(kubectl, namespace, "join")) == 2)
    wait_for_phase(kubectl, namespace, "join-ds-2", "Succeeded", "Failed")
    assert runs_of(kubectl, namespace, "join") == ["join-ds-1", "join-ds-2"]
    status = trigger_status(kubectl, namespace, "join")
    assert status["runs"] == 2 and status["lastTriggeredRun"] == "join-ds-2"
    assert {c["name"]: c["materializations"] for c in status["consumed"]} == {
        "orders": 3,
        "customers": 2,
    }
    created = [
        event["message"]
        for event in kubectl.events(namespace, "CronWorkflow", "join")
        if event["reason"] == "RunCreated"
    ]
    assert len(created) == 2 and all("dataset updates" in message for message in created)


def test_condition_any_starts_one_run_per_update(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(namespace, consumer("refresh", ["orders", "customers"], "Any"))
    wait_until_watching(kubectl, namespace, "refresh", 2)

    produce(kubectl, namespace, "p1", "orders")
    wait_for("a run for orders", lambda: runs_of(kubectl, namespace, "refresh") == ["refresh-ds-1"])
    wait_for_phase(kubectl, namespace, "refresh-ds-1", "Succeeded", "Failed")
    produce(kubectl, namespace, "p2", "customers")
    wait_for("a run for customers", lambda: len(runs_of(kubectl, namespace, "refresh")) == 2)
    run = wait_for_phase(kubectl, namespace, "refresh-ds-2", "Succeeded", "Failed")
    params = {param["name"]: param["value"] for param in run["spec"]["params"]}
    assert [entry["name"] for entry in json.loads(params["triggerDatasets"])] == ["customers"]
    # Nothing new: no third run.
    wait_for_phase(kubectl, namespace, "p2", "Succeeded")
    assert trigger_status(kubectl, namespace, "refresh")["runs"] == 2
    assert len(runs_of(kubectl, namespace, "refresh")) == 2


def test_operator_killed_around_writes_neither_double_counts_nor_double_fires(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    kubectl.apply(namespace, consumer("downstream", ["events"], "Any"))
    wait_until_watching(kubectl, namespace, "downstream", 1)
    # Three producers finish while the operator dies at different moments of the chain:
    # Task succeeded -> Dataset counted -> Task marked -> trigger run -> trigger status.
    for index in range(3):
        kubectl.apply(namespace, producer(f"writer-{index}", "events"))
        wait_for(
            f"writer-{index}'s task to succeed",
            lambda index=index: (
                tasks_by_name(kubectl, namespace, f"writer-{index}")
                .get("write", {})
                .get("status", {})
                .get("phase")
                == "Succeeded"
            ),
        )
        operator.kill()
        operator.start()
        wait_for_phase(kubectl, namespace, f"writer-{index}", "Succeeded")
    found = wait_for_count(kubectl, namespace, "events", 3)
    operator.kill()
    operator.start()

    def marks() -> dict[str, Any]:
        return {
            f"writer-{index}": ((t.get("status") or {}).get("datasets") or {}).get(
                "recordedAttempt"
            )
            for index in range(3)
            for t in tasks_by_name(kubectl, namespace, f"writer-{index}").values()
        }

    # Marked also when the crash fell between the Dataset's write and the Task's (the
    # restarted operator finds them in its first listing).
    wait_for("every task marked as counted", lambda: set(marks().values()) == {1})
    wait_for(
        "the trigger to consume all three",
        lambda: (
            (trigger_status(kubectl, namespace, "downstream").get("consumed") or [{}])[0].get(
                "materializations"
            )
            == 3
        ),
    )
    found = dataset(kubectl, namespace, "events")
    assert found is not None and found["status"]["materializations"] == 3
    runs = runs_of(kubectl, namespace, "downstream")
    status = trigger_status(kubectl, namespace, "downstream")
    # One run per set of updates: runs are numbered 1..N without gaps or doubles, and the
    # status counts exactly the runs that exist.
    assert runs == sorted(f"downstream-ds-{n}" for n in range(1, status["runs"] + 1))
    assert 1 <= status["runs"] <= 3


def test_a_task_template_declares_datasets_with_its_own_params(
    kubectl: Kubectl, namespace: str
) -> None:
    template = {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "TaskTemplate",
        "metadata": {"name": "load-table"},
        "spec": {
            "params": [{"name": "table"}],
            "image": "busybox:1.36",
            "command": ["sh", "-c", "true"],
            "inlets": [ref("staging/{{params.table}}")],
            "outlets": [{"namespace": "postgres://warehouse:5432", "name": "dw.{{params.table}}"}],
        },
    }
    run = workflow(
        "loads",
        [
            {
                "name": "orders",
                "templateRef": {"name": "load-table"},
                "params": {"table": "orders"},
            },
            {"name": "users", "templateRef": {"name": "load-table"}, "params": {"table": "users"}},
        ],
    )
    kubectl.apply(namespace, template, run)
    body = wait_for_phase(kubectl, namespace, "loads", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded", body["status"].get("message")

    # Marked once its outlets are counted on their Dataset objects.
    def counted() -> dict[str, dict[str, Any]] | None:
        found = tasks_by_name(kubectl, namespace, "loads")
        marks = [t["status"]["datasets"].get("recordedAttempt") for t in found.values()]
        return found if marks == [1, 1] else None

    tasks = wait_for("both tasks' outlets counted", counted)
    assert tasks["users"]["status"]["datasets"] == {
        "inlets": [ref("staging/users")],
        "outlets": [{"namespace": "postgres://warehouse:5432", "name": "dw.users"}],
        "recordedAttempt": 1,
    }
    names = {
        (found["spec"]["namespace"], found["spec"]["name"])
        for found in kubectl.list(namespace, DATASETS)
    }
    assert names == {
        ("postgres://warehouse:5432", "dw.orders"),
        ("postgres://warehouse:5432", "dw.users"),
    }


def test_a_dataset_deleted_by_hand_and_written_again_still_triggers(
    kubectl: Kubectl, namespace: str
) -> None:
    # Review of issue 10: the Dataset's count restarts at 1 after a deletion by hand; the
    # trigger (which had consumed 2) takes that write as an update instead of waiting
    # until the count passes 2. The Dataset's spec (its identity) cannot be edited.
    kubectl.apply(namespace, consumer("again", ["orders"], "Any"))
    wait_until_watching(kubectl, namespace, "again", 1)
    produce(kubectl, namespace, "w1", "orders")
    produce(kubectl, namespace, "w2", "orders")
    wait_for_count(kubectl, namespace, "orders", 2)
    wait_for(
        "the trigger to consume both writes",
        lambda: any(
            c.get("materializations") == 2
            for c in trigger_status(kubectl, namespace, "again").get("consumed") or []
        ),
    )
    edited = kubectl.run(
        "patch",
        "-n",
        namespace,
        DATASETS,
        dataset_object_name(BUCKET, "orders"),
        "--type=merge",
        "-p",
        '{"spec": {"name": "customers"}}',
        check=False,
    )
    assert edited.returncode != 0 and "cannot change" in edited.stderr
    runs_before = len(runs_of(kubectl, namespace, "again"))
    kubectl.run("delete", "-n", namespace, DATASETS, dataset_object_name(BUCKET, "orders"))
    produce(kubectl, namespace, "w3", "orders")
    wait_for_count(kubectl, namespace, "orders", 1)
    wait_for(
        "a run for the write after the deletion",
        lambda: len(runs_of(kubectl, namespace, "again")) == runs_before + 1,
    )
