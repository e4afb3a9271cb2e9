"""kubedag and Argo Workflows side by side on the same local control plane (issue 8).

Scenarios (sizes overridable): `chain` (N tasks in a line), `wide` (N independent tasks),
`lattice` (L layers of W tasks, each task depending on the whole previous layer),
`concurrent` (N Workflows, each a chain of 3) and `huge` (N independent tasks).
Systems: `kubedag` (the operator in its own process), `argo` (Argo's workflow-controller,
out of cluster, its default 10 s requeue) and `argo-1s` (DEFAULT_REQUEUE_TIME=1s).

Every run gets a fresh namespace and a freshly started controller, alone on the cluster; the
repetitions are interleaved (rep 1 of every scenario and system, then rep 2, ...). Measured
per run, identically for both systems:

- wall time: the create request → every Workflow in a final phase (one Workflow watch);
- "upstream done → next pod created": one Pod watch records when an upstream Pod's final
  phase arrives and when a dependent Pod first appears (p50/p95 over dependent tasks);
- controller CPU seconds and peak RSS: /proc/<pid> of the controller process;
- API requests and writes (create/update/patch/delete) per task: the difference of the API
  server's own `apiserver_request_total` before and after, all clients together (the
  controller, and for kubedag also the Job controller that turns Jobs into Pods, the
  scheduler, KWOK and this harness's two watches). Leases and Nodes are left out: their
  heartbeats grow with wall time, not with the work. `apiserver_request_total` has no
  client or user-agent label, and APF's per-flow counters are off on this cluster, so
  "all clients, each system alone" is the one method that applies to both alike; each
  controller's own client-side counters are kept in the raw runs too.

Needs KUBECONFIG and kubectl on PATH, both CRD sets installed and ARGO_BIN; run it with
`make bench-compare` (hack/bench-compare.sh does all of that).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import yaml
from lightkube import Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import Pod
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (
    RESULTS,
    ROOT,
    OperatorProcess,
    cpu_seconds,
    delete_namespace,
    free_port,
    fresh_namespace,
    kubectl,
    peak_rss_mib,
    percentile,
    start_operator,
)

Dag = dict[str, list[str]]  # task name -> the names of the tasks it depends on
SYSTEMS = ("kubedag", "argo", "argo-1s")
SCENARIOS = ("chain", "wide", "lattice", "concurrent", "huge")
FINAL_PHASES = {"Succeeded", "Failed", "Error"}
WRITE_VERBS = {"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"}
BACKGROUND_RESOURCES = {"leases", "nodes"}
ARGO_NAMESPACE = "argo-bench"
# Seconds between the last final phase and the readings: the last status writes land, and
# Argo's pod clean-up workers label the finished Pods (`workflows.argoproj.io/completed`).
SETTLE_S = 5.0
KubedagWorkflow = create_namespaced_resource("kubedag.io", "v1alpha1", "Workflow", "workflows")
ArgoWorkflow = create_namespaced_resource("argoproj.io", "v1alpha1", "Workflow", "workflows")


def scenario_dags(name: str, sizes: argparse.Namespace) -> dict[str, Dag]:
    """The scenario's Workflows by name, each a DAG."""
    if name == "chain":
        return {"chain": {f"c{i:03d}": [f"c{i - 1:03d}"] if i else [] for i in range(sizes.chain)}}
    if name in ("wide", "huge"):
        count = sizes.wide if name == "wide" else sizes.huge
        return {name: {f"t{i:04d}": [] for i in range(count)}}
    if name == "lattice":
        width, depth = sizes.lattice
        layers = [[f"l{layer}-{i}" for i in range(width)] for layer in range(depth)]
        return {
            "lattice": {
                task: layers[layer - 1] if layer else []
                for layer in range(depth)
                for task in layers[layer]
            }
        }
    if name == "concurrent":
        return {f"w{n:03d}": {"a": [], "b": ["a"], "c": ["b"]} for n in range(sizes.concurrent)}
    raise ValueError(f"unknown scenario {name!r}")


