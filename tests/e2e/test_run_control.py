"""Controlling a run from outside: suspend and resume, stop, terminate, and retry from the
point of failure, each done with kubectl as a user would."""

from __future__ import annotations

import json
from typing import Any

from kubedag.names import job_name
from tests.e2e.cluster import Kubectl, task, wait_for, workflow
from tests.e2e.helpers import condition, jobs_by_task, tasks_by_name, wait_for_phase


def patch_spec(kubectl: Kubectl, namespace: str, name: str, **fields: Any) -> None:
    patch = json.dumps({"spec": fields})
    kubectl.run("patch", "workflow", name, "-n", namespace, "--type", "merge", "-p", patch)


def task_state(kubectl: Kubectl, namespace: str, workflow: str) -> dict[str, tuple[str, str]]:
    """(phase, reason) of each Task, empty strings before the operator wrote a status."""
    return {
        name: ((t.get("status") or {}).get("phase", ""), (t.get("status") or {}).get("reason", ""))
        for name, t in tasks_by_name(kubectl, namespace, workflow).items()
    }


def wait_until_running(kubectl: Kubectl, namespace: str, workflow: str, name: str) -> None:
    wait_for(
        f"{name} to be running",
        lambda: task_state(kubectl, namespace, workflow).get(name, ("", ""))[0] == "Running",
    )


