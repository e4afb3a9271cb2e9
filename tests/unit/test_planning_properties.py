"""Whole runs of random DAGs with random task outcomes, some with simulated crashes."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from kubedag.api.task import TaskPhase
from kubedag.api.workflow import WorkflowPhase
from tests.unit.simulated_world import World, make_spec


@st.composite
def random_runs(draw: st.DrawFn) -> tuple[dict[str, list[str]], dict[str, int], int]:
    size = draw(st.integers(min_value=1, max_value=14))
    names = [f"t{i}" for i in range(size)]
    dependencies = {
        name: sorted(draw(st.sets(st.sampled_from(names[:index]), max_size=3)) if index else set())
        for index, name in enumerate(names)
    }
    exit_codes = {name: draw(st.sampled_from([0, 0, 0, 1, 3])) for name in names}
    return dependencies, exit_codes, draw(st.integers(0, 2**32))


def ancestors(dependencies: dict[str, list[str]], name: str) -> set[str]:
    found: set[str] = set()
    stack = list(dependencies[name])
    while stack:
        current = stack.pop()
        if current not in found:
            found.add(current)
            stack.extend(dependencies[current])
    return found


def run(
    dependencies: dict[str, list[str]], exit_codes: dict[str, int], seed: int, crash: float
) -> World:
    world = World(make_spec(dependencies), exit_codes=exit_codes)
    world.run_to_end(random.Random(seed), crash_chance=crash)
    return world


@settings(max_examples=150, deadline=None)
@given(random_runs())
def test_every_task_ends_in_a_final_phase(
    case: tuple[dict[str, list[str]], dict[str, int], int],
) -> None:
    world = run(*case, crash=0.0)
    assert all(task.status.phase and task.status.phase.is_finished for task in world.tasks.values())
    assert set(world.tasks) == set(case[0])


@settings(max_examples=150, deadline=None)
@given(random_runs())
def test_no_job_starts_before_all_its_dependencies_succeeded(
    case: tuple[dict[str, list[str]], dict[str, int], int],
) -> None:
    dependencies, exit_codes, _ = case
    world = run(*case, crash=0.0)
    for task, created in world.job_created_at.items():
        for dependency in dependencies[task]:
            assert exit_codes[dependency] == 0
            assert world.job_finished_at[dependency] <= created


@settings(max_examples=150, deadline=None)
@given(random_runs())
def test_descendants_of_a_failure_are_skipped_and_others_run(
    case: tuple[dict[str, list[str]], dict[str, int], int],
) -> None:
    dependencies, exit_codes, _ = case
    world = run(*case, crash=0.0)
    for name in dependencies:
        failed_ancestor = any(exit_codes[a] != 0 for a in ancestors(dependencies, name))
        phase = world.tasks[name].status.phase
        if failed_ancestor:
            assert phase == TaskPhase.SKIPPED
            assert name not in world.jobs_created
        else:
            # Independent branches still run to completion, with their own outcome.
            assert phase == (TaskPhase.SUCCEEDED if exit_codes[name] == 0 else TaskPhase.FAILED)


@settings(max_examples=150, deadline=None)
@given(random_runs())
def test_workflow_phase_follows_from_the_tasks(
    case: tuple[dict[str, list[str]], dict[str, int], int],
) -> None:
    world = run(*case, crash=0.0)
    any_failed = any(t.status.phase == TaskPhase.FAILED for t in world.tasks.values())
    assert world.status.phase == (WorkflowPhase.FAILED if any_failed else WorkflowPhase.SUCCEEDED)
    assert world.status.tasks is not None
    assert world.status.progress == f"{len(world.tasks)}/{len(world.tasks)}"


@settings(max_examples=150, deadline=None)
@given(random_runs())
def test_crashes_mid_plan_never_duplicate_a_job_or_lose_a_task(
    case: tuple[dict[str, list[str]], dict[str, int], int],
) -> None:
    world = run(*case, crash=0.4)
    assert len(world.jobs_created) == len(set(world.jobs_created))
    assert all(task.status.phase and task.status.phase.is_finished for task in world.tasks.values())