def kubedag_document(name: str, namespace: str, dag: Dag) -> dict[str, Any]:
    tasks = [
        {"name": task, "image": "busybox:1.36", "command": ["true"], "dependsOn": deps}
        for task, deps in dag.items()
    ]
    return {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"tasks": tasks},
    }


def argo_document(name: str, namespace: str, dag: Dag) -> dict[str, Any]:
    """The same DAG as an Argo Workflow: one `dag` template whose tasks all run one container
    template with no outputs, so each node completes from its Pod's phase."""
    tasks = [
        {"name": task, "template": "run", **({"dependencies": deps} if deps else {})}
        for task, deps in dag.items()
    ]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {"name": "main", "dag": {"tasks": tasks}},
                {"name": "run", "container": {"image": "busybox:1.36", "command": ["true"]}},
            ],
        },
    }


class Controller(Protocol):
    pid: int

    def metrics(self) -> str: ...
    def stop(self) -> None: ...


class KubedagController:
    def __init__(self) -> None:
        self.operator: OperatorProcess = start_operator("compare-kubedag.log")
        assert self.operator.process is not None
        self.pid = self.operator.process.pid

    def metrics(self) -> str:
        return self.operator.metrics()

    def stop(self) -> None:
        self.operator.stop()


class ArgoController:
    """Argo's workflow-controller out of cluster: leader election off, cluster-wide, its
    configuration in `workflow-controller-configmap` of ARGO_NAMESPACE (the kubeconfig's
    namespace), metrics over plain HTTP on a free port. Health is Argo's :6060/healthz."""

    def __init__(self, requeue: str | None) -> None:
        self.metrics_port = free_port()
        config = {
            "metricsConfig": yaml.safe_dump(
                {"enabled": True, "port": self.metrics_port, "secure": False}
            ),
            "executor": yaml.safe_dump({"image": "quay.io/argoproj/argoexec:v4.0.5"}),
        }
        configmap = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "workflow-controller-configmap", "namespace": ARGO_NAMESPACE},
            "data": config,
        }
        kubectl("apply", "-f", "-", stdin=yaml.safe_dump(configmap))
        env = {**os.environ, "KUBECONFIG": argo_kubeconfig(), "LEADER_ELECTION_DISABLE": "true"}
        if requeue:
            env["DEFAULT_REQUEUE_TIME"] = requeue
        log = (ROOT / ".local" / f"compare-argo{'-' + requeue if requeue else ''}.log").open("wb")
        self.process = subprocess.Popen(
            [os.environ["ARGO_BIN"]], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        self.pid = self.process.pid
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"workflow-controller exited; see {log.name}")
            try:
                with urllib.request.urlopen("http://127.0.0.1:6060/healthz", timeout=1):
                    self.metrics()
                    return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"workflow-controller not healthy after 60 s; see {log.name}")

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def argo_kubeconfig() -> str:
    """A copy of the current kubeconfig whose context namespace is ARGO_NAMESPACE."""
    path = ROOT / ".local" / "compare-argo-kubeconfig.yaml"
    path.write_text(kubectl("config", "view", "--raw", "--minify"))
    namespace = f"--namespace={ARGO_NAMESPACE}"
    kubectl("config", "set-context", "--current", namespace, f"--kubeconfig={path}")
    return str(path)


def start_controller(system: str) -> Controller:
    if system == "kubedag":
        return KubedagController()
    return ArgoController("1s" if system == "argo-1s" else None)


