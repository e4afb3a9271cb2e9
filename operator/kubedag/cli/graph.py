"""`kubedag graph`: a workflow's DAG as Mermaid, Graphviz DOT or plain text. Pure.

Edges come from each task's `dependsOn` and the task names of its `depends` expression
(the engine's own parser, `engine/expressions.py`); the exit handler (`onExit`) is drawn
after every other task. With the run's Tasks at hand, each node carries its phase
(Mermaid classes, DOT fill colours, a `[Phase]` suffix in text).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FORMATS = ("mermaid", "dot", "ascii")

# Fill colours of a node by phase (DOT) — the same family as the tree's colours.
_DOT_FILL = {
    "Succeeded": "palegreen",
    "Failed": "lightcoral",
    "Running": "lightskyblue",
    "Skipped": "lightgrey",
    "Pending": "white",
}
_MERMAID_CLASSES = {
    "Succeeded": "fill:#c8f7c5,stroke:#2e7d32",
    "Failed": "fill:#f8c4c4,stroke:#c62828",
    "Running": "fill:#c4e1f8,stroke:#1565c0",
    "Skipped": "fill:#eeeeee,stroke:#9e9e9e",
    "Pending": "fill:#ffffff,stroke:#616161",
}


@dataclass
class Dag:
    """Nodes in declaration order, edges (upstream, downstream), exit-handler nodes, and
    the phase of each node that has a Task (by spec task name; a fan-out's items are
    summarised on their task: the first non-Succeeded phase among them, else Succeeded)."""

    nodes: list[str]
    edges: list[tuple[str, str]]
    exit_nodes: list[str] = field(default_factory=list)
    phases: dict[str, str] = field(default_factory=dict)


def _dependencies(task: Mapping[str, Any]) -> list[str]:
    from kubedag.engine import expressions

    names = list(task.get("dependsOn") or [])
    text = task.get("depends")
    if isinstance(text, str):
        # An expression that does not parse: `kubedag lint` names the problem; the graph
        # shows the node without those edges.
        with contextlib.suppress(ValueError):
            names += sorted(expressions.depends_tasks(expressions.parse_depends(text)))
    return list(dict.fromkeys(name for name in names if isinstance(name, str)))


def dag_of(spec: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]] = ()) -> Dag:
    """The DAG of a Workflow or WorkflowTemplate spec (wire form), with the phases of the
    run's Task objects when given."""
    main = [t for t in spec.get("tasks") or [] if isinstance(t, Mapping)]
    on_exit = [t for t in spec.get("onExit") or [] if isinstance(t, Mapping)]
    nodes = [str(t.get("name", "")) for t in main]
    exit_nodes = [str(t.get("name", "")) for t in on_exit]
    edges = [
        (upstream, str(t.get("name", "")))
        for t in [*main, *on_exit]
        for upstream in _dependencies(t)
    ]
    # The exit handler runs after everything else: draw it from the DAG's last tasks.
    has_downstream = {upstream for upstream, _ in edges if upstream in nodes}
    exit_roots = [n for n in exit_nodes if not any(d == n for _, d in edges)]
    sinks = [n for n in nodes if n not in has_downstream]
    edges += [(sink, root) for root in exit_roots for sink in sinks]
    phases: dict[str, list[str]] = {}
    for task in tasks:
        task_spec, status = task.get("spec") or {}, task.get("status") or {}
        origin = task_spec.get("task") or task_spec.get("name", "")
        phases.setdefault(origin, []).append(status.get("phase") or "Pending")
    summary = {
        name: next((p for p in found if p != "Succeeded"), "Succeeded")
        for name, found in phases.items()
    }
    return Dag(nodes, edges, exit_nodes, summary)


def _mermaid_id(name: str) -> str:
    return "n_" + "".join(c if c.isalnum() else "_" for c in name)


def render(dag: Dag, fmt: str) -> str:
    """`dag` as text in `fmt` (one of FORMATS). Raises ValueError for another format."""
    if fmt == "mermaid":
        return _mermaid(dag)
    if fmt == "dot":
        return _dot(dag)
    if fmt == "ascii":
        return _ascii(dag)
    raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")


def _mermaid(dag: Dag) -> str:
    lines = ["flowchart TD"]
    for name in [*dag.nodes, *dag.exit_nodes]:
        shape = f'(["{name}"])' if name in dag.exit_nodes else f'["{name}"]'
        lines.append(f"    {_mermaid_id(name)}{shape}")
    lines += [f"    {_mermaid_id(a)} --> {_mermaid_id(b)}" for a, b in dag.edges]
    used = sorted(set(dag.phases.values()))
    for phase in used:
        lines.append(f"    classDef {phase.lower()} {_MERMAID_CLASSES.get(phase, '')}")
    for name, phase in dag.phases.items():
        lines.append(f"    class {_mermaid_id(name)} {phase.lower()}")
    return "\n".join(lines)


def _dot(dag: Dag) -> str:
    lines = ["digraph workflow {", "  rankdir=TB;", '  node [shape=box, style="rounded,filled"];']
    for name in [*dag.nodes, *dag.exit_nodes]:
        attributes = [f"fillcolor={_DOT_FILL.get(dag.phases.get(name, ''), 'white')}"]
        if name in dag.phases:
            attributes.append(f"tooltip={json.dumps(dag.phases[name])}")
        if name in dag.exit_nodes:
            attributes.append("peripheries=2")
        lines.append(f"  {json.dumps(name)} [{', '.join(attributes)}];")
    lines += [f"  {json.dumps(a)} -> {json.dumps(b)};" for a, b in dag.edges]
    lines.append("}")
    return "\n".join(lines)


def _levels(dag: Dag) -> list[list[str]]:
    """Nodes by depth (longest path from a root), in declaration order within a level; a
    node on a cycle (which the operator refuses) is put after the others."""
    upstream: dict[str, list[str]] = {}
    for a, b in dag.edges:
        upstream.setdefault(b, []).append(a)
    everything = [*dag.nodes, *dag.exit_nodes]
    depth: dict[str, int] = {}
    for _ in range(len(everything) + 1):
        changed = False
        for name in everything:
            parents = [p for p in upstream.get(name, []) if p in everything]
            if all(p in depth for p in parents):
                value = 1 + max((depth[p] for p in parents), default=-1)
                if depth.get(name) != value:
                    depth[name], changed = value, True
        if not changed:
            break
    last = max(depth.values(), default=-1) + 1
    levels: list[list[str]] = [[] for _ in range(last + 1)]
    for name in everything:
        levels[depth.get(name, last)].append(name)
    return [level for level in levels if level]


def _ascii(dag: Dag) -> str:
    upstream: dict[str, list[str]] = {}
    for a, b in dag.edges:
        upstream.setdefault(b, []).append(a)
    lines = []
    for index, level in enumerate(_levels(dag)):
        lines.append(f"level {index}")
        for name in level:
            phase = f" [{dag.phases[name]}]" if name in dag.phases else ""
            marker = " (exit handler)" if name in dag.exit_nodes else ""
            after = f"  <- {', '.join(upstream[name])}" if upstream.get(name) else ""
            lines.append(f"  {name}{phase}{marker}{after}")
    return "\n".join(lines)
