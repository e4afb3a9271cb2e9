"""Schedule catch-up benchmark (issue 9): a CronWorkflow that missed 1,000 intervals — how
many runs one pass creates, and what the pass costs.

Pure (no cluster): `decide_schedule` on an hourly schedule whose lastScheduleTime is 1,000
hours (and, for the bound on work, a per-second one 1,000,000 seconds) in the past, under
catch-up All with maxRuns 1000, All with the default maxRuns (100), Latest and None; then
the same pass again with the runs of the first present (what a second replica or a restart
sees). Each figure is the median of `--repeat` passes, in process CPU time.

With `--cluster` (KUBECONFIG and kubectl on PATH, `eval "$(hack/cluster.sh env)"`): a
CronWorkflow is applied with its status.lastScheduleTime set 1,000 hours back before the
operator starts, and the benchmark counts the runs it creates and how long until they all
exist (wall time; the runs are suspended Workflows so that only their creation is measured).

    .venv/bin/python bench/schedule_catch_up.py             # + bench/results/schedule_catch_up.json
    .venv/bin/python bench/schedule_catch_up.py --cluster
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness

from kubedag.api.cron_workflow import CronWorkflowSpec, CronWorkflowStatus
from kubedag.api.workflow import WorkflowPhase
from kubedag.engine.scheduling import ExistingRun, ScheduleDecision, decide_schedule

MISSED = 1000
NOW = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)


def spec(schedule: str, catch_up: dict[str, Any]) -> CronWorkflowSpec:
    return CronWorkflowSpec.model_validate(
        {
            "schedules": [schedule],
            "catchUp": catch_up,
            "workflowSpec": {"tasks": [{"name": "a", "image": "busybox"}]},
        }
    )


def one_pass(
    cron: CronWorkflowSpec, last: datetime, runs: list[ExistingRun]
) -> tuple[ScheduleDecision, float]:
    started = time.process_time()
    decision = decide_schedule(
        name="catch-up",
        spec=cron,
        status=CronWorkflowStatus(last_schedule_time=last),
        runs=runs,
        now=NOW,
        created_at=None,
        generation=1,
    )
    return decision, time.process_time() - started


def pure_case(
    name: str, schedule: str, step: timedelta, catch_up: dict[str, Any], repeat: int
) -> dict[str, Any]:
    missed = MISSED if step >= timedelta(minutes=1) else 1_000_000
    cron = spec(schedule, catch_up)
    last = NOW.replace(second=0) - step * missed
    first_times, again_times = [], []
    decision = None
    again = None
    for _ in range(repeat):
        decision, seconds = one_pass(cron, last, [])
        first_times.append(seconds)
        runs = [
            ExistingRun(name=r.name, interval_start=r.interval.start, phase=WorkflowPhase.RUNNING)
            for r in decision.create
        ]
        again, seconds = one_pass(cron, last, runs)
        again_times.append(seconds)
    assert decision is not None and again is not None
    return {
        "case": name,
        "schedule": schedule,
        "catchUp": catch_up,
        "missed_ticks": missed,
        "runs_created": len(decision.create),
        "events": len(decision.events),
        "pass_cpu_ms_median": round(statistics.median(first_times) * 1000, 2),
        "repeated_pass_runs_created": len(again.create),
        "repeated_pass_cpu_ms_median": round(statistics.median(again_times) * 1000, 2),
    }


def runs_in(namespace: str) -> int:
    names = harness.kubectl(
        "get", "-n", namespace, "workflows", "-l", "kubedag.io/cron-workflow=catch-up", "-o", "name"
    )
    return len(names.split())


def cluster_case(max_runs: int | None, timeout: float) -> dict[str, Any]:
    """Counts the runs an operator starting after 1,000 missed hourly ticks creates."""
    namespace = harness.fresh_namespace("bench-catch-up")
    catch_up: dict[str, Any] = {"policy": "All"}
    if max_runs is not None:
        catch_up["maxRuns"] = max_runs
    body = {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": {"name": "catch-up"},
        "spec": {
            "schedules": ["0 * * * *"],
            "catchUp": catch_up,
            "successfulRunsHistoryLimit": 1000,
            "workflowSpec": {"suspend": True, "tasks": [{"name": "a", "image": "busybox"}]},
        },
    }
    harness.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(body))
    now = datetime.now(UTC)
    last = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=MISSED)
    status = {"status": {"lastScheduleTime": last.strftime("%Y-%m-%dT%H:%M:%SZ")}}
    patch = ["--subresource=status", "--type=merge", "-p", json.dumps(status)]
    harness.kubectl("patch", "-n", namespace, "cronworkflows.kubedag.io", "catch-up", *patch)
    expected = min(MISSED, max_runs or 100)
    operator = harness.start_operator("bench-schedule-catch-up.log")
    started = time.monotonic()
    count = 0
    try:
        while time.monotonic() - started < timeout:
            count = runs_in(namespace)
            if count >= expected:
                break
            time.sleep(1)
        elapsed = time.monotonic() - started
        time.sleep(5)  # a later pass must not add any
        final = runs_in(namespace)
        cpu = harness.cpu_seconds(operator.process.pid) if operator.process else float("nan")
    finally:
        operator.stop()
        harness.delete_namespace(namespace)
    return {
        "case": f"cluster: All, maxRuns {max_runs or 'default (100)'}",
        "missed_ticks": MISSED,
        "runs_expected": expected,
        "runs_after_the_pass": count,
        "runs_5s_later": final,
        "seconds_until_all_exist_wall": round(elapsed, 1),
        "operator_cpu_seconds_incl_startup": round(cpu, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--cluster", action="store_true")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--output", default=str(harness.RESULTS / "schedule_catch_up.json"))
    arguments = parser.parse_args()

    hourly, every_second = timedelta(hours=1), timedelta(seconds=1)
    all_1000 = {"policy": "All", "maxRuns": 1000}
    cases: list[tuple[str, str, timedelta, dict[str, Any]]] = [
        ("All, maxRuns 1000", "0 * * * *", hourly, all_1000),
        ("All, maxRuns default", "0 * * * *", hourly, {"policy": "All"}),
        ("Latest (default)", "0 * * * *", hourly, {}),
        # The newest tick is 30 s old at NOW: on time, so None runs it.
        ("None", "0 * * * *", hourly, {"policy": "None"}),
        ("All, maxRuns 1000, 1e6 missed", "* * * * * *", every_second, all_1000),
    ]
    results = [pure_case(*case, arguments.repeat) for case in cases]
    if arguments.cluster:
        results += [cluster_case(1000, arguments.timeout), cluster_case(None, arguments.timeout)]
    summary = {
        "conditions": "process CPU time of the pure pass, median of "
        f"{arguments.repeat}; 2 shared cores, other engineers' work running: noisy",
        "results": results,
    }
    for result in results:
        print(json.dumps(result))
    Path(arguments.output).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
