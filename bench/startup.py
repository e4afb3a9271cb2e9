"""Startup benchmark: how long a restarted operator takes to reconcile a new Workflow when
the cluster already holds N objects of finished runs (issue 8, item 4).

1. A seed Workflow of `--tasks-per-workflow` tasks is run to completion by the operator.
2. Its Workflow, Tasks, Jobs and Pods are cloned, straight through the API and with the
   operator stopped, until the fill namespace holds about N Tasks + Jobs + Pods. The
   clones carry the labels and ownerReferences kubedag gives its objects, and their
   Workflows and Tasks the seed's final statuses. Jobs are created suspended (the Job
   controller makes no Pod for them); Pods are created bound to a KWOK node without the
   Job controller's labels, and KWOK's stages run them to Succeeded like any task Pod.
   The operator lists and watches all of them on start, as after an upgrade.
3. A one-task probe Workflow is created in a fresh namespace, the operator is started, and
   the time from process start to the probe's first Job (seen through a watch) is the
   startup figure, with the operator's CPU seconds and RSS at that moment.

Numbers, never pass/fail. The machine is shared; wall times are noisy, CPU seconds less so.

    python bench/startup.py --objects 1000 5000 10000 [--profile]

With --profile, `py-spy` (on PATH; `pip install py-spy`) records the operator from start
to the first Job, as a speedscope file next to the results.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lightkube import Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.scale import (
    RESULTS,
    Job,
    Workflow,
    cpu_seconds,
    fresh_namespace,
    kubectl,
    run_to_end,
    start_operator,
)
from tests.e2e.operator_process import OperatorProcess

from kubedag.k8s.manifests import owner_reference
from kubedag.names import (
    ATTEMPT_LABEL,
    TASK_LABEL,
    WORKFLOW_LABEL,
    job_labels,
    job_name,
    task_labels,
)
from kubedag.names import task_object_name as task_name

Task = create_namespaced_resource("kubedag.io", "v1alpha1", "Task", "tasks")
# Labels the Job controller puts on a Job's Pods; clones carry none, so it leaves them be.
JOB_CONTROLLER_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid", "job-name")
JOB_CONTROLLER_LABELS += ("batch.kubernetes.io/job-name",)
MERGE = PatchType.MERGE
SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation")


def _strip(body: dict[str, Any]) -> dict[str, Any]:
    body = json.loads(json.dumps(body))
    for key in SERVER_FIELDS:
        body["metadata"].pop(key, None)
    body["metadata"].pop("finalizers", None)
    body.pop("status", None)
    return body


def _owner(kind: str, api_version: str, name: str, uid: str) -> list[dict[str, Any]]:
    return [owner_reference(api_version=api_version, kind=kind, name=name, uid=uid)]


def seed(tasks: int) -> dict[str, Any]:
    """Runs a `tasks`-wide Workflow to completion with the operator; returns its objects."""
    namespace = fresh_namespace("startup-seed")
    operator = start_operator("operator-startup-seed.log")
    try:
        document = {
            "apiVersion": "kubedag.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": "seed", "namespace": namespace},
            "spec": {
                "tasks": [
                    {"name": f"t{i:03d}", "image": "busybox:1.36", "command": ["true"]}
                    for i in range(tasks)
                ]
            },
        }
        phase, _ = run_to_end(document)
        assert phase == "Succeeded", phase
    finally:
        operator.stop()
    client = Client()
    found = {
        "namespace": namespace,
        "workflow": client.get(Workflow, "seed", namespace=namespace).to_dict(),
        "tasks": [t.to_dict() for t in client.list(Task, namespace=namespace)],
        "jobs": [j.to_dict() for j in client.list(Job, namespace=namespace)],
        "pods": [p.to_dict() for p in client.list(Pod, namespace=namespace)],
    }
    return found


def clone_workflow(client: Client, seeded: dict[str, Any], namespace: str, name: str) -> int:
    """One finished run named `name` in `namespace`, cloned from `seeded`; returns the
    number of Tasks, Jobs and Pods created."""
    body = _strip(seeded["workflow"])
    body["metadata"].update(name=name, namespace=namespace)
    body["metadata"].pop("ownerReferences", None)
    workflow = client.create(Workflow.from_dict(body)).to_dict()
    status = seeded["workflow"].get("status")
    if status:
        client.patch(
            Workflow.Status, name, {"status": status}, namespace=namespace, patch_type=MERGE
        )
    created = 0
    jobs_by_task: dict[str, list[dict[str, Any]]] = {}
    for job in seeded["jobs"]:
        jobs_by_task.setdefault(job["metadata"]["labels"][TASK_LABEL], []).append(job)
    pods_by_job: dict[str, list[dict[str, Any]]] = {}
    for pod in seeded["pods"]:
        owner = (pod["metadata"].get("ownerReferences") or [{}])[0].get("name", "")
        pods_by_job.setdefault(owner, []).append(pod)
    for seeded_task in seeded["tasks"]:
        node = seeded_task["spec"]["name"]
        task = _strip(seeded_task)
        task["metadata"].update(
            name=task_name(name, node),
            namespace=namespace,
            labels=task_labels(name, node),
            ownerReferences=_owner(
                "Workflow", "kubedag.io/v1alpha1", name, workflow["metadata"]["uid"]
            ),
        )
        task["spec"]["workflow"] = name
        task_uid = client.create(Task.from_dict(task)).to_dict()["metadata"]["uid"]
        if seeded_task.get("status"):
            client.patch(
                Task.Status,
                task["metadata"]["name"],
                {"status": seeded_task["status"]},
                namespace=namespace,
                patch_type=MERGE,
            )
        created += 1
        for seeded_job in jobs_by_task.get(node, []):
            attempt = int(seeded_job["metadata"]["labels"][ATTEMPT_LABEL])
            job = _strip(seeded_job)
            labels = job_labels(name, node, attempt)
            job["metadata"].update(
                name=job_name(name, node, attempt),
                namespace=namespace,
                labels=labels,
                ownerReferences=_owner(
                    "Task", "kubedag.io/v1alpha1", task["metadata"]["name"], task_uid
                ),
            )
            job["spec"].pop("selector", None)
            job["spec"]["suspend"] = True
            template_labels = job["spec"]["template"]["metadata"].setdefault("labels", {})
            for label in JOB_CONTROLLER_LABELS:
                template_labels.pop(label, None)
            template_labels.update(labels)
            job_uid = client.create(Job.from_dict(job)).to_dict()["metadata"]["uid"]
            created += 1
            for seeded_pod in pods_by_job.get(seeded_job["metadata"]["name"], []):
                pod = _strip(seeded_pod)
                pod_labels = {
                    k: v
                    for k, v in (pod["metadata"].get("labels") or {}).items()
                    if k not in JOB_CONTROLLER_LABELS
                }
                pod_labels.update(labels)
                pod["metadata"].pop("generateName", None)
                pod["metadata"].update(
                    name=f"{job['metadata']['name']}-p",
                    namespace=namespace,
                    labels=pod_labels,
                    ownerReferences=_owner("Job", "batch/v1", job["metadata"]["name"], job_uid),
                )
                client.create(Pod.from_dict(pod))
                created += 1
    return created


def fill(seeded: dict[str, Any], objects: int, threads: int = 16) -> tuple[str, int, float]:
    """A namespace with about `objects` Tasks + Jobs + Pods of finished runs, every Pod
    Succeeded; returns it, the exact count and the seconds it took."""
    per_workflow = len(seeded["tasks"]) + len(seeded["jobs"]) + len(seeded["pods"])
    workflows = max(1, round(objects / per_workflow))
    namespace = fresh_namespace("startup-fill")
    started = time.perf_counter()
    client = Client()
    with ThreadPoolExecutor(threads) as pool:
        counts = list(
            pool.map(
                lambda i: clone_workflow(client, seeded, namespace, f"fill-{i:04d}"),
                range(workflows),
            )
        )
    pods = sum(1 for pod in seeded["pods"]) * workflows
    while True:  # KWOK plays the Pods' stages: wait until every one is terminal
        finished = sum(
            1
            for pod in client.list(Pod, namespace=namespace)
            if (pod.status and pod.status.phase) in ("Succeeded", "Failed")
        )
        if finished >= pods:
            break
        time.sleep(2)
    return namespace, sum(counts), time.perf_counter() - started


def first_job_after_start(profile: Path | None) -> dict[str, Any]:
    """Creates a one-task Workflow, starts the operator, and times its first Job."""
    namespace = fresh_namespace("startup-probe")
    kubectl(
        "create",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=json.dumps(
            {
                "apiVersion": "kubedag.io/v1alpha1",
                "kind": "Workflow",
                "metadata": {"name": "probe"},
                "spec": {"tasks": [{"name": "a", "image": "busybox:1.36", "command": ["true"]}]},
            }
        ),
    )
    seen = threading.Event()
    seen_at: list[float] = []

    def watch() -> None:
        for _type, _job in Client().watch(Job, namespace=namespace):
            seen_at.append(time.perf_counter())
            seen.set()
            return

    threading.Thread(target=watch, daemon=True).start()
    time.sleep(1.0)  # the watch is established
    log = Path(__file__).resolve().parents[1] / ".local" / "operator-startup.log"
    log.parent.mkdir(exist_ok=True)
    log.unlink(missing_ok=True)
    operator = OperatorProcess(dict(os.environ), log)
    started = time.perf_counter()
    spy = None
    try:
        operator.start()
        assert operator.process is not None
        pid = operator.process.pid
        if profile is not None:
            spy = subprocess.Popen(
                ["py-spy", "record", "-p", str(pid), "-f", "speedscope", "-o", str(profile)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        healthy = time.perf_counter() - started
        reached = seen.wait(timeout=900)
        cpu = cpu_seconds(pid)
        rss = _rss_mib(pid)
        result = {
            "process_start_to_healthy_s": round(healthy, 2),
            "process_start_to_first_job_s": round(seen_at[0] - started, 2) if reached else None,
            "operator_cpu_s_at_first_job": round(cpu, 2),
            "operator_rss_mib_at_first_job": round(rss, 1),
        }
    finally:
        if spy is not None:
            spy.send_signal(2)  # SIGINT: py-spy writes its file
            spy.wait(timeout=60)
        operator.stop()
    kubectl("delete", "namespace", namespace, "--wait=false")
    return result


def count_objects() -> int:
    """Tasks, and Jobs and Pods labelled kubedag.io/workflow, in every namespace."""
    client = Client()
    selector = {WORKFLOW_LABEL: None}  # the label exists
    return (
        sum(1 for _ in client.list(Task, namespace="*"))
        + sum(1 for _ in client.list(Job, namespace="*", labels=selector))
        + sum(1 for _ in client.list(Pod, namespace="*", labels=selector))
    )


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--tasks-per-workflow", type=int, default=50)
    parser.add_argument("--profile", action="store_true", help="record with py-spy")
    parser.add_argument(
        "--measure-only",
        action="store_true",
        help="no seed, no fill: measure with the objects the cluster holds now (a fill left "
        "by an earlier run; delete its namespaces to measure a smaller one)",
    )
    parser.add_argument("--output", default=str(RESULTS / "startup.json"))
    arguments = parser.parse_args()
    if arguments.profile and shutil.which("py-spy") is None:
        parser.error("--profile needs py-spy on PATH (pip install py-spy)")
    if arguments.measure_only:
        profile = RESULTS / "startup-now.speedscope.json" if arguments.profile else None
        result = {"objects": count_objects(), **first_job_after_start(profile)}
        print(json.dumps(result), flush=True)
        return 0

    seeded = seed(arguments.tasks_per_workflow)
    kubectl("delete", "namespace", seeded["namespace"], "--wait=false")
    results = []
    filled = 0
    namespaces = []
    for objects in sorted(arguments.objects):
        # Each size adds to the previous fill: the operator sees all of them.
        namespace, count, seconds = fill(seeded, objects - filled)
        namespaces.append(namespace)
        filled += count
        profile = RESULTS / f"startup-{objects}.speedscope.json" if arguments.profile else None
        result = {"objects": filled, "fill_s": round(seconds, 1), **first_job_after_start(profile)}
        print(json.dumps(result), flush=True)
        results.append(result)
    summary = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "objects_are": "Tasks + Jobs + Pods of finished Workflows",
        "tasks_per_workflow": arguments.tasks_per_workflow,
        "results": results,
    }
    Path(arguments.output).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    for namespace in namespaces:
        kubectl("delete", "namespace", namespace, "--wait=false")
    return 0


if __name__ == "__main__":
    sys.exit(main())
