"""The Helm chart installs with the real helm into the real API server, and the service
account it creates may do everything the operator does, and no more than it needs."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.cluster import ROOT, Kubectl, wait_for

# Every request the operator makes, as (verb, resource).
OPERATOR_NEEDS = [
    *[
        (verb, resource)
        for verb in ("get", "list", "watch")
        for resource in (
            "workflows.kubedag.io",
            "tasks.kubedag.io",
            "jobs.batch",
            "pods",
        )
    ],
    ("get", "tasktemplates.kubedag.io"),
    ("list", "tasktemplates.kubedag.io"),
    ("watch", "tasktemplates.kubedag.io"),
    ("get", "workflowtemplates.kubedag.io"),
    ("list", "workflowtemplates.kubedag.io"),
    ("watch", "workflowtemplates.kubedag.io"),
    ("create", "tasks.kubedag.io"),
    ("delete", "jobs.batch"),
    ("delete", "workflows.kubedag.io"),
    ("create", "jobs.batch"),
    ("create", "events"),
    ("patch", "workflows.kubedag.io/status"),
    ("patch", "tasks.kubedag.io/status"),
    # CronWorkflows (issue 9): watched; their runs created, stopped (a merge patch of
    # spec.shutdown) and deleted (history limits).
    *[(verb, "cronworkflows.kubedag.io") for verb in ("get", "list", "watch")],
    ("patch", "cronworkflows.kubedag.io/status"),
    ("create", "workflows.kubedag.io"),
    ("patch", "workflows.kubedag.io"),
]
# Backfills (issue 9): watched; their runs are created, stopped (spec.shutdown) and
# deleted to run again. (They also get the CronWorkflow or WorkflowTemplate they name:
# `kubectl auth can-i` answers no for a resource whose CRD is not installed.)
OPERATOR_NEEDS += [
    *[(verb, "backfills.kubedag.io") for verb in ("get", "list", "watch")],
    ("patch", "backfills.kubedag.io/status"),
    ("create", "workflows.kubedag.io"),
    ("patch", "workflows.kubedag.io"),
]
# Datasets (issue 10): watched (they wake dataset triggers), read and created when a task
# first writes one, counted with a merge patch of their status; Tasks marked as counted.
OPERATOR_NEEDS += [
    *[(verb, "datasets.kubedag.io") for verb in ("get", "list", "watch", "create")],
    ("patch", "datasets.kubedag.io/status"),
]
NOT_NEEDED = [
    ("update", "datasets.kubedag.io"),
    ("delete", "datasets.kubedag.io"),
    ("delete", "pods"),
    ("create", "secrets"),
    ("get", "secrets"),
    ("update", "workflows.kubedag.io"),
]


def helm_binary() -> str:
    result = subprocess.run(
        [str(ROOT / "hack" / "install-helm.sh")], capture_output=True, text=True, timeout=1800
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def release(kubectl: Kubectl) -> Iterator[tuple[str, str]]:
    helm = helm_binary()
    namespace = f"helm-{uuid.uuid4().hex[:6]}"
    name = f"kubedag-{namespace}"
    kubectl.run("create", "namespace", namespace)
    install = subprocess.run(
        [helm, "install", name, str(ROOT / "charts" / "kubedag"), "-n", namespace, "--skip-crds"],
        env=kubectl.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    yield namespace, name
    subprocess.run(
        [helm, "uninstall", name, "-n", namespace],
        env=kubectl.env,
        capture_output=True,
        timeout=300,
    )
    kubectl.run("delete", "namespace", namespace, "--wait=false", check=False)


def can_i(kubectl: Kubectl, service_account: str, verb: str, resource: str, namespace: str) -> bool:
    resource, _, subresource = resource.partition("/")
    extra = [f"--subresource={subresource}"] if subresource else []
    result = kubectl.run(
        "auth",
        "can-i",
        verb,
        resource,
        *extra,
        "-n",
        namespace,
        f"--as={service_account}",
        check=False,
    )
    return result.stdout.strip() == "yes"


def test_chart_installs_an_operator_whose_account_can_do_what_it_needs(
    kubectl: Kubectl, release: tuple[str, str]
) -> None:
    namespace, name = release
    deployment = kubectl.get(namespace, "deployment", name)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "--metrics-port=8080" in container["args"]
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    kubectl.get(namespace, "serviceaccount", account)
    service_account = f"system:serviceaccount:{namespace}:{account}"
    # Cluster-wide by default: permissions hold in any namespace, not just the release's.
    for verb, resource in OPERATOR_NEEDS:
        assert can_i(kubectl, service_account, verb, resource, "default"), (verb, resource)
    for verb, resource in NOT_NEEDED:
        assert not can_i(kubectl, service_account, verb, resource, "default"), (verb, resource)
    # On the simulated cluster no image is pulled, so the Pod runs whatever the image;
    # on a real cluster that depends on a published image, which does not exist yet.
    if is_simulated(kubectl):
        wait_for(
            "the operator Deployment to be available",
            lambda: (kubectl.get(namespace, "deployment", name).get("status") or {}).get(
                "availableReplicas"
            ),
            timeout=120,
        )


def is_simulated(kubectl: Kubectl) -> bool:
    nodes = json.loads(kubectl.run("get", "nodes", "-o", "json").stdout)["items"]
    return all("kwok.x-k8s.io/node" in (n["metadata"].get("annotations") or {}) for n in nodes)
