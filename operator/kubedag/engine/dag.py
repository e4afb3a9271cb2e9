"""Validation and ordering of a workflow's task graph."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kubedag.api.workflow import WorkflowTask


@dataclass(frozen=True)
class SpecError:
    """One reason a spec cannot run: where it is and what to change."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def validate_dag(tasks: Sequence[WorkflowTask]) -> list[SpecError]:
    """Every problem with the graph: duplicate names, unknown dependencies, cycles.

    The API server already refuses most of these at admission; this check is what stands
    when the CRD is older than the operator or the object came in some other way.
    """
    errors: list[SpecError] = []
    seen: dict[str, int] = {}
    for index, task in enumerate(tasks):
        if task.name in seen:
            errors.append(
                SpecError(
                    f"spec.tasks[{index}].name",
                    f"duplicate task name {task.name!r} (also spec.tasks[{seen[task.name]}])",
                )
            )
        else:
            seen[task.name] = index
    for index, task in enumerate(tasks):
        for position, dependency in enumerate(task.depends_on):
            if dependency == task.name:
                errors.append(
                    SpecError(
                        f"spec.tasks[{index}].dependsOn[{position}]",
                        f"task {task.name!r} depends on itself",
                    )
                )
            elif dependency not in seen:
                errors.append(
                    SpecError(
                        f"spec.tasks[{index}].dependsOn[{position}]",
                        f"task {task.name!r} depends on unknown task {dependency!r}",
                    )
                )
    if not errors:
        cycle = find_cycle({task.name: task.depends_on for task in tasks})
        if cycle:
            errors.append(
                SpecError(
                    "spec.tasks",
                    "dependency cycle: " + " -> ".join([*cycle, cycle[0]]),
                )
            )
    return errors


def find_cycle(dependencies: Mapping[str, Sequence[str]]) -> list[str]:
    """One cycle, as the list of task names along it, or [] for a DAG.

    Iterative depth-first search, so a chain of thousands of tasks does not hit Python's
    recursion limit.
    """
    unvisited, in_progress, done = 0, 1, 2
    state = dict.fromkeys(dependencies, unvisited)
    for root in dependencies:
        if state[root] != unvisited:
            continue
        path: list[str] = [root]
        iterators = [iter(dependencies[root])]
        state[root] = in_progress
        while iterators:
            next_node = next(iterators[-1], None)
            if next_node is None:
                state[path.pop()] = done
                iterators.pop()
            elif next_node not in state:
                continue
            elif state[next_node] == in_progress:
                return path[path.index(next_node) :]
            elif state[next_node] == unvisited:
                state[next_node] = in_progress
                path.append(next_node)
                iterators.append(iter(dependencies[next_node]))
    return []


def topological_order(dependencies: Mapping[str, Sequence[str]]) -> list[str]:
    """Task names, each after all of its dependencies, ties kept in declaration order.

    Assumes a valid DAG (see validate_dag).
    """
    remaining = {name: len(set(deps)) for name, deps in dependencies.items()}
    dependents: dict[str, list[str]] = {name: [] for name in dependencies}
    for name, deps in dependencies.items():
        for dependency in set(deps):
            dependents[dependency].append(name)
    position = {name: index for index, name in enumerate(dependencies)}
    ready = [(position[name], name) for name, count in remaining.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for dependent in dependents[name]:
            remaining[dependent] -= 1
            if remaining[dependent] == 0:
                heapq.heappush(ready, (position[dependent], dependent))
    return order
