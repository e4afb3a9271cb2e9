"""The heart of kubedag: from a workflow's spec and what has been observed of its Tasks
and Jobs, decide what to do next.

`plan_next_steps` is level-triggered: it looks only at the current state, never at the
event that woke it, so it may be called any number of times, in any order, after any
crash. Every action it returns is safe to repeat (objects have deterministic names).

Vocabulary: a *task* is an entry of the spec; a *node* is one Task object, so a task fanned
out over N items has N nodes (`<task>-<index>`), and any other task has one node of its
own name. A task's *group result* sums up its nodes for the tasks that depend on it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from kubedag.api.common import ConditionStatus, EnvVar, PodMetadata
from kubedag.api.dataset import DatasetRef, TaskDatasets
from kubedag.api.task import (
    TaskPhase,
    TaskResourceSpec,
    TaskResourceStatus,
)
from kubedag.api.workflow import (
    MAX_NODES,
    JobCleanup,
    Shutdown,
    WorkflowPhase,
    WorkflowStatus,
    WorkflowTask,
)
from kubedag.engine import datasets, events, expressions, json_values, lifecycle, retries, statuses
from kubedag.engine.dag import SpecError, failures_reaching_leaves
from kubedag.engine.observations import JOB_DELETED, JobOutcome, ObservedJob
from kubedag.engine.plan import (
    COMPLETED,
    SUCCEEDED,
    SUSPENDED,
    Event,
    JobStart,
    Plan,
    Reason,
    TaskCreate,
    WorkflowState,
)
from kubedag.engine.pod_fields import merge_pod_fields
from kubedag.engine.specs import ResolvedSpec, ResolvedTask, SpecResolution, resolve_spec
from kubedag.engine.templating import REFERENCE, MissingValue, item_values, render
from kubedag.names import job_name

# The Workflow gets a TaskFailed Warning for each of the run's first this many failed tasks
# (every failed Task has its own): see _Planner._bounded.
MAX_WORKFLOW_TASK_FAILED_EVENTS = 10


@dataclass(frozen=True)
class Node:
    name: str
    task: ResolvedTask
    item_index: int | None = None
    item: Any = None
    # Why this node cannot run whatever happens (its item is unusable): it fails with
    # InvalidSpec when it would start, and no Job is made.
    problem: str | None = None


class _Unresolved(Exception):
    """A field of a node's task could not be rendered: `where` is its path in the
    Workflow, `why` what is missing (issue 6: fails the node, never the pass)."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"{where}: {why}")


class _Stop(StrEnum):
    """Why the workflow starts nothing new (besides a suspension, which is temporary)."""

    STOPPED = "Stopped"
    TERMINATED = "Terminated"
    DEADLINE = "DeadlineExceeded"


def plan_next_steps(
    state: WorkflowState,
    *,
    now: datetime,
    resolution: SpecResolution | None = None,
    max_new_tasks: int | None = None,
) -> Plan:
    """The actions that move the workflow forward from `state`.

    `resolution` is `resolve_spec(state.spec, state.templates)` when the caller already has
    it: a spec only changes with its generation, so the shell resolves it once, not on every
    pass.

    `max_new_tasks` bounds the Task objects one pass plans to create (the shell creates at
    most that many objects a pass anyway): nodes past it stay Pending, unrendered, and the
    plan asks to come back at once. Rendering all 10,000 of a new run's nodes in each of the
    fifty passes that create them cost more than the rest of the run (issue 8)."""
    if state.missing_workflow_template is not None:
        return lifecycle.wait_for_templates(
            state, [state.missing_workflow_template], 0, now, kind="WorkflowTemplate"
        )
    if state.spec is None:
        errors = list(state.spec_errors) or [SpecError("spec", state.spec_problem or "missing")]
        return lifecycle.reject(state, errors, 0, now)
    if state.retry_request and state.retry_request != state.status.retry_handled:
        return lifecycle.retry_from_failure(state, now)
    # A finished run is history, unless a Task was left unfinished under it (its final
    # write was lost, or an older operator wrote the run's end too early): then it is
    # planned again until the two agree (issue 6).
    if (
        state.status.phase is not None
        and state.status.phase.is_finished
        and all(
            task.status.phase and task.status.phase.is_finished for task in state.tasks.values()
        )
    ):
        return lifecycle.after_finish(state, now)

    resolved, errors = resolution or resolve_spec(state.spec, state.templates)
    task_count = len(state.spec.tasks or []) + len(state.spec.on_exit or [])
    if errors:
        return lifecycle.reject(state, errors, task_count, now)
    assert resolved is not None
    if resolved.missing_templates:
        return lifecycle.wait_for_templates(state, resolved.missing_templates, task_count, now)
    planner = _Planner(state, resolved, now, max_new_tasks=max_new_tasks)
    if planner.stop == _Stop.DEADLINE:
        # Past the deadline now, but the run may have ended in time while no pass looked
        # (the operator was down): then it ends as it did, not DeadlineExceeded.
        ended = _Planner(
            state, resolved, now, honour_deadline=False, max_new_tasks=max_new_tasks
        ).run()
        if _ended_by(ended, state, planner.deadline):
            return ended
    return planner.run()


def _ended_by(plan: Plan, state: WorkflowState, deadline: datetime | None) -> bool:
    """Whether `plan` ends the run with every attempt finished no later than `deadline`."""
    if deadline is None or plan.workflow_status is None or plan.start_jobs or plan.create_tasks:
        return False
    phase = plan.workflow_status.phase
    if phase is None or not phase.is_finished:
        return False
    statuses_now = {name: task.status for name, task in state.tasks.items()}
    statuses_now.update(plan.task_statuses)
    return all(
        attempt.finished_at is not None and attempt.finished_at <= deadline
        for status in statuses_now.values()
        for attempt in status.attempts
    )


