"""A tiny in-memory stand-in for the API server and the Job controller, so the planner
can be driven through whole runs in unit tests. It applies a Plan the way the operator's
shell does, and finishes Jobs with outcomes chosen by the test."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from kubedag.api.task import TaskResourceStatus, with_server_defaults
from kubedag.api.workflow import WorkflowSpec, WorkflowStatus, WorkflowTask
from kubedag.engine import statuses
from kubedag.engine.observations import JobOutcome, ObservedJob, ObservedTask
from kubedag.engine.plan import Event, Plan, WorkflowState
from kubedag.engine.planning import plan_next_steps
from kubedag.names import job_name

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def make_spec(dependencies: dict[str, list[str]]) -> WorkflowSpec:
    return WorkflowSpec(
        tasks=[
            WorkflowTask(name=name, image="busybox", depends_on=deps)
            for name, deps in dependencies.items()
        ]
    )


@dataclass
class World:
    spec: WorkflowSpec
    # Exit code of a node's Job: an int for every attempt, or a list per attempt (the last
    # entry repeats).
    exit_codes: dict[str, int | list[int]] = field(default_factory=dict)
    # The termination message (outputs JSON) of a node's Job when it succeeds.
    messages: dict[str, str] = field(default_factory=dict)
    name: str = "wf"
    clock: int = 0
    tasks: dict[str, ObservedTask] = field(default_factory=dict)
    jobs: dict[tuple[str, int], ObservedJob] = field(default_factory=dict)
    status: WorkflowStatus = field(default_factory=WorkflowStatus)
    job_created_at: dict[str, int] = field(default_factory=dict)
    retry_request: str | None = None
    deleted: bool = False
    job_finished_at: dict[str, int] = field(default_factory=dict)
    jobs_created: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)  # posted, in order
    # Jobs created by the operator that its Job watch has not delivered yet.
    jobs_in_flight: set[tuple[str, int]] = field(default_factory=set)
    # Last statuses of Tasks deleted by hand, as the operator saw them go.
    deleted_tasks: dict[str, TaskResourceStatus] = field(default_factory=dict)
    # Attempts whose Job ran and is gone without a record on the Task.
    jobs_ran_before: set[tuple[str, int]] = field(default_factory=set)
    # As the shell does for a young Job (issue 8): a status that only starts an attempt is
    # not written; the Job is the attempt's record until something else happens.
    hold_starts: bool = False

    def now(self) -> datetime:
        return EPOCH + timedelta(seconds=self.clock)

    def state(self) -> WorkflowState:
        return WorkflowState(
            name=self.name,
            generation=1,
            spec=self.spec,
            status=self.status,
            tasks=dict(self.tasks),
            jobs=dict(self.jobs),
            retry_request=self.retry_request,
            jobs_in_flight=frozenset(self.jobs_in_flight),
            jobs_ran_before=frozenset(self.jobs_ran_before),
            deleted_tasks={k: v for k, v in self.deleted_tasks.items() if k not in self.tasks},
        )

    def plan(self) -> Plan:
        return plan_next_steps(self.state(), now=self.now())

    def apply(self, plan: Plan, *, crash_after: int | None = None) -> None:
        """Applies the plan in the shell's order; `crash_after` stops after that many
        writes, as a SIGKILL of the operator would."""
        writes = 0

        def budget_left() -> bool:
            nonlocal writes
            writes += 1
            return crash_after is None or writes <= crash_after

        for create in plan.create_tasks:
            if not budget_left():
                return
            # As the API server reads it back: the CRD's status defaults filled in.
            status = with_server_defaults(TaskResourceStatus())
            self.tasks.setdefault(
                create.node, ObservedTask(create.node, f"uid-{create.node}", status)
            )
        for start in plan.start_jobs:
            if not budget_left():
                return
            key = (start.node, start.attempt)
            if key not in self.jobs:  # AlreadyExists otherwise
                self.jobs[key] = ObservedJob(
                    name=job_name(self.name, start.node, start.attempt),
                    task=start.node,
                    attempt=start.attempt,
                    outcome=JobOutcome.RUNNING,
                )
                self.job_created_at[start.node] = self.clock
                self.jobs_created.append(start.node)
        for name, status in plan.task_statuses.items():
            task = self.tasks[name]
            if self.hold_starts and statuses.only_starts(task.status, status) is not None:
                continue
            if not budget_left():
                return
            self.tasks[name] = ObservedTask(task.name, task.uid, with_server_defaults(status))
        for name in plan.delete_jobs:
            for key, job in list(self.jobs.items()):
                if job.name == name:
                    del self.jobs[key]
        if plan.workflow_status is not None:
            if not budget_left():
                return
            self.status = plan.workflow_status
        self.events.extend(plan.events)
        self.deleted = self.deleted or plan.delete_workflow

    def running_jobs(self) -> list[tuple[str, int]]:
        return [key for key, job in self.jobs.items() if job.outcome == JobOutcome.RUNNING]

    def finish(self, key: tuple[str, int]) -> None:
        self.clock += 1
        job = self.jobs[key]
        codes = self.exit_codes.get(job.task, 0)
        exit_code = codes[min(job.attempt, len(codes)) - 1] if isinstance(codes, list) else codes
        self.jobs[key] = ObservedJob(
            name=job.name,
            task=job.task,
            attempt=job.attempt,
            outcome=JobOutcome.SUCCEEDED if exit_code == 0 else JobOutcome.FAILED,
            finished_at=self.now(),
            exit_code=exit_code,
            reason="Completed" if exit_code == 0 else "Error",
            message=self.messages.get(job.task) if exit_code == 0 else None,
        )
        self.job_finished_at[job.task] = self.clock

    def run_to_end(
        self,
        rng: random.Random | None = None,
        *,
        crash_chance: float = 0.0,
        max_steps: int = 10_000,
    ) -> None:
        rng = rng or random.Random(0)
        crashed = False
        for _ in range(max_steps):
            plan = self.plan()
            crash = rng.random() < crash_chance
            crashed = crashed or crash
            # Taking a retry request resets statuses in a pass of its own.
            retrying = self.retry_request not in (None, self.status.retry_handled)
            self.apply(plan, crash_after=rng.randint(0, 5) if crash else None)
            if not crashed and not retrying and not self.hold_starts:
                # Steady: with nothing new observed, a second pass writes nothing (a status
                # the server reads back differently would loop). After a crash, a Job
                # whose Running write was lost takes one more pass to be seen finished.
                again = self.plan()
                assert not again.task_statuses and again.workflow_status is None, again
            if self.status.phase is not None and self.status.phase.is_finished:
                # Over once nothing is left to do (a crash may have cut the last pass short).
                if self.plan().is_empty:
                    return
                continue
            running = self.running_jobs()
            if running and (plan.is_empty or rng.random() < 0.5):
                self.finish(rng.choice(running))
            elif plan.is_empty and not running:
                if plan.requeue_after is None:
                    raise AssertionError("the run is stuck: nothing to do and nothing running")
                # Nothing happens until a timer (a retry's backoff, a deadline) fires.
                self.clock += max(1, int(plan.requeue_after + 0.999))
        raise AssertionError("the run did not end")
