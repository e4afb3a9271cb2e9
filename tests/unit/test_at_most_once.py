"""At most once, visibly (issue 6): a Job that disappears ends its attempt instead of being
made again; a Job is cleaned up only after its Task's final status is stored; success at
the deadline is recorded as success and not retried; a finished run whose Task was left
unfinished is planned again until they agree."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from kubedag.api.task import TaskPhase
from kubedag.api.workflow import WorkflowPhase, WorkflowSpec
from kubedag.engine.observations import JobOutcome
from kubedag.engine.plan import Reason
from tests.unit.simulated_world import World


def spec(tasks: list[dict[str, Any]], **fields: Any) -> WorkflowSpec:
    for task in tasks:
        task.setdefault("image", "busybox")
    return WorkflowSpec.model_validate({"tasks": tasks, **fields})


def step(world: World) -> None:
    world.apply(world.plan())


def test_a_job_deleted_while_its_task_runs_fails_the_attempt_and_is_not_made_again() -> None:
    world = World(spec([{"name": "load"}, {"name": "report", "dependsOn": ["load"]}]))
    step(world)
    assert world.jobs_created == ["load"]
    del world.jobs[("load", 1)]  # kubectl delete job, operator up or down
    world.run_to_end()
    load = world.tasks["load"].status
    assert load.phase == TaskPhase.FAILED
    assert load.reason == Reason.JOB_DELETED
    assert [(a.number, a.reason) for a in load.attempts] == [(1, "JobDeleted")]
    assert "was deleted before the attempt finished" in (load.message or "")
    assert world.jobs_created == ["load"]  # never the same attempt twice
    assert world.tasks["report"].status.phase == TaskPhase.SKIPPED
    assert any(e.reason == Reason.TASK_FAILED and e.task == "load" for e in world.events)


def test_a_deleted_job_is_an_infrastructure_error_that_on_error_retries_with_a_new_job() -> None:
    world = World(spec([{"name": "load", "retryStrategy": {"limit": 1, "retryPolicy": "OnError"}}]))
    step(world)
    del world.jobs[("load", 1)]
    world.run_to_end()
    load = world.tasks["load"].status
    assert load.phase == TaskPhase.SUCCEEDED
    assert [(a.number, a.reason) for a in load.attempts] == [(1, "JobDeleted"), (2, "Completed")]
    assert world.jobs_created == ["load", "load"]
    assert any(e.reason == Reason.TASK_RETRYING for e in world.events)


def test_a_deleted_job_is_not_retried_by_on_failure() -> None:
    world = World(spec([{"name": "load", "retryStrategy": {"limit": 3}}]))
    step(world)
    del world.jobs[("load", 1)]
    world.run_to_end()
    assert world.tasks["load"].status.reason == Reason.JOB_DELETED
    assert world.jobs_created == ["load"]


def test_a_job_not_yet_delivered_by_the_watch_is_neither_failed_nor_made_again() -> None:
    world = World(spec([{"name": "load"}]))
    step(world)
    del world.jobs[("load", 1)]
    world.jobs_in_flight.add(("load", 1))
    plan = world.plan()
    assert plan.start_jobs == [] and "load" not in plan.task_statuses


def test_clean_up_deletes_a_job_only_after_its_final_status_is_stored() -> None:
    world = World(spec([{"name": "load"}], jobCleanup="OnTaskSuccess"))
    step(world)
    world.finish(("load", 1))
    ending = world.plan()
    assert ending.task_statuses["load"].phase == TaskPhase.SUCCEEDED
    assert ending.delete_jobs == []  # not in the pass that writes the final status
    assert ending.requeue_after is not None  # it comes back for the Job
    world.apply(ending, crash_after=0)  # the status write is lost (error, crash)
    again = world.plan()
    assert again.start_jobs == [] and again.delete_jobs == []
    world.apply(again)
    cleanup = world.plan()
    assert cleanup.delete_jobs == [world.tasks["load"].status.attempts[0].job_name]
    world.run_to_end()
    assert world.jobs_created == ["load"]
    assert world.status.phase == WorkflowPhase.SUCCEEDED


def test_a_pod_that_succeeds_at_the_deadline_counts_as_succeeded_and_is_not_retried() -> None:
    world = World(spec([{"name": "t", "activeDeadlineSeconds": 2, "retryStrategy": {"limit": 2}}]))
    step(world)
    job = world.jobs[("t", 1)]
    world.jobs[("t", 1)] = replace(
        job, outcome=JobOutcome.FAILED, exit_code=0, reason="Completed", finished_at=world.now()
    )
    world.run_to_end()
    status = world.tasks["t"].status
    assert status.phase == TaskPhase.SUCCEEDED
    assert len(status.attempts) == 1
    assert "exited 0 as the Job's activeDeadlineSeconds passed" in (
        status.attempts[0].message or ""
    )
    assert world.jobs_created == ["t"]


def test_a_deadline_failure_with_a_succeeded_pod_but_no_pod_seen_yet_counts_as_succeeded() -> None:
    world = World(spec([{"name": "t", "activeDeadlineSeconds": 2, "retryStrategy": {"limit": 2}}]))
    step(world)
    job = world.jobs[("t", 1)]
    world.jobs[("t", 1)] = replace(
        job,
        outcome=JobOutcome.FAILED,
        reason="DeadlineExceeded",
        succeeded_pods=1,
        finished_at=world.now(),
    )
    world.run_to_end()
    assert world.tasks["t"].status.phase == TaskPhase.SUCCEEDED
    assert world.jobs_created == ["t"]


def test_a_pod_killed_at_the_deadline_fails_as_deadline_exceeded() -> None:
    world = World(spec([{"name": "t", "activeDeadlineSeconds": 2}]))
    step(world)
    job = world.jobs[("t", 1)]
    world.jobs[("t", 1)] = replace(
        job,
        outcome=JobOutcome.FAILED,
        exit_code=137,
        reason="DeadlineExceeded",
        finished_at=world.now(),
    )
    world.run_to_end()
    assert world.tasks["t"].status.reason == Reason.DEADLINE_EXCEEDED


def test_a_finished_run_with_a_task_left_running_is_planned_until_they_agree() -> None:
    world = World(spec([{"name": "a"}]))
    step(world)
    world.finish(("a", 1))
    ending = world.plan()
    # The Workflow's end is stored but the Task's final status is lost.
    world.status = ending.workflow_status or world.status
    assert world.status.phase == WorkflowPhase.SUCCEEDED
    assert world.tasks["a"].status.phase == TaskPhase.RUNNING
    repair = world.plan()
    assert repair.task_statuses["a"].phase == TaskPhase.SUCCEEDED
    assert repair.start_jobs == []
    world.apply(repair)
    assert world.plan().is_empty


def delete_task(world: World, node: str) -> None:
    """`kubectl delete task`: the garbage collector takes its Jobs with it."""
    world.deleted_tasks[node] = world.tasks.pop(node).status
    for key in [key for key in world.jobs if key[0] == node]:
        del world.jobs[key]


def test_a_task_deleted_while_its_attempt_runs_comes_back_failed_not_run_again() -> None:
    world = World(spec([{"name": "load"}, {"name": "report", "dependsOn": ["load"]}]))
    step(world)
    delete_task(world, "load")
    world.run_to_end()
    load = world.tasks["load"].status
    assert load.phase == TaskPhase.FAILED and load.reason == Reason.TASK_DELETED
    assert [a.reason for a in load.attempts] == ["TaskDeleted"]
    assert world.jobs_created == ["load"]


def test_a_finished_task_deleted_by_hand_comes_back_with_its_result() -> None:
    world = World(spec([{"name": "load"}, {"name": "report", "dependsOn": ["load"]}]))
    step(world)
    world.finish(("load", 1))
    step(world)
    assert world.tasks["load"].status.phase == TaskPhase.SUCCEEDED
    delete_task(world, "load")
    world.run_to_end()
    assert world.tasks["load"].status.phase == TaskPhase.SUCCEEDED
    assert world.jobs_created == ["load", "report"]
    assert world.status.phase == WorkflowPhase.SUCCEEDED


def test_a_job_that_ran_unrecorded_and_was_deleted_meanwhile_is_not_made_again() -> None:
    world = World(spec([{"name": "load", "retryStrategy": {"limit": 1, "retryPolicy": "OnError"}}]))
    plan = world.plan()
    world.apply(plan, crash_after=2)  # Task and Job created; the Running write is lost
    assert world.tasks["load"].status.attempts == []
    del world.jobs[("load", 1)]  # it ran, and was deleted while the operator was down
    world.jobs_ran_before.add(("load", 1))  # what the restarted operator finds out
    world.run_to_end()
    load = world.tasks["load"].status
    assert [(a.number, a.reason) for a in load.attempts] == [(1, "JobDeleted"), (2, "Completed")]
    assert world.jobs_created == ["load", "load"]  # attempt 1 once, then attempt 2


def test_an_attempt_recorded_after_its_end_starts_no_later_than_its_job() -> None:
    world = World(spec([{"name": "t"}]))
    step(world)
    job = world.jobs[("t", 1)]
    started = world.tasks["t"].status.attempts[0].started_at
    assert started is not None
    # The Job was made a second before the start the operator wrote, and ended before it.
    world.jobs[("t", 1)] = replace(
        job,
        outcome=JobOutcome.SUCCEEDED,
        created_at=started - timedelta(seconds=2),
        finished_at=started - timedelta(seconds=1),
        exit_code=0,
    )
    world.run_to_end()
    attempt = world.tasks["t"].status.attempts[0]
    assert attempt.started_at == started - timedelta(seconds=2)
    assert attempt.finished_at == started - timedelta(seconds=1)