def test_workflow_created_suspended_starts_no_job_until_resumed(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow("held", [task("extract"), task("load", depends_on=["extract"])], suspend=True),
    )

    def extract_suspended() -> dict[str, tuple[str, str]] | None:
        state = task_state(kubectl, namespace, "held")
        return state if state.get("extract") == ("Pending", "Suspended") else None

    wait_for("extract to be held back by the suspension", extract_suspended)
    assert kubectl.list(namespace, "jobs", "kubedag.io/workflow=held") == []
    body = kubectl.get(namespace, "workflow", "held")
    assert condition(body, "Suspended")["status"] == "True"
    assert "suspended" in body["status"]["message"]

    patch_spec(kubectl, namespace, "held", suspend=False)
    body = wait_for_phase(kubectl, namespace, "held", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"
    assert condition(body, "Suspended")["status"] == "False"
    assert set(jobs_by_task(kubectl, namespace, "held")) == {"extract", "load"}


def test_suspending_a_running_workflow_lets_running_jobs_finish_and_starts_no_new_one(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow("paused", [task("extract", seconds=3), task("load", depends_on=["extract"])]),
    )
    wait_until_running(kubectl, namespace, "paused", "extract")
    patch_spec(kubectl, namespace, "paused", suspend=True)

    def held() -> dict[str, tuple[str, str]] | None:
        state = task_state(kubectl, namespace, "paused")
        return state if state.get("load") == ("Pending", "Suspended") else None

    state = wait_for("load to be held back by the suspension", held)
    assert state["extract"] == ("Succeeded", "Succeeded")
    assert set(jobs_by_task(kubectl, namespace, "paused")) == {"extract"}
    assert kubectl.get(namespace, "workflow", "paused")["status"]["phase"] == "Running"

    patch_spec(kubectl, namespace, "paused", suspend=False)
    body = wait_for_phase(kubectl, namespace, "paused", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"
    assert set(jobs_by_task(kubectl, namespace, "paused")) == {"extract", "load"}


def test_stop_lets_running_tasks_finish_runs_the_exit_handler_and_fails_as_stopped(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "stopped",
            [task("extract", seconds=3), task("load", depends_on=["extract"])],
            onExit=[task("notify", args=["{{workflow.status}}"])],
        ),
    )
    wait_until_running(kubectl, namespace, "stopped", "extract")
    patch_spec(kubectl, namespace, "stopped", shutdown="Stop")

    body = wait_for_phase(kubectl, namespace, "stopped", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Failed"
    succeeded = condition(body, "Succeeded")
    assert (succeeded["status"], succeeded["reason"]) == ("False", "Stopped")

    state = task_state(kubectl, namespace, "stopped")
    assert state["extract"] == ("Succeeded", "Succeeded")
    assert state["load"][0] == "Skipped"
    assert state["notify"][0] == "Succeeded"
    jobs = jobs_by_task(kubectl, namespace, "stopped")
    assert set(jobs) == {"extract", "notify"}
    # The Job controller agrees with the Task (a moment later: it batches Job syncs by 1 s).
    wait_for(
        "extract's Job to be marked succeeded",
        lambda: (
            (jobs_by_task(kubectl, namespace, "stopped")["extract"][0].get("status") or {}).get(
                "succeeded"
            )
            == 1
        ),
    )
    args = jobs["notify"][0]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == ["Failed"]


def test_terminate_deletes_running_jobs_and_does_not_run_the_exit_handler(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "terminated",
            [task("extract", seconds=60), task("load", depends_on=["extract"])],
            onExit=[task("notify")],
        ),
    )
    wait_until_running(kubectl, namespace, "terminated", "extract")
    patch_spec(kubectl, namespace, "terminated", shutdown="Terminate")

    body = wait_for_phase(kubectl, namespace, "terminated", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Failed"
    succeeded = condition(body, "Succeeded")
    assert (succeeded["status"], succeeded["reason"]) == ("False", "Terminated")
    state = task_state(kubectl, namespace, "terminated")
    assert state["extract"] == ("Failed", "Terminated")
    assert state["load"][0] == "Skipped"
    assert state["notify"][0] == "Skipped"
    wait_for(
        "extract's running Job to be deleted",
        lambda: jobs_by_task(kubectl, namespace, "terminated") == {},
    )


def test_retry_annotation_reruns_a_failed_workflow_from_the_point_of_failure(
    kubectl: Kubectl, namespace: str
) -> None:
    # transform's first attempt publishes `attempt1` where `attempt2` is declared, so it
    # fails (OutputsMissing); run again as attempt 2, it publishes `attempt2` and succeeds.
    kubectl.apply(
        namespace,
        workflow(
            "rerun",
            [
                task("extract"),
                task(
                    "transform",
                    depends_on=["extract"],
                    output='{"attempt{{task.attempt}}": "done"}',
                    outputs=[{"name": "attempt2"}],
                ),
                task("load", depends_on=["transform"]),
            ],
        ),
    )
    body = wait_for_phase(kubectl, namespace, "rerun", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Failed"
    assert task_state(kubectl, namespace, "rerun")["load"][0] == "Skipped"
    (extract_job,) = jobs_by_task(kubectl, namespace, "rerun")["extract"]

    kubectl.run("annotate", "workflow", "rerun", "-n", namespace, "kubedag.io/retry=1")

    def retried() -> dict[str, Any] | None:
        body = kubectl.get(namespace, "workflow", "rerun")
        status = body.get("status") or {}
        handled = status.get("retryHandled") == "1"
        return body if handled and status.get("phase") in ("Succeeded", "Failed") else None

    body = wait_for("the retried run to finish", retried)
    assert body["status"]["phase"] == "Succeeded"

    jobs = {
        name: sorted(j["metadata"]["name"] for j in found)
        for name, found in jobs_by_task(kubectl, namespace, "rerun").items()
    }
    assert jobs == {
        "extract": [job_name("rerun", "extract", 1)],
        "transform": [job_name("rerun", "transform", n) for n in (1, 2)],
        "load": [job_name("rerun", "load", 1)],
    }
    # extract kept its result: its one Job is the very same object.
    (extract_after,) = jobs_by_task(kubectl, namespace, "rerun")["extract"]
    assert extract_after["metadata"]["uid"] == extract_job["metadata"]["uid"]
    tasks = tasks_by_name(kubectl, namespace, "rerun")
    assert [a["number"] for a in tasks["transform"]["status"]["attempts"]] == [1, 2]
    assert tasks["transform"]["status"]["outputs"] == {"attempt2": "done"}
    assert tasks["load"]["status"]["phase"] == "Succeeded"
    reasons = {e["reason"] for e in kubectl.events(namespace, "Workflow", "rerun")}
    assert "WorkflowRetried" in reasons
