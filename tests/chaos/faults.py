"""The faults a chaos round injects, and when: the plan is a pure function of a seeded
random generator; the injectors do the I/O.

    operator-kill     SIGKILL the operator process, start it again after a pause
    apiserver-restart SIGKILL kube-apiserver, start it again with kwokctl's own command line
                      (tests/chaos/control_plane.py)
    status-refusal    a ValidatingAdmissionPolicy refuses status writes in the round's
                      namespace for a while (Task final writes, any Task write, or
                      Workflow writes)
    job-delete        `kubectl delete job` of a Job that is still running (the newest
                      finished one if none runs at that moment)
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tests.chaos.policies import REFUSAL_LABEL, REFUSALS
from tests.e2e.cluster import Kubectl

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

    def delete() -> bool:
        result = kubectl.run("delete", "-n", namespace, "job", name, "--wait=false", check=False)
        if result.returncode != 0 and "NotFound" not in result.stderr:
            raise AssertionError(result.stderr.strip())  # the API server is away: retry
        return result.returncode == 0

    if not retrying("delete the Job", delete):
        return f"Job {name} was gone before it could be deleted"
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
