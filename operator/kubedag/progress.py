"""Formats a workflow's progress for people: what waits, runs, succeeded, failed. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PHASE_ORDER = ("Running", "NotRunning", "Pending", "Succeeded", "Failed", "Skipped")


@dataclass(frozen=True)
class TaskLine:
    name: str
    phase: str
    detail: str
    reason: str = ""
    # Pending with an attempt: its Job exists, and Kubernetes says why its Pod does not run.
    not_running: bool = False


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
        reason = status.get("reason") or ""
        detail = status.get("message") or ""
        not_running = phase == "Pending" and bool(attempts) and reason not in ("", "Waiting")
        if not_running:
            detail = f"{reason}: {detail}" if detail else reason
        if attempts and not detail:
            detail = f"job {attempts[-1].get('jobName', '')}"
        depends_on = task["spec"].get("dependsOn") or []
        if phase == "Pending" and not detail and depends_on:
            detail = "after " + ", ".join(depends_on)
        lines.append(TaskLine(task["spec"]["name"], phase, detail, reason, not_running))
    return lines


def summary(workflow: Mapping[str, Any], lines: Sequence[TaskLine]) -> str:
    """`[3/7] Running | running: a, b | not running: e (Unschedulable) | waiting: c |
    failed: d`"""
    status = workflow.get("status") or {}
    groups: dict[str, list[str]] = {}
    for line in lines:
        if line.not_running:
            groups.setdefault("NotRunning", []).append(f"{line.name} ({line.reason})")
        else:
            groups.setdefault(line.phase, []).append(line.name)
    label = {
        "Pending": "waiting",
        "Running": "running",
        "NotRunning": "not running",
        "Succeeded": "done",
    }
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
