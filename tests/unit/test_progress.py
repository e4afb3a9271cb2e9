from typing import Any

from kubedag.progress import summary, table, task_lines


def task(name: str, phase: str | None, message: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if phase:
        status["phase"] = phase
    if message:
        status["message"] = message
    return {"metadata": {}, "spec": {"name": name}, "status": status}


def test_lines_follow_declaration_order_and_default_to_pending() -> None:
    lines = task_lines([task("b", "Running"), task("a", None)], order=["a", "b"])
    assert [(line.name, line.phase) for line in lines] == [("a", "Pending"), ("b", "Running")]


def test_a_waiting_task_shows_what_it_runs_after() -> None:
    waiting = task("load", "Pending")
    waiting["spec"]["dependsOn"] = ["extract", "validate"]
    (line,) = task_lines([waiting])
    assert line.detail == "after extract, validate"


def test_summary_groups_tasks_by_phase() -> None:
    lines = task_lines(
        [task("x", "Succeeded"), task("y", "Running"), task("z", "Pending"), task("w", "Failed")],
        order=["x", "y", "z", "w"],
    )
    text = summary({"status": {"phase": "Running", "progress": "2/4"}}, lines)
    assert text == "[2/4] Running | running: y | waiting: z | done: x | failed: w"


def test_table_aligns_columns() -> None:
    rendered = table(task_lines([task("extract", "Failed", "exit code 3 (Error)")])).splitlines()
    assert rendered[0].split() == ["TASK", "PHASE", "DETAIL"]
    assert rendered[1].split(maxsplit=2) == ["extract", "Failed", "exit code 3 (Error)"]


def test_a_task_whose_pod_does_not_run_shows_kubernetes_reason_and_message() -> None:
    stuck = task("train", "Pending", "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.")
    stuck["status"].update(reason="Unschedulable", attempts=[{"number": 1, "jobName": "j"}])
    lines = task_lines([stuck, task("load", "Pending")], order=["train", "load"])
    assert lines[0].detail.startswith("Unschedulable: 0/2 nodes are available")
    assert lines[0].not_running and not lines[1].not_running
    text = summary({"status": {"phase": "Running", "progress": "0/2"}}, lines)
    assert text == "[0/2] Running | not running: train (Unschedulable) | waiting: load"
