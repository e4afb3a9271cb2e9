"""Fan-out on the real control plane: withItems and withParam create one Task per item, a
downstream task waits for every item and gets their outputs as a JSON list in item order,
and parallelism limits hold (read back from the Jobs' own start and completion times)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from kubedag.names import task_object_name
from tests.e2e.cluster import Kubectl, task, workflow
from tests.e2e.helpers import (
    attempt_ended,
    condition,
    container_args,
    jobs_by_task,
    tasks_by_name,
    timestamp,
    wait_for_phase,
)


def only_job(jobs: dict[str, list[dict[str, Any]]], node: str) -> dict[str, Any]:
    assert len(jobs.get(node, [])) == 1, f"{node}: {len(jobs.get(node, []))} Jobs"
    return jobs[node][0]


def max_jobs_running_at_once(jobs: list[dict[str, Any]], tasks: dict[str, dict[str, Any]]) -> int:
    """The most attempts whose [Job's startTime, attempt's end) intervals overlap. The end
    is when the Pod ended, as the Task records it (the Job's completionTime comes up to a
    second later). Both times have 1 s resolution; truncation keeps their order, so a Job
    that really started after another ended never counts as overlapping it."""
    intervals: list[tuple[datetime, datetime]] = [
        (
            timestamp(job["status"]["startTime"]),
            attempt_ended(tasks[job["metadata"]["labels"]["kubedag.io/task"]]),
        )
        for job in jobs
    ]
    return max(
        sum(1 for start, end in intervals if start <= moment < end) for moment, _ in intervals
    )


def test_static_fan_out_over_strings_runs_one_task_per_item_before_its_downstream(
    kubectl: Kubectl, namespace: str
) -> None:
    days = ["2024-05-01", "2024-05-02", "2024-05-03"]
    kubectl.apply(
        namespace,
        workflow(
            "daily",
            [
                task(
                    "extract",
                    seconds=1,
                    output='{"path": "s3://lake/orders/{{item}}.parquet"}',
                    withItems=days,
                    args=["{{item}}"],
                    outputs=[{"name": "path"}],
                ),
                task("merge", depends_on=["extract"], args=["{{tasks.extract.outputs.path}}"]),
            ],
        ),
    )
    body = wait_for_phase(kubectl, namespace, "daily", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"
    assert body["status"]["progress"] == "4/4"

    task_objects = {t["metadata"]["name"] for t in kubectl.list(namespace, "tasks")}
    assert task_objects == {
        task_object_name("daily", node) for node in ("extract-0", "extract-1", "extract-2", "merge")
    }
    jobs = jobs_by_task(kubectl, namespace, "daily")
    for index, day in enumerate(days):
        assert container_args(only_job(jobs, f"extract-{index}")) == [day]

    merge = only_job(jobs, "merge")
    merge_created = timestamp(merge["metadata"]["creationTimestamp"])
    tasks = tasks_by_name(kubectl, namespace, "daily")
    for index in range(len(days)):
        ended = attempt_ended(tasks[f"extract-{index}"])
        assert merge_created >= ended, f"merge was created before extract-{index} ended"
    assert json.loads(container_args(merge)[0]) == [
        f"s3://lake/orders/{day}.parquet" for day in days
    ]


def test_object_items_render_their_fields_and_outputs_are_collected_in_item_order(
    kubectl: Kubectl, namespace: str
) -> None:
    # The first item runs longest, so the items finish in another order than they are listed.
    tables = [
        {"table": "orders", "shard": 0, "ms": 3000},
        {"table": "customers", "shard": 1, "ms": 500},
        {"table": "payments", "shard": 2, "ms": 1500},
    ]
    load = task(
        "load",
        output='{"staged": "staging.{{item.table}}"}',
        withItems=tables,
        args=["--table", "{{item.table}}", "--shard", "{{item.shard}}", "--item", "{{item}}"],
        outputs=[{"name": "staged"}],
    )
    load["metadata"]["annotations"]["sim.kubedag.io/duration"] = "{{item.ms}}ms"
    load["command"][2] = "sleep $(({{item.ms}} / 1000)); " + load["command"][2]
    kubectl.apply(
        namespace,
        workflow(
            "tables",
            [load, task("publish", depends_on=["load"], args=["{{tasks.load.outputs.staged}}"])],
        ),
    )
    body = wait_for_phase(kubectl, namespace, "tables", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"

    jobs = jobs_by_task(kubectl, namespace, "tables")
    for index, item in enumerate(tables):
        args = container_args(only_job(jobs, f"load-{index}"))
        assert args[:4] == ["--table", item["table"], "--shard", str(item["shard"])]
        assert args[4] == "--item" and json.loads(args[5]) == item
    tasks = tasks_by_name(kubectl, namespace, "tables")
    completions = {index: attempt_ended(tasks[f"load-{index}"]) for index in range(len(tables))}
    assert completions[0] > completions[1], "the first item was meant to finish last"
    publish = only_job(jobs, "publish")
    assert timestamp(publish["metadata"]["creationTimestamp"]) >= max(completions.values())
    assert json.loads(container_args(publish)[0]) == [
        "staging.orders",
        "staging.customers",
        "staging.payments",
    ]
    tasks = tasks_by_name(kubectl, namespace, "tables")
    assert tasks["load-0"]["status"]["outputs"] == {"staged": "staging.orders"}


def partitions_workflow(name: str, partitions: Any) -> dict[str, Any]:
    """list-partitions publishes `partitions`; process fans out over it; merge collects."""
    return workflow(
        name,
        [
            task(
                "list-partitions",
                output={"partitions": partitions},
                outputs=[{"name": "partitions"}],
            ),
            task(
                "process",
                depends_on=["list-partitions"],
                output='{"rows": "{{item}}-rows"}',
                withParam="{{tasks.list-partitions.outputs.partitions}}",
                args=["{{item}}"],
                outputs=[{"name": "rows"}],
            ),
            task("merge", depends_on=["process"], args=["{{tasks.process.outputs.rows}}"]),
        ],
    )


def test_with_param_fans_out_over_the_list_an_upstream_task_published(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(namespace, partitions_workflow("dynamic", ["a", "b", "c"]))
    body = wait_for_phase(kubectl, namespace, "dynamic", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"
    assert body["status"]["progress"] == "5/5"

    task_objects = {t["metadata"]["name"] for t in kubectl.list(namespace, "tasks")}
    assert {task_object_name("dynamic", f"process-{i}") for i in range(3)} <= task_objects
    jobs = jobs_by_task(kubectl, namespace, "dynamic")
    assert set(jobs) == {"list-partitions", "process-0", "process-1", "process-2", "merge"}
    for index, partition in enumerate(["a", "b", "c"]):
        assert container_args(only_job(jobs, f"process-{index}")) == [partition]
    assert json.loads(container_args(only_job(jobs, "merge"))[0]) == ["a-rows", "b-rows", "c-rows"]


def test_with_param_over_an_output_that_is_not_a_json_list_fails_with_invalid_spec(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(namespace, partitions_workflow("not-a-list", "a,b,c"))
    body = wait_for_phase(kubectl, namespace, "not-a-list", "Failed", "Succeeded")
    assert body["status"]["phase"] == "Failed"
    succeeded = condition(body, "Succeeded")
    assert succeeded["status"] == "False"
    assert succeeded["reason"] == "InvalidSpec"
    assert "'process'" in body["status"]["message"]
    assert "is not valid JSON (Expecting value: line 1 column 1" in body["status"]["message"]
    jobs = jobs_by_task(kubectl, namespace, "not-a-list")
    assert not any(node.startswith("process") for node in jobs)
    assert "merge" not in jobs


def test_with_param_over_an_empty_list_has_no_items_and_downstream_still_runs(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(namespace, partitions_workflow("empty", []))
    body = wait_for_phase(kubectl, namespace, "empty", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"

    tasks = tasks_by_name(kubectl, namespace, "empty")
    assert set(tasks) == {"list-partitions", "merge"}
    assert tasks["merge"]["status"]["phase"] == "Succeeded"
    assert (
        json.loads(container_args(only_job(jobs_by_task(kubectl, namespace, "empty"), "merge"))[0])
        == []
    )


def test_a_failed_item_skips_dependents_but_any_succeeded_still_runs(
    kubectl: Kubectl, namespace: str
) -> None:
    shards = [{"shard": "eu", "exit": 0}, {"shard": "us", "exit": 4}, {"shard": "apac", "exit": 0}]
    process = task("process", withItems=shards, args=["{{item.shard}}"])
    process["command"] = ["sh", "-c", "echo processing $0; exit {{item.exit}}"]
    process["metadata"] = {"annotations": {"sim.kubedag.io/exit-code": "{{item.exit}}"}}
    kubectl.apply(
        namespace,
        workflow(
            "shards",
            [
                process,
                task("merge", depends_on=["process"]),
                task("report", depends="process.AnySucceeded"),
            ],
        ),
    )
    body = wait_for_phase(kubectl, namespace, "shards", "Failed", "Succeeded")
    assert body["status"]["phase"] == "Failed"
    assert "process-1" in body["status"]["message"]

    tasks = tasks_by_name(kubectl, namespace, "shards")
    phases = {name: t["status"]["phase"] for name, t in tasks.items()}
    assert phases == {
        "process-0": "Succeeded",
        "process-1": "Failed",
        "process-2": "Succeeded",
        "merge": "Skipped",
        "report": "Succeeded",
    }
    assert tasks["process-1"]["status"]["attempts"][0]["exitCode"] == 4
    assert tasks["merge"]["status"]["reason"] == "UpstreamFailed"
    jobs = jobs_by_task(kubectl, namespace, "shards")
    assert "merge" not in jobs
    assert "report" in jobs


def test_fan_out_parallelism_limits_how_many_of_its_jobs_run_at_once(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "throttled",
            [
                task(
                    "backfill",
                    seconds=2,
                    withItems=[f"2024-05-0{day}" for day in range(1, 7)],
                    args=["{{item}}"],
                    parallelism=2,
                ),
                # Not part of the fan-out: runs alongside it, outside its limit.
                task("vacuum", seconds=2),
            ],
        ),
    )
    body = wait_for_phase(kubectl, namespace, "throttled", "Succeeded", "Failed", timeout=180)
    assert body["status"]["phase"] == "Succeeded"

    jobs = jobs_by_task(kubectl, namespace, "throttled")
    items = [only_job(jobs, f"backfill-{index}") for index in range(6)]
    tasks = tasks_by_name(kubectl, namespace, "throttled")
    assert max_jobs_running_at_once(items, tasks) == 2
    assert max_jobs_running_at_once([*items, only_job(jobs, "vacuum")], tasks) == 3


def test_workflow_parallelism_limits_jobs_running_at_once_across_tasks_and_items(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "capped",
            [
                task("export", seconds=2, withItems=["a", "b", "c", "d"], args=["{{item}}"]),
                task("audit", seconds=2),
                task("compact", seconds=2),
            ],
            parallelism=2,
        ),
    )
    body = wait_for_phase(kubectl, namespace, "capped", "Succeeded", "Failed", timeout=180)
    assert body["status"]["phase"] == "Succeeded"

    jobs = [job for found in jobs_by_task(kubectl, namespace, "capped").values() for job in found]
    assert len(jobs) == 6
    assert max_jobs_running_at_once(jobs, tasks_by_name(kubectl, namespace, "capped")) == 2


def test_workflow_object_stays_small_after_a_200_item_fan_out(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow("wide", [task("process", withItems=[f"p{i:03d}" for i in range(200)])]),
    )
    body = wait_for_phase(kubectl, namespace, "wide", "Succeeded", "Failed", timeout=300)
    assert body["status"]["phase"] == "Succeeded"
    assert body["status"]["progress"] == "200/200"

    size = len(kubectl.run("get", "-n", namespace, "workflow", "wide", "-o", "json").stdout)
    assert size < 16 * 1024, f"the Workflow object is {size} bytes"
    assert len(kubectl.list(namespace, "tasks", "kubedag.io/workflow=wide")) == 200
