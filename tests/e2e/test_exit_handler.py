"""The exit handler (spec.onExit): runs after every other task, whatever the outcome, and
knows that outcome as {{workflow.status}}."""

from __future__ import annotations

from tests.e2e.cluster import Kubectl, task, wait_for, workflow
from tests.e2e.helpers import (
    attempt_ended,
    condition,
    container_args,
    jobs_by_task,
    tasks_by_name,
    timestamp,
    wait_for_phase,
)

NOTIFY = task("notify", args=["{{workflow.status}}"])


def test_exit_handler_runs_after_success_and_sees_workflow_status_succeeded(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "nightly",
            [task("extract", seconds=1), task("load", depends_on=["extract"])],
            onExit=[NOTIFY],
        ),
    )

    body = wait_for_phase(kubectl, namespace, "nightly", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"
    jobs = jobs_by_task(kubectl, namespace, "nightly")
    (notify,) = jobs["notify"]
    assert container_args(notify) == ["Succeeded"]
    tasks = tasks_by_name(kubectl, namespace, "nightly")
    assert timestamp(notify["metadata"]["creationTimestamp"]) >= attempt_ended(tasks["load"])
    assert tasks["notify"]["status"]["phase"] == "Succeeded"


def test_exit_handler_runs_after_a_failure_and_sees_workflow_status_failed(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "nightly",
            [task("extract", exit_code=1), task("load", depends_on=["extract"])],
            onExit=[NOTIFY],
        ),
    )

    body = wait_for_phase(kubectl, namespace, "nightly", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Failed"
    assert condition(body, "Succeeded")["reason"] == "TaskFailed"
    (notify,) = jobs_by_task(kubectl, namespace, "nightly")["notify"]
    assert container_args(notify) == ["Failed"]
    tasks = tasks_by_name(kubectl, namespace, "nightly")
    assert tasks["notify"]["status"]["phase"] == "Succeeded"
    assert tasks["load"]["status"]["phase"] == "Skipped"


def test_workflow_stays_running_until_its_exit_handler_has_finished(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow("nightly", [task("extract")], onExit=[task("notify", seconds=3)]),
    )

    def phase_while_notify_runs() -> str | None:
        # The workflow is read first: if notify is still running afterwards, it was
        # running when the workflow's phase was read.
        phase = (kubectl.get(namespace, "workflow", "nightly").get("status") or {}).get("phase")
        notify = tasks_by_name(kubectl, namespace, "nightly").get("notify")
        running = notify is not None and (notify.get("status") or {}).get("phase") == "Running"
        return phase if running else None

    assert wait_for("the exit handler to run", phase_while_notify_runs) == "Running"

    body = wait_for_phase(kubectl, namespace, "nightly", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"
    notify = tasks_by_name(kubectl, namespace, "nightly")["notify"]
    assert timestamp(body["status"]["finishedAt"]) >= timestamp(notify["status"]["finishedAt"])


def test_failing_exit_handler_fails_the_workflow_with_reason_exit_handler_failed(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow("nightly", [task("extract")], onExit=[task("notify", exit_code=2)]),
    )

    body = wait_for_phase(kubectl, namespace, "nightly", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Failed"
    succeeded = condition(body, "Succeeded")
    assert (succeeded["status"], succeeded["reason"]) == ("False", "ExitHandlerFailed")
    tasks = tasks_by_name(kubectl, namespace, "nightly")
    assert tasks["extract"]["status"]["phase"] == "Succeeded"
    assert tasks["notify"]["status"]["phase"] == "Failed"
    assert tasks["notify"]["status"]["attempts"][0]["exitCode"] == 2
