"""What the operator does when the API server says no: a Job it refuses, names taken by the
objects of an earlier run of the same name, and names that only look alike."""

from __future__ import annotations

from kubedag.names import job_name, task_object_name
from tests.e2e.cluster import Kubectl, task, wait_for, workflow
from tests.e2e.helpers import jobs_by_task, tasks_by_name, wait_for_phase


def test_a_job_the_api_server_refuses_fails_its_task_and_the_rest_still_runs(
    kubectl: Kubectl, namespace: str
) -> None:
    bad = task("tag", metadata={"labels": {"team": "data eng"}})  # a space: invalid
    kubectl.apply(
        namespace,
        workflow("refused", [task("extract"), bad, task("load", depends_on=["extract"])]),
    )
    body = wait_for_phase(kubectl, namespace, "refused", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Failed"
    assert "task 'tag' failed" in body["status"]["message"]

    tasks = tasks_by_name(kubectl, namespace, "refused")
    tag = tasks["tag"]["status"]
    assert (tag["phase"], tag["reason"]) == ("Failed", "JobRejected")
    assert f"refused Job {job_name('refused', 'tag', 1)}" in tag["message"]
    assert tasks["load"]["status"]["phase"] == "Succeeded"
    assert "tag" not in jobs_by_task(kubectl, namespace, "refused")
    warnings = [
        e
        for e in kubectl.events(namespace, "Task", task_object_name("refused", "tag"))
        if e["type"] == "Warning"
    ]
    assert any("refused" in e["message"] for e in warnings)


def test_workflows_whose_names_join_the_same_way_both_run_side_by_side(
    kubectl: Kubectl, namespace: str
) -> None:
    # `etl` + `daily-load` and `etl-daily` + `load` both join to `etl-daily-load`.
    pairs = {"etl": "daily-load", "etl-daily": "load"}
    for name, node in pairs.items():
        kubectl.apply(namespace, workflow(name, [task(node, seconds=2)]))
    for name, node in pairs.items():
        body = wait_for_phase(kubectl, namespace, name, "Succeeded", "Failed")
        assert body["status"]["phase"] == "Succeeded", body["status"]
        found = tasks_by_name(kubectl, namespace, name)[node]
        assert found["metadata"]["name"] == task_object_name(name, node)
        assert found["status"]["phase"] == "Succeeded"
        (job,) = jobs_by_task(kubectl, namespace, name)[node]
        assert job["metadata"]["name"] == job_name(name, node, 1)
        reasons = {e["reason"] for e in kubectl.events(namespace, "Workflow", name)}
        assert "NameTaken" not in reasons


def test_a_workflow_created_again_under_the_same_name_runs_again(
    kubectl: Kubectl, namespace: str
) -> None:
    # Enough objects that the garbage collector is still deleting the old run's when the
    # new Workflow arrives.
    shards = [task(f"shard-{i}") for i in range(40)]
    manifest = workflow("nightly", [*shards, task("load", depends_on=["shard-0"])])
    kubectl.apply(namespace, manifest)
    first = wait_for_phase(kubectl, namespace, "nightly", "Succeeded", "Failed")
    old_jobs = {
        job["metadata"]["uid"]
        for jobs in jobs_by_task(kubectl, namespace, "nightly").values()
        for job in jobs
    }

    kubectl.run("delete", "-n", namespace, "workflow", "nightly", "--wait=false")
    wait_for(
        "the old Workflow to go",
        lambda: (
            kubectl.run("get", "-n", namespace, "workflow", "nightly", check=False).returncode != 0
        ),
    )
    kubectl.apply(namespace, manifest)  # at once: the old Tasks and Jobs may still exist

    def second_run() -> dict[str, object] | None:
        body = kubectl.get(namespace, "workflow", "nightly")
        new = body["metadata"]["uid"] != first["metadata"]["uid"]
        done = (body.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        return body if new and done else None

    second = wait_for("the new run to end", second_run, timeout=120)
    assert second["status"]["phase"] == "Succeeded"  # type: ignore[index]
    for name, found in tasks_by_name(kubectl, namespace, "nightly").items():
        owner = found["metadata"]["ownerReferences"][0]["uid"]
        assert owner == second["metadata"]["uid"], name  # type: ignore[index]
        assert found["status"]["phase"] == "Succeeded", name
    new_jobs = {
        job["metadata"]["uid"]
        for jobs in jobs_by_task(kubectl, namespace, "nightly").values()
        for job in jobs
    }
    assert len(new_jobs) == 41 and not new_jobs & old_jobs
