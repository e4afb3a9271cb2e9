"""Issue 7, point 3: a task whose Pod cannot be created or placed says why."""

import dataclasses

from kubedag.api.pod import PodFields
from kubedag.api.task import TaskPhase
from kubedag.api.workflow import (
    RetryPolicy,
    RetryStrategy,
    TaskDefaults,
    WorkflowSpec,
    WorkflowTask,
)
from kubedag.engine.observations import JobOutcome, PodProblem
from kubedag.engine.plan import EventType, Reason
from tests.unit.simulated_world import World, make_spec

UNSCHEDULABLE = PodProblem(
    "Unschedulable", "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
)
REFUSED = PodProblem(
    "FailedCreate",
    'pods "etl-train-1-x" is forbidden: violates PodSecurity "restricted:latest": '
    "runAsNonRoot != true",
)


def started_world(spec: WorkflowSpec | None = None) -> World:
    world = World(spec or make_spec({"train": []}))
    world.apply(world.plan())
    assert world.tasks["train"].status.phase == TaskPhase.RUNNING
    return world


def observe(world: World, **fields: object) -> None:
    key = ("train", world.tasks["train"].status.attempts[-1].number)
    world.jobs[key] = dataclasses.replace(world.jobs[key], **fields)  # type: ignore[arg-type]


def not_running_events(world: World) -> list[str]:
    return [e.message for e in world.events if e.reason == Reason.TASK_NOT_RUNNING]


def test_a_healthy_pod_not_running_yet_costs_no_write_and_reads_running() -> None:
    world = started_world()
    plan = world.plan()
    assert plan.is_empty
    observe(world, started=True)
    assert world.plan().is_empty  # Running already, as written when the Job was made


def test_an_unschedulable_pod_shows_pending_with_the_schedulers_words() -> None:
    world = started_world()
    observe(world, not_running=UNSCHEDULABLE)
    plan = world.plan()
    status = plan.task_statuses["train"]
    assert (status.phase, status.reason, status.message) == (
        TaskPhase.PENDING,
        "Unschedulable",
        UNSCHEDULABLE.message,
    )
    assert status.attempts[-1].job_name  # the attempt is kept
    world.apply(plan)
    assert world.status.message is not None
    assert world.status.message.startswith("task 'train' is not running: Unschedulable: 0/2 nodes")
    warnings = [e for e in world.events if e.reason == Reason.TASK_NOT_RUNNING]
    assert len(warnings) == 1 and warnings[0].type == EventType.WARNING
    assert warnings[0].task == "train" and UNSCHEDULABLE.message in warnings[0].message


def test_the_same_problem_is_written_and_told_once_whatever_its_message_becomes() -> None:
    world = started_world()
    observe(world, not_running=UNSCHEDULABLE)
    world.apply(world.plan())
    observe(world, not_running=PodProblem("Unschedulable", "0/3 nodes are available: ..."))
    assert world.plan().is_empty
    observe(world, not_running=PodProblem("ErrImagePull", "manifest unknown"))
    world.apply(world.plan())
    observe(world, not_running=PodProblem("ImagePullBackOff", 'Back-off pulling image "x"'))
    assert world.plan().is_empty  # the kubelet's two words for one problem
    assert world.tasks["train"].status.message == "manifest unknown"
    assert len(not_running_events(world)) == 2  # Unschedulable, then the image


def test_running_only_once_the_container_runs() -> None:
    world = started_world()
    observe(world, not_running=REFUSED)
    world.apply(world.plan())
    assert world.tasks["train"].status.reason == "FailedCreate"
    observe(world, not_running=None)  # the Pod was created at last, not running yet
    assert world.plan().is_empty
    observe(world, started=True)
    plan = world.plan()
    world.apply(plan)
    status = world.tasks["train"].status
    assert (status.phase, status.reason, status.message) == (TaskPhase.RUNNING, "Running", None)
    assert world.status.message is None
    world.finish(("train", 1))
    world.apply(world.plan())
    assert world.tasks["train"].status.phase == TaskPhase.SUCCEEDED


def test_a_task_whose_pod_does_not_run_keeps_its_parallelism_slot() -> None:
    spec = make_spec({"train": [], "other": []}).model_copy(update={"parallelism": 1})
    world = World(spec)
    world.apply(world.plan())
    observe(world, not_running=UNSCHEDULABLE)
    plan = world.plan()
    assert plan.start_jobs == []
    world.apply(plan)
    assert world.plan().start_jobs == []


def pending_timeout_spec(
    seconds: int, *, retry: RetryStrategy | None = None, on_task: bool = True
) -> WorkflowSpec:
    return WorkflowSpec(
        tasks=[
            WorkflowTask(
                name="train",
                image="busybox",
                pending_timeout=seconds if on_task else None,
                retry_strategy=retry,
            )
        ],
        task_defaults=None if on_task else TaskDefaults(pending_timeout=seconds),
    )


def test_pending_timeout_fails_the_attempt_and_deletes_its_job() -> None:
    world = started_world(pending_timeout_spec(30))
    observe(world, not_running=UNSCHEDULABLE)
    plan = world.plan()
    assert plan.requeue_after is not None and plan.requeue_after <= 30
    world.apply(plan)
    world.clock += 30
    plan = world.plan()
    status = plan.task_statuses["train"]
    assert (status.phase, status.reason) == (TaskPhase.FAILED, Reason.PENDING_TIMEOUT)
    assert status.message is not None
    assert "did not start running within pendingTimeout (30s)" in status.message
    assert UNSCHEDULABLE.message in status.message
    assert status.attempts[-1].reason == "PendingTimeout"
    assert plan.delete_jobs == [world.jobs[("train", 1)].name]


def test_pending_timeout_does_not_apply_once_the_container_runs() -> None:
    world = started_world(pending_timeout_spec(30))
    observe(world, started=True)
    world.clock += 300
    plan = world.plan()
    assert "train" not in plan.task_statuses and not plan.delete_jobs


def test_pending_timeout_from_task_defaults_is_an_infrastructure_error_retried_on_error() -> None:
    retry = RetryStrategy(limit=1, retry_policy=RetryPolicy.ON_ERROR)
    world = started_world(pending_timeout_spec(10, retry=retry, on_task=False))
    world.clock += 10
    world.apply(world.plan())
    status = world.tasks["train"].status
    assert status.reason in (Reason.RETRY_BACKOFF, Reason.RUNNING)
    assert status.attempts[0].reason == "PendingTimeout"
    assert ("train", 2) in world.jobs or status.reason == Reason.RETRY_BACKOFF


def test_an_evicted_attempt_says_so_not_backoff_limit_exceeded() -> None:
    world = started_world()
    observe(
        world,
        outcome=JobOutcome.FAILED,
        finished_at=world.now(),
        reason="PreemptionByScheduler",
        message="preempted by default/important",
        disrupted=True,
    )
    status = world.plan().task_statuses["train"]
    assert status.phase == TaskPhase.FAILED
    assert status.attempts[-1].reason == "PreemptionByScheduler"
    assert status.message == "PreemptionByScheduler: preempted by default/important"


def test_pending_timeout_is_a_task_field_a_template_and_task_defaults_can_set() -> None:
    assert "pending_timeout" in TaskDefaults.model_fields
    assert "pending_timeout" not in PodFields.model_fields  # not a chart-wide Pod default
