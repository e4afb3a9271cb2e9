"""Clean-up policies: finished tasks' Jobs deleted early (spec.jobCleanup), and finished
Workflows deleted with everything they own (spec.ttlSecondsAfterFinished)."""

from __future__ import annotations

from kubedag.names import job_name
from tests.e2e.cluster import Kubectl, task, wait_for, workflow
from tests.e2e.helpers import jobs_by_task, tasks_by_name, wait_for_phase


def test_job_cleanup_on_task_success_deletes_jobs_and_pods_but_keeps_the_tasks(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "tidy",
            [task("extract"), task("load", depends_on=["extract"])],
            jobCleanup="OnTaskSuccess",
        ),
    )
    body = wait_for_phase(kubectl, namespace, "tidy", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"

    selector = "kubedag.io/workflow=tidy"
    wait_for("the Jobs to be deleted", lambda: kubectl.list(namespace, "jobs", selector) == [])
    wait_for("the Pods to be deleted", lambda: kubectl.list(namespace, "pods", selector) == [])
    tasks = tasks_by_name(kubectl, namespace, "tidy")
    for name in ("extract", "load"):
        status = tasks[name]["status"]
        assert status["phase"] == "Succeeded", name
        assert status["attempts"][0]["jobName"] == job_name("tidy", name, 1)
        assert status["attempts"][0]["exitCode"] == 0


def test_job_cleanup_on_task_success_keeps_the_jobs_of_failed_tasks(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "tidy",
            [task("extract"), task("audit", exit_code=4)],
            jobCleanup="OnTaskSuccess",
        ),
    )
    body = wait_for_phase(kubectl, namespace, "tidy", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Failed"

    wait_for(
        "extract's Job to be deleted",
        lambda: "extract" not in jobs_by_task(kubectl, namespace, "tidy"),
    )
    jobs = jobs_by_task(kubectl, namespace, "tidy")
    assert [j["metadata"]["name"] for j in jobs["audit"]] == [job_name("tidy", "audit", 1)]


def test_job_cleanup_on_task_completion_deletes_the_jobs_of_failed_tasks_too(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "tidy",
            [task("extract"), task("audit", exit_code=4)],
            jobCleanup="OnTaskCompletion",
        ),
    )
    wait_for_phase(kubectl, namespace, "tidy", "Succeeded", "Failed")

    wait_for(
        "every Job to be deleted",
        lambda: kubectl.list(namespace, "jobs", "kubedag.io/workflow=tidy") == [],
    )
    audit = tasks_by_name(kubectl, namespace, "tidy")["audit"]
    assert audit["status"]["phase"] == "Failed"
    assert audit["status"]["attempts"][0]["exitCode"] == 4


def test_finished_workflow_is_deleted_with_its_tasks_and_jobs_after_its_ttl(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow(
            "ephemeral",
            [task("extract"), task("load", depends_on=["extract"])],
            ttlSecondsAfterFinished=2,
        ),
    )
    body = wait_for_phase(kubectl, namespace, "ephemeral", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"

    selector = "kubedag.io/workflow=ephemeral"

    def workflow_gone() -> bool:
        found = kubectl.run("get", "-n", namespace, "workflow", "ephemeral", check=False)
        return "NotFound" in found.stderr

    wait_for("the Workflow to be deleted", workflow_gone)
    wait_for("its Tasks to be deleted", lambda: kubectl.list(namespace, "tasks", selector) == [])
    wait_for("its Jobs to be deleted", lambda: kubectl.list(namespace, "jobs", selector) == [])
    wait_for("its Pods to be deleted", lambda: kubectl.list(namespace, "pods", selector) == [])