class _Planner:
    def __init__(
        self,
        state: WorkflowState,
        spec: ResolvedSpec,
        now: datetime,
        *,
        honour_deadline: bool = True,
        max_new_tasks: int | None = None,
    ) -> None:
        assert state.spec is not None
        self.state = state
        self.max_new_tasks = max_new_tasks
        self.workflow_spec = state.spec
        self.spec = spec
        self.now = now
        self.plan = Plan()
        self.node_phases: dict[str, TaskPhase] = {}
        self.node_reasons: dict[str, str | None] = {}
        # Nodes whose attempt's Pod does not run, with Kubernetes' reason and message.
        self.not_running: dict[str, TaskResourceStatus] = {}
        self.group_nodes: dict[str, list[str]] = {}
        self.node_outputs: dict[str, dict[str, str]] = {}
        self.active = 0  # nodes with a running Job, for the parallelism limits
        self.fan_out_problems: list[str] = []
        # The Workflow's TaskFailed Events so far in this run: one per task recorded Failed
        # (each got one, up to the cap; see _bounded).
        self.workflow_failure_events = sum(
            1 for task in state.tasks.values() if task.status.phase == TaskPhase.FAILED
        )
        started_at = state.status.started_at or now
        self.deadline: datetime | None = None
        if state.spec.active_deadline_seconds is not None:
            self.deadline = statuses.later(started_at, state.spec.active_deadline_seconds)
        self.stop = self._stop_reason(honour_deadline)

    # -- the pass -----------------------------------------------------------------

    def run(self) -> Plan:
        self.active = sum(1 for node in self.state.tasks if self._has_running_job(node))
        for name in self.spec.order:
            self._plan_task(self.spec.tasks[name])
        main_done = all(self._group_finished(name) for name in self.spec.order)
        main_failed = self._main_failed()
        failed = main_failed or self.stop is not None or bool(self.fan_out_problems)
        for name in self.spec.exit_order:
            if main_done:
                # Terminate still reaches them: a running one is killed, the rest skipped.
                self._plan_task(self.spec.tasks[name], workflow_outcome=failed)
            else:
                self._hold_exit_task(self.spec.tasks[name])
        self._plan_workflow_status(main_done, main_failed)
        return self.plan

    def _stop_reason(self, honour_deadline: bool) -> _Stop | None:
        spec = self.workflow_spec
        if spec.shutdown == Shutdown.TERMINATE:
            return _Stop.TERMINATED
        if self.deadline is not None and honour_deadline:
            if self.now >= self.deadline:
                return _Stop.DEADLINE
            self.plan.requeue((self.deadline - self.now).total_seconds())
        if spec.shutdown == Shutdown.STOP:
            return _Stop.STOPPED
        return None

    # -- tasks and their nodes ----------------------------------------------------

    def _plan_task(self, task: ResolvedTask, workflow_outcome: bool | None = None) -> None:
        nodes = self._nodes(task)
        if nodes is None:
            self.group_nodes[task.name] = []
            return
        self.group_nodes[task.name] = [node.name for node in nodes]
        running_in_task = sum(1 for node in nodes if self._has_running_job(node.name))
        for node in nodes:
            if self._plan_node(node, workflow_outcome, running_in_task):
                running_in_task += 1

    def _nodes(self, task: ResolvedTask) -> list[Node] | None:
        """The nodes of a task, or None while a dynamic fan-out's list is not known yet
        (or never will be: the upstream failed, or its output is not a list)."""
        definition = task.definition
        if definition.with_items is not None:
            return [
                _item_node(task, index, item) for index, item in enumerate(definition.with_items)
            ]
        if task.fan_out_source is None:
            return [Node(task.name, task)]
        source, output = task.fan_out_source
        if self._group_result(source) != TaskPhase.SUCCEEDED:
            return None
        text = self._collected_output(source, output)
        where = f"task {task.name!r}: withParam {{{{tasks.{source}.outputs.{output}}}}}"
        try:
            items = json_values.parse_json(text)
        except json_values.JsonProblem as problem:
            self.fan_out_problems.append(f"{where} is {problem}: {text[:200]!r}")
            return None
        if not isinstance(items, list):
            self.fan_out_problems.append(f"{where} is not a JSON list: {text[:200]!r}")
            return None
        budget = MAX_NODES - self._nodes_besides(task.name)
        if len(items) > budget:
            self.fan_out_problems.append(
                f"{where} has {len(items)} items: with the workflow's other tasks and items "
                f"that is more than the limit of {MAX_NODES}"
            )
            return None
        return [_item_node(task, index, item) for index, item in enumerate(items)]

    def _nodes_besides(self, name: str) -> int:
        """The nodes of every task but `name` known so far (a fan-out over an upstream list
        counts once it is expanded), for the workflow's cap on nodes."""
        return sum(
            len(self.group_nodes.get(other, []))
            if task.fan_out_source is not None
            else len(task.definition.with_items or [None])
            for other, task in self.spec.tasks.items()
            if other != name
        )

    def _plan_node(self, node: Node, workflow_outcome: bool | None, running_in_task: int) -> bool:
        """Plans one node; returns whether it took a new parallelism slot (a Job asked for
        again, not yet seen, already holds one)."""
        if self._over_creation_budget(node):
            return False
        recorded = self._recorded_status(node)
        restored = self._restored_status(node)
        if restored is not None:
            desired, start = restored, None
        else:
            desired, start = self._desired_status(node, recorded, workflow_outcome, running_in_task)
        new_slot = start is not None and not self._has_running_job(node.name)
        if start is not None:
            self.plan.start_jobs.append(start)
        if new_slot:
            self.active += 1
        if self._record(node.name, recorded, desired) == TaskPhase.SUCCEEDED:
            self.node_outputs[node.name] = dict(desired.outputs or {})
        self._clean_up_job(node.name, recorded)
        if desired != recorded and self._clean_up_job(node.name, desired, dry_run=True):
            # The Job goes once this final status is stored, not before: deleted first, a
            # lost status write would leave a running Task without its Job (issue 6).
            self.plan.requeue(_CLEAN_UP_AFTER_SECONDS)
        return new_slot

    def _over_creation_budget(self, node: Node) -> bool:
        """Whether the node's Task is still to be made and this pass already plans as many
        creations as it may: the node stays Pending until a later pass."""
        if (
            self.max_new_tasks is None
            or node.name in self.state.tasks
            or len(self.plan.create_tasks) < self.max_new_tasks
        ):
            return False
        self.node_phases[node.name] = TaskPhase.PENDING
        self.node_reasons[node.name] = Reason.WAITING
        self.plan.requeue(0)
        return True

    def _restored_status(self, node: Node) -> TaskResourceStatus | None:
        """The status a Task deleted by hand gets back when it is made again: its result if
        it had finished; Failed (TaskDeleted) if an attempt was running, whose Job the
        garbage collector removed with it. Never a second run of what already ran."""
        prior = self.state.deleted_tasks.get(node.name)
        if prior is None or node.name in self.state.tasks or not prior.attempts:
            return None
        if prior.phase is not None and prior.phase.is_finished:
            return prior
        last = prior.attempts[-1]
        message = f"the Task was deleted while attempt {last.number} ran; its Job went with it"
        ended = last.model_copy(
            update={"finished_at": last.finished_at or self.now, "reason": Reason.TASK_DELETED}
        )
        status = prior.model_copy(update={"attempts": [*prior.attempts[:-1], ended]})
        return statuses.finished(status, TaskPhase.FAILED, Reason.TASK_DELETED, message, self.now)

    def _recorded_status(self, node: Node) -> TaskResourceStatus:
        """The node's recorded status; plans its Task's creation when there is none yet."""
        observed = self.state.tasks.get(node.name)
        if observed is None:
            try:
                spec = self._node_spec(node, static=True)
            except _Unresolved:
                # Its values make no valid spec: the Task records the node as written, and
                # it fails with InvalidSpec when it would start.
                spec = self._node_spec(node, static=True, values={})
            self.plan.create_tasks.append(TaskCreate(node.name, spec))
            return TaskResourceStatus()
        return observed.status

    def _record(
        self, node: str, recorded: TaskResourceStatus, desired: TaskResourceStatus
    ) -> TaskPhase:
        """Plans the status write (and its events) when the status changes."""
        if desired is not recorded and desired != recorded:
            self.plan.task_statuses[node] = desired
            self.plan.events.extend(
                self._bounded(events.task_transition_events(node, recorded, desired))
            )
        phase = desired.phase or TaskPhase.PENDING
        if statuses.shows_not_running(desired):
            self.not_running[node] = desired
        self.node_phases[node] = phase
        self.node_reasons[node] = desired.reason
        return phase

    def _bounded(self, produced: list[Event]) -> list[Event]:
        """Drops the Workflow's copy of a task's failure past the run's first
        MAX_WORKFLOW_TASK_FAILED_EVENTS: each failed Task keeps its own Warning, and the
        Workflow's status counts the failures, but 500 failing tasks must not bury the
        Workflow's other Events (issue 11; Kubernetes' event recorder likewise combines
        similar Events on one object past 10)."""
        kept = []
        for event in produced:
            if event.task is None and event.reason == Reason.TASK_FAILED:
                if self.workflow_failure_events >= MAX_WORKFLOW_TASK_FAILED_EVENTS:
                    continue
                self.workflow_failure_events += 1
            kept.append(event)
        return kept

    def _hold_exit_task(self, task: ResolvedTask) -> None:
        """Exit-handler tasks exist (as Pending) from the start but wait for the end; a
        fan-out over an upstream's list gets its nodes once that list is known."""
        nodes = self._nodes(task) or []
        self.group_nodes[task.name] = [node.name for node in nodes]
        stop = self._stop_for(task)  # only Terminate reaches an exit handler
        for node in nodes:
            recorded = self._recorded_status(node)
            finished = recorded.phase is not None and recorded.phase.is_finished
            if stop is not None and not finished:
                desired = self._not_run(recorded, stop)
            else:
                desired = statuses.waiting(recorded)
            self._record(node.name, recorded, desired)

    def _stop_for(self, task: ResolvedTask) -> _Stop | None:
        """The stop that applies to `task`: exit handlers run after Stop and past the
        deadline (that is what they are for); only Terminate stops them."""
        if task.exit_handler and self.stop != _Stop.TERMINATED:
            return None
        return self.stop

    def _not_run(self, recorded: TaskResourceStatus, stop: _Stop) -> TaskResourceStatus:
        return statuses.finished(
            recorded,
            TaskPhase.SKIPPED,
            Reason(stop.value),
            f"not run: {_STOP_MESSAGES[stop]}",
            self.now,
        )

    # -- one node's status --------------------------------------------------------

    def _has_running_job(self, node: str) -> bool:
        """Whether the node holds a parallelism slot: its current Job runs, or its Task
        says it started one that the Job watch has not delivered yet."""
        observed = self.state.tasks.get(node)
        status = observed.status if observed else TaskResourceStatus()
        if not statuses.under_way(status):
            return self._has_unrecorded_running_job(node, status)
        current = statuses.current_attempt(status)
        job = self.state.jobs.get((node, current)) if current else None
        return job is None or job.outcome == JobOutcome.RUNNING

    def _has_unrecorded_running_job(self, node: str, status: TaskResourceStatus) -> bool:
        """Whether the attempt after the recorded ones has a running Job the Task does not
        record yet: a start whose record is held back a moment (issue 8), or whose write
        was lost. It holds a parallelism slot all the same."""
        if status.phase is not None and status.phase.is_finished:
            return False
        upcoming = status.attempts[-1].number + 1 if status.attempts else 1
        job = self.state.jobs.get((node, upcoming))
        if job is not None:
            return job.outcome == JobOutcome.RUNNING
        return (node, upcoming) in self.state.jobs_in_flight

    def _desired_status(
        self,
        node: Node,
        recorded: TaskResourceStatus,
        workflow_outcome: bool | None,
        running_in_task: int,
    ) -> tuple[TaskResourceStatus, JobStart | None]:
        recorded = self._adopt_unrecorded_job(node, recorded)
        current = statuses.current_attempt(recorded)
        job = self.state.jobs.get((node.name, current)) if current else None
        finished = recorded.phase is not None and recorded.phase.is_finished
        if not finished and recorded.reason == Reason.RETRY_BACKOFF:
            # Decided when the attempt failed: neither its Pod nor its Job going away since
            # can undo it or start that attempt again.
            return self._retry_when_due(node, recorded, workflow_outcome, running_in_task)

        if finished:
            if (
                job is not None
                and job.outcome != JobOutcome.RUNNING
                and job.exit_code is not None
                and recorded.attempts
                and recorded.attempts[-1].exit_code is None
                and recorded.reason
                in (
                    Reason.TASK_FAILED,
                    Reason.SUCCEEDED,
                    Reason.OUTPUTS_MISSING,
                    Reason.DEADLINE_EXCEEDED,
                )
            ):
                # Details (an exit code) may arrive after the Job's own verdict.
                refreshed = self._status_from_finished_job(node, recorded, job)
                if refreshed.phase == recorded.phase:
                    return refreshed, None
            return recorded, None

        stop = self._stop_for(node.task)
        if job is not None and job.outcome == JobOutcome.RUNNING:
            if stop in (_Stop.TERMINATED, _Stop.DEADLINE):
                self.plan.delete_jobs.append(job.name)
                reason = Reason.TERMINATED if stop == _Stop.TERMINATED else Reason.DEADLINE_EXCEEDED
                return statuses.finished(
                    recorded, TaskPhase.FAILED, reason, _STOP_MESSAGES[stop], self.now
                ), None
            return self._under_way(node, recorded, job, workflow_outcome, running_in_task)

        if job is not None:
            status = self._status_from_finished_job(node, recorded, job)
            if status.phase == TaskPhase.FAILED:
                return self._maybe_retry(
                    node, recorded, status, job, workflow_outcome, running_in_task
                )
            return status, None

        if current is not None:
            if (node.name, current) in self.state.jobs_in_flight:
                # Created moments ago; the Job watch has not delivered it yet.
                return recorded, None
            if stop in (_Stop.TERMINATED, _Stop.DEADLINE):
                # Deleted by the stop itself in a pass whose status write was lost.
                reason = Reason.TERMINATED if stop == _Stop.TERMINATED else Reason.DEADLINE_EXCEEDED
                return statuses.finished(
                    recorded, TaskPhase.FAILED, reason, _STOP_MESSAGES[stop], self.now
                ), None
            # The attempt started and its Job is gone before it ended: deleted by hand or
            # by a tool, operator up or down. Never made again under the same attempt (it
            # may have done part of its work): the attempt fails as an infrastructure
            # error, and OnError/Always retries make a new attempt with a new Job.
            gone = _vanished_job(node.name, recorded, current, self.now)
            status = self._status_from_finished_job(node, recorded, gone)
            return self._maybe_retry(
                node, recorded, status, gone, workflow_outcome, running_in_task
            )
        return self._first_attempt(node, recorded, workflow_outcome, running_in_task)

    def _under_way(
        self,
        node: Node,
        recorded: TaskResourceStatus,
        job: ObservedJob,
        workflow_outcome: bool | None,
        running_in_task: int,
    ) -> tuple[TaskResourceStatus, JobStart | None]:
        """An attempt whose Job has not finished. Running once its container runs.

        Before that, with nothing wrong (the Pod being created, scheduled, its image
        pulled), it stays Running as written when the Job was made: saying Pending for
        the second or so a healthy Pod takes to start would cost every task one more status
        write, and the write the start makes anyway already says Running. Only when
        Kubernetes says why the Pod does not run (`job.not_running`) is it written Pending,
        with that reason and message. Past the task's pendingTimeout the attempt fails."""
        if job.started:
            if _still_running(recorded, job):
                return recorded, None  # as in every pass since it started: nothing to build
            return statuses.running(recorded, job), None
        timeout = self._pending_timeout(node)
        started_at = recorded.attempts[-1].started_at if recorded.attempts else None
        if timeout is not None and started_at is not None:
            due = statuses.later(started_at, timeout)
            if self.now >= due:
                return self._pending_timed_out(
                    node, recorded, job, timeout, workflow_outcome, running_in_task
                )
            self.plan.requeue((due - self.now).total_seconds())
        if job.not_running is not None:
            return statuses.not_running(recorded, job), None
        if statuses.shows_not_running(recorded):
            # What held the Pod back is gone (it was scheduled, its Secret appeared):
            # it says so until its container runs, at no cost of a write.
            return recorded, None
        return statuses.running(recorded, job), None

    def _pending_timeout(self, node: Node) -> int | None:
        """The task's pendingTimeout, else its TaskTemplate's, else the workflow's
        taskDefaults'."""
        defaults = self.workflow_spec.task_defaults
        return node.task.definition.pending_timeout or (
            defaults.pending_timeout if defaults else None
        )

    def _pending_timed_out(
        self,
        node: Node,
        recorded: TaskResourceStatus,
        job: ObservedJob,
        timeout: int,
        workflow_outcome: bool | None,
        running_in_task: int,
    ) -> tuple[TaskResourceStatus, JobStart | None]:
        """The attempt's Pod did not run within pendingTimeout: its Job is deleted (once
        the status is stored, as for a stop) and the attempt fails, an infrastructure
        error (OnError) that says what held the Pod back when Kubernetes said it."""
        self.plan.delete_jobs.append(job.name)
        why = f": {job.not_running.reason}: {job.not_running.message}" if job.not_running else ""
        timed_out = dataclasses.replace(
            job,
            outcome=JobOutcome.FAILED,
            finished_at=self.now,
            exit_code=None,
            reason=Reason.PENDING_TIMEOUT.value,
            message=f"the Pod did not start running within pendingTimeout ({timeout}s){why}",
        )
        failed = self._status_from_finished_job(node, recorded, timed_out)
        return self._maybe_retry(
            node, recorded, failed, timed_out, workflow_outcome, running_in_task
        )

    def _adopt_unrecorded_job(self, node: Node, recorded: TaskResourceStatus) -> TaskResourceStatus:
        """A Job exists for the attempt after the recorded ones: the operator created it and
        stopped before writing the Task's status. The attempt started; record it so that
        what follows (its end, a stop that must kill it) applies to it."""
        if recorded.phase is not None and recorded.phase.is_finished:
            return recorded
        if statuses.current_attempt(recorded) is not None and (
            recorded.reason != Reason.RETRY_BACKOFF
        ):
            return recorded
        upcoming = recorded.attempts[-1].number + 1 if recorded.attempts else 1
        job = self.state.jobs.get((node.name, upcoming))
        if job is not None:
            return statuses.started(recorded, upcoming, job.name, job.created_at or self.now)
        if (node.name, upcoming) in self.state.jobs_ran_before:
            # Its Job ran and is gone (deleted while the operator was down): the attempt
            # started; what follows fails it as JobDeleted rather than run it again.
            return statuses.started(
                recorded, upcoming, job_name(self.state.name, node.name, upcoming), self.now
            )
        return recorded

    def _first_attempt(
        self,
        node: Node,
        recorded: TaskResourceStatus,
        workflow_outcome: bool | None,
        running_in_task: int,
    ) -> tuple[TaskResourceStatus, JobStart | None]:
        task = node.task
        gate = self._dependency_gate(task)
        if gate is not None:
            phase, reason, message = gate
            if phase == TaskPhase.PENDING:
                return statuses.waiting(recorded), None
            return statuses.finished(recorded, phase, reason, message, self.now), None
        stop = self._stop_for(task)
        if stop is not None:
            return self._not_run(recorded, stop), None
        if node.problem is not None:
            # Its item is unusable: say so, rather than what `when` makes of it.
            return self._start(node, recorded, 1, workflow_outcome)
        if task.when is not None:
            values = self._values(node, attempt=1, workflow_outcome=workflow_outcome)
            try:
                run = expressions.evaluate_when(task.when, lambda ref: _lookup(ref, values))
            except (expressions.ExpressionError, MissingValue) as error:
                return statuses.finished(
                    recorded,
                    TaskPhase.FAILED,
                    Reason.WHEN_ERROR,
                    f"when {task.definition.when!r}: {error}",
                    self.now,
                ), None
            if not run:
                return statuses.finished(
                    recorded,
                    TaskPhase.SKIPPED,
                    Reason.WHEN_FALSE,
                    f"when {task.definition.when!r} is false",
                    self.now,
                ), None
        if not self._may_start(node, running_in_task):
            if self.workflow_spec.suspend and not node.task.exit_handler:
                return statuses.pending(
                    recorded, Reason.SUSPENDED, "the workflow is suspended"
                ), None
            return statuses.waiting(recorded), None
        next_attempt = recorded.attempts[-1].number + 1 if recorded.attempts else 1
        return self._start(node, recorded, next_attempt, workflow_outcome)

    def _may_start(self, node: Node, running_in_task: int) -> bool:
        if self.workflow_spec.suspend and not node.task.exit_handler:
            return False
        limit = self.workflow_spec.parallelism
        if limit is not None and self.active >= limit:
            return False
        task_limit = node.task.definition.parallelism
        return task_limit is None or running_in_task < task_limit

    def _start(
        self, node: Node, recorded: TaskResourceStatus, attempt: int, workflow_outcome: bool | None
    ) -> tuple[TaskResourceStatus, JobStart | None]:
        try:
            start = self._job_start(node, attempt, workflow_outcome)
        except _Unresolved as error:
            return statuses.finished(
                recorded, TaskPhase.FAILED, Reason.INVALID_SPEC, str(error), self.now
            ), None
        if attempt == 1 and not node.task.exit_handler:
            start = dataclasses.replace(start, ready_at=self._ready_at(node))
        job = job_name(self.state.name, node.name, attempt)
        return statuses.started(recorded, attempt, job, self.now), start

    def _ready_at(self, node: Node) -> datetime | None:
        """When the node's dependencies were all done: the latest finish time among their
        nodes (as planned in this pass, else as recorded), the run's start for a task
        without dependencies; None when a finish time is not known."""
        dependencies = node.task.dependencies
        if not dependencies:
            return self.state.status.started_at or self.now
        finished: list[datetime] = []
        for dependency in dependencies:
            for name in self.group_nodes.get(dependency, []):
                status = self.plan.task_statuses.get(name)
                if status is None and name in self.state.tasks:
                    status = self.state.tasks[name].status
                if status is None or status.finished_at is None:
                    return None
                finished.append(status.finished_at)
        return max(finished, default=None)

    def _job_start(self, node: Node, attempt: int, workflow_outcome: bool | None) -> JobStart:
        """The Job of `attempt`, rendered in full. Raises _Unresolved when a value is
        missing (an item key, an output) or the node's item is unusable."""
        if node.problem is not None:
            raise _Unresolved(f"{node.task.path}.withItems[{node.item_index}]", node.problem)
        values = self._values(node, attempt=attempt, workflow_outcome=workflow_outcome)
        spec = self._node_spec(node, static=False, values=values)
        return JobStart(node.name, attempt, spec)

    def _status_from_finished_job(
        self, node: Node, recorded: TaskResourceStatus, job: ObservedJob
    ) -> TaskResourceStatus:
        if _succeeded_at_deadline(job):
            # The Pod ran to completion (exit code 0) just as the Job's deadline passed, and
            # the Job controller judged the Job failed. The container's result decides: its
            # work is done, and running it again could do it twice (issue 6).
            job = dataclasses.replace(
                job,
                outcome=JobOutcome.SUCCEEDED,
                reason=job.reason if job.exit_code is not None else "Completed",
                exit_code=0,
            )
            attempts = statuses.with_job(recorded, job)
            attempts[-1] = attempts[-1].model_copy(update={"message": _AT_DEADLINE})
        else:
            attempts = statuses.with_job(recorded, job)
        started_at = recorded.started_at or attempts[-1].started_at
        if job.outcome == JobOutcome.SUCCEEDED:
            outputs, problem = statuses.parse_outputs(job.message, node.task)
            used = self._task_datasets(node, job.message)
            if problem is not None:
                status = recorded.model_copy(
                    update={
                        "attempts": attempts,
                        "started_at": started_at,
                        "outputs": outputs or None,
                        "datasets": used,
                    }
                )
                return statuses.finished(
                    status,
                    TaskPhase.FAILED,
                    Reason.OUTPUTS_MISSING,
                    problem,
                    job.finished_at or self.now,
                )
            status = recorded.model_copy(
                update={
                    "attempts": attempts,
                    "started_at": started_at,
                    "outputs": outputs or None,
                    "datasets": used,
                }
            )
            return statuses.finished(
                status, TaskPhase.SUCCEEDED, Reason.SUCCEEDED, None, job.finished_at or self.now
            )
        status = recorded.model_copy(
            update={
                "attempts": attempts,
                "started_at": started_at,
                "datasets": self._task_datasets(node, None),
            }
        )
        reason = {
            "DeadlineExceeded": Reason.DEADLINE_EXCEEDED,
            JOB_DELETED: Reason.JOB_DELETED,
            Reason.PENDING_TIMEOUT.value: Reason.PENDING_TIMEOUT,
        }.get(job.reason or "", Reason.TASK_FAILED)
        return statuses.finished(
            status,
            TaskPhase.FAILED,
            reason,
            statuses.describe_failure(job),
            job.finished_at or self.now,
        )

    def _maybe_retry(
        self,
        node: Node,
        recorded: TaskResourceStatus,
        failed: TaskResourceStatus,
        job: ObservedJob,
        workflow_outcome: bool | None,
        running_in_task: int,
    ) -> tuple[TaskResourceStatus, JobStart | None]:
        strategy = node.task.definition.retry_strategy or self.workflow_spec.retry_strategy
        last = failed.attempts[-1]
        retries_used = last.number - (failed.retries_from or 0) - 1
        kind = retries.failure_kind(
            exit_code=job.exit_code,
            reason="OutputsMissing" if failed.reason == Reason.OUTPUTS_MISSING else job.reason,
            disrupted=job.disrupted,
        )
        if self._stop_for(node.task) is not None or not retries.should_retry(
            strategy, retries_used=retries_used, kind=kind
        ):
            return failed, None
        assert strategy is not None
        delay = retries.backoff_seconds(strategy, retries_used + 1)
        due = statuses.later(job.finished_at or self.now, delay)
        waiting = failed.model_copy(
            update={
                "phase": TaskPhase.RUNNING,
                "reason": Reason.RETRY_BACKOFF,
                "message": f"attempt {last.number} failed ({failed.message}); "
                f"retry {retries_used + 1} of {strategy.limit}",
                "finished_at": None,
                "next_attempt_at": due,
                # From the recorded conditions, so a pass that changes nothing writes nothing.
                "conditions": statuses.set_condition(
                    recorded.conditions,
                    SUCCEEDED,
                    ConditionStatus.UNKNOWN,
                    Reason.RETRY_BACKOFF,
                    "",
                    self.now,
                ),
            }
        )
        return self._retry_when_due(node, waiting, workflow_outcome, running_in_task)

    def _retry_when_due(
        self,
        node: Node,
        waiting: TaskResourceStatus,
        workflow_outcome: bool | None,
        running_in_task: int,
    ) -> tuple[TaskResourceStatus, JobStart | None]:
        # Missing only if the status was edited by hand: the retry was decided, its time
        # is lost; it is due now rather than a pass that raises forever (issue 6).
        due = waiting.next_attempt_at or self.now
        stop = self._stop_for(node.task)
        if stop is not None:
            return statuses.finished(
                waiting,
                TaskPhase.FAILED,
                Reason(stop.value),
                f"not retried: {_STOP_MESSAGES[stop]}",
                self.now,
            ), None
        if self.now < due:
            self.plan.requeue((due - self.now).total_seconds())
            return waiting, None
        if not self._may_start(node, running_in_task):
            return waiting, None
        next_attempt = waiting.attempts[-1].number + 1 if waiting.attempts else 1
        return self._start(node, waiting, next_attempt, workflow_outcome)

    def _dependency_gate(self, task: ResolvedTask) -> tuple[TaskPhase, Reason, str] | None:
        """None when the dependencies allow the task to run; else the phase it takes."""
        results = {name: self._group_result(name) for name in task.dependencies}
        if any(result is None for result in results.values()):
            return TaskPhase.PENDING, Reason.WAITING, ""
        if task.depends is not None:
            if expressions.evaluate_depends(task.depends, self._depends_term):
                return None
            return (
                TaskPhase.SKIPPED,
                Reason.DEPENDS_FALSE,
                f"depends {task.definition.depends!r} is false",
            )
        blocked = sorted(name for name, result in results.items() if result != TaskPhase.SUCCEEDED)
        if not blocked:
            return None
        failed = [name for name in blocked if results[name] == TaskPhase.FAILED]
        verb = "failed" if failed else "was skipped"
        return (
            TaskPhase.SKIPPED,
            Reason.UPSTREAM_FAILED,
            f"not run because dependency {(failed or blocked)[0]!r} {verb}",
        )

    def _depends_term(self, task: str, result: str) -> bool:
        phases = [
            self.node_phases.get(node, TaskPhase.PENDING) for node in self.group_nodes.get(task, [])
        ]
        group = self._group_result(task)
        if result == "Succeeded":
            return group == TaskPhase.SUCCEEDED
        if result == "Failed":
            return group == TaskPhase.FAILED
        if result == "Skipped":
            return group == TaskPhase.SKIPPED
        if result == "Completed":
            return group in (TaskPhase.SUCCEEDED, TaskPhase.FAILED)
        if result == "AnySucceeded":
            return TaskPhase.SUCCEEDED in phases
        if result == "AllFailed":
            return bool(phases) and all(phase == TaskPhase.FAILED for phase in phases)
        return TaskPhase.FAILED in phases  # AnyFailed

    def _group_result(self, task: str) -> TaskPhase | None:
        """A task's result over its nodes: None while any runs; Failed if any failed;
        Skipped if all were skipped (or a dynamic fan-out never expanded); else Succeeded."""
        if task not in self.group_nodes:
            return None
        nodes = self.group_nodes[task]
        if not nodes:
            resolved = self.spec.tasks[task]
            if resolved.fan_out_source is not None:
                source_result = self._group_result(resolved.fan_out_source[0])
                if source_result is None:
                    return None
                if source_result == TaskPhase.SUCCEEDED:
                    # Expanded to nothing (an empty list) or to an invalid value.
                    return TaskPhase.FAILED if self._fan_out_failed(task) else TaskPhase.SUCCEEDED
                return TaskPhase.SKIPPED
            return TaskPhase.SUCCEEDED
        phases = [self.node_phases.get(node, TaskPhase.PENDING) for node in nodes]
        if not all(phase.is_finished for phase in phases):
            return None
        if TaskPhase.FAILED in phases:
            return TaskPhase.FAILED
        if all(phase == TaskPhase.SKIPPED for phase in phases):
            return TaskPhase.SKIPPED
        return TaskPhase.SUCCEEDED

    def _fan_out_failed(self, task: str) -> bool:
        return any(problem.startswith(f"task {task!r}") for problem in self.fan_out_problems)

    def _group_finished(self, task: str) -> bool:
        return self._group_result(task) is not None

    def _main_failed(self) -> bool:
        return bool(self._deciding_failures(self.spec.order))

    def _deciding_failures(self, order: list[str]) -> set[str]:
        """The failed tasks of `order` that fail the run (see failures_reaching_leaves):
        not those a dependent handled."""
        results = {name: self._group_result(name) for name in order}
        omitted = [
            name
            for name, result in results.items()
            if result == TaskPhase.SKIPPED
            and not any(
                self.node_reasons.get(node) == Reason.WHEN_FALSE
                for node in self.group_nodes.get(name, [])
            )
        ]
        failed = [name for name, result in results.items() if result == TaskPhase.FAILED]
        dependencies = {name: self.spec.tasks[name].dependencies for name in order}
        return failures_reaching_leaves(order, dependencies, failed, omitted)

    # -- values and rendering -----------------------------------------------------

    def _collected_output(self, task: str, output: str) -> str:
        nodes = self.group_nodes.get(task, [])
        resolved = self.spec.tasks[task]
        fanned = resolved.definition.with_items is not None or resolved.fan_out_source is not None
        if not fanned:
            outputs = self.node_outputs.get(task, {})
            if output not in outputs:
                raise MissingValue(f"tasks.{task}.outputs.{output}")
            return outputs[output]
        collected = [self.node_outputs.get(node, {}).get(output) for node in nodes]
        return json.dumps([_maybe_json(value) for value in collected], separators=(",", ":"))

    def _values(self, node: Node, *, attempt: int, workflow_outcome: bool | None) -> dict[str, str]:
        task = node.task
        values: dict[str, str] = {
            **self.spec.schedule_values,
            "workflow.name": self.state.name,
            "workflow.namespace": self.state.namespace,
            "task.name": node.name,
            "task.attempt": str(attempt),
        }
        if workflow_outcome is not None:
            values["workflow.status"] = "Failed" if workflow_outcome else "Succeeded"
        if node.item_index is not None and node.problem is None:
            values.update(item_values(node.item))
        for ancestor in self.spec.output_ancestors.get(task.name, ()):
            for output in self.spec.tasks[ancestor].definition.outputs or []:
                try:
                    values[f"tasks.{ancestor}.outputs.{output.name}"] = self._collected_output(
                        ancestor, output.name
                    )
                except MissingValue:
                    continue
        # A task's params may use the workflow's params and upstream outputs; an output not
        # known yet (the Task's spec at creation) stays a reference until the Job starts.
        base = {**values, **{f"params.{k}": v for k, v in self.spec.workflow_params.items()}}
        for name, value in task.params.items():
            values[f"params.{name}"] = render(value, base, partial=True)
        return values

    def _node_spec(
        self, node: Node, *, static: bool, values: dict[str, str] | None = None
    ) -> TaskResourceSpec:
        """The node's task with references rendered: with `static`, only what is known at
        creation (params, workflow, item); otherwise everything (for its Job)."""
        if values is None:
            values = self._values(node, attempt=1, workflow_outcome=None)
            values = {
                k: v for k, v in values.items() if not k.startswith(("tasks.", "task.attempt"))
            }
        definition = node.task.definition

        def text(value: str, where: str) -> str:
            try:
                return render(value, values, partial=static)
            except MissingValue as missing:
                if missing.reference.startswith("item"):
                    why = f"item {node.item_index} of {node.task.name!r} {missing.why}"
                else:
                    why = missing.why
                raise _Unresolved(f"{node.task.path}.{where}", why) from missing

        env = None
        if definition.env is not None:
            env = [
                EnvVar(
                    name=e.name,
                    value=text(e.value, f"env[{i}].value") if e.value is not None else None,
                    value_from=e.value_from,
                )
                for i, e in enumerate(definition.env)
            ]
        try:
            built = self._built_spec(node, definition, text, env)
        except ValidationError as error:
            # Within the Workflow's limits as written, past the Task's once rendered (a long
            # param or upstream output in `image`): the node fails, the pass goes on.
            problems = "; ".join(
                f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}"
                for issue in error.errors()[:5]
            )
            raise _Unresolved(node.task.path, f"not valid once rendered: {problems}") from error
        if values:
            # A param or output used many times can render a task past what the API server
            # stores (1.5 MB an object): its Task or Job could never be created, and the
            # pass would fail on it forever (issue 6). As written it is within the Workflow.
            size = len(built.model_dump_json(by_alias=True, exclude_none=True))
            if size > MAX_RENDERED_TASK_BYTES:
                raise _Unresolved(
                    node.task.path,
                    f"is {size} bytes once rendered, over the limit of "
                    f"{MAX_RENDERED_TASK_BYTES} bytes for one task",
                )
        return built

    def _built_spec(
        self,
        node: Node,
        definition: WorkflowTask,
        text: Callable[[str, str], str],
        env: list[EnvVar] | None,
    ) -> TaskResourceSpec:
        return TaskResourceSpec(
            workflow=self.state.name,
            name=node.name,
            task=node.task.name,
            item_index=node.item_index,
            item=node.item,
            exit_handler=node.task.exit_handler or None,
            depends_on=sorted(node.task.dependencies),
            image=text(definition.image or "", "image"),
            command=[text(part, f"command[{i}]") for i, part in enumerate(definition.command)]
            if definition.command
            else None,
            args=[text(part, f"args[{i}]") for i, part in enumerate(definition.args)]
            if definition.args
            else None,
            env=env,
            resources=definition.resources,
            working_dir=text(definition.working_dir, "workingDir")
            if definition.working_dir
            else None,
            metadata=_render_metadata(definition.metadata, text),
            outputs=definition.outputs,
            inlets=self._rendered_datasets(node, definition.inlets, "inlets", text),
            outlets=self._rendered_datasets(node, definition.outlets, "outlets", text),
            retry_strategy=definition.retry_strategy or self.workflow_spec.retry_strategy,
            active_deadline_seconds=definition.active_deadline_seconds,
            pending_timeout=self._pending_timeout(node),
            **merge_pod_fields(self.workflow_spec.task_defaults, definition),
        )

    def _rendered_datasets(
        self,
        node: Node,
        refs: list[DatasetRef] | None,
        direction: str,
        text: Callable[[str, str], str],
    ) -> list[DatasetRef] | None:
        """The task's inlets or outlets with templates resolved; a value that is no valid
        OpenLineage name once resolved fails the node (issue 10)."""
        if not refs:
            return None
        rendered = []
        for i, ref in enumerate(refs):
            where = f"{direction}[{i}]"
            done = DatasetRef(
                namespace=text(ref.namespace, f"{where}.namespace"),
                name=text(ref.name, f"{where}.name"),
                partition=text(ref.partition, f"{where}.partition") if ref.partition else None,
            )
            unresolved = any(
                REFERENCE.search(text) for text in (done.namespace, done.name, done.partition or "")
            )
            # Rendered in part (the Task's spec read back with no values) it is checked when
            # all is known, at the Task's creation.
            problem = None if unresolved else datasets.ref_problem(done)
            if problem is not None:
                raise _Unresolved(f"{node.task.path}.{where}", f"once resolved, {problem}")
            rendered.append(done)
        return datasets.merge_refs(rendered)

    def _task_datasets(self, node: Node, message: str | None) -> TaskDatasets | None:
        """What the ended attempt read and wrote: the declared datasets (as its Task was
        created) and those its container reported in the termination message."""
        reported_in, reported_out, problem = datasets.parse_reported_datasets(message)
        definition = node.task.definition
        declared_in: list[DatasetRef] = []
        declared_out: list[DatasetRef] = []
        if definition.inlets or definition.outlets:
            try:
                spec = self._node_spec(node, static=True)
            except _Unresolved:
                pass  # the node failed on it when it started; nothing was declared
            else:
                declared_in, declared_out = spec.inlets or [], spec.outlets or []
        inlets, cut_in = datasets.capped(datasets.merge_refs(declared_in, reported_in), "inlets")
        outlets, cut_out = datasets.capped(
            datasets.merge_refs(declared_out, reported_out), "outlets"
        )
        if not inlets and not outlets and problem is None:
            return None
        notes = "; ".join(note for note in (problem, cut_in, cut_out) if note) or None
        return TaskDatasets(inlets=inlets or None, outlets=outlets or None, message=notes)

    # -- clean-up and the workflow's status ---------------------------------------

    def _clean_up_job(
        self, node: str, status: TaskResourceStatus, *, dry_run: bool = False
    ) -> bool:
        """Plans deleting the node's finished Jobs when the clean-up policy says so and
        `status` (the stored one) is final; returns whether there is any to delete."""
        policy = self.workflow_spec.job_cleanup or JobCleanup.NEVER
        if policy == JobCleanup.NEVER or status.phase is None or not status.phase.is_finished:
            return False
        if policy == JobCleanup.ON_TASK_SUCCESS and status.phase != TaskPhase.SUCCEEDED:
            return False
        found = False
        for attempt in status.attempts:
            job = self.state.jobs.get((node, attempt.number))
            if job is not None and job.outcome != JobOutcome.RUNNING:
                found = True
                if not dry_run and job.name not in self.plan.delete_jobs:
                    self.plan.delete_jobs.append(job.name)
        return found

    def _plan_workflow_status(self, main_done: bool, main_failed: bool) -> None:
        state = self.state
        counts = statuses.count_phases(self.node_phases)
        exit_done = all(self._group_finished(name) for name in self.spec.exit_order)
        finished = main_done and (exit_done or self.stop == _Stop.TERMINATED)
        exit_failed = bool(self._deciding_failures(self.spec.exit_order))
        reason, message = Reason.RUNNING, None
        if finished:
            if self.stop is not None:
                reason, message = Reason(self.stop.value), _STOP_MESSAGES[self.stop]
            elif self.fan_out_problems:
                reason, message = Reason.INVALID_SPEC, "; ".join(self.fan_out_problems)
            elif main_failed:
                reason, message = Reason.TASK_FAILED, self._failure_summary()
            elif exit_failed:
                reason, message = Reason.EXIT_HANDLER_FAILED, "the exit handler failed"
            else:
                reason, message = Reason.SUCCEEDED, self._handled_summary()
        phase = WorkflowPhase.RUNNING
        if finished:
            failed = (
                self.stop is not None or main_failed or exit_failed or bool(self.fan_out_problems)
            )
            phase = WorkflowPhase.FAILED if failed else WorkflowPhase.SUCCEEDED
        elif self.workflow_spec.suspend:
            message = "suspended: no new task starts until spec.suspend is false"
        elif self.not_running:
            message = self._not_running_summary()
        condition = {
            WorkflowPhase.RUNNING: ConditionStatus.UNKNOWN,
            WorkflowPhase.SUCCEEDED: ConditionStatus.TRUE,
            WorkflowPhase.FAILED: ConditionStatus.FALSE,
        }[phase]
        conditions = statuses.set_condition(
            state.status.conditions,
            SUCCEEDED,
            condition,
            reason,
            message or "",
            self.now,
            state.generation,
        )
        conditions = statuses.set_condition(
            conditions,
            COMPLETED,
            ConditionStatus.TRUE if finished else ConditionStatus.FALSE,
            reason,
            message or "",
            self.now,
            state.generation,
        )
        if self.workflow_spec.suspend or any(c.type == SUSPENDED for c in conditions):
            conditions = statuses.set_condition(
                conditions,
                SUSPENDED,
                ConditionStatus.TRUE
                if self.workflow_spec.suspend and not finished
                else ConditionStatus.FALSE,
                Reason.SUSPENDED if self.workflow_spec.suspend else Reason.RUNNING,
                "",
                self.now,
                state.generation,
            )
        done = counts.succeeded + counts.failed + counts.skipped
        status = WorkflowStatus(
            phase=phase,
            message=message,
            progress=f"{done}/{counts.total}",
            tasks=counts,
            started_at=state.status.started_at or self.now,
            finished_at=(state.status.finished_at or self.now) if finished else None,
            observed_generation=state.generation,
            retry_handled=state.status.retry_handled,
            conditions=conditions,
        )
        if status != state.status:
            self.plan.workflow_status = status
            self.plan.events.extend(events.workflow_transition_events(state.status, status))
        if finished and self.workflow_spec.ttl_seconds_after_finished is not None:
            self.plan.requeue(float(self.workflow_spec.ttl_seconds_after_finished))

    def _not_running_summary(self) -> str:
        """`task 'train' is not running: Unschedulable: 0/2 nodes are available: ...`"""
        described = [
            f"task {name!r} is not running: {status.reason}: {status.message or ''}"
            for name, status in list(self.not_running.items())[:3]
        ]
        more = len(self.not_running) - len(described)
        return "; ".join(described) + (f" (and {more} more)" if more else "")

    def _handled_summary(self) -> str | None:
        """Says so when the run succeeded although tasks failed: their dependents handled it."""
        failed = [name for name in self.spec.order if self._group_result(name) == TaskPhase.FAILED]
        if not failed:
            return None
        names = ", ".join(repr(name) for name in failed)
        return f"succeeded; the failure of {names} was handled by the tasks depending on it"

    def _failure_summary(self) -> str:
        deciding = self._deciding_failures(self.spec.order)
        failed = [
            node
            for name in self.spec.order
            if name in deciding
            for node in self.group_nodes.get(name, [])
            if self.node_phases.get(node) == TaskPhase.FAILED
        ]
        descriptions = []
        for name in failed[:3]:
            status = self.plan.task_statuses.get(name) or (
                self.state.tasks[name].status if name in self.state.tasks else None
            )
            detail = status.message if status else None
            descriptions.append(
                f"task {name!r} failed: {detail}" if detail else f"task {name!r} failed"
            )
        more = f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""
        return "; ".join(descriptions) + more


