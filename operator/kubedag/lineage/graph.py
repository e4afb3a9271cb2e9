"""The dataset <-> task graph of a namespace, for `kubedag lineage` (issue 10).

Nodes are datasets (OpenLineage namespace and name: `s3://raw/orders`), the tasks that
read or write them, and the schedules (CronWorkflows) that datasets trigger. A task is
named as its OpenLineage job is, `<pipeline>.<task>` (kubedag.lineage.events: the pipeline
is the WorkflowTemplate, else the CronWorkflow, else the Workflow), so the runs of one
pipeline are one node and a graph stays the size of the pipelines, not of their history.

Edges: dataset -> task (the task reads it: `inlets`), task -> dataset (writes it:
`outlets`), and dataset -.-> schedule (its updates start runs: `spec.datasetTrigger`).
What a task read and wrote comes from its Task's `status.datasets` (declared and reported
at run time), else its spec's declared ones; a Dataset object adds the task that last
wrote it (`status.lastMaterialization`), so a dataset whose producing run was deleted
keeps its producer.

`render_lineage` is pure (objects as the API server returns them, as dicts);
kubedag.cli.lineage reads them for `kubedag lineage`.
Output: Mermaid (`flowchart LR`, renders on GitHub and in most Markdown viewers) or
Graphviz DOT (`dot -Tsvg`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kubedag.names import CRON_WORKFLOW_LABEL

Format = Literal["mermaid", "dot"]
FORMATS: tuple[Format, ...] = ("mermaid", "dot")
Body = Mapping[str, Any]

DATASET, TASK, SCHEDULE = "dataset", "task", "schedule"
READS, WRITES, TRIGGERS = "reads", "writes", "triggers"


@dataclass
class LineageGraph:
    """Nodes by key ((kind, label)), and edges (from key, to key, kind), both sorted when
    rendered so that the same objects always print the same text."""

    nodes: set[tuple[str, str]] = field(default_factory=set)
    edges: set[tuple[tuple[str, str], tuple[str, str], str]] = field(default_factory=set)

    def add(self, source: tuple[str, str], target: tuple[str, str], kind: str) -> None:
        self.nodes.update((source, target))
        self.edges.add((source, target, kind))


def dataset_label(namespace: str, name: str) -> str:
    return f"{namespace.rstrip('/')}/{name}"


def build_graph(
    datasets: Iterable[Body],
    tasks: Iterable[Body],
    *,
    workflows: Iterable[Body] = (),
    schedules: Iterable[Body] = (),
) -> LineageGraph:
    """The graph of the objects given (one namespace's, or several: then task and schedule
    nodes are `<Kubernetes namespace>/...`, as their OpenLineage job namespaces differ;
    datasets are one identity everywhere)."""
    datasets, tasks, workflows, schedules = (
        list(datasets),
        list(tasks),
        list(workflows),
        list(schedules),
    )
    spaces = {_namespace(body) for group in (datasets, tasks, schedules) for body in group}
    several = len(spaces) > 1

    def job(namespace: str, label: str) -> str:
        return f"{namespace}/{label}" if several else label

    pipelines = {
        (_namespace(w), w["metadata"]["name"]): _pipeline(w) for w in workflows if _named(w)
    }
    graph = LineageGraph()
    for task in tasks:
        if not _named(task):
            continue
        spec = task.get("spec") or {}
        workflow, name = spec.get("workflow"), spec.get("task") or spec.get("name")
        if not isinstance(workflow, str) or not isinstance(name, str):
            continue
        pipeline = pipelines.get((_namespace(task), workflow), workflow)
        node = (TASK, job(_namespace(task), f"{pipeline}.{name}"))
        recorded = (task.get("status") or {}).get("datasets") or {}
        for key, kind in (("inlets", READS), ("outlets", WRITES)):
            for ref in recorded.get(key) or spec.get(key) or []:
                used = _dataset_node(ref)
                if used is None:
                    continue
                if kind == READS:
                    graph.add(used, node, READS)
                else:
                    graph.add(node, used, WRITES)
        if recorded or spec.get("inlets") or spec.get("outlets"):
            graph.nodes.add(node)
    for dataset in datasets:
        kept = _dataset_node(dataset.get("spec") or {})
        if kept is None:
            continue
        graph.nodes.add(kept)
        last = (dataset.get("status") or {}).get("lastMaterialization") or {}
        workflow, task_name = last.get("workflow"), last.get("task")
        if isinstance(workflow, str) and isinstance(task_name, str):
            pipeline = pipelines.get((_namespace(dataset), workflow), workflow)
            graph.add((TASK, job(_namespace(dataset), f"{pipeline}.{task_name}")), kept, WRITES)
    for schedule in schedules:
        trigger = (schedule.get("spec") or {}).get("datasetTrigger") or {}
        for ref in trigger.get("datasets") or []:
            watched = _dataset_node(ref)
            if watched is not None and _named(schedule):
                name = job(_namespace(schedule), schedule["metadata"]["name"])
                graph.add(watched, (SCHEDULE, name), TRIGGERS)
    return graph


def render_lineage(
    datasets: Iterable[Body],
    tasks: Iterable[Body],
    fmt: Format = "mermaid",
    *,
    workflows: Iterable[Body] = (),
    schedules: Iterable[Body] = (),
) -> str:
    """The graph as Mermaid or DOT text (ends with a newline). Raises ValueError for
    another format."""
    graph = build_graph(datasets, tasks, workflows=workflows, schedules=schedules)
    return render_graph(graph, fmt)


def render_graph(graph: LineageGraph, fmt: Format = "mermaid") -> str:
    """A built graph as Mermaid or DOT text; ValueError for another format."""
    if fmt == "mermaid":
        return _mermaid(graph)
    if fmt == "dot":
        return _dot(graph)
    raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")


def _named(body: Body) -> bool:
    return isinstance((body.get("metadata") or {}).get("name"), str)


def _namespace(body: Body) -> str:
    return str((body.get("metadata") or {}).get("namespace") or "")


def _pipeline(workflow: Body) -> str:
    reference = (workflow.get("spec") or {}).get("workflowTemplateRef") or {}
    if isinstance(reference.get("name"), str):
        return str(reference["name"])
    labels = workflow["metadata"].get("labels") or {}
    return str(labels.get(CRON_WORKFLOW_LABEL) or workflow["metadata"]["name"])


def _dataset_node(ref: Any) -> tuple[str, str] | None:
    if not isinstance(ref, Mapping):
        return None
    namespace, name = ref.get("namespace"), ref.get("name")
    if not isinstance(namespace, str) or not isinstance(name, str) or "{{" in namespace + name:
        return None  # not rendered (a spec's template): no dataset yet
    return (DATASET, dataset_label(namespace, name))


# -- writing -------------------------------------------------------------------------------


def _ids(graph: LineageGraph) -> dict[tuple[str, str], str]:
    prefixes = {DATASET: "d", TASK: "t", SCHEDULE: "s"}
    counters: dict[str, int] = {}
    ids = {}
    for node in sorted(graph.nodes):
        index = counters.get(node[0], 0)
        counters[node[0]] = index + 1
        ids[node] = f"{prefixes[node[0]]}{index}"
    return ids


def _mermaid(graph: LineageGraph) -> str:
    ids = _ids(graph)
    lines = ["flowchart LR"]
    shapes = {DATASET: ('[("', '")]'), TASK: ('["', '"]'), SCHEDULE: ('{{"', '"}}')}
    for node in sorted(graph.nodes):
        opening, closing = shapes[node[0]]
        label = node[1] if node[0] != SCHEDULE else f"schedule {node[1]}"
        lines.append(f"  {ids[node]}{opening}{_mermaid_text(label)}{closing}")
    for source, target, kind in sorted(graph.edges):
        arrow = "-.->|triggers|" if kind == TRIGGERS else "-->"
        lines.append(f"  {ids[source]} {arrow} {ids[target]}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    # Inside a quoted label Mermaid reads entity codes (`#quot;`, `#35;`), so a "#" of the
    # text is one too; a quote would end the label, a line break the statement.
    return (
        re.sub(r"[\x00-\x1f\x7f]", " ", text)
        .replace("#", "#35;")
        .replace("&", "#amp;")
        .replace('"', "#quot;")
        .replace("<", "#lt;")
        .replace(">", "#gt;")
    )


def _dot(graph: LineageGraph) -> str:
    ids = _ids(graph)
    lines = ["digraph lineage {", "  rankdir=LR;"]
    shapes = {DATASET: "cylinder", TASK: "box", SCHEDULE: "hexagon"}
    for node in sorted(graph.nodes):
        label = node[1] if node[0] != SCHEDULE else f"schedule {node[1]}"
        lines.append(f'  {ids[node]} [label="{_dot_text(label)}", shape={shapes[node[0]]}];')
    for source, target, kind in sorted(graph.edges):
        style = ' [style=dashed, label="triggers"]' if kind == TRIGGERS else ""
        lines.append(f"  {ids[source]} -> {ids[target]}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
