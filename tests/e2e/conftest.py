"""Fixtures for tests against a real API server: the local control plane by default."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import Kubectl, cluster_env, install_crds, wait_for
from tests.e2e.operator_process import OperatorProcess


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test's report carries what the cluster and the operator looked like, so a
    failure in CI can be read without the machine it ran on."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    funcargs = getattr(item, "funcargs", {})
    kubectl, namespace = funcargs.get("kubectl"), funcargs.get("namespace")
    if isinstance(kubectl, Kubectl) and isinstance(namespace, str):
        state = kubectl.run(
            "get",
            "-n",
            namespace,
            "workflows.kubedag.io,tasks.kubedag.io,jobs,pods",
            "-o",
            "wide",
            check=False,
        )
        report.sections.append((f"objects in {namespace}", state.stdout + state.stderr))
    process = funcargs.get("operator")
    if isinstance(process, OperatorProcess) and process.log_path.exists():
        tail = process.log_path.read_text(errors="replace").splitlines()[-40:]
        report.sections.append(("operator log (last 40 lines)", "\n".join(tail)))


@pytest.fixture(scope="session")
def kubectl() -> Kubectl:
    # Never skip: a control plane that cannot come up is a failure, with the reason.
    kubectl = Kubectl(cluster_env())
    install_crds(kubectl)
    return kubectl


@pytest.fixture(scope="session")
def operator(
    kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    log_dir = Path(tmp_path_factory.mktemp("operator"))
    # Every Event, Normal ones on Tasks too: the tests check what each transition tells.
    process = OperatorProcess(kubectl.env, log_dir / "operator.log", ("--task-events=all",))
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
