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