_STOP_MESSAGES = {
    _Stop.STOPPED: "the workflow was stopped (spec.shutdown: Stop)",
    _Stop.TERMINATED: "the workflow was terminated (spec.shutdown: Terminate)",
    _Stop.DEADLINE: "the workflow ran past spec.activeDeadlineSeconds",
}


def _render_metadata(
    metadata: PodMetadata | None, text: Callable[[str, str], str]
) -> PodMetadata | None:
    if metadata is None:
        return None
    return PodMetadata(
        labels={k: text(v, f"metadata.labels[{k}]") for k, v in metadata.labels.items()}
        if metadata.labels
        else None,
        annotations=(
            {k: text(v, f"metadata.annotations[{k}]") for k, v in metadata.annotations.items()}
            if metadata.annotations
            else None
        ),
    )


_AT_DEADLINE = (
    "the container exited 0 as the Job's activeDeadlineSeconds passed; the Job controller "
    "marked the Job DeadlineExceeded, the container's result counts"
)
# The largest task spec rendering may make: its Task and its Job each carry it, and the API
# server stores objects up to 1.5 MB.
MAX_RENDERED_TASK_BYTES = 512 * 1024
# How soon a pass comes back to delete the Jobs of Tasks whose final status it wrote.
_CLEAN_UP_AFTER_SECONDS = 0.5


