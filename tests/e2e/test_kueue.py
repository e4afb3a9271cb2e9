"""A real Kueue controller admits kubedag's Jobs: a Workflow naming a LocalQueue whose
ClusterQueue has CPU quota for two tasks never has more than two running, and Succeeds
(issue 12, item 6). Kueue v0.17 is built from the Go module proxy (hack/install-kueue.sh)
and run out of cluster (hack/run-kueue.sh)."""

from __future__ import annotations

import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import ROOT, Kubectl, task, wait_for, workflow
from tests.e2e.helpers import jobs_by_task, tasks_by_name, wait_for_phase
from tests.e2e.operator_process import OperatorProcess, free_port

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"


def kueue_dir() -> Path:
    result = subprocess.run(
        [str(ROOT / "hack" / "install-kueue.sh")], capture_output=True, text=True, timeout=7200
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def kueue(kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Kueue's CRDs installed and its controller manager running, healthy."""
    crds = kueue_dir() / "crd"
    kubectl.run("apply", "--server-side", "--force-conflicts", "-f", str(crds))
    wait_for(
        "Kueue's CRDs to be served",
        lambda: (
            kubectl.run(
                "get", "-A", "clusterqueues,localqueues,resourceflavors,workloads", check=False
            ).returncode
            == 0
        ),
    )
    kubectl.run("create", "namespace", "kueue-system", check=False)
    work = tmp_path_factory.mktemp("kueue")
    health = free_port()
    env = {
        **kubectl.env,
        "KUEUE_HEALTH_PORT": str(health),
        "KUEUE_METRICS_PORT": str(free_port()),
        "KUEUE_WEBHOOK_PORT": str(free_port()),
    }
    log = (work / "kueue.log").open("wb")
    process = subprocess.Popen(
        [str(ROOT / "hack" / "run-kueue.sh"), str(work)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def healthy() -> bool:
        assert process.poll() is None, f"kueue exited; see {work / 'kueue.log'}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health}/readyz", timeout=1):
                return True
        except OSError:
            return False

    try:
        wait_for("the Kueue controller to be ready", healthy, timeout=120)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        print(f"kueue log: {work / 'kueue.log'}")


def quota_for_two_tasks(namespace: str, queue: str) -> list[dict[str, Any]]:
    """A ResourceFlavor, a ClusterQueue with 1 CPU (two tasks of 500m) for `namespace`,
    and the LocalQueue `queue` pointing at it."""
    cluster_queue = f"cq-{namespace}"
    return [
        {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "ResourceFlavor",
            "metadata": {"name": f"flavor-{namespace}"},
        },
        {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "ClusterQueue",
            "metadata": {"name": cluster_queue},
            "spec": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "resourceGroups": [
                    {
                        "coveredResources": ["cpu"],
                        "flavors": [
                            {
                                "name": f"flavor-{namespace}",
                                "resources": [{"name": "cpu", "nominalQuota": "1"}],
                            }
                        ],
                    }
                ],
            },
        },
        {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "LocalQueue",
            "metadata": {"name": queue, "namespace": namespace},
            "spec": {"clusterQueue": cluster_queue},
        },
    ]


class RunningWatch:
    """The most Jobs of a Workflow that were admitted (not suspended) and unfinished at
    once, and the most Pods running at once, sampled from `kubectl get -w` streams."""

    def __init__(self, kubectl: Kubectl, namespace: str, workflow_name: str) -> None:
        self.kubectl, self.namespace, self.workflow = kubectl, namespace, workflow_name
        self.max_admitted = 0
        self.max_running_pods = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        selector = f"kubedag.io/workflow={self.workflow}"
        while not self._stop.is_set():
            jobs = self.kubectl.list(self.namespace, "jobs", selector)
            pods = self.kubectl.list(self.namespace, "pods", selector)
            admitted = [
                job
                for job in jobs
                if not job["spec"].get("suspend")
                and not any(
                    c["type"] in ("Complete", "Failed") and c["status"] == "True"
                    for c in (job.get("status") or {}).get("conditions") or []
                )
            ]
            running = [
                pod
                for pod in pods
                if (pod.get("status") or {}).get("phase") in ("Pending", "Running")
                and not pod["metadata"].get("deletionTimestamp")
            ]
            self.max_admitted = max(self.max_admitted, len(admitted))
            self.max_running_pods = max(self.max_running_pods, len(running))
            self.samples += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def test_a_cluster_queue_with_quota_for_two_tasks_never_runs_more_than_two(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, kueue: None
) -> None:
    kubectl.apply(namespace, *quota_for_two_tasks(namespace, "team"))
    six = [
        task(
            f"t{i}",
            seconds=3,
            resources={"requests": {"cpu": "500m"}},
        )
        for i in range(6)
    ]
    watch = RunningWatch(kubectl, namespace, "queued")
    try:
        kubectl.apply(namespace, workflow("queued", six, queueName="team"))
        body = wait_for_phase(kubectl, namespace, "queued", "Succeeded", "Failed", timeout=240)
    finally:
        watch.stop()
    assert body["status"]["phase"] == "Succeeded"
    assert watch.samples > 0
    # Kueue admitted at most two at a time, and did admit two at a time.
    assert watch.max_admitted == 2
    assert watch.max_running_pods <= 2
    jobs = jobs_by_task(kubectl, namespace, "queued")
    assert {name: len(found) for name, found in jobs.items()} == {t["name"]: 1 for t in six}
    for (job,) in jobs.values():
        assert job["metadata"]["labels"][QUEUE_LABEL] == "team"
    workloads = kubectl.list(namespace, "workloads.kueue.x-k8s.io")
    assert len(workloads) == len(six)  # one Kueue Workload per Job: Kueue managed each


def test_a_task_waiting_for_quota_says_so_and_is_not_timed_out_by_pending_timeout(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, kueue: None
) -> None:
    kubectl.apply(namespace, *quota_for_two_tasks(namespace, "team"))
    # `big` asks more CPU than the ClusterQueue has: Kueue never admits it.
    tasks = [
        task("big", resources={"requests": {"cpu": "2"}}, pendingTimeout=5),
        task("small", resources={"requests": {"cpu": "500m"}}, pendingTimeout=5),
    ]
    kubectl.apply(namespace, workflow("starved", tasks, queueName="team"))

    def big_waits() -> dict[str, Any] | None:
        found = tasks_by_name(kubectl, namespace, "starved").get("big")
        status = (found or {}).get("status") or {}
        return status if status.get("reason") == "WaitingForAdmission" else None

    status = wait_for("big to wait for admission", big_waits, timeout=60)
    assert status["phase"] == "Pending"
    assert "team" in status["message"]
    wait_for(
        "small to succeed",
        lambda: (
            (tasks_by_name(kubectl, namespace, "starved")["small"].get("status") or {}).get("phase")
            == "Succeeded"
        ),
        timeout=120,
    )
    time.sleep(8)  # past big's pendingTimeout (5 s) while it is still queued
    status = tasks_by_name(kubectl, namespace, "starved")["big"]["status"]
    assert (status["phase"], status["reason"]) == ("Pending", "WaitingForAdmission")
    assert len(status["attempts"]) == 1
    kubectl.run("delete", "-n", namespace, "workflow", "starved", "--wait=false")
