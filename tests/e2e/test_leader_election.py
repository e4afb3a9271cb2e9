"""Two operator replicas elect a leader on a Lease; the leader can die at any moment (SIGKILL
or SIGTERM) and the standby finishes the run with exactly one Job per task; a second
release refuses the namespaces a first one manages (issue 12, item 4)."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, task, wait_for, workflow
from tests.e2e.helpers import jobs_by_task, tasks_by_name, wait_for_phase
from tests.e2e.operator_process import OperatorProcess

# The chart's defaults (client-go's): shorter renew deadlines made an overloaded test
# machine's leader step down on its own (correctly: it had not renewed in time).
TIMINGS = {
    "KUBEDAG_LEASE_DURATION": "15",
    "KUBEDAG_RENEW_DEADLINE": "10",
    "KUBEDAG_RETRY_PERIOD": "2",
}

Replica = Callable[[str, str], OperatorProcess]


@pytest.fixture
def ha_namespace(kubectl: Kubectl, operator: OperatorProcess) -> Iterator[str]:
    """A namespace with no operator but the ones the test starts: the session's operator
    (no leader election) is stopped meanwhile, and started again afterwards."""
    operator.stop()
    name = f"e2e-ha-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", name)
    try:
        yield name
    finally:
        kubectl.run("delete", "namespace", name, "--wait=false", check=False)
        operator.start()


@pytest.fixture
def replica(kubectl: Kubectl, ha_namespace: str, tmp_path: Path) -> Iterator[Replica]:
    """Starts an operator replica `identity` of the release whose Lease is `lease`, managing
    only the test's namespace, its Lease in that namespace."""
    started: list[OperatorProcess] = []

    def start(identity: str, lease: str) -> OperatorProcess:
        env = {
            **kubectl.env,
            "PYTHONUNBUFFERED": "1",
            "KUBEDAG_LEADER_ELECTION": "true",
            "KUBEDAG_LEASE_NAMESPACE": ha_namespace,
            "KUBEDAG_LEASE_NAME": lease,
            "POD_NAME": identity,
            **TIMINGS,
        }
        process = OperatorProcess(env, tmp_path / f"{identity}.log", ("--namespace", ha_namespace))
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
        print(f"operator log: {process.log_path}")


def lease(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any] | None:
    found = kubectl.run("get", "-n", namespace, "lease", name, "-o", "json", check=False)
    if found.returncode != 0:
        return None
    body: dict[str, Any] = json.loads(found.stdout)
    return body


def holder(kubectl: Kubectl, namespace: str, name: str) -> str:
    body = lease(kubectl, namespace, name) or {}
    return str((body.get("spec") or {}).get("holderIdentity") or "")


def managing(kubectl: Kubectl, namespace: str, name: str) -> bool:
    body = lease(kubectl, namespace, name) or {}
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    return annotations.get("kubedag.io/managing") == "true"


def jobs_created(process: OperatorProcess) -> float:
    """Jobs this operator created (its kubedag_api_requests_total, outcome ok or exists)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{process.metrics_port}/metrics") as reply:
        text = reply.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("kubedag_api_requests_total{")
        and 'verb="create"' in line
        and 'resource="Job"' in line
    )


@pytest.mark.parametrize("signal", ["SIGKILL", "SIGTERM"])
def test_the_standby_finishes_a_run_whose_leader_dies_with_one_job_per_task(
    kubectl: Kubectl, ha_namespace: str, replica: Replica, signal: str
) -> None:
    namespace = ha_namespace
    first = replica("replica-a", "kubedag")
    wait_for(
        "replica-a to lead", lambda: holder(kubectl, namespace, "kubedag").startswith("replica-a")
    )
    second = replica("replica-b", "kubedag")
    names = [f"step-{i}" for i in range(6)]
    tasks = [
        task(name, depends_on=[names[i - 1]] if i else None, seconds=1.5)
        for i, name in enumerate(names)
    ]
    tasks += [task(f"side-{i}", seconds=2) for i in range(4)]
    kubectl.apply(namespace, workflow("failover", tasks))
    wait_for(
        "two steps of the chain to succeed",
        lambda: (
            sum(
                1
                for t in tasks_by_name(kubectl, namespace, "failover").values()
                if (t.get("status") or {}).get("phase") == "Succeeded"
                and t["spec"]["name"].startswith("step")
            )
            >= 2
        ),
    )
    # The standby watched all along and wrote nothing.
    assert holder(kubectl, namespace, "kubedag").startswith("replica-a"), "leader changed early"
    assert jobs_created(second) == 0
    if signal == "SIGKILL":
        first.kill()
    else:
        first.stop()

    wait_for(
        "replica-b to take the Lease over",
        lambda: holder(kubectl, namespace, "kubedag").startswith("replica-b"),
        timeout=60,
    )
    body = wait_for_phase(kubectl, namespace, "failover", "Succeeded", "Failed", timeout=180)
    assert body["status"]["phase"] == "Succeeded"
    jobs = jobs_by_task(kubectl, namespace, "failover")
    assert {name: len(found) for name, found in jobs.items()} == {t["name"]: 1 for t in tasks}
    assert jobs_created(second) > 0
    spec = (lease(kubectl, namespace, "kubedag") or {})["spec"]
    assert spec["leaseTransitions"] >= 1


def test_a_second_release_refuses_the_namespaces_a_first_one_manages_until_it_is_gone(
    kubectl: Kubectl, ha_namespace: str, replica: Replica
) -> None:
    namespace = ha_namespace
    first = replica("release-a-0", "release-a")
    wait_for("release-a to manage", lambda: managing(kubectl, namespace, "release-a"))
    second = replica("release-b-0", "release-b")
    wait_for("release-b to lead its own Lease", lambda: holder(kubectl, namespace, "release-b"))

    def refusal() -> dict[str, Any] | None:
        return next(
            (
                event
                for event in kubectl.events(namespace, "Lease", "release-b")
                if event["reason"] == "NamespacesClaimed"
            ),
            None,
        )

    event = wait_for("release-b's NamespacesClaimed Warning", refusal)
    assert event["type"] == "Warning"
    assert f"Lease {namespace}/release-a" in event["message"]
    assert not managing(kubectl, namespace, "release-b")

    kubectl.apply(namespace, workflow("first", [task("a", seconds=1), task("b", depends_on=["a"])]))
    assert (
        wait_for_phase(kubectl, namespace, "first", "Succeeded", "Failed")["status"]["phase"]
        == "Succeeded"
    )
    assert jobs_created(first) >= 2  # (a repeated create answered 409 counts too)
    assert jobs_created(second) == 0

    # Release a is uninstalled: its Lease is released, release b manages from then on.
    first.stop()
    wait_for("release-b to manage", lambda: managing(kubectl, namespace, "release-b"), timeout=60)
    kubectl.apply(namespace, workflow("second", [task("c", seconds=1)]))
    assert (
        wait_for_phase(kubectl, namespace, "second", "Succeeded", "Failed")["status"]["phase"]
        == "Succeeded"
    )
    assert jobs_created(second) >= 1
