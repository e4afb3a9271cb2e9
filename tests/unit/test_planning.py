from datetime import UTC, datetime

from kubedag.api.task import TaskPhase, TaskResourceStatus
from kubedag.api.workflow import WorkflowPhase
from kubedag.engine import statuses
from kubedag.engine.observations import JobOutcome, ObservedJob
from kubedag.engine.plan import EventType, Reason
from kubedag.engine.planning import _still_running, plan_next_steps
from tests.unit.simulated_world import World, make_spec


def test_first_pass_creates_every_task_and_starts_only_the_roots() -> None:
    world = World(make_spec({"a": [], "b": ["a"], "c": []}))
    plan = world.plan()
    assert [create.node for create in plan.create_tasks] == ["a", "b", "c"]
    assert sorted(start.node for start in plan.start_jobs) == ["a", "c"]
    # A waiting Task is not written: the API server reads it as Pending/Waiting.
    assert "b" not in plan.task_statuses
    world.apply(plan)
    assert world.tasks["b"].status.phase == TaskPhase.PENDING
    assert world.tasks["b"].status.reason == Reason.WAITING
    assert plan.workflow_status is not None
    assert plan.workflow_status.phase == WorkflowPhase.RUNNING
    assert plan.workflow_status.progress == "0/3"


def test_a_task_starts_once_its_dependency_succeeded() -> None:
    world = World(make_spec({"a": [], "b": ["a"]}))
    world.apply(world.plan())
    assert world.plan().start_jobs == []
    world.finish(("a", 1))
    assert [start.node for start in world.plan().start_jobs] == ["b"]


def test_a_second_pass_over_the_same_state_changes_nothing() -> None:
    world = World(make_spec({"a": [], "b": ["a"]}))
    world.apply(world.plan())
    assert world.plan().is_empty


def test_downstream_task_is_skipped_when_upstream_fails() -> None:
    world = World(make_spec({"a": [], "b": ["a"], "c": ["b"], "side": []}), exit_codes={"a": 3})
    world.run_to_end()
    assert world.tasks["b"].status.phase == TaskPhase.SKIPPED
    assert world.tasks["b"].status.message == "not run because dependency 'a' failed"
    assert world.tasks["c"].status.phase == TaskPhase.SKIPPED
    assert world.tasks["c"].status.message == "not run because dependency 'b' was skipped"
    assert world.tasks["side"].status.phase == TaskPhase.SUCCEEDED
    assert "b" not in world.jobs_created and "c" not in world.jobs_created
    assert world.status.phase == WorkflowPhase.FAILED
    assert world.status.message == "task 'a' failed: exit code 3 (Error)"


def test_failure_emits_warning_events_on_task_and_workflow() -> None:
    world = World(make_spec({"a": []}), exit_codes={"a": 3})
    world.apply(world.plan())
    world.finish(("a", 1))
    events = world.plan().events
    warnings = [e for e in events if e.type == EventType.WARNING]
    assert {(e.reason, e.task) for e in warnings} == {
        (Reason.TASK_FAILED, "a"),
        (Reason.TASK_FAILED, None),
        (Reason.WORKFLOW_FAILED, None),
    }
    assert all("exit code 3" in e.message for e in warnings)


def test_cyclic_spec_fails_with_invalid_spec_and_starts_nothing() -> None:
    world = World(make_spec({"a": ["b"], "b": ["a"]}))
    plan = world.plan()
    assert plan.create_tasks == [] and plan.start_jobs == []
    assert plan.workflow_status is not None
    assert plan.workflow_status.phase == WorkflowPhase.FAILED
    succeeded = next(c for c in plan.workflow_status.conditions if c.type == "Succeeded")
    assert succeeded.reason == Reason.INVALID_SPEC
    assert "dependency cycle" in succeeded.message
    assert [(e.type, e.reason) for e in plan.events] == [(EventType.WARNING, Reason.INVALID_SPEC)]


