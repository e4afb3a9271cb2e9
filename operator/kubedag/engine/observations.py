"""What the operator has seen of a workflow's Tasks and Jobs, reduced to the facts the
planner needs. Built by the I/O shell from API objects; plain data here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from kubedag.api.task import TaskResourceStatus


@dataclass(frozen=True)
class PodProblem:
    """Why an attempt's task container does not run, or why Kubernetes ended its Pod, in
    Kubernetes' own words: a reason (`Unschedulable`, `FailedCreate`, `ImagePullBackOff`,
    `PreemptionByScheduler`, ...) and the scheduler's, kubelet's or controller's message."""

    reason: str
    message: str


class JobOutcome(StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True)
class ObservedJob:
    """One attempt's Job, with what its Pod said about how the container ended."""

    name: str
    task: str
    attempt: int
    outcome: JobOutcome
    finished_at: datetime | None = None
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    # Kubernetes marked the Pod as disrupted (condition DisruptionTarget: evicted,
    # preempted, deleted by the taint manager or the Pod GC): the infrastructure failed it,
    # whatever exit code the killed container reported.
    disrupted: bool = False
    # Pods of the Job that succeeded (the Job's status.succeeded): a Job failed for its
    # deadline may still have a Pod that ran to completion just before it (issue 6).
    succeeded_pods: int = 0
    # When the Job was created: the start of an attempt the operator adopts after a crash
    # (it made the Job and died before recording it).
    created_at: datetime | None = None
    # A container of the attempt's Pod has run (the task's container is running or ended):
    # from then on the attempt is Running, and its pendingTimeout no longer applies.
    started: bool = False
    running_since: datetime | None = None  # when that container started (1 s resolution)
    # Why the attempt's Pod does not run yet, when Kubernetes says so: its creation is
    # refused (FailedCreate Events on the Job), it cannot be scheduled, its image cannot
    # be pulled, a Secret or ConfigMap it needs is missing, an init container is stuck.
    not_running: PodProblem | None = None
    # The Job is suspended (spec.suspend, e.g. queued in Kueue): its Pod is not due yet,
    # so pendingTimeout does not run (issue 12).
    suspended: bool = False
    # When the Job controller last started or resumed the Job (status.startTime): with
    # Kueue, its admission. pendingTimeout counts from it when it is later than the attempt.
    resumed_at: datetime | None = None


# Why an attempt's Job is gone before the attempt was recorded as finished: deleted by
# hand or by a clean-up tool, with the operator up or down (issue 6: never re-created
# under the same attempt; the attempt fails as an infrastructure error, OnError).
JOB_DELETED = "JobDeleted"
# The reason a Task shows while its suspended Job waits for Kueue's admission (issue 12).
WAITING_FOR_ADMISSION = "WaitingForAdmission"


@dataclass(frozen=True)
class ObservedTask:
    """A Task object as last seen: its uid (Jobs are owned by it) and its recorded status."""

    name: str
    uid: str
    status: TaskResourceStatus
