"""What must hold after a chaos round, checked from the objects alone: objects in,
violations out. No I/O, no clock, no kubectl — the harness gathers, this module judges.

The invariants (issue 6, point 3 and 7):

    run-not-finished          every Workflow ends Succeeded or Failed
    counts-disagree           a Workflow's status.tasks and progress match its Task objects
    tasks-missing             a finished run has one Task per node of its spec (fan-out items
                              included)
    outcome-disagrees         a Succeeded run has no Failed Task; a Failed run has one
    task-left-unfinished      no Task Pending or Running under a finished Workflow
    attempt-left-open         every attempt of a finished Task has finishedAt
    job-disagrees             an attempt whose Job still exists reads as that Job ended
    attempt-has-two-jobs      one Job name (one attempt) was created with one uid only
    attempt-ran-twice         one attempt's Jobs (two of one name) created more than one Pod

Not kubedag's, and reported apart (`kubernetes_findings`): one Job object with two Pods.
The Job controller retries a Pod creation whose answer was lost (the API server died
mid-request) and may then have two; Kubernetes Jobs promise no more.
    unrecorded-run            every Job seen is an attempt recorded on its Task
    failed-attempt-no-reason  every failed attempt says why
    attempt-ends-before-start an attempt's finishedAt is not before its startedAt
    cleanup-left-job          under jobCleanup, no Job is left for a Task it covers

The chaos DAGs use no `depends` expressions and no deadlines, so "a Failed task fails the
run" holds for them; a DAG that handles failures would need `outcome-disagrees` relaxed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

Object = Mapping[str, Any]

FINISHED_RUN = ("Succeeded", "Failed")
# Which finished Tasks keep no Job under each spec.jobCleanup.
CLEANED_UP = {"OnTaskSuccess": ("Succeeded",), "OnTaskCompletion": ("Succeeded", "Failed")}
# finishedAt comes from the Job and Pod (whole seconds), startedAt from the operator's clock.
_CLOCK_SLACK = timedelta(seconds=1)
FINISHED_TASK = ("Succeeded", "Failed", "Skipped")
TASK_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Skipped")
# kube-controller-manager's Job controller: `Created pod: <name>` on the Job, per Pod.
_CREATED_POD = re.compile(r"^Created pod: (\S+)$")
# A Job is named <task object>-<attempt> (kubedag.names.job_name).
_JOB_NAME = re.compile(r"^(?P<task>.+)-(?P<attempt>\d+)$")


@dataclass(frozen=True)
class Violation:
    invariant: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.subject}: {self.detail}"


@dataclass
class Sightings:
    """Every Job uid and every Pod seen for a Job name during a round, from any source
    (watches, the Job controller's Events, the final listing). Jobs deleted during the
    round live on here."""

    job_uids: dict[str, set[str]] = field(default_factory=dict)
    pods: dict[str, set[str]] = field(default_factory=dict)

    def job(self, name: str, uid: str) -> None:
        self.job_uids.setdefault(name, set()).add(uid)

    def pod(self, job_name: str, pod_name: str) -> None:
        self.pods.setdefault(job_name, set()).add(pod_name)

    def merge(self, other: Sightings) -> None:
        for name, uids in other.job_uids.items():
            self.job_uids.setdefault(name, set()).update(uids)
        for name, pods in other.pods.items():
            self.pods.setdefault(name, set()).update(pods)


@dataclass(frozen=True)
class Snapshot:
    """One namespace after a round: the objects as the API server returns them, and what
    was seen of Jobs and Pods on the way."""

    workflows: Sequence[Object]
    tasks: Sequence[Object]
    jobs: Sequence[Object]
    sightings: Sightings


def sightings_from_events(events: Iterable[Object]) -> Sightings:
    """The Job controller's `SuccessfulCreate` Events: one per Pod it created, on the Job
    (with the Job's uid), kept after the Job and the Pod are gone."""
    found = Sightings()
    for event in events:
        involved = event.get("involvedObject") or {}
        if involved.get("kind") != "Job" or event.get("reason") != "SuccessfulCreate":
            continue
        name = involved.get("name", "")
        if involved.get("uid"):
            found.job(name, involved["uid"])
        match = _CREATED_POD.match(event.get("message") or "")
        if match:
            found.pod(name, match.group(1))
    return found


def sightings_from_objects(jobs: Iterable[Object], pods: Iterable[Object]) -> Sightings:
    """Jobs and Pods as listed or watched: a Pod names its Job in the `job-name` label."""
    found = Sightings()
    for job in jobs:
        found.job(job["metadata"]["name"], job["metadata"]["uid"])
    for pod in pods:
        labels = pod["metadata"].get("labels") or {}
        job_name = labels.get("batch.kubernetes.io/job-name") or labels.get("job-name")
        if job_name:
            found.pod(job_name, pod["metadata"]["name"])
            job_uid = labels.get("batch.kubernetes.io/controller-uid") or labels.get(
                "controller-uid"
            )
            if job_uid:
                found.job(job_name, job_uid)
    return found


def check(snapshot: Snapshot) -> list[Violation]:
    """Every invariant over one namespace's snapshot; an empty list when all hold."""
    tasks_of: dict[str, list[Object]] = {}
    for task in snapshot.tasks:
        tasks_of.setdefault(task["spec"]["workflow"], []).append(task)
    violations: list[Violation] = []
    jobs = {job["metadata"]["name"]: job for job in snapshot.jobs}
    for workflow in snapshot.workflows:
        tasks = tasks_of.get(workflow["metadata"]["name"], [])
        violations += check_run(workflow, tasks)
        violations += check_cleanup(workflow, tasks, jobs)
    for task in snapshot.tasks:
        violations += check_attempts(task, jobs)
    violations += check_jobs(snapshot.tasks, snapshot.sightings)
    return violations


def check_run(workflow: Object, tasks: Sequence[Object]) -> list[Violation]:
    name = f"Workflow {workflow['metadata']['name']}"
    status = workflow.get("status") or {}
    phase = status.get("phase")
    phases = Counter(_task_phase(task) for task in tasks)
    violations = []
    if phase not in FINISHED_RUN:
        unfinished = sorted(
            task["metadata"]["name"] for task in tasks if _task_phase(task) not in FINISHED_TASK
        )
        violations.append(
            Violation(
                "run-not-finished",
                name,
                f"phase {phase}, message {status.get('message')!r}, unfinished tasks {unfinished}",
            )
        )
    counts = status.get("tasks") or {}
    expected = {"total": len(tasks), **{p.lower(): phases[p] for p in TASK_PHASES}}
    recorded = {key: counts.get(key, 0) for key in expected}
    if recorded != expected:
        violations.append(
            Violation("counts-disagree", name, f"status.tasks {recorded}, Tasks say {expected}")
        )
    done = phases["Succeeded"] + phases["Failed"] + phases["Skipped"]
    if phase in FINISHED_RUN and status.get("progress") != f"{done}/{len(tasks)}":
        violations.append(
            Violation(
                "counts-disagree",
                name,
                f"progress {status.get('progress')!r}, Tasks say {done}/{len(tasks)}",
            )
        )
    nodes = _nodes(workflow)
    if phase in FINISHED_RUN and nodes is not None and nodes != len(tasks):
        violations.append(
            Violation(
                "tasks-missing", name, f"{len(tasks)} Tasks for the {nodes} nodes of its spec"
            )
        )
    if phase == "Succeeded" and phases["Failed"]:
        violations.append(
            Violation("outcome-disagrees", name, f"Succeeded with {phases['Failed']} Failed Tasks")
        )
    if phase == "Failed" and not phases["Failed"]:
        violations.append(
            Violation(
                "outcome-disagrees",
                name,
                f"Failed ({status.get('message')!r}) but no Task Failed: {dict(phases)}",
            )
        )
    if phase in FINISHED_RUN:
        for task in tasks:
            if _task_phase(task) not in FINISHED_TASK:
                violations.append(
                    Violation(
                        "task-left-unfinished",
                        f"Task {task['metadata']['name']}",
                        f"{_task_phase(task)} under {name} {phase}",
                    )
                )
    return violations


def check_attempts(task: Object, jobs: Mapping[str, Object]) -> list[Violation]:
    name = f"Task {task['metadata']['name']}"
    status = task.get("status") or {}
    phase = _task_phase(task)
    attempts = status.get("attempts") or []
    violations = []
    for index, attempt in enumerate(attempts):
        last = index == len(attempts) - 1
        label = f"{name} attempt {attempt.get('number')} ({attempt.get('jobName')})"
        finished = bool(attempt.get("finishedAt"))
        if phase in FINISHED_TASK and not finished:
            violations.append(Violation("attempt-left-open", label, f"no finishedAt, task {phase}"))
        # Every attempt but a Succeeded task's last one failed in kubedag's eyes (it was
        # retried or it failed the task), whatever its exit code (issue 6, 3c).
        failed = finished and not (last and phase == "Succeeded")
        if failed and not attempt.get("reason"):
            violations.append(
                Violation(
                    "failed-attempt-no-reason",
                    label,
                    f"exitCode {attempt.get('exitCode')}, no reason (task {phase})",
                )
            )
        began, ended_at = _time(attempt.get("startedAt")), _time(attempt.get("finishedAt"))
        if began and ended_at and ended_at + _CLOCK_SLACK < began:
            violations.append(
                Violation(
                    "attempt-ends-before-start",
                    label,
                    f"startedAt {attempt.get('startedAt')}, finishedAt {attempt.get('finishedAt')}",
                )
            )
        job = jobs.get(attempt.get("jobName", ""))
        ended = _job_end(job) if job else None
        if ended and finished:
            job_succeeded = ended == "Complete"
            if job_succeeded == failed:
                violations.append(
                    Violation(
                        "job-disagrees",
                        label,
                        f"Job {ended}, attempt exitCode {attempt.get('exitCode')} "
                        f"reason {attempt.get('reason')!r}, task {phase}",
                    )
                )
    return violations


def check_cleanup(
    workflow: Object, tasks: Sequence[Object], jobs: Mapping[str, Object]
) -> list[Violation]:
    policy = workflow.get("spec", {}).get("jobCleanup")
    covered = CLEANED_UP.get(policy or "", ())
    violations = []
    for task in tasks:
        if _task_phase(task) not in covered:
            continue
        for attempt in (task.get("status") or {}).get("attempts") or []:
            if attempt.get("jobName") in jobs:
                violations.append(
                    Violation(
                        "cleanup-left-job",
                        f"Job {attempt['jobName']}",
                        f"still there, Task {task['metadata']['name']} {_task_phase(task)} "
                        f"under jobCleanup {policy}",
                    )
                )
    return violations


def kubernetes_findings(snapshot: Snapshot) -> list[Violation]:
    """What Kubernetes itself did twice: one Job object (one uid) that made two Pods."""
    sightings = snapshot.sightings
    return [
        Violation(
            "job-controller-made-two-pods",
            f"Job {job_name}",
            f"{len(pods)} Pods of one Job object: {sorted(pods)}",
        )
        for job_name, pods in sorted(sightings.pods.items())
        if len(pods) > 1 and len(sightings.job_uids.get(job_name, set())) <= 1
    ]


def check_jobs(tasks: Sequence[Object], sightings: Sightings) -> list[Violation]:
    recorded: dict[str, set[str]] = {}
    for task in tasks:
        attempts = (task.get("status") or {}).get("attempts") or []
        recorded[task["metadata"]["name"]] = {a.get("jobName", "") for a in attempts}
    violations = []
    for job_name in sorted(set(sightings.job_uids) | set(sightings.pods)):
        uids = sightings.job_uids.get(job_name, set())
        pods = sightings.pods.get(job_name, set())
        if len(uids) > 1:
            violations.append(
                Violation(
                    "attempt-has-two-jobs",
                    f"Job {job_name}",
                    f"created {len(uids)} times (uids {sorted(uids)})",
                )
            )
        if len(pods) > 1 and len(uids) > 1:
            violations.append(
                Violation(
                    "attempt-ran-twice",
                    f"Job {job_name}",
                    f"{len(pods)} Pods for one attempt: {sorted(pods)}",
                )
            )
        match = _JOB_NAME.match(job_name)
        owner = match.group("task") if match else job_name
        if owner not in recorded:
            violations.append(
                Violation("unrecorded-run", f"Job {job_name}", f"no Task {owner} to record it")
            )
        elif job_name not in recorded[owner]:
            violations.append(
                Violation(
                    "unrecorded-run",
                    f"Job {job_name}",
                    f"Task {owner} records only {sorted(recorded[owner])}",
                )
            )
    return violations


@dataclass(frozen=True)
class Figures:
    runs: int
    tasks: int
    attempts: int
    jobs: int
    pods: int


def figures(snapshot: Snapshot) -> Figures:
    """Runs checked, attempts recorded against Jobs (distinct uids) and Pods seen."""
    return Figures(
        runs=len(snapshot.workflows),
        tasks=len(snapshot.tasks),
        attempts=sum(
            len((task.get("status") or {}).get("attempts") or []) for task in snapshot.tasks
        ),
        jobs=sum(len(uids) for uids in snapshot.sightings.job_uids.values()),
        pods=sum(len(pods) for pods in snapshot.sightings.pods.values()),
    )


def _task_phase(task: Object) -> str:
    # The CRD's schema default: a Task whose status was never written reads Pending.
    return str((task.get("status") or {}).get("phase") or "Pending")


def _nodes(workflow: Object) -> int | None:
    """The nodes a spec makes (one per task, one per item of a withItems fan-out, exit
    handlers aside), or None when only the run knows (withParam, onExit)."""
    spec = workflow.get("spec") or {}
    if (
        not spec.get("tasks")
        or spec.get("onExit")
        or any(task.get("withParam") for task in spec.get("tasks") or [])
    ):
        return None
    return sum(
        len(task["withItems"]) if task.get("withItems") is not None else 1
        for task in spec.get("tasks") or []
    )


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _job_end(job: Object) -> str | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return str(condition["type"])
    return None