@dataclass
class PodTimeline:
    """Local receive times of Pod watch events, by (workflow, task)."""

    created: dict[tuple[str, str], float] = field(default_factory=dict)
    finished: dict[tuple[str, str], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def pod_task(pod: Pod) -> tuple[str, str] | None:
    """(workflow, task) of a kubedag Job's Pod (labels) or an Argo Pod (its node name is
    `<workflow>.<task>` in the `workflows.argoproj.io/node-name` annotation)."""
    labels = (pod.metadata.labels if pod.metadata else None) or {}
    annotations = (pod.metadata.annotations if pod.metadata else None) or {}
    if "kubedag.io/task" in labels:
        return labels["kubedag.io/workflow"], labels["kubedag.io/task"]
    node = annotations.get("workflows.argoproj.io/node-name")
    if node and "." in node:
        workflow, task = node.split(".", 1)
        return workflow, task
    return None


def watch_pods(namespace: str, timeline: PodTimeline, stop: threading.Event) -> None:
    client = Client()
    while not stop.is_set():
        try:
            for _, pod in client.watch(Pod, namespace=namespace, server_timeout=600):
                now = time.perf_counter()
                key = pod_task(pod)
                if key is not None:
                    with timeline.lock:
                        timeline.created.setdefault(key, now)
                        if pod.status and pod.status.phase in FINAL_PHASES:
                            timeline.finished.setdefault(key, now)
                if stop.is_set():
                    return
        except Exception:  # a dropped watch: reconnect
            time.sleep(0.2)


def wait_for_final_phases(
    system: str, namespace: str, names: set[str], timeout: float
) -> dict[str, str]:
    """Watches the namespace's Workflows until each of `names` has a final phase; returns
    the phases. Raises TimeoutError after `timeout` seconds."""
    resource = KubedagWorkflow if system == "kubedag" else ArgoWorkflow
    client = Client()
    phases: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            for _, workflow in client.watch(resource, namespace=namespace, server_timeout=60):
                status: dict[str, Any] = (
                    workflow.status if isinstance(workflow.status, dict) else {}
                )
                phase = str(status.get("phase"))
                if workflow.metadata and workflow.metadata.name and phase in FINAL_PHASES:
                    phases[workflow.metadata.name] = phase
                if names <= phases.keys():
                    return phases
                if time.monotonic() > deadline:
                    break
        except Exception:  # a dropped watch: reconnect
            time.sleep(0.2)
    raise TimeoutError(f"{len(names - phases.keys())} workflows not finished in {timeout:.0f} s")


def apiserver_requests() -> Counter[tuple[str, str]]:
    """The API server's apiserver_request_total by (verb, resource[/subresource]), resource
    requests only (discovery and /metrics are this harness's own kubectl calls)."""
    counts: Counter[tuple[str, str]] = Counter()
    for family in text_string_to_metric_families(kubectl("get", "--raw", "/metrics")):
        if family.name != "apiserver_request":
            continue
        for sample in family.samples:
            if sample.name == "apiserver_request_total":
                labels = sample.labels
                if not labels.get("resource"):  # a non-resource URL: discovery, /metrics
                    continue
                resource = labels["resource"]
                if labels.get("subresource"):
                    resource += "/" + labels["subresource"]
                counts[(labels["verb"], resource)] += int(sample.value)
    return counts


def own_requests(system: str, metrics_text: str) -> int:
    """Requests the controller counted itself, client side: kubedag_api_requests_total
    (lightkube calls; Kopf's own watches are not in it) or Argo's k8s_request_total (every
    round trip of its client, informers' lists and watches included)."""
    wanted = "kubedag_api_requests" if system == "kubedag" else "k8s_request"
    total = 0.0
    for family in text_string_to_metric_families(metrics_text):
        if family.name.endswith(wanted):
            total += sum(s.value for s in family.samples if s.name.endswith("_total"))
    return int(total)


def reactions(dags: dict[str, Dag], timeline: PodTimeline) -> list[float]:
    """Seconds from the last upstream Pod's final phase to the dependent Pod's creation."""
    values = []
    with timeline.lock:
        for workflow, dag in dags.items():
            for task, deps in dag.items():
                upstream = [timeline.finished.get((workflow, d)) for d in deps]
                created = timeline.created.get((workflow, task))
                if deps and created is not None and None not in upstream:
                    values.append(created - max(u for u in upstream if u is not None))
    return values


def run_once(system: str, scenario: str, dags: dict[str, Dag], timeout: float) -> dict[str, Any]:
    namespace = fresh_namespace(f"cmp-{scenario}")
    controller = start_controller(system)
    timeline, stop = PodTimeline(), threading.Event()
    watcher = threading.Thread(target=watch_pods, args=(namespace, timeline, stop), daemon=True)
    try:
        watcher.start()
        time.sleep(1.0)  # the watch is established before anything is created
        build = kubedag_document if system == "kubedag" else argo_document
        documents = [build(name, namespace, dag) for name, dag in dags.items()]
        requests_before, cpu_before = apiserver_requests(), cpu_seconds(controller.pid)
        started = time.perf_counter()
        kubectl("create", "-f", "-", stdin=yaml.safe_dump_all(documents))
        phases = wait_for_final_phases(system, namespace, set(dags), timeout)
        wall = time.perf_counter() - started
        time.sleep(SETTLE_S)
        cpu = cpu_seconds(controller.pid) - cpu_before
        delta = apiserver_requests() - requests_before
        rss, own = peak_rss_mib(controller.pid), own_requests(system, controller.metrics())
    finally:
        stop.set()
        delete_namespace(namespace)
        controller.stop()
    tasks = sum(len(dag) for dag in dags.values())
    counted = {
        key: n for key, n in delta.items() if key[1].split("/")[0] not in BACKGROUND_RESOURCES
    }
    writes = sum(n for (verb, _), n in counted.items() if verb in WRITE_VERBS)
    reaction = reactions(dags, timeline)
    return {
        "system": system,
        "scenario": scenario,
        "tasks": tasks,
        "workflows_not_succeeded": sum(phase != "Succeeded" for phase in phases.values()),
        "pods_created": len(timeline.created),
        "wall_s": round(wall, 2),
        "tasks_per_s": round(tasks / wall, 2),
        "reaction_p50_ms": round(1000 * percentile(reaction, 0.5), 1) if reaction else None,
        "reaction_p95_ms": round(1000 * percentile(reaction, 0.95), 1) if reaction else None,
        "reaction_samples": len(reaction),
        "controller_cpu_ms_per_task": round(1000 * cpu / tasks, 1),
        "api_requests_per_task": round(sum(counted.values()) / tasks, 2),
        "api_writes_per_task": round(writes / tasks, 2),
        "controller_peak_rss_mib": round(rss, 1),
        "controller_own_requests_per_task": round(own / tasks, 2),
        "api_requests": {f"{verb} {resource}": n for (verb, resource), n in sorted(delta.items())},
    }


METRICS = (
    "wall_s",
    "tasks_per_s",
    "reaction_p50_ms",
    "reaction_p95_ms",
    "controller_cpu_ms_per_task",
    "api_requests_per_task",
    "api_writes_per_task",
    "controller_peak_rss_mib",
)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per scenario, system and metric: median and spread (min, max) over the repetitions;
    per Argo variant, the ratio of kubedag's median to its median."""
    summary: dict[str, Any] = {}
    for scenario in dict.fromkeys(run["scenario"] for run in runs):
        per_system: dict[str, Any] = {}
        for system in SYSTEMS:
            mine = [r for r in runs if r["scenario"] == scenario and r["system"] == system]
            if not mine:
                continue
            per_system[system] = {}
            for metric in METRICS:
                values = [r[metric] for r in mine if r[metric] is not None]
                if values:
                    per_system[system][metric] = {
                        "median": round(statistics.median(values), 2),
                        "min": min(values),
                        "max": max(values),
                        "runs": len(values),
                    }
        for argo in ("argo", "argo-1s"):
            if "kubedag" in per_system and argo in per_system:
                per_system[f"kubedag/{argo}"] = {
                    metric: round(ours["median"] / theirs["median"], 3)
                    for metric, ours in per_system["kubedag"].items()
                    if (theirs := per_system[argo].get(metric)) and theirs["median"]
                }
        summary[scenario] = per_system
    return summary


# Seconds per dependency link and per task, from earlier runs on the project's 2-core
# machine; only for the printed estimate.
LINK_S = {"kubedag": 1.2, "argo": 10.3, "argo-1s": 1.6}
TASK_S = {"kubedag": 0.12, "argo": 0.15, "argo-1s": 0.15}
RUN_OVERHEAD_S = 50  # namespace, controller start, settle, deletion (35-60 s under load)


def estimate_s(system: str, dags: dict[str, Dag]) -> float:
    def depth(dag: Dag) -> int:
        levels: dict[str, int] = {}
        for task, deps in dag.items():  # every scenario lists a task after its dependencies
            levels[task] = 1 + max((levels[d] for d in deps), default=0)
        return max(levels.values())

    tasks = sum(len(dag) for dag in dags.values())
    deepest = max(depth(dag) for dag in dags.values())
    return RUN_OVERHEAD_S + LINK_S[system] * deepest + TASK_S[system] * tasks


def conditions(sizes: argparse.Namespace) -> dict[str, Any]:
    versions = kubectl("version", "-o", "json")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
            "load_average_at_start": os.getloadavg(),
        },
        "kubernetes": json.loads(versions)["serverVersion"]["gitVersion"],
        "cluster": "local control plane (hack/cluster.sh: kube-apiserver, etcd, "
        "controller-manager, scheduler, KWOK with hack/kwok/stages.yaml; client QPS "
        "limits lifted) on the same cores as the controllers",
        "kubedag": subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
        ).stdout.strip(),
        "argo_workflows": os.environ.get("ARGO_VERSION", "unknown"),
        "argo_settings": "out of cluster, LEADER_ELECTION_DISABLE=true, cluster-wide, "
        "defaults otherwise (32 workflow workers, client qps 20 / burst 30)",
        "sizes": {
            k: v
            for k, v in vars(sizes).items()
            if k in ("chain", "wide", "huge", "concurrent", "lattice")
        },
    }


