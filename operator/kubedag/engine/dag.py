"""The graph algorithms of a workflow's tasks: cycles and order. The rules of a spec
(names, dependencies, references) are checked in kubedag.engine.specs."""

from __future__ import annotations

import heapq
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SpecError:
    """One reason a spec cannot run: where it is and what to change."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def invalid_spec_message(errors: Sequence[SpecError]) -> str:
    """What a user reads of a spec that cannot run, in the operator's InvalidSpec condition
    and on `kubectl apply` (the admission webhook's refusal): `invalid spec: PATH: MESSAGE;
    PATH: MESSAGE`, each as `kubedag lint` prints it after the object's name."""
    return "invalid spec: " + "; ".join(str(error) for error in errors)


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

    Assumes a DAG (see find_cycle).
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


def failures_reaching_leaves(
    order: Sequence[str],
    dependencies: Mapping[str, Collection[str]],
    failed: Collection[str],
    omitted: Collection[str],
) -> set[str]:
    """The failed tasks that decide a run's outcome, by the rule Argo Workflows and Airflow
    share: a run fails when one of its leaves (tasks nothing depends on) failed or was
    omitted because of a failure.

    `order` is topological. An omitted task (skipped because of its dependencies, not
    because of its own `when`) carries the failures of its dependencies; a task that ran,
    or was skipped by its own `when`, carries none but its own. So a failure that a
    dependent handled (`depends: "x.Failed"`, which then ran) does not fail the run, while
    one whose descendants were all skipped does.
    """
    if not failed:
        return set()
    failed, omitted = set(failed), set(omitted)  # looked up once per task
    carried: dict[str, frozenset[str]] = {}
    for name in order:
        if name in failed:
            carried[name] = frozenset((name,))
        elif name in omitted:
            carried[name] = frozenset().union(
                *(carried.get(dep, frozenset()) for dep in dependencies[name])
            )
        else:
            carried[name] = frozenset()
    depended_on = {dep for name in order for dep in dependencies[name]}
    return set().union(*(carried[name] for name in order if name not in depended_on))