def test_invalid_spec_is_reported_once() -> None:
    world = World(make_spec({"a": ["missing"]}))
    world.apply(world.plan())
    assert world.plan().is_empty


def test_finished_workflow_is_left_alone() -> None:
    world = World(make_spec({"a": []}))
    world.run_to_end()
    assert world.status.phase == WorkflowPhase.SUCCEEDED
    assert world.plan().is_empty


def test_workflow_counts_and_progress_follow_the_tasks() -> None:
    world = World(make_spec({"a": [], "b": ["a"], "c": ["a"]}))
    world.run_to_end()
    assert world.status.tasks is not None
    assert world.status.tasks.succeeded == 3
    assert world.status.progress == "3/3"
    completed = next(c for c in world.status.conditions if c.type == "Completed")
    assert completed.status == "True"


def test_condition_transition_time_moves_only_when_its_status_changes() -> None:
    world = World(make_spec({"a": [], "b": ["a"]}))
    world.apply(world.plan())
    first = next(c for c in world.status.conditions if c.type == "Succeeded")
    world.clock += 5
    world.finish(("a", 1))
    world.apply(world.plan())
    second = next(c for c in world.status.conditions if c.type == "Succeeded")
    assert second.status == first.status == "Unknown"
    assert second.last_transition_time == first.last_transition_time


def test_unparseable_spec_is_an_invalid_spec_with_the_problem() -> None:
    world = World(make_spec({"a": []}))
    state = world.state()
    from dataclasses import replace

    from kubedag.engine.planning import plan_next_steps

    plan = plan_next_steps(
        replace(state, spec=None, spec_problem="spec.tasks.0.image: Field required"),
        now=world.now(),
    )
    assert plan.workflow_status is not None
    assert plan.workflow_status.message == "invalid spec: spec: spec.tasks.0.image: Field required"


def test_a_pass_plans_at_most_max_new_tasks_creations_and_comes_back_for_the_rest() -> None:
    world = World(make_spec({f"t{i}": [] for i in range(10)}))
    plan = plan_next_steps(world.state(), now=world.now(), max_new_tasks=4)
    assert [create.node for create in plan.create_tasks] == ["t0", "t1", "t2", "t3"]
    assert [start.node for start in plan.start_jobs] == ["t0", "t1", "t2", "t3"]
    assert plan.requeue_after is not None  # the other six wait for the next pass
    assert plan.workflow_status is not None and plan.workflow_status.tasks is not None
    assert plan.workflow_status.tasks.pending == 6
    world.apply(plan)
    second = plan_next_steps(world.state(), now=world.now(), max_new_tasks=4)
    assert [create.node for create in second.create_tasks] == ["t4", "t5", "t6", "t7"]


def test_a_run_planned_a_few_new_tasks_a_pass_ends_as_one_planned_whole() -> None:
    dependencies = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": []}
    whole, bounded = World(make_spec(dependencies)), World(make_spec(dependencies))
    whole.run_to_end()
    for _ in range(50):
        plan = plan_next_steps(bounded.state(), now=bounded.now(), max_new_tasks=1)
        bounded.apply(plan)
        for key in bounded.running_jobs():
            bounded.finish(key)
    assert bounded.status.phase == whole.status.phase == WorkflowPhase.SUCCEEDED
    assert sorted(bounded.jobs_created) == sorted(whole.jobs_created)


def test_a_running_node_is_left_as_recorded_only_when_building_it_again_gives_the_same() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    job = ObservedJob(name="wf-a-1", task="a", attempt=1, outcome=JobOutcome.RUNNING, started=True)
    started = statuses.started(TaskResourceStatus(), 1, "wf-a-1", now)
    assert not _still_running(started, job) or statuses.running(started, job) == started
    recorded = statuses.running(started, job)
    assert _still_running(recorded, job)
    assert statuses.running(recorded, job) == recorded
    other_job = ObservedJob(name="wf-a-2", task="a", attempt=2, outcome=JobOutcome.RUNNING)
    assert not _still_running(recorded, other_job)
    assert statuses.running(recorded, other_job) != recorded
