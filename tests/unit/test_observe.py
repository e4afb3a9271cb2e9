from typing import Any

from kubedag.api.workflow import RetryPolicy
from kubedag.engine.observations import JobOutcome, PodProblem
from kubedag.engine.retries import failure_kind
from kubedag.k8s.observe import (
    combine_job_and_pods,
    read_creation_failure,
    read_job,
    read_pod,
    read_pod_termination,
    read_workflow,
)
from kubedag.names import job_name

LABELS = {"kubedag.io/workflow": "etl", "kubedag.io/task": "load", "kubedag.io/attempt": "1"}


def job(conditions: list[dict[str, Any]], **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": job_name("etl", "load", 1), "labels": LABELS},
        "status": {"conditions": conditions, **status},
    }


def pod(terminated: dict[str, Any] | None) -> dict[str, Any]:
    state = {"terminated": terminated} if terminated else {"running": {}}
    return {
        "metadata": {"labels": LABELS},
        "status": {"containerStatuses": [{"name": "main", "state": state}]},
    }


def test_a_job_without_terminal_condition_is_running() -> None:
    record = read_job(job([{"type": "SuccessCriteriaMet", "status": "True"}]))
    assert record is not None and record.outcome == JobOutcome.RUNNING


def test_complete_job_takes_its_completion_time() -> None:
    record = read_job(
        job([{"type": "Complete", "status": "True"}], completionTime="2026-11-28T06:00:05Z")
    )
    assert record is not None
    assert record.outcome == JobOutcome.SUCCEEDED
    assert record.finished_at is not None and record.finished_at.second == 5


def test_failed_job_gets_exit_code_and_reason_from_its_pod() -> None:
    record = read_job(
        job(
            [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "lastTransitionTime": "2026-11-28T06:00:09Z",
                }
            ]
        )
    )
    failed_pod = read_pod(pod({"exitCode": 3, "reason": "Error", "message": "disk full\n"}))
    assert record is not None and failed_pod is not None
    observed = combine_job_and_pods(record, [failed_pod])
    assert observed.outcome == JobOutcome.FAILED
    assert (observed.exit_code, observed.reason, observed.message) == (3, "Error", "disk full")


def test_an_evicted_pod_is_an_infrastructure_failure_whatever_its_exit_code() -> None:
    record = read_job(job([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]))
    evicted = pod({"exitCode": 137, "reason": "Error"})
    evicted["status"]["conditions"] = [
        {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}
    ]
    evicted_pod = read_pod(evicted)
    assert record is not None and evicted_pod is not None
    observed = combine_job_and_pods(record, [evicted_pod])
    assert observed.exit_code == 137 and observed.disrupted
    assert observed.reason == "EvictionByEvictionAPI"
    kind = failure_kind(
        exit_code=observed.exit_code, reason=observed.reason, disrupted=observed.disrupted
    )
    assert kind == RetryPolicy.ON_ERROR
    plain = read_pod_termination(pod({"exitCode": 137, "reason": "Error"}))
    assert plain is not None and not plain.disrupted
    assert failure_kind(exit_code=137, reason="Error") == RetryPolicy.ON_FAILURE


