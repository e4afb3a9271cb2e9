"""What `kubedag list`, `get`, `graph` and `resubmit` build from API objects: pure parts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubedag.cli.graph import dag_of, render
from kubedag.cli.runs import parse_age, resubmit_manifest
from kubedag.cli.views import (
    finished_at_or_before,
    human_duration,
    list_rows,
    workflow_view,
)

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


def task_object(
    name: str, phase: str | None, *, origin: str | None = None, **status: Any
) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "workflow": "etl"}
    if origin:
        spec["task"] = origin
    return {"spec": spec, "status": {"phase": phase, **status} if phase else {}}


def run(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "etl",
            "namespace": "data",
            "creationTimestamp": "2026-11-30T11:00:00Z",
        },
        "spec": {"tasks": [{"name": "extract"}, {"name": "load", "dependsOn": ["extract"]}]},
        "status": status,
    }


def test_the_view_lists_tasks_in_declaration_order_with_attempts_outputs_and_datasets() -> None:
    datasets = {"inlets": [], "outlets": [{"namespace": "s3://b", "name": "orders"}]}
    tasks = [
        task_object("load", "Running", startedAt="2026-11-30T11:59:00Z"),
        task_object(
            "extract",
            "Failed",
            reason="TaskFailed",
            startedAt="2026-11-30T11:00:00Z",
            finishedAt="2026-11-30T11:02:05Z",
            attempts=[{"number": 1, "jobName": "j-1", "exitCode": 3, "reason": "Error"}],
            outputs={"rows": "5"},
            datasets=datasets,
        ),
    ]
    view = workflow_view(run(phase="Running", startedAt="2026-11-30T11:00:00Z"), tasks, NOW)
    assert [task["name"] for task in view["tasks"]] == ["extract", "load"]
    extract, load = view["tasks"]
    assert extract["durationSeconds"] == 125
    assert extract["attempts"][0]["exitCode"] == 3
    assert extract["outputs"] == {"rows": "5"}
    assert extract["datasets"] == datasets
    assert load["durationSeconds"] == 60  # still running: up to now
    assert load["datasets"] is None
    assert view["durationSeconds"] == 3600


def test_fan_out_items_sort_with_their_task() -> None:
    tasks = [
        task_object("load", None),
        task_object("extract-1", "Succeeded", origin="extract"),
        task_object("extract-0", "Succeeded", origin="extract"),
    ]
    names = [t["name"] for t in workflow_view(run(), tasks, NOW)["tasks"]]
    assert names == ["extract-0", "extract-1", "load"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0, "0s"), (59, "59s"), (61, "1m01s"), (3600, "1h00m"), (49 * 3600, "2d1h")],
)
def test_durations_read_like_kubectl_ages(seconds: int | None, text: str) -> None:
    assert human_duration(seconds) == text


def test_list_rows_are_newest_first_with_namespace_and_wide_columns() -> None:
    older = run(phase="Succeeded", progress="2/2")
    newer = run(phase="Running", progress="1/2", message="two\nlines")
    newer["metadata"] = {
        **newer["metadata"],
        "name": "etl-2",
        "creationTimestamp": "2026-11-30T11:30:00Z",
    }
    rows = list_rows([older, newer], NOW, wide=True, namespaces=True)
    assert rows[0][:3] == ["NAMESPACE", "NAME", "PHASE"]
    assert [row[1] for row in rows[1:]] == ["etl-2", "etl"]
    assert rows[1][-1] == "two lines"
    assert rows[1][5] == "30m00s"  # AGE


def test_only_finished_runs_are_old_enough_to_delete() -> None:
    done = run(phase="Succeeded", finishedAt="2026-11-30T10:00:00Z")
    running = run(phase="Running")
    assert finished_at_or_before(done, NOW - timedelta(hours=1))
    assert not finished_at_or_before(done, NOW - timedelta(hours=3))
    assert not finished_at_or_before(running, NOW)


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("1h30m", 5400), ("7d", 604800)])
def test_ages_parse_like_kubectl_durations(text: str, seconds: int) -> None:
    assert parse_age(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "soon", "5", "1x", "-1h"])
def test_an_unreadable_age_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_age(text)


SPEC = {
    "tasks": [
        {"name": "a"},
        {"name": "b", "dependsOn": ["a"]},
        {"name": "c", "depends": "a.Succeeded && (b || b.Skipped)"},
    ],
    "onExit": [{"name": "notify"}],
}


def test_the_graph_has_an_edge_per_dependency_and_the_exit_handler_after_the_sinks() -> None:
    dag = dag_of(SPEC)
    assert set(dag.edges) == {("a", "b"), ("a", "c"), ("b", "c"), ("c", "notify")}


def test_each_format_names_every_node_and_edge() -> None:
    tasks = [task_object("a", "Succeeded"), task_object("b", "Failed")]
    dag = dag_of(SPEC, tasks)
    mermaid, dot, ascii_ = (render(dag, fmt) for fmt in ("mermaid", "dot", "ascii"))
    assert mermaid.startswith("flowchart TD") and "n_a --> n_b" in mermaid
    assert "class n_b failed" in mermaid
    assert '"a" -> "b";' in dot and "fillcolor=lightcoral" in dot
    assert ascii_.splitlines()[:2] == ["level 0", "  a [Succeeded]"]
    assert "  c  <- a, b" in ascii_
    with pytest.raises(ValueError, match="unknown format"):
        render(dag, "svg")


def test_a_fan_out_shows_its_worst_item_phase() -> None:
    tasks = [
        task_object("a-0", "Succeeded", origin="a"),
        task_object("a-1", "Failed", origin="a"),
    ]
    assert dag_of(SPEC, tasks).phases == {"a": "Failed"}


def test_resubmit_copies_the_spec_but_not_the_controls_or_the_schedule_ties() -> None:
    old = {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "name": "nightly-20261130",
            "uid": "u",
            "resourceVersion": "7",
            "labels": {"team": "data", "kubedag.io/cron-workflow": "nightly"},
            "annotations": {"kubedag.io/retry": "x", "kubedag.io/manual": "true"},
            "ownerReferences": [{"kind": "CronWorkflow", "name": "nightly"}],
        },
        "spec": {
            "tasks": [{"name": "a"}],
            "params": [{"name": "day", "value": "1"}],
            "shutdown": "Stop",
            "suspend": True,
        },
        "status": {"phase": "Failed"},
    }
    new = resubmit_manifest(old, {"day": "2"})
    assert new["metadata"] == {"generateName": "nightly-20261130-", "labels": {"team": "data"}}
    assert new["spec"] == {"tasks": [{"name": "a"}], "params": [{"name": "day", "value": "2"}]}
    assert "status" not in new


def test_the_tree_shows_each_tasks_datasets_and_outputs(capsys: pytest.CaptureFixture[str]) -> None:
    from kubedag.cli.output import print_tree

    datasets = {
        "inlets": [{"namespace": "postgres://db:5432", "name": "shop.public.orders"}],
        "outlets": [{"namespace": "s3://lake", "name": "raw/orders", "partition": "2026-11-29"}],
    }
    tasks = [task_object("extract", "Succeeded", outputs={"rows": "7"}, datasets=datasets)]
    print_tree(workflow_view(run(phase="Succeeded"), tasks, NOW), wide=False)
    out = capsys.readouterr().out
    assert "output rows = 7" in out
    assert "reads  postgres://db:5432/shop.public.orders" in out
    assert "writes s3://lake/raw/orders [2026-11-29]" in out
    assert "\x1b[" not in out  # not a terminal: no colour


def test_the_tree_says_why_a_started_task_does_not_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kubedag.cli.output import print_tree

    held = task_object(
        "train",
        "Pending",
        reason="Unschedulable",
        message="0/2 nodes are available: 2 Insufficient nvidia.com/gpu.",
        attempts=[{"number": 1, "jobName": "train-1"}],
    )
    waiting = task_object("load", "Pending", reason="Waiting")
    print_tree(workflow_view(run(phase="Running"), [held, waiting], NOW), wide=False)
    out = capsys.readouterr().out
    assert "train  Pending  not running: Unschedulable" in out
    assert "Insufficient nvidia.com/gpu" in out
    assert "load  Pending  Waiting" in out


def test_the_tree_says_why_reported_datasets_were_not_recorded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kubedag.cli.output import print_tree

    datasets = {"message": "kubedag.io/datasets.outlets[0]: dataset namespace 'S3://b' is not"}
    tasks = [task_object("extract", "Succeeded", datasets=datasets)]
    print_tree(workflow_view(run(phase="Succeeded"), tasks, NOW), wide=False)
    assert "datasets not recorded: kubedag.io/datasets.outlets[0]" in capsys.readouterr().out
