"""What `kubedag list` and `kubedag get` show, built from API objects (wire form, camelCase
dicts). Pure: no I/O, `now` passed in.

`workflow_view` is also the documented shape of `kubedag get NAME -o json|yaml`:

    {"name", "namespace", "phase", "progress", "message", "startedAt", "finishedAt",
     "durationSeconds",
     "tasks": [{"name", "phase", "reason", "message", "dependsOn", "startedAt",
                "finishedAt", "durationSeconds", "attempts": [{"number", "jobName",
                "startedAt", "finishedAt", "exitCode", "reason", "message"}],
                "outputs": {NAME: VALUE}, "datasets": {"inlets": [...], "outlets": [...]}}]}

Absent values are null (`datasets` is null when the Task has no `status.datasets`, the
issue-10 contract); durations are whole seconds, up to `now` for what still runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

FINISHED = ("Succeeded", "Failed")


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 time of the API server (`2026-11-30T14:00:00Z`), None for None/garbage."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def duration_seconds(started: str | None, finished: str | None, now: datetime) -> int | None:
    """Whole seconds from `started` to `finished` (to `now` while unfinished); None before
    a start."""
    start = parse_time(started)
    if start is None:
        return None
    end = parse_time(finished) or now
    return max(0, int((end - start).total_seconds()))


def human_duration(seconds: int | None) -> str:
    """`45s`, `3m05s`, `2h10m`, `3d4h` (kubectl's style of AGE); `-` for None."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h"


def declared_order(workflow: Mapping[str, Any]) -> list[str]:
    """Task names in the order the spec declares them (a WorkflowTemplate run's: the order
    of the template it stored), exit handler last."""
    spec = workflow.get("spec") or {}
    stored = (workflow.get("status") or {}).get("storedWorkflowTemplate") or {}
    tasks = spec.get("tasks") or stored.get("tasks") or []
    on_exit = spec.get("onExit") or stored.get("onExit") or []
    return [task.get("name", "") for task in [*tasks, *on_exit]]


def _node_sort_key(order: Sequence[str]) -> Any:
    position = {name: index for index, name in enumerate(order)}

    def key(task: Mapping[str, Any]) -> tuple[int, str]:
        spec = task.get("spec") or {}
        node = spec.get("name", "")
        origin = spec.get("task") or node  # a fan-out item sorts with its task
        return (position.get(origin, len(position)), node)

    return key


def task_view(task: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    spec, status = task.get("spec") or {}, task.get("status") or {}
    attempts = [
        {
            "number": attempt.get("number"),
            "jobName": attempt.get("jobName"),
            "startedAt": attempt.get("startedAt"),
            "finishedAt": attempt.get("finishedAt"),
            "exitCode": attempt.get("exitCode"),
            "reason": attempt.get("reason"),
            "message": attempt.get("message"),
        }
        for attempt in status.get("attempts") or []
    ]
    return {
        "name": spec.get("name"),
        "phase": status.get("phase") or "Pending",
        "reason": status.get("reason"),
        "message": status.get("message"),
        "dependsOn": list(spec.get("dependsOn") or []),
        "startedAt": status.get("startedAt"),
        "finishedAt": status.get("finishedAt"),
        "durationSeconds": duration_seconds(status.get("startedAt"), status.get("finishedAt"), now),
        "attempts": attempts,
        "outputs": dict(status.get("outputs") or {}),
        "datasets": status.get("datasets") or None,
    }


def workflow_view(
    workflow: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]], now: datetime
) -> dict[str, Any]:
    """The shape in the module docstring: the Workflow and its Tasks in declaration order."""
    metadata, status = workflow.get("metadata") or {}, workflow.get("status") or {}
    ordered = sorted(tasks, key=_node_sort_key(declared_order(workflow)))
    return {
        "name": metadata.get("name"),
        "namespace": metadata.get("namespace"),
        "phase": status.get("phase") or "Pending",
        "progress": status.get("progress"),
        "message": status.get("message"),
        "startedAt": status.get("startedAt"),
        "finishedAt": status.get("finishedAt"),
        "durationSeconds": duration_seconds(status.get("startedAt"), status.get("finishedAt"), now),
        "tasks": [task_view(task, now) for task in ordered],
    }


LIST_COLUMNS = ("NAME", "PHASE", "PROGRESS", "DURATION", "AGE")
WIDE_COLUMNS = ("STARTED", "FINISHED", "MESSAGE")


def list_rows(
    workflows: Sequence[Mapping[str, Any]], now: datetime, *, wide: bool, namespaces: bool
) -> list[list[str]]:
    """`kubedag list` rows (header first), newest first: NAME PHASE PROGRESS DURATION AGE,
    NAMESPACE first with -A, STARTED FINISHED MESSAGE last with -o wide."""
    header = [*(["NAMESPACE"] if namespaces else []), *LIST_COLUMNS]
    if wide:
        header += WIDE_COLUMNS
    rows = [header]
    for workflow in sorted(workflows, key=_created, reverse=True):
        metadata, status = workflow.get("metadata") or {}, workflow.get("status") or {}
        created = parse_time(metadata.get("creationTimestamp"))
        row = [
            *([metadata.get("namespace", "")] if namespaces else []),
            metadata.get("name", ""),
            status.get("phase") or "Pending",
            status.get("progress") or "-",
            human_duration(
                duration_seconds(status.get("startedAt"), status.get("finishedAt"), now)
            ),
            human_duration(int((now - created).total_seconds()) if created else None),
        ]
        if wide:
            row += [
                status.get("startedAt") or "-",
                status.get("finishedAt") or "-",
                (status.get("message") or "").replace("\n", " "),
            ]
        rows.append(row)
    return rows


def _created(workflow: Mapping[str, Any]) -> tuple[str, str]:
    metadata = workflow.get("metadata") or {}
    return (metadata.get("creationTimestamp") or "", metadata.get("name") or "")


def finished_at_or_before(workflow: Mapping[str, Any], moment: datetime) -> bool:
    """Whether the run is over (Succeeded or Failed) and finished no later than `moment`
    (`delete --older-than`; a finished run without finishedAt counts by creation time)."""
    status = workflow.get("status") or {}
    if status.get("phase") not in FINISHED:
        return False
    metadata = workflow.get("metadata") or {}
    when = parse_time(status.get("finishedAt")) or parse_time(metadata.get("creationTimestamp"))
    return when is not None and when <= moment


def format_rows(rows: list[list[str]]) -> str:
    """Columns padded as kubectl pads them (two spaces), trailing blanks stripped."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def dataset_label(ref: Mapping[str, Any]) -> str:
    """`s3://bucket/raw/orders` (+ ` [2026-11-30]` for a partition) of a DatasetRef."""
    namespace, name = ref.get("namespace", ""), ref.get("name", "")
    joined = f"{namespace.rstrip('/')}/{name}" if namespace else name
    return f"{joined} [{ref['partition']}]" if ref.get("partition") else joined