def test_failed_job_without_a_terminated_pod_keeps_the_jobs_reason() -> None:
    record = read_job(
        job([{"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "late"}])
    )
    assert record is not None
    observed = combine_job_and_pods(record, [])
    assert (observed.exit_code, observed.reason, observed.message) == (
        None,
        "DeadlineExceeded",
        "late",
    )


def test_running_pod_has_no_termination_and_foreign_jobs_are_ignored() -> None:
    assert read_pod_termination(pod(None)) is None
    assert read_job({"metadata": {"name": "other", "labels": {}}, "status": {}}) is None


def test_workflow_with_an_unparseable_spec_is_kept_with_the_problem() -> None:
    record = read_workflow(
        {
            "metadata": {"namespace": "d", "name": "w", "uid": "u", "generation": 2},
            "spec": {"tasks": [{"name": "a", "image": "x", "dependsOn": "b"}]},
        }
    )
    assert record.spec is None
    assert record.spec_problem is not None and "spec.tasks.0.dependsOn" in record.spec_problem


# -- why a Pod does not run (issue 7, point 3) ---------------------------------------------


def waiting_pod(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"labels": LABELS, "ownerReferences": [{"uid": "job-1", "controller": True}]},
        "status": {"phase": "Pending", **status},
    }


def test_an_unschedulable_pod_gives_the_schedulers_reason_and_message() -> None:
    record = read_pod(
        waiting_pod(
            conditions=[
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.",
                }
            ]
        )
    )
    assert record is not None and not record.started and record.worth_keeping
    assert record.not_running == PodProblem(
        "Unschedulable", "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
    )


def test_an_image_that_cannot_be_pulled_gives_the_containers_waiting_reason() -> None:
    record = read_pod(
        waiting_pod(
            conditions=[{"type": "PodScheduled", "status": "True"}],
            containerStatuses=[
                {
                    "name": "main",
                    "state": {
                        "waiting": {
                            "reason": "ImagePullBackOff",
                            "message": 'Back-off pulling image "nope:1"',
                        }
                    },
                }
            ],
        )
    )
    assert record is not None
    assert record.not_running == PodProblem("ImagePullBackOff", 'Back-off pulling image "nope:1"')


def test_a_missing_secret_gives_create_container_config_error() -> None:
    record = read_pod(
        waiting_pod(
            containerStatuses=[
                {
                    "name": "main",
                    "state": {
                        "waiting": {
                            "reason": "CreateContainerConfigError",
                            "message": 'secret "db" not found',
                        }
                    },
                }
            ]
        )
    )
    assert record is not None
    assert record.not_running == PodProblem("CreateContainerConfigError", 'secret "db" not found')


def test_a_stuck_init_container_is_named() -> None:
    record = read_pod(
        waiting_pod(
            initContainerStatuses=[
                {
                    "name": "fetch",
                    "state": {"waiting": {"reason": "ErrImagePull", "message": "not found"}},
                }
            ],
            containerStatuses=[
                {"name": "main", "state": {"waiting": {"reason": "PodInitializing"}}}
            ],
        )
    )
    assert record is not None
    assert record.not_running == PodProblem("ErrImagePull", "init container 'fetch': not found")


def test_a_pod_on_its_way_to_running_has_nothing_to_say_and_is_not_kept() -> None:
    record = read_pod(
        waiting_pod(
            containerStatuses=[
                {"name": "main", "state": {"waiting": {"reason": "ContainerCreating"}}}
            ]
        )
    )
    assert record is not None
    assert record.not_running is None and not record.started and not record.worth_keeping


def test_a_running_pod_has_started_and_nothing_wrong() -> None:
    record = read_pod(pod(None))
    assert record is not None and record.started and record.not_running is None
    assert record.termination is None


def test_a_preempted_pod_that_never_ran_fails_its_attempt_with_the_preemption() -> None:
    record = read_job(job([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]))
    preempted = read_pod(
        waiting_pod(
            phase="Failed",
            conditions=[
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "reason": "PreemptionByScheduler",
                    "message": "preempted by default/important",
                }
            ],
        )
    )
    assert record is not None and preempted is not None
    observed = combine_job_and_pods(record, [preempted])
    assert (observed.reason, observed.message, observed.disrupted) == (
        "PreemptionByScheduler",
        "preempted by default/important",
        True,
    )


def test_a_kubelet_eviction_says_evicted_with_the_pods_message() -> None:
    evicted = pod({"exitCode": 137, "reason": "Error"})
    evicted["status"].update(
        reason="Evicted",
        message="The node was low on resource: memory.",
        conditions=[
            {"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet"}
        ],
    )
    record = read_pod(evicted)
    assert record is not None
    assert record.disruption == PodProblem("Evicted", "The node was low on resource: memory.")


def test_a_job_synced_without_any_pod_is_failing_to_create_it() -> None:
    synced = read_job(job([], startTime="2026-11-30T06:27:03Z", ready=0, terminating=0))
    fresh = read_job(job([]))
    running = read_job(job([], startTime="2026-11-30T06:27:03Z", active=1))
    assert synced is not None and synced.pod_creation_failing
    assert fresh is not None and not fresh.pod_creation_failing
    assert running is not None and not running.pod_creation_failing


