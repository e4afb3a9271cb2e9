"""One chaos round on a real control plane: small DAGs with fan-out, fan-in and retries
run in a namespace of their own while the planned faults are injected; when every fault
is healed and the runs have ended (or time is up), the namespace's objects are read back
and judged by tests.chaos.invariants.

The round's seed decides the DAGs and the fault plan; the moments the cluster reaches
(which Job is running when a fault lands) still vary from run to run.
"""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.chaos import faults
from tests.chaos.control_plane import ControlPlane, Supervisor
from tests.chaos.faults import Operator, PlannedFault, retrying
from tests.chaos.invariants import (
    Figures,
    Sightings,
    Snapshot,
    Violation,
    check,
    figures,
    kubernetes_findings,
    sightings_from_events,
)
from tests.chaos.policies import FAIL_FIRST_LABEL
from tests.e2e.cluster import Kubectl, task, wait_for, workflow


def chaos_workflow(rng: random.Random, name: str) -> dict[str, Any]:
    """extract -> load (fan-out over 2-4 items) + audit -> merge (fan-in) -> report, with
    retries; sometimes a task that always fails (the run ends Failed after its retry) and
    sometimes jobCleanup."""

    def seconds() -> float:
        return rng.choice([1.0, 1.5, 2.0, 3.0])

    on_any_failure = {"limit": 2, "retryPolicy": "Always", "backoff": {"delaySeconds": 1}}
    items = [f"part-{index}" for index in range(rng.randint(2, 4))]
    flaky = task("audit", depends_on=["extract"], seconds=seconds(), retryStrategy=on_any_failure)
    flaky["metadata"]["labels"] = {FAIL_FIRST_LABEL: "true"}
    tasks = [
        task("extract", seconds=seconds(), retryStrategy=on_any_failure),
        task(
            "load",
            depends_on=["extract"],
            seconds=seconds(),
            withItems=items,
            args=["{{item}}"],
            retryStrategy=on_any_failure,
        ),
        flaky,
        task(
            "merge", depends_on=["load", "audit"], seconds=seconds(), retryStrategy=on_any_failure
        ),
        task("report", depends_on=["merge"], seconds=seconds()),
    ]
    if rng.random() < 0.3:
        retry_once = {"limit": 1, "backoff": {"delaySeconds": 1}}
        tasks.append(
            task("doomed", depends_on=["extract"], seconds=1, exit_code=3, retryStrategy=retry_once)
        )
    spec: dict[str, Any] = {}
    cleanup = rng.choice([None, None, "OnTaskSuccess", "OnTaskCompletion"])
    if cleanup:
        spec["jobCleanup"] = cleanup
    return workflow(name, tasks, **spec)


