"""Scale benchmark: one Workflow of N independent tasks and one chain of M tasks (and, with
--failing, one of K tasks that each fail twice), each run to completion on a real API
server with the operator in its own process.

Reports wall time, API requests the operator made per task (from its own Prometheus
counters), the Events in the run's namespace by poster and per task, "upstream Pod ended ->
Job created" latency and the operator's peak memory.

"Upstream Pod ended -> Job created" is measured from outside, the way a user would see it:
one watch on the namespace's Pods records when an upstream task's Pod reaches phase
Succeeded, one on its Jobs when the dependent Job appears; both go through the same API
server, so the difference is the operator's reaction time (its watch delivery, planning and
the create request). The operator concludes an attempt from its Pod's end (issue 8); the
Job controller's Complete condition comes up to a second later.

Run with `make bench` (which brings up the local control plane), or directly with
KUBECONFIG and kubectl on PATH:  python bench/scale.py --wide 200 --chain 50
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import yaml
from lightkube import Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import Pod

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (
    RESULTS,
    OperatorProcess,
    cpu_seconds,
    delete_namespace,
    fresh_namespace,
    kubectl,
    peak_rss_mib,
    percentile,
    start_operator,
)

Job = create_namespaced_resource("batch", "v1", "Job", "jobs")
Workflow = create_namespaced_resource("kubedag.io", "v1alpha1", "Workflow", "workflows")
WRITE_VERBS = ("create", "patch")


@dataclass
class JobTimeline:
    """Local receive times of watch events, by task name."""

    created: dict[str, float] = field(default_factory=dict)
    completed: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def watch_jobs(namespace: str, timeline: JobTimeline, stop: threading.Event) -> None:
    client = Client()
    while not stop.is_set():
        try:
            for _event_type, job in client.watch(Job, namespace=namespace, server_timeout=600):
                now = time.perf_counter()
                body = job.to_dict()
                task = body["metadata"].get("labels", {}).get("kubedag.io/task")
                if task is None:
                    continue
                with timeline.lock:
                    timeline.created.setdefault(task, now)
                if stop.is_set():
                    return
        except Exception:  # a dropped watch: reconnect
            time.sleep(0.2)


def watch_pods(namespace: str, timeline: JobTimeline, stop: threading.Event) -> None:
    """Records when each task's Pod is first seen Succeeded (`timeline.completed`)."""
    client = Client()
    while not stop.is_set():
        try:
            for _event_type, pod in client.watch(Pod, namespace=namespace, server_timeout=600):
                now = time.perf_counter()
                labels = (pod.metadata.labels if pod.metadata else None) or {}
                task = labels.get("kubedag.io/task")
                if task is not None and pod.status is not None and pod.status.phase == "Succeeded":
                    with timeline.lock:
                        timeline.completed.setdefault(task, now)
                if stop.is_set():
                    return
        except Exception:  # a dropped watch: reconnect
            time.sleep(0.2)


_REQUESTS = re.compile(
    r'^kubedag_api_requests_total\{outcome="(\w+)",resource="(\w+)",verb="(\w+)"\} ([0-9.e+]+)$'
)


