"""`kubedag lineage`: the dataset <-> task graph as Mermaid and DOT (issue 10)."""

from __future__ import annotations

from typing import Any

import pytest

from kubedag.cli.cluster import Connection
from kubedag.cli.lineage import lineage as lineage_verb
from kubedag.lineage.graph import build_graph, render_lineage


def task(
    workflow: str,
    name: str,
    *,
    inlets: list[dict[str, str]] | None = None,
    outlets: list[dict[str, str]] | None = None,
    recorded: dict[str, Any] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"workflow": workflow, "name": name, "task": name}
    if inlets:
        spec["inlets"] = inlets
    if outlets:
        spec["outlets"] = outlets
    body: dict[str, Any] = {
        "metadata": {"name": f"{workflow}-{name}", "namespace": "a"},
        "spec": spec,
    }
    if recorded is not None:
        body["status"] = {"datasets": recorded}
    return body


ORDERS = {"namespace": "s3://raw", "name": "orders"}
TABLE = {"namespace": "postgres://db:5432", "name": "dw.public.orders"}


def test_readers_and_writers_point_through_their_datasets() -> None:
    text = render_lineage(
        [],
        [
            task("etl", "extract", inlets=[ORDERS], outlets=[TABLE]),
            task("report", "read", inlets=[TABLE]),
        ],
    )
    assert text == (
        "flowchart LR\n"
        '  d0[("postgres://db:5432/dw.public.orders")]\n'
        '  d1[("s3://raw/orders")]\n'
        '  t0["etl.extract"]\n'
        '  t1["report.read"]\n'
        "  d0 --> t1\n"
        "  d1 --> t0\n"
        "  t0 --> d0\n"
    )


def test_dot_output_is_a_digraph_with_the_same_edges() -> None:
    text = render_lineage([], [task("etl", "extract", inlets=[ORDERS], outlets=[TABLE])], "dot")
    assert text.startswith("digraph lineage {\n  rankdir=LR;\n")
    assert '  d1 [label="s3://raw/orders", shape=cylinder];' in text
    assert '  t0 [label="etl.extract", shape=box];' in text
    assert "  d1 -> t0;" in text and "  t0 -> d0;" in text
    assert text.endswith("}\n")


def test_runs_of_one_pipeline_are_one_task_node() -> None:
    workflows = [
        {
            "metadata": {
                "name": run,
                "namespace": "a",
                "labels": {"kubedag.io/cron-workflow": "nightly"},
            },
            "spec": {},
        }
        for run in ("nightly-1", "nightly-2")
    ]
    graph = build_graph(
        [],
        [task("nightly-1", "load", outlets=[TABLE]), task("nightly-2", "load", outlets=[TABLE])],
        workflows=workflows,
    )
    assert {label for kind, label in graph.nodes if kind == "task"} == {"nightly.load"}


def test_what_a_task_recorded_wins_over_what_its_spec_declared() -> None:
    reported = {"outlets": [{"namespace": "s3://raw", "name": "orders/2026-11-01-extra"}]}
    graph = build_graph([], [task("etl", "x", outlets=[TABLE], recorded=reported)])
    assert ("dataset", "s3://raw/orders/2026-11-01-extra") in graph.nodes
    assert ("dataset", "postgres://db:5432/dw.public.orders") not in graph.nodes


def test_a_dataset_keeps_its_last_producer_and_shows_the_schedules_it_triggers() -> None:
    dataset = {
        "metadata": {"name": "orders-x", "namespace": "a"},
        "spec": ORDERS,
        "status": {"lastMaterialization": {"workflow": "gone-run", "task": "extract"}},
    }
    schedule = {
        "metadata": {"name": "report", "namespace": "a"},
        "spec": {"datasetTrigger": {"datasets": [ORDERS]}},
    }
    text = render_lineage([dataset], [], schedules=[schedule])
    assert '  s0{{"schedule report"}}' in text
    assert "  d0 -.->|triggers| s0" in text
    assert "  t0 --> d0" in text and 't0["gone-run.extract"]' in text


def test_unrendered_templates_and_odd_values_are_left_out() -> None:
    text = render_lineage(
        [], [task("etl", "x", inlets=[{"namespace": "s3://b", "name": "{{params.t}}"}])]
    )
    assert text == "flowchart LR\n" + '  t0["etl.x"]\n'


