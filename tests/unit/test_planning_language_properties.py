"""Property tests of the orchestration language over random DAGs and random outcomes."""

from __future__ import annotations

import random
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kubedag.api.task import TaskPhase
from kubedag.api.workflow import WorkflowPhase, WorkflowSpec
from kubedag.engine.plan import Reason
from tests.unit.simulated_world import World

Case = tuple[list[dict[str, Any]], dict[str, int | list[int]], int]


@st.composite
def language_runs(draw: st.DrawFn) -> Case:
    """Random DAGs whose tasks may retry, be skipped by `when`, or fan out."""
    size = draw(st.integers(min_value=1, max_value=8))
    names = [f"t{i}" for i in range(size)]
    tasks: list[dict[str, Any]] = []
    exit_codes: dict[str, int | list[int]] = {}
    for index, name in enumerate(names):
        task: dict[str, Any] = {"name": name, "image": "busybox"}
        upstream = draw(st.sets(st.sampled_from(names[:index]), max_size=2)) if index else set()
        if upstream and draw(st.integers(0, 3)) == 0:
            # An error handler or a finally-style task: runs on the upstream's failure.
            result = draw(st.sampled_from(["Failed", "Completed"]))
            task["depends"] = " || ".join(f"{name}.{result}" for name in sorted(upstream))
        elif upstream:
            task["dependsOn"] = sorted(upstream)
        if draw(st.booleans()):
            task["retryStrategy"] = {"limit": draw(st.integers(0, 3))}
        if draw(st.integers(0, 4)) == 0:
            task["when"] = draw(st.sampled_from(["1 == 1", "1 == 2"]))
        items = draw(st.integers(0, 3)) if draw(st.integers(0, 3)) == 0 else None
        if items is not None:
            task["withItems"] = list(range(items))
        nodes = [f"{name}-{i}" for i in range(items)] if items is not None else [name]
        for node in nodes:
            exit_codes[node] = draw(st.lists(st.sampled_from([0, 0, 1]), min_size=1, max_size=4))
        tasks.append(task)
    return tasks, exit_codes, draw(st.integers(0, 2**32))


def run(case: Case, **fields: Any) -> World:
    tasks, exit_codes, seed = case
    world = World(WorkflowSpec.model_validate({"tasks": tasks, **fields}), exit_codes=exit_codes)
    world.run_to_end(random.Random(seed), crash_chance=0.2)
    return world


def jobs_of(world: World, node: str) -> int:
    return sum(1 for key in world.jobs if key[0] == node)


@settings(max_examples=80, deadline=None)
@given(language_runs())
def test_retries_never_exceed_the_limit(case: Case) -> None:
    world = run(case)
    limits = {t["name"]: (t.get("retryStrategy") or {}).get("limit", 0) for t in case[0]}
    for node, task in world.tasks.items():
        owner = node.rsplit("-", 1)[0] if node not in limits else node
        attempts = [a.number for a in task.status.attempts]
        assert len(attempts) == len(set(attempts))
        assert len(attempts) <= limits[owner] + 1
        assert jobs_of(world, node) == len(attempts)


@settings(max_examples=80, deadline=None)
@given(language_runs())
def test_a_when_false_task_and_what_depends_only_on_it_are_skipped(case: Case) -> None:
    world = run(case)
    for task in case[0]:
        if task.get("when") == "1 == 2" and "withItems" not in task:
            status = world.tasks[task["name"]].status
            # Skipped by its own `when`, unless an upstream skip or a false `depends` came first.
            assert status.phase == TaskPhase.SKIPPED
            assert status.reason in (
                Reason.WHEN_FALSE,
                Reason.UPSTREAM_FAILED,
                Reason.DEPENDS_FALSE,
            )
            assert jobs_of(world, task["name"]) == 0
            for other in case[0]:
                if other.get("dependsOn") == [task["name"]] and "withItems" not in other:
                    assert world.tasks[other["name"]].status.phase == TaskPhase.SKIPPED