def _succeeded_at_deadline(job: ObservedJob) -> bool:
    """The Job failed for its deadline although its Pod's container exited 0."""
    if job.outcome != JobOutcome.FAILED or job.disrupted:
        return False
    if job.exit_code is not None:
        return job.exit_code == 0
    return job.reason == "DeadlineExceeded" and job.succeeded_pods > 0


def _still_running(recorded: TaskResourceStatus, job: ObservedJob) -> bool:
    """Whether `statuses.running(recorded, job)` would give `recorded` back: the common
    case of a pass in a large run, decided without building the status (issue 8)."""
    if (
        recorded.phase != TaskPhase.RUNNING
        or recorded.reason != Reason.RUNNING
        or recorded.message is not None
        or recorded.started_at is None
        or not recorded.attempts
    ):
        return False
    conditions = recorded.conditions
    if [c.type for c in conditions] != sorted(c.type for c in conditions):
        return False
    condition = next((c for c in conditions if c.type == SUCCEEDED), None)
    if (
        condition is None
        or condition.status != ConditionStatus.UNKNOWN
        or condition.reason != Reason.RUNNING
        or condition.message != ""
        or condition.observed_generation is not None
    ):
        return False
    return statuses.with_job(recorded, job)[-1] == recorded.attempts[-1]


def _vanished_job(
    node: str, recorded: TaskResourceStatus, attempt: int, now: datetime
) -> ObservedJob:
    name = recorded.attempts[-1].job_name
    return ObservedJob(
        name=name,
        task=node,
        attempt=attempt,
        outcome=JobOutcome.FAILED,
        finished_at=now,
        reason=JOB_DELETED,
        message=f"Job {name} was deleted before the attempt finished",
    )


def _item_node(task: ResolvedTask, index: int, item: Any) -> Node:
    problem = json_values.depth_problem(item)
    if problem is not None:
        return Node(f"{task.name}-{index}", task, index, None, f"item {index} {problem}")
    return Node(f"{task.name}-{index}", task, index, item)


def _maybe_json(value: str | None) -> Any:
    """An output as a JSON value when it is one (nested within bounds), else the text."""
    if value is None:
        return None
    try:
        return json_values.parse_json(value)
    except json_values.JsonProblem:
        return value


def _lookup(reference: str, values: Mapping[str, str]) -> str:
    """The value of one `{{...}}` of a `when` expression."""
    return render(reference, values)
