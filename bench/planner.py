"""Planner benchmark (no cluster): the cost of one planning pass at 200 / 2,000 / 10,000
tasks, for the shapes and moments a large run goes through (issue 8).

Shapes: `wide` (independent tasks), `chain` (each task depends on the one before),
`fan-out` (one task over N items) and `lattice` (layers of 100 tasks, each depending on two
tasks of the layer before). Moments: `nothing started` (no Task exists yet), `half done`
(half the nodes succeeded, the others run or wait) and `one just finished` (one node's Job
has just completed; every other node is done or running).

The state is built the way the operator builds it: Task, Job and Pod records, as the
watches deliver them, go through the reconciler's own `_observe` and `_resolution` (so
their per-pass cost is measured too), then `plan_next_steps` runs on the result. Each
figure is the median of `--repeat` passes (process CPU time, not wall time, so other
processes on the machine disturb it less).

    .venv/bin/python bench/planner.py                  # table + bench/results/planner.json
    .venv/bin/python bench/planner.py --sizes 10000 --shapes wide --profile
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kubedag.api.task import TaskPhase, TaskResourceStatus
from kubedag.api.workflow import WorkflowSpec, WorkflowStatus
from kubedag.controller.reconciler import (
    MAX_CREATIONS_PER_PASS,
    Views,
    WorkflowController,
    workflow_key,
)
from kubedag.engine import statuses
from kubedag.engine.observations import JobOutcome, ObservedTask
from kubedag.engine.plan import Reason
from kubedag.engine.planning import plan_next_steps
from kubedag.k8s.observe import JobRecord, PodRecord, PodTermination, TaskRecord, WorkflowRecord
from kubedag.names import job_name

RESULTS = Path(__file__).resolve().parent / "results"
NAMESPACE = "bench"
WORKFLOW = "big"
WORKFLOW_UID = "workflow-uid"
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
LATTICE_WIDTH = 100
SHAPES = ("wide", "chain", "fan-out", "lattice")
MOMENTS = ("nothing started", "half done", "one just finished")


def workflow_spec(shape: str, size: int) -> WorkflowSpec:
    """`size` nodes of the given shape, each a one-container task, read from the JSON a
    user would submit (as the operator reads it)."""

    def task(name: str, depends_on: list[str] | None = None, **fields: Any) -> dict[str, Any]:
        return {"name": name, "image": "busybox:1.36", "command": ["true"], **fields} | (
            {"dependsOn": depends_on} if depends_on else {}
        )

    if shape == "wide":
        tasks = [task(f"t{i}") for i in range(size)]
    elif shape == "chain":
        tasks = [task(f"c{i}", [f"c{i - 1}"] if i else None) for i in range(size)]
    elif shape == "fan-out":
        tasks = [task("process", args=["{{item}}"], withItems=list(range(size)))]
    elif shape == "lattice":
        tasks = []
        for i in range(size):
            layer, column = divmod(i, LATTICE_WIDTH)
            upstream = {f"l{layer - 1}-{column}", f"l{layer - 1}-{(column + 1) % LATTICE_WIDTH}"}
            tasks.append(task(f"l{layer}-{column}", sorted(upstream) if layer else None))
    else:
        raise ValueError(shape)
    return WorkflowSpec.model_validate({"tasks": tasks})


def node_names(spec: WorkflowSpec) -> list[str]:
    """Node names in an order where every node comes after its dependencies."""
    names = []
    for task in spec.tasks:
        if task.with_items is not None:
            names.extend(f"{task.name}-{index}" for index in range(len(task.with_items)))
        else:
            names.append(task.name)
    return names


@dataclass
class Records:
    """What the watches would have delivered: records grouped as the handlers' indices
    group them."""

    tasks: list[TaskRecord]
    jobs: list[JobRecord]
    pods: list[PodRecord]


def _running_status(node: str, started_at: datetime) -> TaskResourceStatus:
    status = statuses.started(TaskResourceStatus(), 1, job_name(WORKFLOW, node, 1), started_at)
    return status.model_copy(update={"phase": TaskPhase.RUNNING, "reason": Reason.RUNNING})


def records_for(spec: WorkflowSpec, moment: str) -> Records:
    """The Task, Job and Pod records of `moment` for `spec`'s nodes (in dependency order:
    the first half is done before the second starts, for every shape)."""
    names = node_names(spec)
    started_at = NOW - timedelta(minutes=10)
    finished_at = NOW - timedelta(minutes=1)
    if moment == "nothing started":
        return Records([], [], [])
    dependencies = {task.name: set(task.depends_on or []) for task in spec.tasks}
    depended_on = set().union(*dependencies.values())
    # Half the nodes are done; one just finished: everything but the last layer (the
    # nodes nothing depends on) is done, or half the nodes of an independent shape.
    half = set(names[: len(names) // 2])
    done = half if moment == "half done" or not depended_on else depended_on
    # Nodes whose dependencies are done run; the others wait (their Tasks exist, no Job).
    running = {n for n in names if n not in done and dependencies.get(n, set()) <= done}
    # One just finished: its Job completed and its Pod ended; its Task still says Running.
    just_finished = min(running, key=names.index) if moment == "one just finished" else None
    task_records, job_records, pod_records = [], [], []
    for name in names:
        uid = f"uid-{name}"
        if name in done:
            status = statuses.finished(
                _running_status(name, started_at),
                TaskPhase.SUCCEEDED,
                Reason.SUCCEEDED,
                None,
                finished_at,
            )
            status = status.model_copy(
                update={
                    "attempts": [
                        status.attempts[-1].model_copy(
                            update={"finished_at": finished_at, "exit_code": 0}
                        )
                    ]
                }
            )
        elif name in running:
            status = _running_status(name, started_at)
        else:
            status = statuses.waiting(TaskResourceStatus())
        task_records.append(TaskRecord("1", ObservedTask(name, uid, status), WORKFLOW_UID))
        if name in done or name in running:
            completed = name in done or name == just_finished
            job = job_name(WORKFLOW, name, 1)
            job_records.append(
                JobRecord(
                    name=job,
                    task=name,
                    attempt=1,
                    outcome=JobOutcome.SUCCEEDED if completed else JobOutcome.RUNNING,
                    finished_at=finished_at if completed else None,
                    reason=None,
                    message=None,
                    uid=f"job-uid-{name}",
                    task_uid=uid,
                    succeeded_pods=1 if completed else 0,
                    created_at=started_at,
                )
            )
            termination = (
                PodTermination(
                    name, 1, 0, "Completed", None, finished_at, job_uid=f"job-uid-{name}"
                )
                if completed
                else None
            )
            pod_records.append(
                PodRecord(name, 1, f"job-uid-{name}", started=True, termination=termination)
            )
    return Records(task_records, job_records, pod_records)


def controller_for(spec: WorkflowSpec, records: Records) -> WorkflowController:
    """A WorkflowController whose views hold `records`, as after the watches' delivery."""
    key = workflow_key(NAMESPACE, WORKFLOW)
    workflow = WorkflowRecord(
        namespace=NAMESPACE,
        name=WORKFLOW,
        uid=WORKFLOW_UID,
        generation=1,
        resource_version="1",
        spec=spec,
        spec_problem=None,
        status=WorkflowStatus(started_at=NOW - timedelta(minutes=10)),
    )
    controller = WorkflowController(api=None)  # type: ignore[arg-type]  # no I/O here
    controller.views = Views(
        workflows={key: [workflow]},
        tasks={key: records.tasks},
        jobs={key: records.jobs},
        pods={key: records.pods},
        templates={},
    )
    return controller