@settings(max_examples=80, deadline=None)
@given(language_runs())
def test_fan_out_items_are_all_accounted_for(case: Case) -> None:
    world = run(case)
    expected = {
        f"{t['name']}-{i}" if "withItems" in t else t["name"]
        for t in case[0]
        for i in (range(len(t["withItems"])) if "withItems" in t else [0])
    }
    assert set(world.tasks) == expected
    assert all(task.status.phase and task.status.phase.is_finished for task in world.tasks.values())
    assert world.status.tasks is not None and world.status.tasks.total == len(expected)
    counts = world.status.tasks
    assert counts.succeeded + counts.failed + counts.skipped == counts.total


@settings(max_examples=60, deadline=None)
@given(language_runs())
def test_a_suspended_workflow_starts_nothing(case: Case) -> None:
    tasks, exit_codes, _ = case
    world = World(
        WorkflowSpec.model_validate({"tasks": tasks, "suspend": True}), exit_codes=exit_codes
    )
    for _ in range(5):
        plan = world.plan()
        assert plan.start_jobs == []
        world.apply(plan)
    assert world.jobs == {}


@settings(max_examples=80, deadline=None)
@given(language_runs())
def test_retry_from_failure_never_reruns_a_succeeded_task(case: Case) -> None:
    world = run(case)
    if world.status.phase != WorkflowPhase.FAILED:
        return
    succeeded = {
        name: jobs_of(world, name)
        for name, task in world.tasks.items()
        if task.status.phase == TaskPhase.SUCCEEDED
    }
    world.retry_request = "again"
    world.run_to_end(random.Random(case[2] + 1), crash_chance=0.2)
    assert world.status.retry_handled == "again"
    for name, jobs in succeeded.items():
        assert jobs_of(world, name) == jobs, name
        assert world.tasks[name].status.phase == TaskPhase.SUCCEEDED


@settings(max_examples=80, deadline=None)
@given(language_runs())
def test_the_run_fails_on_an_unhandled_failure_and_only_then(case: Case) -> None:
    world = run(case)
    phases = {name: task.status.phase for name, task in world.tasks.items()}
    depended_on = {
        upstream
        for task in case[0]
        for upstream in task.get("dependsOn", [])
        + [term.split(".")[0] for term in task.get("depends", "").split(" || ") if term]
    }
    leaves = [task["name"] for task in case[0] if task["name"] not in depended_on]
    failed_leaf = any(
        phase == TaskPhase.FAILED
        for node, phase in phases.items()
        if node in leaves or node.rsplit("-", 1)[0] in leaves
    )
    if failed_leaf:
        assert world.status.phase == WorkflowPhase.FAILED
    if TaskPhase.FAILED not in phases.values():
        assert world.status.phase == WorkflowPhase.SUCCEEDED

    # A failure every dependent of which ran anyway (an error handler, a finally-task) is
    # handled; when all failures are, the run succeeds (as in Argo Workflows and Airflow).
    def owner(node: str) -> str:
        return node if node in {t["name"] for t in case[0]} else node.rsplit("-", 1)[0]

    def dependents(task: str) -> list[str]:
        names = {t["name"] for t in case[0] if task in t.get("dependsOn", [])}
        names |= {t["name"] for t in case[0] if f"{task}." in t.get("depends", "")}
        return [node for node in phases if owner(node) in names]

    failed = [node for node, phase in phases.items() if phase == TaskPhase.FAILED]
    ran = (TaskPhase.SUCCEEDED, TaskPhase.FAILED)
    if all(
        dependents(owner(node)) and all(phases[d] in ran for d in dependents(owner(node)))
        for node in failed
    ):
        assert world.status.phase == WorkflowPhase.SUCCEEDED
    if world.status.phase == WorkflowPhase.FAILED:
        # The message names only tasks that really failed.
        named = re.findall(r"task '([^']+)' failed", world.status.message or "")
        assert named and all(phases[node] == TaskPhase.FAILED for node in named)
