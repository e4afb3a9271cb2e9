"""Fan-out benchmark: one Workflow with one task fanned out over N items (withItems, no
simulated duration), run to completion on a real API server with the operator in its own
process.

Reports wall time (apply -> Succeeded), when the first and last item Jobs appeared, the API
requests the operator made per item by verb and resource (from its own Prometheus
counters), the Workflow object's size (it keeps counts, not one entry per item) and the
operator's peak memory.

With --neighbour, a one-task Workflow is submitted in another namespace as soon as the
fan-out's first Job appears, and the time from its submission to its Job's creation is
reported: how long other runs wait while a large fan-out is being created (issue 6).

Run against the local control plane (`hack/cluster.sh up`, then `eval "$(hack/cluster.sh
env)"`) or any cluster with the CRDs applied, with KUBECONFIG and kubectl on PATH:
    .venv/bin/python bench/fan_out.py --items 1000
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.scale import (
    api_requests,
    cpu_seconds,
    delete_namespace,
    fresh_namespace,
    job_creation_span,
    kubectl,
    peak_rss_mib,
    request_summary,
    run_to_end,
    start_job_watch,
    start_operator,
)
from tests.e2e.operator_process import OperatorProcess

RESULTS = Path(__file__).resolve().parent / "results"
SIMULATED_MESSAGE = "sim.kubedag.io/termination-message"


def fan_out_workflow(name: str, namespace: str, items: int, source: str) -> dict[str, Any]:
    """One task over `items` items: listed inline (`withItems`), or published at run time
    by an upstream task (`withParam`; the list travels in its 4 KiB termination message,
    so it holds the item numbers only)."""
    process: dict[str, Any] = {
        "name": "process",
        "image": "busybox:1.36",
        "command": ["sh", "-c", "echo processing partition $0"],
        "args": ["{{item}}"],
    }
    tasks = [process]
    if source == "inline":
        process["withItems"] = [f"part-{index:05d}" for index in range(items)]
    else:
        # The container computes the list; the annotation plays its result on the
        # simulated cluster (KWOK), which runs no container.
        script = f"printf '{{\"parts\":[%s]}}' $(seq -s, 0 {items - 1}) > /dev/termination-log"
        message = json.dumps({"parts": list(range(items))}, separators=(",", ":"))
        tasks.insert(
            0,
            {
                "name": "list",
                "image": "busybox:1.36",
                "command": ["sh", "-c", script],
                "outputs": [{"name": "parts"}],
                "metadata": {"annotations": {SIMULATED_MESSAGE: message}},
            },
        )
        process["withParam"] = "{{tasks.list.outputs.parts}}"
    return {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"tasks": tasks},
    }


def unfinished_workflows_elsewhere() -> list[str]:
    """Workflows still running on the cluster: the operator under test serves the whole
    cluster, so their work would be counted in its metrics and compete for the CPU."""
    found = json.loads(kubectl("get", "workflows.kubedag.io", "--all-namespaces", "-o", "json"))[
        "items"
    ]
    return [
        f"{w['metadata']['namespace']}/{w['metadata']['name']}"
        for w in found
        if (w.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]


def neighbour_wait(first_job: threading.Event, result: dict[str, Any]) -> None:
    """Once the fan-out's first Job exists, submits a one-task Workflow elsewhere and
    records how long its Job took to appear (seconds from `kubectl create`)."""
    namespace = fresh_namespace("bench-neighbour")
    timeline, stop = start_job_watch(namespace)
    first_job.wait()
    document = {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "neighbour", "namespace": namespace},
        "spec": {"tasks": [{"name": "only", "image": "busybox:1.36"}]},
    }
    started = time.perf_counter()
    kubectl("create", "-f", "-", stdin=json.dumps(document))
    while True:
        with timeline.lock:
            created = timeline.created.get("only")
        if created is not None:
            result["neighbour_job_wait_s"] = round(created - started, 3)
            break
        time.sleep(0.05)
    stop.set()
    kubectl("delete", "namespace", namespace, "--wait=false")


def run(items: int, source: str, operator: OperatorProcess, neighbour: bool) -> dict[str, Any]:
    assert operator.process is not None
    name = "fan-out"
    namespace = fresh_namespace("bench-fan-out")
    timeline, stop = start_job_watch(namespace)
    measured: dict[str, Any] = {}
    first_job = threading.Event()
    helper = None
    if neighbour:
        helper = threading.Thread(target=neighbour_wait, args=(first_job, measured), daemon=True)
        helper.start()
        time.sleep(2.0)  # its namespace and watch are ready first

        def watch_first_job() -> None:
            while not first_job.is_set():
                with timeline.lock:
                    if timeline.created:
                        first_job.set()
                time.sleep(0.02)

        threading.Thread(target=watch_first_job, daemon=True).start()

    busy = unfinished_workflows_elsewhere()
    if busy:
        print(f"warning: the cluster is busy, numbers will be off: {busy}", file=sys.stderr)
    before = api_requests(operator.metrics())
    cpu_before = cpu_seconds(operator.process.pid)
    manifest = fan_out_workflow(name, namespace, items, source)
    started = time.perf_counter()
    phase, wall = run_to_end(manifest)
    stop.set()
    delta = api_requests(operator.metrics()) - before
    cpu_used = cpu_seconds(operator.process.pid) - cpu_before

    workflow_json = kubectl("get", "-n", namespace, "workflows.kubedag.io", name, "-o", "json")
    task_count = len(
        json.loads(kubectl("get", "-n", namespace, "tasks.kubedag.io", "-o", "json"))["items"]
    )
    requests = request_summary(delta, items)
    result: dict[str, Any] = {
        "items": items,
        "source": source,
        "phase": phase,
        "wall_time_s": round(wall, 2),
        "task_objects": task_count,
        "jobs_created": len(timeline.created),
        "operator_requests": {
            f"{verb} {resource} ({outcome})": count
            for (verb, resource, outcome), count in sorted(delta.items())
        },
        "requests_per_item": {
            request: round(count / items, 3)
            for request, count in requests["operator_requests"].items()
        },
        "requests_per_item_total": requests["requests_per_task"],
        "writes_per_item": requests["writes_per_task"],
        "writes_per_item_without_events": requests["writes_per_task_without_events"],
        "operator_cpu_s": round(cpu_used, 2),
        "operator_cpu_ms_per_item": round(1000 * cpu_used / items, 1),
        "unfinished_workflows_elsewhere_at_start": len(busy),
        "workflow_object_bytes": len(workflow_json),
        "workflow_status_bytes": len(json.dumps(json.loads(workflow_json).get("status") or {})),
        # The part of the object that only the simulated cluster needs (withParam: the
        # list the upstream task's container would print).
        "workflow_simulation_annotation_bytes": sum(
            len(task.get("metadata", {}).get("annotations", {}).get(SIMULATED_MESSAGE, ""))
            for task in manifest["spec"]["tasks"]
        ),
    }
    result.update(job_creation_span(timeline, started))
    if helper is not None:
        helper.join(timeout=600)
        result.update(measured)
    # Waiting for the namespace to go keeps the garbage collector's burst of deletions out
    # of whatever runs next on the cluster.
    delete_namespace(namespace)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1000, help="items of the one fan-out")
    parser.add_argument(
        "--source",
        choices=["inline", "param"],
        default="inline",
        help="items listed in the spec (withItems) or published by an upstream task (withParam)",
    )
    parser.add_argument(
        "--neighbour",
        action="store_true",
        help="measure how long a one-task Workflow waits for its Job meanwhile",
    )
    parser.add_argument("--output", help="default: bench/results/fan_out[_param].json")
    arguments = parser.parse_args()
    suffix = "" if arguments.source == "inline" else "_param"
    if arguments.neighbour:
        suffix += "_neighbour"
    output = arguments.output or str(RESULTS / f"fan_out{suffix}.json")

    operator = start_operator("operator-bench-fan-out.log")
    try:
        result = run(arguments.items, arguments.source, operator, arguments.neighbour)
        assert operator.process is not None
        summary = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "operator_peak_rss_mib": round(peak_rss_mib(operator.process.pid), 1),
            **result,
        }
    finally:
        operator.stop()
    Path(output).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
