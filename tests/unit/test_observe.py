from typing import Any

from kubedag.api.workflow import RetryPolicy
from kubedag.engine.observations import JobOutcome
from kubedag.engine.retries import failure_kind
from kubedag.k8s.observe import (
    combine_job_and_pods,
    read_job,
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
    termination = read_pod_termination(
        pod({"exitCode": 3, "reason": "Error", "message": "disk full\n"})
    )
    assert record is not None and termination is not None
    observed = combine_job_and_pods(record, [termination])
    assert observed.outcome == JobOutcome.FAILED
    assert (observed.exit_code, observed.reason, observed.message) == (3, "Error", "disk full")


def test_an_evicted_pod_is_an_infrastructure_failure_whatever_its_exit_code() -> None:
    record = read_job(job([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]))
    evicted = pod({"exitCode": 137, "reason": "Error"})
    evicted["status"]["conditions"] = [
        {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}
    ]
    termination = read_pod_termination(evicted)
    assert record is not None and termination is not None
    observed = combine_job_and_pods(record, [termination])
    assert observed.exit_code == 137 and observed.disrupted
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
