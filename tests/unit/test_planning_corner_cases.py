"""Corner cases found in review: exit handlers under retries and shutdown, outputs in
task params, retry from failure after the deadline, parallelism while the Job watch lags,
and retry decisions that must not change once taken."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from kubedag.api.task import TaskPhase
from kubedag.api.workflow import Shutdown, WorkflowPhase, WorkflowSpec
from kubedag.engine.observations import JobOutcome, ObservedJob
from kubedag.engine.plan import Reason
from kubedag.names import job_name
from tests.unit.simulated_world import World


def spec(tasks: list[dict[str, Any]], **fields: Any) -> WorkflowSpec:
    for task in [*tasks, *fields.get("onExit", [])]:
        task.setdefault("image", "busybox")
    return WorkflowSpec.model_validate({"tasks": tasks, **fields})


def step(world: World) -> None:
    world.apply(world.plan())


def test_a_retried_exit_handler_still_sees_the_workflow_status() -> None:
    notify = {"name": "notify", "args": ["{{workflow.status}}"], "retryStrategy": {"limit": 2}}
    world = World(spec([{"name": "a"}], onExit=[notify]), exit_codes={"notify": [1, 0]})
    world.run_to_end()
    assert world.tasks["notify"].status.phase == TaskPhase.SUCCEEDED
    assert [a.number for a in world.tasks["notify"].status.attempts] == [1, 2]
    assert world.status.phase == WorkflowPhase.SUCCEEDED


def test_exit_handler_retries_still_happen_after_stop() -> None:
    notify = {"name": "notify", "retryStrategy": {"limit": 2}}
    world = World(
        spec([{"name": "a"}], onExit=[notify], shutdown=Shutdown.STOP),
        exit_codes={"notify": [1, 0]},
    )
    world.run_to_end()
    assert world.tasks["a"].status.reason == Reason.STOPPED
    assert world.tasks["notify"].status.phase == TaskPhase.SUCCEEDED
    assert len(world.tasks["notify"].status.attempts) == 2


def test_a_task_param_can_carry_an_upstream_output_into_its_job() -> None:
    world = World(
        spec(
            [
                {"name": "count", "outputs": [{"name": "rows"}]},
                {
                    "name": "load",
                    "dependsOn": ["count"],
                    "params": {"rows": "{{tasks.count.outputs.rows}}"},
                    "args": ["--rows", "{{params.rows}}"],
                },
            ]
        ),
        messages={"count": '{"rows": 1200}'},
    )
    step(world)
    world.finish(("count", 1))
    (start,) = world.plan().start_jobs
    assert start.node == "load" and start.spec.args == ["--rows", "1200"]


def test_terminate_while_the_exit_handler_runs_kills_it_and_keeps_what_finished() -> None:
    world = World(spec([{"name": "a"}], onExit=[{"name": "notify"}, {"name": "cleanup"}]))
    step(world)
    world.finish(("a", 1))
    step(world)
    world.finish(("notify", 1))
    step(world)
    assert world.running_jobs() == [("cleanup", 1)]

    world.spec = world.spec.model_copy(update={"shutdown": Shutdown.TERMINATE})
    plan = world.plan()
    assert plan.delete_jobs == [job_name("wf", "cleanup", 1)]
    world.apply(plan)
    assert world.tasks["notify"].status.phase == TaskPhase.SUCCEEDED
    cleanup = world.tasks["cleanup"].status
    assert (cleanup.phase, cleanup.reason) == (TaskPhase.FAILED, Reason.TERMINATED)
    assert world.status.phase == WorkflowPhase.FAILED
    assert world.plan().is_empty


def test_an_exit_handler_fan_out_has_one_task_per_item_and_no_other() -> None:
    world = World(spec([{"name": "a"}], onExit=[{"name": "notify", "withItems": ["x", "y"]}]))
    world.run_to_end()
    assert sorted(world.tasks) == ["a", "notify-0", "notify-1"]
    assert world.status.phase == WorkflowPhase.SUCCEEDED


def test_retry_from_failure_gets_a_fresh_workflow_deadline() -> None:
    world = World(
        spec([{"name": "a"}, {"name": "b", "dependsOn": ["a"]}], activeDeadlineSeconds=100),
        exit_codes={"b": [1, 0]},
    )
    world.run_to_end()
    assert world.status.phase == WorkflowPhase.FAILED
    world.clock += 500  # long past the first run's deadline
    world.retry_request = "again"
    world.run_to_end()
    assert world.tasks["b"].status.phase == TaskPhase.SUCCEEDED
    assert world.status.phase == WorkflowPhase.SUCCEEDED


def test_a_started_job_not_yet_seen_keeps_its_parallelism_slot() -> None:
    world = World(
        spec(
            [
                {
                    "name": "f",
                    "withItems": [0, 1],
                    "parallelism": 1,
                    "retryStrategy": {"limit": 1, "backoff": {"delaySeconds": 5}},
                }
            ]
        ),
        exit_codes={"f-0": [1, 0]},
    )
    step(world)
    world.finish(("f-0", 1))
    step(world)  # f-0 waits out its backoff; f-1 takes the slot
    assert world.tasks["f-1"].status.phase == TaskPhase.RUNNING
    del world.jobs[("f-1", 1)]  # the Job watch has not delivered f-1's Job yet
    world.jobs_in_flight.add(("f-1", 1))
    world.clock += 10  # f-0's backoff is over
    plan = world.plan()
    assert plan.start_jobs == []  # neither f-0's retry nor f-1 again
    assert "f-1" not in plan.task_statuses


def test_a_retry_decision_stands_when_the_failed_pod_disappears() -> None:
    world = World(
        spec([{"name": "a", "retryStrategy": {"limit": 3, "backoff": {"delaySeconds": 60}}}]),
        exit_codes={"a": [1, 0]},
    )
    step(world)
    world.finish(("a", 1))
    step(world)
    assert world.tasks["a"].status.reason == Reason.RETRY_BACKOFF
    # The Pod is garbage-collected: only the Job's own verdict is left (no exit code).
    job = world.jobs[("a", 1)]
    world.jobs[("a", 1)] = replace(job, exit_code=None, reason="BackoffLimitExceeded")
    world.run_to_end()
    status = world.tasks["a"].status
    assert status.phase == TaskPhase.SUCCEEDED
    assert status.attempts[0].exit_code == 1


def test_a_failed_task_keeps_its_exit_code_when_its_pod_disappears() -> None:
    world = World(spec([{"name": "a"}, {"name": "b"}]), exit_codes={"a": 3})
    step(world)
    world.finish(("a", 1))
    step(world)  # a failed with exit code 3; b still runs
    # a's Pod is garbage-collected: only the Job's own verdict is left.
    world.jobs[("a", 1)] = ObservedJob(
        name=job_name("wf", "a", 1),
        task="a",
        attempt=1,
        outcome=JobOutcome.FAILED,
        reason="BackoffLimitExceeded",
    )
    assert "a" not in world.plan().task_statuses
    world.run_to_end()
    assert world.tasks["a"].status.attempts[0].exit_code == 3
    assert world.status.message == "task 'a' failed: exit code 3 (Error)"


def test_a_run_that_ended_before_its_deadline_is_not_failed_by_a_late_pass() -> None:
    def ended_at(finish: int, look: int) -> World:
        world = World(spec([{"name": "a"}], activeDeadlineSeconds=10))
        step(world)
        world.clock = finish
        world.finish(("a", 1))  # the Job ends at `finish` seconds...
        world.clock = look  # ...and the operator (down until then) looks at `look`
        world.run_to_end()
        return world

    in_time = ended_at(finish=5, look=12)
    assert in_time.status.phase == WorkflowPhase.SUCCEEDED
    late = ended_at(finish=15, look=16)
    assert late.status.phase == WorkflowPhase.FAILED
    assert late.status.message == "the workflow ran past spec.activeDeadlineSeconds"


def test_a_job_created_just_before_a_crash_is_killed_by_terminate() -> None:
    world = World(spec([{"name": "a"}]))
    plan = world.plan()
    world.apply(plan, crash_after=len(plan.create_tasks) + 1)  # the Job, not its status
    assert world.running_jobs() == [("a", 1)]
    assert world.tasks["a"].status.attempts == []

    world.spec = world.spec.model_copy(update={"shutdown": Shutdown.TERMINATE})
    plan = world.plan()
    assert plan.delete_jobs == [job_name("wf", "a", 1)]
    world.apply(plan)
    status = world.tasks["a"].status
    assert (status.phase, status.reason) == (TaskPhase.FAILED, Reason.TERMINATED)
    assert [attempt.job_name for attempt in status.attempts] == [job_name("wf", "a", 1)]


def test_a_failed_attempt_whose_job_is_deleted_during_backoff_is_not_run_again() -> None:
    world = World(
        spec([{"name": "a", "retryStrategy": {"limit": 1, "backoff": {"delaySeconds": 60}}}]),
        exit_codes={"a": [1, 0]},
    )
    step(world)
    world.finish(("a", 1))
    step(world)
    del world.jobs[("a", 1)]  # e.g. deleted by hand while the retry waits
    assert world.plan().start_jobs == []
    world.run_to_end()
    assert world.jobs_created == ["a", "a"]
    assert [a.number for a in world.tasks["a"].status.attempts] == [1, 2]


def test_a_spec_that_stops_resolving_mid_run_fails_its_unfinished_tasks_with_it() -> None:
    # A TaskTemplate edited mid-run, read again by a restarted operator, can make the run's
    # spec invalid (here a reference to a param nobody passes). The Workflow was written
    # Failed (InvalidSpec) while its Tasks stayed Running and their Jobs ran on, forever:
    # a finished run must not leave a Task unfinished, nor a Job running.
    world = World(
        spec(
            [
                {"name": "a", "image": "busybox"},
                {"name": "b", "image": "busybox", "dependsOn": ["a"]},
            ]
        )
    )
    step(world)
    assert world.running_jobs() == [("a", 1)]
    world.spec = spec(
        [
            {"name": "a", "image": "busybox", "args": ["{{params.gone}}"]},
            {"name": "b", "image": "busybox", "dependsOn": ["a"]},
        ]
    )
    world.run_to_end()
    assert world.status.phase == WorkflowPhase.FAILED
    assert world.status.tasks.running == 0 and world.status.tasks.pending == 0
    assert world.tasks["a"].status.phase == TaskPhase.FAILED
    assert world.tasks["a"].status.reason == Reason.INVALID_SPEC
    assert world.tasks["b"].status.phase == TaskPhase.SKIPPED
    assert world.running_jobs() == []
    assert world.jobs_created == ["a"]


def test_a_retry_whose_time_was_removed_from_the_task_status_by_hand_runs_now() -> None:
    # `kubectl patch task … --subresource=status -p '{"status":{"nextAttemptAt":null}}'`
    # on a task waiting for its retry made every pass of the workflow fail an assertion:
    # the run froze. The retry was decided; without its time it is due at once.
    world = World(
        spec([{"name": "a", "retryStrategy": {"limit": 2, "backoff": {"delaySeconds": 60}}}]),
        exit_codes={"a": [1, 0]},
    )
    step(world)
    world.finish(("a", 1))
    step(world)
    waiting = world.tasks["a"]
    assert waiting.status.reason == Reason.RETRY_BACKOFF
    edited = waiting.status.model_copy(update={"next_attempt_at": None})
    world.tasks["a"] = replace(waiting, status=edited)
    world.run_to_end()
    assert world.status.phase == WorkflowPhase.SUCCEEDED
    assert [a.number for a in world.tasks["a"].status.attempts] == [1, 2]


def test_dates_edited_into_the_workflow_status_never_make_a_pass_raise() -> None:
    # `startedAt: 9999-12-31T23:59:59Z` written into a Workflow's status by hand, with an
    # activeDeadlineSeconds: the deadline could not be computed and every pass raised
    # OverflowError. A date past the calendar's end now counts as never.
    for field, extra in (
        ("started_at", {"activeDeadlineSeconds": 100}),
        ("finished_at", {"ttlSecondsAfterFinished": 100}),
    ):
        world = World(spec([{"name": "a"}], **extra))
        step(world)
        far = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
        world.status = world.status.model_copy(update={field: far})
        world.plan()  # raised OverflowError
        world.run_to_end()
        assert world.status.phase == WorkflowPhase.SUCCEEDED
        assert world.plan().delete_workflow is False


def test_starts_not_recorded_yet_keep_their_parallelism_slots() -> None:
    """The shell holds back a status that only starts an attempt (issue 8): the running
    Jobs count against the limits all the same, and none is made twice."""
    world = World(
        spec(
            [
                {"name": "f", "withItems": list(range(6)), "parallelism": 2},
                {"name": "g", "withItems": list(range(6))},
            ],
            parallelism=5,
        ),
        hold_starts=True,
    )
    for _ in range(3):
        step(world)
        running = world.running_jobs()
        assert len(running) <= 5
        assert len([key for key in running if key[0].startswith("f-")]) <= 2
    assert not any(world.tasks[node].status.attempts for node, _ in world.running_jobs())
    world.run_to_end()
    assert world.status.phase == WorkflowPhase.SUCCEEDED
    assert sorted(world.jobs_created) == sorted(set(world.jobs_created))
    assert len(world.jobs_created) == 12