class Watch:
    """`kubectl get --watch` of Jobs and Pods in one namespace, restarted whenever it ends
    (an API server restart ends it): every Job uid and Pod seen, even if gone by the end."""

    def __init__(self, kubectl: Kubectl, namespace: str) -> None:
        self.kubectl = kubectl
        self.namespace = namespace
        self.sightings = Sightings()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.processes: list[subprocess.Popen[str]] = []
        self.threads = [
            threading.Thread(target=self._follow, args=("jobs", self._job_line), daemon=True),
            threading.Thread(target=self._follow, args=("pods", self._pod_line), daemon=True),
        ]

    def __enter__(self) -> Watch:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        for process in list(self.processes):
            process.terminate()
        for thread in self.threads:
            thread.join(timeout=10)

    def _follow(self, resource: str, on_line: Any) -> None:
        columns = {
            "jobs": "NAME:.metadata.name,UID:.metadata.uid",
            "pods": "NAME:.metadata.name,JOB:.metadata.labels.batch\\.kubernetes\\.io/job-name,"
            "JOBUID:.metadata.labels.batch\\.kubernetes\\.io/controller-uid",
        }[resource]
        while not self.stopped.is_set():
            process = subprocess.Popen(
                [
                    "kubectl",
                    "get",
                    "-n",
                    self.namespace,
                    resource,
                    "--watch",
                    "--no-headers",
                    "-o",
                    f"custom-columns={columns}",
                ],
                env=self.kubectl.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            self.processes.append(process)
            assert process.stdout is not None
            for line in process.stdout:
                on_line(line.split())
            process.wait()
            self.processes.remove(process)
            if not self.stopped.is_set():
                time.sleep(0.5)

    def _job_line(self, fields: list[str]) -> None:
        if len(fields) == 2:
            with self.lock:
                self.sightings.job(fields[0], fields[1])

    def _pod_line(self, fields: list[str]) -> None:
        if len(fields) != 3 or fields[1] == "<none>":
            return
        pod, job_name, job_uid = fields
        with self.lock:
            self.sightings.pod(job_name, pod)
            if job_uid != "<none>":
                self.sightings.job(job_name, job_uid)


@dataclass
class RoundResult:
    seed: int
    namespace: str
    injected: list[str]
    kinds: Counter[str]
    figures: Figures
    violations: list[Violation]
    seconds: float
    unfinished_after_wait: bool
    snapshot_path: Path | None = None
    # What Kubernetes itself did twice (see invariants.kubernetes_findings): reported, and
    # no violation of kubedag's.
    kubernetes: list[Violation] = field(default_factory=list)


@dataclass
class Totals:
    rounds: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    runs: int = 0
    tasks: int = 0
    attempts: int = 0
    jobs: int = 0
    pods: int = 0
    violations: list[tuple[int, Violation]] = field(default_factory=list)
    kubernetes: list[tuple[int, Violation]] = field(default_factory=list)

    def add(self, result: RoundResult) -> None:
        self.rounds += 1
        self.faults.update(result.kinds)
        self.runs += result.figures.runs
        self.tasks += result.figures.tasks
        self.attempts += result.figures.attempts
        self.jobs += result.figures.jobs
        self.pods += result.figures.pods
        self.violations += [(result.seed, violation) for violation in result.violations]
        self.kubernetes += [(result.seed, finding) for finding in result.kubernetes]

    def report(self) -> str:
        faults_line = ", ".join(f"{kind} {self.faults[kind]}" for kind in faults.KINDS)
        return "\n".join(
            [
                f"rounds {self.rounds}; faults {sum(self.faults.values())} ({faults_line})",
                f"runs checked {self.runs}, tasks {self.tasks}",
                f"attempts recorded {self.attempts}, Jobs created {self.jobs}, "
                f"Pods created {self.pods}",
                f"violations {len(self.violations)}",
                f"Kubernetes' own (a Job controller that made two Pods for one Job): "
                f"{len(self.kubernetes)}",
            ]
        )


class ChaosRound:
    def __init__(
        self,
        *,
        kubectl: Kubectl,
        operator: Operator,
        control_plane: ControlPlane | None,
        seed: int,
        workflows: int = 2,
        fault_count: int = 4,
        window: float = 12.0,
        finish_timeout: float = 90.0,
        log: Any = print,
        artifacts: Path | None = None,
    ) -> None:
        self.kubectl = kubectl
        self.operator = operator
        self.control_plane = control_plane
        self.seed = seed
        self.rng = random.Random(seed)
        self.workflow_count = workflows
        self.fault_count = fault_count
        self.window = window
        self.finish_timeout = finish_timeout
        self.log = log
        self.artifacts = artifacts
        # Unique, so a replayed seed never meets a namespace kept from an earlier run.
        self.namespace = f"chaos-{seed}-{uuid.uuid4().hex[:4]}"

    def run(self) -> RoundResult:
        began = time.monotonic()
        kinds = (
            faults.KINDS
            if self.control_plane
            else tuple(kind for kind in faults.KINDS if kind != faults.APISERVER_RESTART)
        )
        plan = faults.plan_faults(self.rng, window=self.window, count=self.fault_count, kinds=kinds)
        manifests = [
            chaos_workflow(self.rng, f"run-{index}") for index in range(self.workflow_count)
        ]
        self.log(f"round seed {self.seed}: plan {'; '.join(f.describe() for f in plan)}")
        injected: list[str] = []
        created = time.monotonic()

        def record(what: str, since: float | None = None) -> None:
            now = time.monotonic() - created
            when = f"+{since:.1f}s..+{now:.1f}s" if since is not None else f"+{now:.1f}s"
            injected.append(f"{when} {what}")
            self.log(f"  {injected[-1]}")

        with Supervisor(self.control_plane, lambda what: record(f"(supervisor) {what}")):
            self._create_namespace()
            with Watch(self.kubectl, self.namespace) as watch:
                self.kubectl.apply(self.namespace, *manifests)
                created = time.monotonic()
                self._inject_all(plan, created, record)
                unfinished = not self._wait_for_runs()
                # Long enough for a pass that would re-create a Job or rewrite a finished run.
                time.sleep(5)
                snapshot = self._snapshot(watch)
        violations = self._operator_survived() + check(snapshot)
        result = RoundResult(
            seed=self.seed,
            namespace=self.namespace,
            injected=injected,
            kinds=Counter(fault.kind for fault in plan),
            figures=figures(snapshot),
            violations=violations,
            seconds=time.monotonic() - began,
            unfinished_after_wait=unfinished,
            kubernetes=kubernetes_findings(snapshot),
        )
        if violations and self.artifacts:
            result.snapshot_path = self._save(snapshot, injected)
        if not violations:
            self.kubectl.run("delete", "namespace", self.namespace, "--wait=false", check=False)
        return result

    def _inject_all(self, plan: list[PlannedFault], created: float, record: Any) -> None:
        """One thread per kind of fault, each taking its faults in time order: a slow
        fault (an API server that takes 20 s to start) does not push the others past the
        end of the runs, and faults of different kinds overlap as they happen to."""
        errors: list[BaseException] = []

        def inject(faults_of_a_kind: list[PlannedFault]) -> None:
            try:
                for fault in faults_of_a_kind:
                    time.sleep(max(0.0, created + fault.at - time.monotonic()))
                    since = time.monotonic() - created
                    record(f"{fault.kind}: {self._inject(fault)}", since)
            except BaseException as error:
                errors.append(error)

        threads = [
            threading.Thread(target=inject, args=([f for f in plan if f.kind == kind],))
            for kind in sorted({fault.kind for fault in plan})
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def _inject(self, fault: PlannedFault) -> str:
        if fault.kind == faults.OPERATOR_KILL:
            self.operator.kill()
            time.sleep(fault.pause)
            retrying("restart the operator", self.operator.start, timeout=180)
            return f"operator killed, restarted after {fault.pause:.1f}s"
        if fault.kind == faults.APISERVER_RESTART:
            assert self.control_plane is not None
            return self.control_plane.restart_api_server(self.kubectl, fault.pause)
        if fault.kind == faults.STATUS_REFUSAL:
            faults.refuse_status(self.kubectl, self.namespace, fault.variant)
            time.sleep(fault.pause)
            faults.accept_status(self.kubectl, self.namespace)
            return f"{fault.variant} status writes refused for {fault.pause:.1f}s"
        return faults.delete_running_job(self.kubectl, self.namespace, self.rng)

    def _operator_survived(self) -> list[Violation]:
        """The operator dies only when the harness kills it; if it exited by itself, that
        is a violation too (and it is started again for the next round)."""
        process = getattr(self.operator, "process", None)
        if process is None or process.poll() is None:
            return []
        self.operator.start()
        return [Violation("operator-exited", "operator", f"exit code {process.returncode}")]

    def _create_namespace(self) -> None:
        self.kubectl.run("create", "namespace", self.namespace)
        wait_for(
            "the namespace's default service account",
            lambda: (
                self.kubectl.run(
                    "get", "-n", self.namespace, "serviceaccount", "default", check=False
                ).returncode
                == 0
            ),
        )

    def _wait_for_runs(self) -> bool:
        def finished() -> bool:
            runs = self._list("workflows")
            return bool(runs) and all(
                (run.get("status") or {}).get("phase") in ("Succeeded", "Failed") for run in runs
            )

        try:
            wait_for("every run to finish", finished, timeout=self.finish_timeout, interval=1)
        except AssertionError:
            return False
        return True

    def _list(self, resource: str) -> list[dict[str, Any]]:
        listed = retrying(
            f"list {resource}",
            lambda: json.loads(
                self.kubectl.run("get", "-n", self.namespace, resource, "-o", "json").stdout
            ),
        )
        return list(listed["items"])

    def _snapshot(self, watch: Watch) -> Snapshot:
        jobs = self._list("jobs")
        sightings = Sightings()
        with watch.lock:
            sightings.merge(watch.sightings)
        sightings.merge(sightings_from_events(self._list("events")))
        for job in jobs:
            sightings.job(job["metadata"]["name"], job["metadata"]["uid"])
        return Snapshot(
            workflows=self._list("workflows"),
            tasks=self._list("tasks"),
            jobs=jobs,
            sightings=sightings,
        )

    def _save(self, snapshot: Snapshot, injected: list[str]) -> Path:
        assert self.artifacts is not None
        self.artifacts.mkdir(parents=True, exist_ok=True)
        path = self.artifacts / f"{self.namespace}.json"
        path.write_text(
            json.dumps(
                {
                    "seed": self.seed,
                    "namespace": self.namespace,
                    "faults": injected,
                    "workflows": snapshot.workflows,
                    "tasks": snapshot.tasks,
                    "jobs": snapshot.jobs,
                    "job_uids": {k: sorted(v) for k, v in snapshot.sightings.job_uids.items()},
                    "pods": {k: sorted(v) for k, v in snapshot.sightings.pods.items()},
                },
                indent=1,
                default=str,
            )
        )
        return path