def test_the_latest_failed_create_event_says_why_and_applies_only_without_a_pod() -> None:
    events = [
        {
            "metadata": {},
            "reason": "FailedCreate",
            "lastTimestamp": "2026-11-30T06:27:03Z",
            "message": "Error creating: old",
        },
        {
            "metadata": {},
            "reason": "FailedCreate",
            "lastTimestamp": "2026-11-30T06:27:09Z",
            "message": 'Error creating: pods "x" is forbidden: violates PodSecurity '
            '"restricted:latest": runAsNonRoot != true',
        },
        {"metadata": {}, "reason": "SuccessfulCreate", "lastTimestamp": "2026-11-30T06:28:00Z"},
    ]
    problem = read_creation_failure(events)
    assert problem is not None and problem.reason == "FailedCreate"
    assert problem.message.startswith('pods "x" is forbidden: violates PodSecurity')
    assert read_creation_failure(events[2:]) is None
    synced = read_job(job([], startTime="2026-11-30T06:27:03Z"))
    assert synced is not None
    assert combine_job_and_pods(synced, [], problem).not_running == problem
    started = read_pod(pod(None))
    assert started is not None
    observed = combine_job_and_pods(synced, [started], problem)
    assert observed.started and observed.not_running is None


# -- the attempt decided by its Pod's end, before the Job's condition (issue 8) ---------


def ended_pod(phase: str, exit_code: int, **metadata: Any) -> dict[str, Any]:
    body = pod(
        {
            "exitCode": exit_code,
            "reason": "Completed" if exit_code == 0 else "Error",
            "finishedAt": "2026-11-28T06:00:03Z",
            "message": '{"rows": "7"}' if exit_code == 0 else "disk full",
        }
    )
    body["status"]["phase"] = phase
    body["metadata"].update(metadata)
    return body


def running_job() -> Any:
    record = read_job(job([]))
    assert record is not None and record.outcome == JobOutcome.RUNNING
    return record


def test_a_pod_that_succeeded_on_its_own_decides_the_attempt_before_the_job_says_so() -> None:
    ended = read_pod(ended_pod("Succeeded", 0))
    assert ended is not None
    observed = combine_job_and_pods(running_job(), [ended])
    assert observed.outcome == JobOutcome.SUCCEEDED
    assert observed.exit_code == 0 and observed.message == '{"rows": "7"}'
    assert observed.finished_at is not None and observed.finished_at.second == 3


def test_a_pod_that_failed_on_its_own_fails_the_attempt_with_its_exit_code() -> None:
    ended = read_pod(ended_pod("Failed", 3))
    assert ended is not None
    observed = combine_job_and_pods(running_job(), [ended])
    assert (observed.outcome, observed.exit_code, observed.reason, observed.message) == (
        JobOutcome.FAILED,
        3,
        "Error",
        "disk full",
    )


def test_the_verdict_from_the_pod_is_the_one_the_job_gives_later() -> None:
    """What the Task records must not depend on which of the two arrived first."""
    for phase, exit_code, condition in (
        ("Succeeded", 0, {"type": "Complete", "status": "True"}),
        ("Failed", 3, {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}),
    ):
        ended = read_pod(ended_pod(phase, exit_code))
        finished_job = read_job(job([condition]))
        assert ended is not None and finished_job is not None
        early = combine_job_and_pods(running_job(), [ended])
        late = combine_job_and_pods(finished_job, [ended])
        assert (early.outcome, early.exit_code, early.reason, early.message) == (
            late.outcome,
            late.exit_code,
            late.reason,
            late.message,
        )


def test_the_job_decides_when_its_pod_was_deleted_disrupted_replaced_or_still_running() -> None:
    deleted = ended_pod("Failed", 143, deletionTimestamp="2026-11-28T06:00:02Z")
    disrupted = ended_pod("Failed", 137)
    disrupted["status"]["conditions"] = [
        {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}
    ]
    # The task container ended but a container of the Pod still runs: not over yet.
    sidecar_running = ended_pod("Running", 0)
    cases = {
        "deleted (a Job deadline, a delete by hand)": [deleted],
        "disrupted": [disrupted],
        "replaced": [ended_pod("Failed", 1), ended_pod("Succeeded", 0)],
        "still running": [sidecar_running],
    }
    for case, bodies in cases.items():
        pods = [read_pod(body) for body in bodies]
        assert all(p is not None for p in pods)
        observed = combine_job_and_pods(running_job(), [p for p in pods if p is not None])
        assert observed.outcome == JobOutcome.RUNNING, case