def test_labels_cannot_break_out_of_their_quotes() -> None:
    odd = {"namespace": 's3://b"', "name": 'x"]; evil'}
    assert "#quot;" in render_lineage([], [task("etl", "x", outlets=[odd])])
    assert '\\"' in render_lineage([], [task("etl", "x", outlets=[odd])], "dot")


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="mermaid, dot"):
        render_lineage([], [], "svg")  # type: ignore[arg-type]


def test_the_lineage_verb_reads_the_namespaces_objects_and_draws_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Item(dict[str, Any]):
        def to_dict(self) -> dict[str, Any]:
            return dict(self)

    class Client:
        def __init__(self) -> None:
            self.asked: list[tuple[str, str]] = []

        def list(self, resource: Any, namespace: str, **options: Any) -> list[Item]:
            kind = resource._api_info.resource.kind
            self.asked.append((kind, namespace))
            return [Item(task("etl", "extract", outlets=[TABLE]))] if kind == "Task" else []

    client = Client()
    assert lineage_verb(Connection(client, "a", all_namespaces=False), "mermaid") == 0
    assert "t0 --> d0" in capsys.readouterr().out
    assert {kind for kind, _ in client.asked} == {"Dataset", "Task", "Workflow", "CronWorkflow"}
    assert {namespace for _, namespace in client.asked} == {"a"}
    lineage_verb(Connection(client, "a", all_namespaces=True), "dot")
    assert client.asked[-1][1] == "*"  # -A lists every namespace
    assert capsys.readouterr().out.startswith("digraph")


# -- several namespaces, an empty one, odd names (review of issue 10) ---------------------


def _in(body: dict[str, Any], namespace: str) -> dict[str, Any]:
    return {**body, "metadata": {**body["metadata"], "namespace": namespace}}


def test_with_every_namespace_equal_pipeline_and_schedule_names_stay_apart() -> None:
    # `kubedag lineage -A`: team a's etl.extract and team b's are two jobs (OpenLineage
    # job namespaces kubedag/a and kubedag/b); datasets are one identity everywhere.
    schedule = {
        "metadata": {"name": "report", "namespace": "a"},
        "spec": {"datasetTrigger": {"datasets": [ORDERS]}},
    }
    text = render_lineage(
        [],
        [
            _in(task("etl", "extract", outlets=[ORDERS]), "a"),
            _in(task("etl", "extract", outlets=[ORDERS]), "b"),
        ],
        schedules=[schedule, _in(schedule, "b")],
    )
    assert 't0["a/etl.extract"]' in text and 't1["b/etl.extract"]' in text
    assert 's0{{"schedule a/report"}}' in text and 's1{{"schedule b/report"}}' in text
    assert text.count('[("s3://raw/orders")]') == 1


def test_a_hash_in_a_name_is_not_read_as_an_entity_code() -> None:
    odd = {"namespace": "s3://b", "name": "x#quot;y"}
    text = render_lineage([], [task("etl", "x", outlets=[odd])])
    assert "x#35;quot;y" in text


def test_an_empty_namespace_prints_an_empty_graph_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Client:
        def list(self, resource: Any, namespace: str, **options: Any) -> list[Any]:
            return []

    assert lineage_verb(Connection(Client(), "a", all_namespaces=False), "mermaid") == 0
    captured = capsys.readouterr()
    assert captured.out == "flowchart LR\n"
    assert "no datasets" in captured.err and "namespace a" in captured.err


def test_a_big_namespace_is_read_in_pages() -> None:
    class Client:
        def __init__(self) -> None:
            self.options: list[dict[str, Any]] = []

        def list(self, resource: Any, namespace: str, **options: Any) -> list[Any]:
            self.options.append(options)
            return []

    client = Client()
    lineage_verb(Connection(client, "a", all_namespaces=True), "dot")
    assert all((o.get("chunk_size") or 0) > 0 for o in client.options)


def test_a_line_break_in_a_hand_made_datasets_name_does_not_break_the_mermaid_graph() -> None:
    # The operator refuses control characters in names it is given, but a Dataset can be
    # made by hand: its label stays on one line.
    dataset = {
        "metadata": {"name": "x", "namespace": "a"},
        "spec": {"namespace": "s3://b", "name": "a\nb\r"},
    }
    text = render_lineage([dataset], [])
    assert text.splitlines() == ["flowchart LR", '  d0[("s3://b/a b ")]']
