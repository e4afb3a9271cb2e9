"""The faults a chaos round injects, and when: the plan is a pure function of a seeded
random generator; the injectors do the I/O.

    operator-kill     SIGKILL the operator process, start it again after a pause
    apiserver-restart SIGKILL kube-apiserver, start it again with kwokctl's own command line
    status-refusal    a ValidatingAdmissionPolicy refuses status writes in the round's
                      namespace for a while (Task final writes, any Task write, or
                      Workflow writes)
    job-delete        `kubectl delete job` of a Job that is still running
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from tests.chaos.policies import REFUSAL_LABEL, REFUSALS
from tests.e2e.cluster import Kubectl, wait_for

OPERATOR_KILL = "operator-kill"
APISERVER_RESTART = "apiserver-restart"
STATUS_REFUSAL = "status-refusal"
JOB_DELETE = "job-delete"
KINDS = (OPERATOR_KILL, APISERVER_RESTART, STATUS_REFUSAL, JOB_DELETE)


@dataclass(frozen=True)
class PlannedFault:
    at: float  # seconds after the round's workflows were created
    kind: str
    pause: float  # how long the fault lasts: operator down, API server down, refusal on
    variant: str = ""  # which status writes a refusal refuses

    def describe(self) -> str:
        extra = f" {self.variant}" if self.variant else ""
        return f"+{self.at:.1f}s {self.kind}{extra} ({self.pause:.1f}s)"


def plan_faults(
    rng: random.Random, *, window: float, count: int, kinds: tuple[str, ...] = KINDS
) -> list[PlannedFault]:
    """`count` faults at random moments of the first `window` seconds, each kind at least
    once when `count` allows, in time order."""
    chosen = list(kinds[:count]) + [rng.choice(kinds) for _ in range(count - len(kinds))]
    rng.shuffle(chosen)
    faults = []
    for kind in chosen:
        variant = rng.choice(sorted(REFUSALS)) if kind == STATUS_REFUSAL else ""
        pause = {
            OPERATOR_KILL: rng.uniform(0.0, 4.0),
            APISERVER_RESTART: rng.uniform(0.0, 3.0),
            STATUS_REFUSAL: rng.uniform(2.0, 8.0),
            JOB_DELETE: 0.0,
        }[kind]
        faults.append(
            PlannedFault(round(rng.uniform(0, window), 1), kind, round(pause, 1), variant)
        )
    return sorted(faults, key=lambda fault: fault.at)


class Operator(Protocol):
    """tests.e2e.operator_process.OperatorProcess, or anything that starts and dies alike."""

    def start(self) -> None: ...

    def kill(self) -> None: ...


def retrying(what: str, action: Callable[[], Any], *, timeout: float = 90) -> Any:
    """The harness's own calls survive the faults it injects (an API server restarting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except (AssertionError, RuntimeError, subprocess.SubprocessError, OSError) as error:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: still failing after {timeout}s: {error}") from error
            time.sleep(0.5)


class ApiServer:
    """Restarts only kube-apiserver of a `kwokctl --runtime binary` cluster: kwokctl
    records every component's command line in the cluster's kwok.yaml and its pid under
    pids/, and supervises nothing, so a killed API server stays down until someone starts
    it again — here with kwokctl's own command line, and the new pid written back where
    `kwokctl stop/delete cluster` looks for it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.pid_file = workdir / "pids" / "kube-apiserver.pid"
        config = yaml.safe_load_all((workdir / "kwok.yaml").read_text())
        self.component = next(
            component
            for document in config
            if document and document.get("kind") == "KwokctlConfiguration"
            for component in document.get("components") or []
            if component["name"] == "kube-apiserver"
        )

    @classmethod
    def of_local_cluster(cls) -> ApiServer | None:
        """The API server of hack/cluster.sh's cluster, or None for any other cluster."""
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        name = os.environ.get("KUBEDAG_CLUSTER_NAME", "kubedag")
        workdir = cache / "kubedag" / "kwok" / "clusters" / name
        if not (workdir / "kwok.yaml").exists() or not (workdir / "pids").exists():
            return None
        return cls(workdir)

    def restart(self, kubectl: Kubectl, pause: float) -> str:
        old_pid = int(self.pid_file.read_text().strip())
        os.kill(old_pid, signal.SIGKILL)
        wait_for("kube-apiserver to die", lambda: not _alive(old_pid), timeout=30)
        time.sleep(pause)
        log = (self.workdir / "logs" / "kube-apiserver.log").open("ab")
        process = subprocess.Popen(
            [self.component["binary"], *self.component.get("args", [])],
            cwd=self.component.get("workDir") or self.workdir,
            env={**os.environ, **_component_env(self.component)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the harness, as kwokctl's processes do
        )
        self.pid_file.write_text(str(process.pid))
        wait_for(
            "kube-apiserver to be ready again",
            lambda: kubectl.run("get", "--raw", "/readyz", check=False).returncode == 0,
            timeout=90,
        )
        return f"kube-apiserver pid {old_pid} killed, pid {process.pid} ready"


def _component_env(component: dict[str, Any]) -> dict[str, str]:
    return {env["name"]: env.get("value", "") for env in component.get("envs") or []}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child of ours lingers as a zombie until reaped; it is dead all the same.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def refuse_status(kubectl: Kubectl, namespace: str, variant: str) -> None:
    retrying(
        "label the namespace",
        lambda: kubectl.run("label", "namespace", namespace, f"{REFUSAL_LABEL}={variant}"),
    )


def accept_status(kubectl: Kubectl, namespace: str) -> None:
    retrying(
        "unlabel the namespace",
        lambda: kubectl.run("label", "namespace", namespace, f"{REFUSAL_LABEL}-"),
    )


def delete_running_job(kubectl: Kubectl, namespace: str, rng: random.Random) -> str:
    """A Job not yet Complete or Failed, picked at random; the newest if none runs."""
    jobs = retrying(
        "list Jobs",
        lambda: json.loads(kubectl.run("get", "-n", namespace, "jobs", "-o", "json").stdout),
    )["items"]
    if not jobs:
        return "no Job to delete"
    running = [job for job in jobs if not _ended(job)]
    job = rng.choice(sorted(running, key=_name)) if running else max(jobs, key=_created)
    name = _name(job)
    kubectl.run("delete", "-n", namespace, "job", name, "--wait=false", check=False)
    state = "running" if running else "finished"
    return f"deleted {state} Job {name} (uid {job['metadata']['uid']})"


def _name(job: dict[str, Any]) -> str:
    return str(job["metadata"]["name"])


def _created(job: dict[str, Any]) -> str:
    return str(job["metadata"]["creationTimestamp"])


def _ended(job: dict[str, Any]) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )
