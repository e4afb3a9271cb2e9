"""Events that help and never flood (issue 11): a constant number per task, and a Workflow
whose tasks fail by the hundred keeps a readable list of Events."""

from __future__ import annotations

from kubedag.api.workflow import WorkflowPhase
from kubedag.engine.plan import Reason
from kubedag.engine.planning import MAX_WORKFLOW_TASK_FAILED_EVENTS
from tests.unit.simulated_world import World, make_spec


def test_the_workflow_repeats_only_the_first_task_failures_of_a_run_each_task_keeps_its_own() -> (
    None
):
    spec = make_spec({f"t{index:02d}": [] for index in range(25)})
    world = World(spec, exit_codes={f"t{index:02d}": 1 for index in range(25)})
    world.apply(world.plan())
    # Failures come in over several passes, as they would in a cluster.
    for batch in (range(0, 4), range(4, 15), range(15, 25)):
        for index in batch:
            world.finish((f"t{index:02d}", 1))
        world.apply(world.plan())
    failed = [event for event in world.events if event.reason == Reason.TASK_FAILED]
    on_tasks = {event.task for event in failed if event.task is not None}
    on_workflow = [event for event in failed if event.task is None]
    assert on_tasks == {f"t{index:02d}" for index in range(25)}
    assert len(on_workflow) == MAX_WORKFLOW_TASK_FAILED_EVENTS
    assert world.status.phase == WorkflowPhase.FAILED
    assert world.status.tasks is not None and world.status.tasks.failed == 25
    # A pass planned again from the same recorded state posts nothing more.
    assert not [event for event in world.plan().events if event.reason == Reason.TASK_FAILED]


def test_a_runs_start_posted_by_two_passes_is_one_event_whatever_its_progress_says() -> None:
    # A status write that timed out but landed: the next pass, planned from the old
    # status, posts WorkflowStarted again with another progress. The Event's name comes
    # from its key, so the second post meets AlreadyExists instead of doubling it.
    from kubedag.api.workflow import WorkflowStatus
    from kubedag.engine.events import workflow_transition_events

    pending = WorkflowStatus(phase=WorkflowPhase.PENDING)
    first = workflow_transition_events(
        pending, WorkflowStatus(phase=WorkflowPhase.RUNNING, progress="0/500")
    )
    again = workflow_transition_events(
        pending, WorkflowStatus(phase=WorkflowPhase.RUNNING, progress="3/500")
    )
    assert [event.reason for event in first] == [Reason.WORKFLOW_STARTED]
    assert first[0].message != again[0].message
    assert first[0].key and first[0].key == again[0].key
    retried = workflow_transition_events(
        WorkflowStatus(phase=WorkflowPhase.FAILED),
        WorkflowStatus(
            phase=WorkflowPhase.RUNNING, progress="3/500", retry_handled="2026-11-30T10:00:00Z"
        ),
    )
    assert retried[0].key != first[0].key  # a retried run starts again: its own Event