def lattice_size(text: str) -> tuple[int, int]:
    width, depth = text.lower().split("x")
    return int(width), int(depth)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--chain", type=int, default=50, help="tasks in the chain")
    parser.add_argument("--wide", type=int, default=200, help="independent tasks")
    parser.add_argument("--lattice", type=lattice_size, default=(10, 10), help="WIDTHxDEPTH")
    parser.add_argument("--concurrent", type=int, default=100, help="3-task chains at once")
    parser.add_argument("--huge", type=int, default=2000, help="independent tasks")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    parser.add_argument("--output", default=str(RESULTS / "compare.json"))
    parser.add_argument("--label", default="", help="e.g. 'smoke': stored with the results")
    args = parser.parse_args()
    scenarios = [s for s in args.scenarios.split(",") if s]
    systems = [s for s in args.systems.split(",") if s]
    for name in (*scenarios, *systems):
        if name not in (*SCENARIOS, *SYSTEMS):
            parser.error(f"unknown scenario or system {name!r}")
    dags = {scenario: scenario_dags(scenario, args) for scenario in scenarios}
    expected = args.reps * sum(estimate_s(sys_, dags[sc]) for sc in scenarios for sys_ in systems)
    print(
        f"[compare] {args.reps} reps x {scenarios} x {systems}: expect about "
        f"{expected / 60:.0f} min on 2 cores",
        flush=True,
    )

    subprocess.run(["kubectl", "create", "namespace", ARGO_NAMESPACE], capture_output=True)
    output = {"label": args.label, "conditions": conditions(args), "runs": [], "summary": {}}
    for rep in range(1, args.reps + 1):
        for scenario in scenarios:
            for system in systems:
                print(f"[compare] rep {rep}: {scenario} on {system} ...", flush=True)
                began = time.monotonic()
                run = {"rep": rep, **run_once(system, scenario, dags[scenario], args.timeout)}
                run["run_with_setup_s"] = round(time.monotonic() - began, 1)
                brief = {k: v for k, v in run.items() if k != "api_requests"}
                print(f"[compare]   {json.dumps(brief)}", flush=True)
                output["runs"].append(run)
                output["summary"] = summarize(output["runs"])
                Path(args.output).write_text(json.dumps(output, indent=1) + "\n")
    print(json.dumps(output["summary"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
