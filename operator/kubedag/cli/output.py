"""Printing for the verbs: `-o json|yaml` documents, and the coloured tree of `get`.

Colour only on a terminal: click.echo drops ANSI codes when stdout is not a TTY, and rich
decides the same way (and honours NO_COLOR, https://no-color.org). rich is imported only
by the verbs that draw with it (`get`), so the other verbs start without it.
"""

from __future__ import annotations

import json
from typing import Any

import click

from kubedag.cli.views import dataset_label, human_duration

# kubectl's -o values that apply to kubedag's verbs.
OUTPUTS = ("json", "yaml", "wide", "name")

PHASE_STYLE = {
    "Succeeded": "green",
    "Failed": "red",
    "Running": "cyan",
    "Skipped": "bright_black",
    "Pending": "yellow",
}
PHASE_MARK = {"Succeeded": "✔", "Failed": "✖", "Running": "●", "Skipped": "○", "Pending": "◌"}


def document(data: Any, fmt: str) -> str:
    """`data` as JSON (2-space indent, key order kept) or YAML (block style)."""
    if fmt == "json":
        return json.dumps(data, indent=2)
    import yaml

    return str(yaml.safe_dump(data, sort_keys=False)).rstrip("\n")


def echo(text: str = "", *, err: bool = False) -> None:
    click.echo(text, err=err)


def object_name(kind: str, name: str) -> str:
    """kubectl's `-o name` form with the full group: `workflow.kubedag.io/etl`."""
    return f"{kind.lower()}.kubedag.io/{name}"


def _attempt_text(attempt: dict[str, Any]) -> str:
    parts = [f"#{attempt['number']}"]
    if attempt.get("exitCode") is not None:
        parts.append(f"exit {attempt['exitCode']}")
    if attempt.get("reason"):
        parts.append(str(attempt["reason"]))
    if attempt.get("jobName"):
        parts.append(f"job {attempt['jobName']}")
    return " ".join(parts)


def print_tree(view: dict[str, Any], *, wide: bool) -> None:
    """The tree of `kubedag get`: the run, then each task with phase, reason, duration,
    attempts and last exit code; under a task its outputs, datasets and message (and every
    attempt with -o wide)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.text import Text
    from rich.tree import Tree

    phase = view["phase"]
    style = PHASE_STYLE.get(phase, "")
    head = Text.assemble(
        ("Workflow ", "bold"),
        (view["name"] or "", "bold"),
        "  ",
        (phase, style),
        f"  {view.get('progress') or '-'}  {human_duration(view.get('durationSeconds'))}",
    )
    tree = Tree(head)
    if view.get("message"):
        tree.add(Text(f"message: {view['message']}"))
    for task in view["tasks"]:
        task_phase = task["phase"]
        attempts = task["attempts"]
        last = attempts[-1] if attempts else {}
        pieces = [f"{PHASE_MARK.get(task_phase, '?')} [bold]{escape(task['name'] or '')}[/]"]
        pieces.append(f"[{PHASE_STYLE.get(task_phase, 'default')}]{task_phase}[/]")
        reason = str(task.get("reason") or "")
        if task_phase == "Pending" and attempts and reason not in ("", "Waiting"):
            # Its Job exists, and Kubernetes says why its Pod does not run.
            pieces.append(f"[{PHASE_STYLE['Failed']}]not running: {escape(reason)}[/]")
        elif reason and reason != task_phase:
            pieces.append(escape(reason))
        pieces.append(human_duration(task.get("durationSeconds")))
        if attempts:
            pieces.append(f"attempts {len(attempts)}")
        if last.get("exitCode") is not None:
            pieces.append(f"exit {last['exitCode']}")
        branch = tree.add("  ".join(pieces))
        if wide:
            for attempt in attempts:
                branch.add(escape(_attempt_text(attempt)))
        if task.get("message") and task_phase != "Succeeded":
            branch.add(escape(f"message: {task['message']}"))
        for key, value in (task.get("outputs") or {}).items():
            branch.add(escape(f"output {key} = {value}"))
        datasets = task.get("datasets") or {}
        for ref in datasets.get("inlets") or []:
            branch.add(escape(f"reads  {dataset_label(ref)}"))
        for ref in datasets.get("outlets") or []:
            branch.add(escape(f"writes {dataset_label(ref)}"))
        if datasets.get("message"):
            branch.add(escape(f"datasets not recorded: {datasets['message']}"))
    # soft_wrap: a long message stays one line for grep; highlight off: no guessed colours.
    Console(soft_wrap=True, highlight=False).print(tree)
