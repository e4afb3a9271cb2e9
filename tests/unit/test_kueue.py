"""Issue 12, item 6: a Workflow or a task names a Kueue LocalQueue; its Jobs carry Kueue's
queue label and are created suspended, and a Job waiting for admission is neither failed
nor timed out by pendingTimeout."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from kubedag.api.task import TaskPhase, TaskResourceSpec
from kubedag.api.template import TaskTemplateSpec
from kubedag.api.workflow import TemplateRef, WorkflowSpec, WorkflowTask
from kubedag.engine.observations import WAITING_FOR_ADMISSION, JobOutcome
from kubedag.engine.plan import Reason
from kubedag.engine.planning import plan_next_steps
from kubedag.k8s.manifests import build_job_manifest
from kubedag.k8s.observe import combine_job_and_pods, read_job
from kubedag.names import job_name
from tests.unit.simulated_world import World

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"


def job_for(queue: str | None) -> dict[str, Any]:
    task = TaskResourceSpec(workflow="etl", name="load", image="loader:1", queue_name=queue)
    return build_job_manifest(
        task=task, task_uid="uid", namespace="data", attempt=1, service_account_name=None
    )


def test_a_queued_tasks_job_carries_the_queue_label_and_starts_suspended() -> None:
    job = job_for("team-a")
    assert job["metadata"]["labels"][QUEUE_LABEL] == "team-a"
    assert job["spec"]["suspend"] is True
    # Kueue reads the label from the Job; the Pod keeps kubedag's labels only.
    assert QUEUE_LABEL not in job["spec"]["template"]["metadata"]["labels"]


def test_a_task_without_a_queue_gets_a_job_kueue_leaves_alone() -> None:
    job = job_for(None)
    assert QUEUE_LABEL not in job["metadata"]["labels"]
    assert "suspend" not in job["spec"]


@pytest.mark.parametrize("name", ["", "Team-A", "team_a", "-a", "a" * 64, "a/b"])
def test_a_queue_name_must_be_a_label_value_and_a_local_queue_name(name: str) -> None:
    with pytest.raises(ValidationError):
        WorkflowSpec(queue_name=name, tasks=[WorkflowTask(name="a", image="x")])


def planned_queue(spec: WorkflowSpec, templates: dict[str, TaskTemplateSpec]) -> dict[str, Any]:
    """node -> the queue_name of the Job its first pass starts."""
    world = World(spec)
    state = dataclasses.replace(world.state(), templates=templates)
    plan = plan_next_steps(state, now=world.now())
    return {start.node: start.spec.queue_name for start in plan.start_jobs}


def test_a_task_or_its_template_overrides_the_workflows_queue() -> None:
    spec = WorkflowSpec(
        queue_name="shared",
        tasks=[
            WorkflowTask(name="plain", image="x"),
            WorkflowTask(name="own", image="x", queue_name="gpu"),
            WorkflowTask(name="templated", template_ref=TemplateRef(name="t")),
            WorkflowTask(name="both", template_ref=TemplateRef(name="t"), queue_name="urgent"),
        ],
    )
    templates = {"t": TaskTemplateSpec(image="y", queue_name="batch")}
    assert planned_queue(spec, templates) == {
        "plain": "shared",
        "own": "gpu",
        "templated": "batch",
        "both": "urgent",
    }


def suspended_job_body(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": job_name("etl", "load", 1),
            "labels": {
                "kubedag.io/workflow": "etl",
                "kubedag.io/task": "load",
                "kubedag.io/attempt": "1",
                QUEUE_LABEL: "team-a",
            },
        },
        "spec": {"suspend": True},
        "status": {
            "conditions": [{"type": "Suspended", "status": "True", "reason": "JobSuspended"}],
            **status,
        },
    }


def test_a_suspended_job_reads_as_waiting_for_admission_in_its_queue() -> None:
    record = read_job(suspended_job_body())
    assert record is not None
    observed = combine_job_and_pods(record, [])
    assert observed.outcome == JobOutcome.RUNNING
    assert observed.suspended
    assert observed.not_running is not None
    assert observed.not_running.reason == WAITING_FOR_ADMISSION
    assert "team-a" in observed.not_running.message


def test_an_admitted_job_counts_its_pending_time_from_its_admission() -> None:
    body = suspended_job_body(startTime="2026-11-30T10:00:00Z")
    body["spec"]["suspend"] = False
    record = read_job(body)
    assert record is not None
    observed = combine_job_and_pods(record, [])
    assert not observed.suspended and observed.not_running is None
    assert observed.resumed_at is not None and observed.resumed_at.hour == 10


def queued_world(pending_timeout: int) -> World:
    spec = WorkflowSpec(
        queue_name="team-a",
        tasks=[WorkflowTask(name="train", image="x", pending_timeout=pending_timeout)],
    )
    world = World(spec)
    world.apply(world.plan())
    key = ("train", 1)
    world.jobs[key] = dataclasses.replace(
        world.jobs[key],
        suspended=True,
        not_running=combine_job_and_pods(read_job(suspended_job_body()), []).not_running,  # type: ignore[arg-type]
    )
    return world


def test_a_job_waiting_for_quota_longer_than_pending_timeout_is_not_failed() -> None:
    world = queued_world(pending_timeout=30)
    world.apply(world.plan())
    status = world.tasks["train"].status
    assert (status.phase, status.reason) == (TaskPhase.PENDING, WAITING_FOR_ADMISSION)
    world.clock += 3600  # an hour in the queue
    plan = world.plan()
    assert not plan.delete_jobs
    assert "train" not in plan.task_statuses  # nothing new to say: no write
    assert world.tasks["train"].status.reason != Reason.PENDING_TIMEOUT


def test_pending_timeout_runs_from_the_admission_and_still_applies_after_it() -> None:
    world = queued_world(pending_timeout=30)
    world.apply(world.plan())
    world.clock += 3600
    admitted = world.now()
    key = ("train", 1)
    world.jobs[key] = dataclasses.replace(
        world.jobs[key], suspended=False, not_running=None, resumed_at=admitted
    )
    plan = world.plan()
    assert not plan.delete_jobs  # admitted just now: 30 s left
    assert plan.requeue_after is not None and plan.requeue_after <= 30
    world.apply(plan)
    world.clock += 30
    plan = world.plan()
    assert plan.task_statuses["train"].reason == Reason.PENDING_TIMEOUT
    assert admitted + timedelta(seconds=30) == world.now()