def api_requests(metrics_text: str) -> Counter[tuple[str, str, str]]:
    """kubedag_api_requests_total by (verb, resource, outcome): a create that met
    AlreadyExists counts as outcome `exists`, a repeated action rather than a new object."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for line in metrics_text.splitlines():
        match = _REQUESTS.match(line)
        if match:
            outcome, resource, verb, value = match.groups()
            counts[(verb, resource, outcome)] += int(float(value))
    return counts


def request_summary(delta: Counter[tuple[str, str, str]], per: int) -> dict[str, Any]:
    """Requests by `verb resource`, and writes with and without Events, per task or item."""
    by_request: Counter[str] = Counter()
    for (verb, resource, _), count in delta.items():
        by_request[f"{verb} {resource}"] += count
    writes = sum(count for (verb, _, _), count in delta.items() if verb in WRITE_VERBS)
    object_writes = sum(
        count
        for (verb, resource, _), count in delta.items()
        if verb in WRITE_VERBS and resource != "Event"
    )
    return {
        "operator_requests": dict(sorted(by_request.items())),
        "requests_per_task": round(sum(delta.values()) / per, 2),
        "writes_per_task": round(writes / per, 2),
        "writes_per_task_without_events": round(object_writes / per, 2),
    }


def start_job_watch(namespace: str) -> tuple[JobTimeline, threading.Event]:
    timeline = JobTimeline()
    stop = threading.Event()
    for watch in (watch_jobs, watch_pods):
        threading.Thread(target=watch, args=(namespace, timeline, stop), daemon=True).start()
    time.sleep(1.0)  # the watches are established before anything is applied
    return timeline, stop


def job_creation_span(timeline: JobTimeline, started: float) -> dict[str, float]:
    with timeline.lock:
        if not timeline.created:
            return {}
        return {
            "applied_to_first_job_s": round(min(timeline.created.values()) - started, 3),
            "applied_to_last_job_s": round(max(timeline.created.values()) - started, 3),
        }


def histogram_quantiles(metrics_text: str, name: str) -> dict[str, float]:
    buckets = []
    total = 0.0
    for line in metrics_text.splitlines():
        match = re.match(rf'^{name}_bucket\{{le="([^"]+)"\}} ([0-9.e+]+)$', line)
        if match:
            buckets.append((float(match.group(1)), float(match.group(2))))
        match = re.match(rf"^{name}_count ([0-9.e+]+)$", line)
        if match:
            total = float(match.group(1))
    result = {}
    for quantile in (0.5, 0.95):
        bound = next((le for le, count in buckets if total and count >= quantile * total), None)
        result[f"p{int(quantile * 100)}_upper_bound_s"] = (
            bound if bound is not None else float("nan")
        )
    return result


def event_summary(namespace: str, tasks: int) -> dict[str, Any]:
    """The namespace's Events after the run, by who posted them (kubedag's operator or a
    Kubernetes component), type and reason, and the operator's per task (issue 11: a small
    constant number, none repeating the Job controller's). Events are read before the
    namespace goes; an Event repeated by its poster counts `count` times."""
    items = json.loads(kubectl("get", "events", "-n", namespace, "-o", "json"))["items"]
    by: Counter[str] = Counter()
    per_object: Counter[str] = Counter()
    operator_events = 0
    for event in items:
        component = event.get("reportingComponent") or (event.get("source") or {}).get(
            "component", "?"
        )
        count = int(event.get("count") or 1)
        involved = event.get("involvedObject") or {}
        by[f"{component} {involved.get('kind')} {event.get('type')} {event.get('reason')}"] += count
        if component == "kubedag-operator":
            operator_events += count
            per_object[f"{involved.get('kind')}/{involved.get('name')}"] += count
    return {
        "by_component_kind_type_reason": dict(sorted(by.items())),
        "operator_events_per_task": round(operator_events / tasks, 3),
        "operator_max_events_on_one_object": max(per_object.values(), default=0),
    }


def run_to_end(document: dict[str, Any]) -> tuple[str, float]:
    """Creates the Workflow and waits for its final phase; returns it and the seconds from
    create to that phase. `kubectl create`, not `apply`: apply would keep a second copy of
    the spec in an annotation and inflate the measured object size."""
    name, namespace = document["metadata"]["name"], document["metadata"]["namespace"]
    started = time.perf_counter()
    client = Client()
    create_workflow(client, document)
    phase = None
    while phase not in ("Succeeded", "Failed"):
        time.sleep(0.2)
        try:
            body = client.get(Workflow, name, namespace=namespace).to_dict()
        except httpx2.TransportError as error:
            # A busy API server (a 10,000-item run on two shared cores) may not answer a
            # read in time; the run goes on, and so does the wait.
            print(f"reading the Workflow: {error!r}; again", file=sys.stderr)
            continue
        phase = (body.get("status") or {}).get("phase")
    wall = time.perf_counter() - started
    time.sleep(2.0)  # let the last events and status writes land before reading counters
    return str(phase), wall


def create_workflow(client: Client, document: dict[str, Any], attempts: int = 3) -> None:
    """`kubectl create`, again when the API server answers Timeout: validating a
    10,000-task Workflow takes it tens of CPU-seconds, past its 60 s request timeout on a
    busy machine, and a timed-out create may still be stored (then it is there)."""
    name, namespace = document["metadata"]["name"], document["metadata"]["namespace"]
    for attempt in range(1, attempts + 1):
        try:
            kubectl("create", "-f", "-", stdin=yaml.safe_dump(document))
            return
        except subprocess.CalledProcessError as error:
            print(f"create attempt {attempt}: {error.stderr.strip()}", file=sys.stderr)
            time.sleep(5.0)
            try:
                client.get(Workflow, name, namespace=namespace)
                return
            except Exception:
                if attempt == attempts:
                    raise


def lineage_on() -> bool:
    """Whether the operator (started with this process's environment) sends OpenLineage."""
    from kubedag.lineage.config import lineage_configured

    return lineage_configured()


def wait_for_lineage(namespace: str, name: str, timeout: float = 300) -> float:
    """Seconds until the finished Workflow carries kubedag.io/lineage-delivered (every
    OpenLineage event of the run accepted by the transport: kubedag.lineage.delivery)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        labels = (
            json.loads(kubectl("get", "-n", namespace, "workflows.kubedag.io", name, "-o", "json"))[
                "metadata"
            ].get("labels")
            or {}
        )
        if "kubedag.io/lineage-delivered" in labels:
            break
        time.sleep(0.2)
    return time.perf_counter() - started


# A task that fails (exit 1, on a real kubelet and on KWOK's simulation) and is retried once:
# the most Events a task brings (issue 11).
FAILING_TASK = {
    "command": ["sh", "-c", "exit 1"],
    "metadata": {"annotations": {"sim.kubedag.io/exit-code": "1"}},
    "retryStrategy": {"limit": 1},
}


def run_scenario(
    name: str,
    dependencies: dict[str, list[str]],
    operator: OperatorProcess,
    task_fields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    namespace = fresh_namespace(f"bench-{name}")
    timeline, stop = start_job_watch(namespace)

    assert operator.process is not None
    before = api_requests(operator.metrics())
    cpu_before = cpu_seconds(operator.process.pid)
    document = {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "tasks": [
                {
                    "name": task,
                    "image": "busybox:1.36",
                    "command": ["true"],
                    "dependsOn": deps,
                    **(task_fields or {}),
                }
                for task, deps in dependencies.items()
            ]
        },
    }
    started = time.perf_counter()
    phase, wall = run_to_end(document)
    lineage_s = wait_for_lineage(namespace, name) if lineage_on() else None
    stop.set()
    metrics_text = operator.metrics()
    after = api_requests(metrics_text)
    cpu_used = cpu_seconds(operator.process.pid) - cpu_before

    delta = after - before
    tasks = len(dependencies)
    latencies = []
    with timeline.lock:
        for task, deps in dependencies.items():
            if deps and task in timeline.created and all(d in timeline.completed for d in deps):
                latencies.append(timeline.created[task] - max(timeline.completed[d] for d in deps))
    workflow_body = json.loads(
        kubectl("get", "-n", namespace, "workflows.kubedag.io", name, "-o", "json")
    )
    result = {
        "scenario": name,
        "tasks": tasks,
        "phase": phase,
        "wall_time_s": round(wall, 2),
        **request_summary(delta, tasks),
        "operator_cpu_s": round(cpu_used, 2),
        "operator_cpu_ms_per_task": round(1000 * cpu_used / tasks, 1),
        "workflow_object_bytes": len(json.dumps(workflow_body)),
        "jobs_created": len(timeline.created),
    }
    if lineage_s is not None:
        # Counters and CPU above include delivering every OpenLineage event of the run.
        result["lineage_delivered_after_end_s"] = round(lineage_s, 2)
    if latencies:
        result["upstream_pod_ended_to_job_created_ms"] = {
            "samples": len(latencies),
            "median": round(1000 * statistics.median(latencies), 1),
            "p95": round(1000 * percentile(latencies, 0.95), 1),
            "max": round(1000 * max(latencies), 1),
            "all": [round(1000 * value, 1) for value in latencies],
        }
    result.update(job_creation_span(timeline, started))
    result["events"] = event_summary(namespace, tasks)
    delete_namespace(namespace)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wide", type=int, default=200, help="independent tasks in one workflow")
    parser.add_argument("--chain", type=int, default=50, help="tasks in one linear chain")
    parser.add_argument(
        "--failing",
        type=int,
        default=0,
        help="independent tasks in one workflow, each failing twice (one retry)",
    )
    parser.add_argument("--output", default=str(RESULTS / "scale.json"))
    parser.add_argument(
        "--task-events",
        choices=("warnings", "all"),
        default="warnings",
        help="the operator's --task-events setting",
    )
    arguments = parser.parse_args()

    operator = start_operator(
        "operator-bench.log", arguments=(f"--task-events={arguments.task_events}",)
    )
    try:
        results = []
        if arguments.wide:
            wide = {f"t{i:04d}": [] for i in range(arguments.wide)}
            results.append(run_scenario("wide", wide, operator))
        if arguments.failing:
            failing = {f"f{i:04d}": [] for i in range(arguments.failing)}
            results.append(run_scenario("failing", failing, operator, FAILING_TASK))
        if arguments.chain:
            chain = {f"c{i:03d}": [f"c{i - 1:03d}"] if i else [] for i in range(arguments.chain)}
            results.append(run_scenario("chain", chain, operator))
        assert operator.process is not None
        metrics_text = operator.metrics()
        summary = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "task_events": arguments.task_events,
            "operator_peak_rss_mib": round(peak_rss_mib(operator.process.pid), 1),
            "operator_task_start_delay": histogram_quantiles(
                metrics_text, "kubedag_task_start_delay_seconds"
            ),
            "scenarios": results,
        }
    finally:
        operator.stop()
    Path(arguments.output).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
