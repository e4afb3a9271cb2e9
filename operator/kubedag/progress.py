"""Formats a workflow's progress for people: what waits, runs, succeeded, failed. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PHASE_ORDER = ("Running", "Pending", "Succeeded", "Failed", "Skipped")


@dataclass(frozen=True)
class TaskLine:
    name: str
    phase: str
    detail: str


def task_lines(tasks: Sequence[Mapping[str, Any]], order: Sequence[str] = ()) -> list[TaskLine]:
    """One line per Task object, in `order` (the workflow's declaration order), then by name."""
    position = {name: index for index, name in enumerate(order)}
    lines = []
    for task in sorted(
        tasks, key=lambda t: (position.get(t["spec"]["name"], len(position)), t["spec"]["name"])
    ):
        status = task.get("status") or {}
        attempts = status.get("attempts") or []
        phase = status.get("phase") or "Pending"
        detail = status.get("message") or ""
        if attempts and not detail:
            detail = f"job {attempts[-1].get('jobName', '')}"
        depends_on = task["spec"].get("dependsOn") or []
        if phase == "Pending" and not detail and depends_on:
            detail = "after " + ", ".join(depends_on)
        lines.append(TaskLine(task["spec"]["name"], phase, detail))
    return lines


def summary(workflow: Mapping[str, Any], lines: Sequence[TaskLine]) -> str:
    """`[3/7] Running | running: a, b | waiting: c | failed: d`"""
    status = workflow.get("status") or {}
    groups: dict[str, list[str]] = {}
    for line in lines:
        groups.setdefault(line.phase, []).append(line.name)
    label = {"Pending": "waiting", "Running": "running", "Succeeded": "done"}
    parts = [
        f"[{status.get('progress') or '0/' + str(len(lines))}] {status.get('phase') or 'Pending'}"
    ]
    for phase in PHASE_ORDER:
        if groups.get(phase):
            parts.append(f"{label.get(phase, phase.lower())}: {', '.join(groups[phase])}")
    return " | ".join(parts)


def table(lines: Sequence[TaskLine]) -> str:
    width = max([len("TASK"), *(len(line.name) for line in lines)])
    rows = [f"{'TASK':<{width}}  {'PHASE':<10} DETAIL"]
    rows += [f"{line.name:<{width}}  {line.phase:<10} {line.detail}" for line in lines]
    return "\n".join(rows)
