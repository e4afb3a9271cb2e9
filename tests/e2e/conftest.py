"""Fixtures for tests against a real API server: the local control plane by default."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import ROOT, Kubectl, cluster_env, wait_for
from tests.e2e.operator_process import OperatorProcess


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def kubectl() -> Kubectl:
    # Never skip: a control plane that cannot come up is a failure, with the reason.
    kubectl = Kubectl(cluster_env())
    kubectl.run("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    kubectl.run(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/workflows.kubedag.io",
        "crd/tasks.kubedag.io",
    )
    return kubectl


@pytest.fixture(scope="session")
def operator(
    kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    log_dir = Path(tmp_path_factory.mktemp("operator"))
    process = OperatorProcess(kubectl.env, log_dir / "operator.log")
    process.start()
    yield process
    process.stop()
    print(f"operator log: {process.log_path}")


@pytest.fixture
def namespace(kubectl: Kubectl, operator: OperatorProcess) -> Iterator[str]:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", name)
    wait_for(
        "the namespace's default service account",
        lambda: (
            kubectl.run("get", "-n", name, "serviceaccount", "default", check=False).returncode == 0
        ),
    )
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)
