"""What the e2e tests use to talk to the cluster: kubectl, exactly as a user would."""

from __future__ import annotations

import builtins
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


class Kubectl:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["kubectl", *args],
            input=stdin,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def apply(self, namespace: str, *documents: dict[str, Any]) -> None:
        self.run("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(documents))

    def get(self, namespace: str, resource: str, name: str) -> dict[str, Any]:
        return json.loads(self.run("get", "-n", namespace, resource, name, "-o", "json").stdout)  # type: ignore[no-any-return]

    def list(self, namespace: str, resource: str, *selector: str) -> list[dict[str, Any]]:
        args = ["get", "-n", namespace, resource, "-o", "json"]
        if selector:
            args += ["-l", ",".join(selector)]
        return json.loads(self.run(*args).stdout)["items"]  # type: ignore[no-any-return]

    def events(self, namespace: str, kind: str, name: str) -> builtins.list[dict[str, Any]]:
        return [
            event
            for event in self.list(namespace, "events")
            if event["involvedObject"]["kind"] == kind and event["involvedObject"]["name"] == name
        ]


def install_crds(kubectl: Kubectl) -> None:
    """kubedag's CRDs applied and served (the tests' and the chaos suite's first step)."""
    kubectl.run("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    # `kubectl wait` fails at once (instead of waiting) while a just-created CRD has no
    # conditions yet, which lasts longer the larger the CRD: retry it.
    wait_for(
        "the kubedag CRDs to be established",
        lambda: (
            kubectl.run(
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd/workflows.kubedag.io",
                "crd/tasks.kubedag.io",
                "crd/tasktemplates.kubedag.io",
                "crd/workflowtemplates.kubedag.io",
                "crd/cronworkflows.kubedag.io",
                "crd/backfills.kubedag.io",
                check=False,
            ).returncode
            == 0
        ),
    )
    # Established is not yet served: a fresh CRD answers 429 while its storage starts.
    wait_for(
        "the kubedag resources to be served",
        lambda: (
            kubectl.run(
                "get",
                "-A",
                # Full names: with Argo's or Tekton's CRDs installed too (or once known to
                # kubectl's discovery cache), a bare `workflows` may be theirs (issue 11).
                "workflows.kubedag.io,tasks.kubedag.io,tasktemplates.kubedag.io,"
                "workflowtemplates.kubedag.io,cronworkflows.kubedag.io,backfills.kubedag.io",
                check=False,
            ).returncode
            == 0
        ),
    )


def wait_for(
    what: str, probe: Callable[[], T | None], *, timeout: float = 90, interval: float = 0.5
) -> T:
    """Polls until `probe` returns something truthy; fails with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last seen: {last!r})")


def task(
    name: str,
    *,
    depends_on: list[str] | None = None,
    seconds: float = 0,
    exit_code: int = 0,
    output: dict[str, Any] | str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A task that runs for `seconds`, writes `output` (a JSON object, or raw text) as its
    termination message and exits with `exit_code` — both on a real kubelet (the shell
    command) and on the KWOK test cluster (the simulation annotations). `fields` are
    added to the task as they are (camelCase: `when`, `withItems`, `retryStrategy`, ...)."""
    annotations = {}
    script = f"sleep {seconds}"
    if seconds:
        annotations["sim.kubedag.io/duration"] = f"{int(seconds * 1000)}ms"
    if exit_code:
        annotations["sim.kubedag.io/exit-code"] = str(exit_code)
    if output is not None:
        message = output if isinstance(output, str) else json.dumps(output)
        annotations["sim.kubedag.io/termination-message"] = message
        script += f"; printf '%s' '{message}' > /dev/termination-log"
    spec: dict[str, Any] = {
        "name": name,
        "image": "busybox:1.36",
        "command": ["sh", "-c", f"{script}; exit {exit_code}"],
    }
    if depends_on:
        spec["dependsOn"] = depends_on
    if annotations:
        spec["metadata"] = {"annotations": annotations}
    spec.update(fields)
    return spec


def workflow(name: str, tasks: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    """A Workflow; `spec` adds workflow fields (camelCase: params, onExit, parallelism...)."""
    return {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"tasks": tasks, **spec},
    }


def operator_env(base: dict[str, str]) -> dict[str, str]:
    env = dict(base)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def cluster_env() -> dict[str, str]:
    """The environment for kubectl and the operator: the local control plane unless
    KUBEDAG_CLUSTER=existing points the tests at the current kubeconfig context."""
    env = dict(os.environ)
    if env.get("KUBEDAG_CLUSTER", "local") == "existing":
        return env
    result = subprocess.run(
        [str(ROOT / "hack" / "cluster.sh"), "up"], capture_output=True, text=True, timeout=3600
    )
    if result.returncode != 0:
        raise RuntimeError(
            "the local control plane did not come up (hack/cluster.sh up):\n"
            + result.stderr[-4000:]
        )
    exports = subprocess.run(
        [str(ROOT / "hack" / "cluster.sh"), "env"], capture_output=True, text=True, check=True
    ).stdout
    for assignment in exports.removeprefix("export ").split():
        key, value = assignment.split("=", 1)
        env[key] = value.replace("$PATH", os.environ.get("PATH", ""))
    return env