def one_pass(controller: WorkflowController) -> tuple[float, float, int]:
    """CPU seconds of the reconciler's observation (`_observe` + `_resolution`) and of the
    planner for one pass, and the number of actions planned."""
    assert controller.views is not None
    key = (NAMESPACE, WORKFLOW)
    workflow = next(iter(controller.views.workflows[workflow_key(*key)]))
    began = time.process_time()
    state = controller._observe(key, workflow)
    resolution = controller._resolution(key, workflow, state)
    observed = time.process_time()
    plan = plan_next_steps(
        state, now=NOW, resolution=resolution, max_new_tasks=MAX_CREATIONS_PER_PASS
    )
    planned = time.process_time()
    actions = len(plan.create_tasks) + len(plan.start_jobs) + len(plan.task_statuses)
    return observed - began, planned - observed, actions


def measure(shape: str, size: int, moment: str, repeat: int) -> dict[str, Any]:
    spec = workflow_spec(shape, size)
    controller = controller_for(spec, records_for(spec, moment))
    one_pass(controller)  # the first pass resolves the spec; the operator caches it
    observe, plan, actions = [], [], 0
    for _ in range(repeat):
        observe_s, plan_s, actions = one_pass(controller)
        observe.append(observe_s)
        plan.append(plan_s)
    return {
        "shape": shape,
        "nodes": size,
        "moment": moment,
        "observe_ms": round(1000 * statistics.median(observe), 2),
        "plan_ms": round(1000 * statistics.median(plan), 2),
        "pass_us_per_node": round(
            1e6 * (statistics.median(observe) + statistics.median(plan)) / size, 2
        ),
        "actions": actions,
    }


def profile(shape: str, size: int, moment: str) -> None:
    spec = workflow_spec(shape, size)
    controller = controller_for(spec, records_for(spec, moment))
    one_pass(controller)
    profiler = cProfile.Profile()
    profiler.runcall(one_pass, controller)
    print(f"--- {shape} x {size}, {moment}")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


def table(rows: list[dict[str, Any]]) -> str:
    header = f"{'shape':<8} {'nodes':>6}  {'moment':<18} {'observe ms':>10} {'plan ms':>9} "
    header += f"{'us/node':>8} {'actions':>7}"
    lines = [header]
    for row in rows:
        lines.append(
            f"{row['shape']:<8} {row['nodes']:>6}  {row['moment']:<18} {row['observe_ms']:>10} "
            f"{row['plan_ms']:>9} {row['pass_us_per_node']:>8} {row['actions']:>7}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="200,2000,10000")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--repeat", type=int, default=5, help="passes measured per figure")
    parser.add_argument("--profile", action="store_true", help="cProfile one pass instead")
    parser.add_argument("--output", default=str(RESULTS / "planner.json"))
    arguments = parser.parse_args()
    sizes = [int(size) for size in arguments.sizes.split(",")]
    shapes = arguments.shapes.split(",")
    cases: list[tuple[str, int, str]] = [
        (shape, size, moment) for shape in shapes for size in sizes for moment in MOMENTS
    ]
    if arguments.profile:
        for case in cases:
            profile(*case)
        return 0
    rows = []
    for case in cases:
        rows.append(measure(*case, repeat=arguments.repeat))
        print(table(rows[-1:]).splitlines()[1], flush=True)
    print(table(rows))
    summary = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "conditions": "process CPU time, median of repeated passes, one Python process; "
        "the machine's 2 cores shared with other work",
        "rows": rows,
    }
    Path(arguments.output).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
