"""The invariant checker on hand-made snapshots: a consistent round passes, and each
invariant fails when its rule is broken (so a clean chaos run means something)."""

from __future__ import annotations

import copy
from typing import Any

from tests.chaos.invariants import (
    Sightings,
    Snapshot,
    check,
    figures,
    kubernetes_findings,
    sightings_from_events,
    sightings_from_objects,
)


def attempt(number: int, task: str, exit_code: int | None, reason: str | None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "number": number,
        "jobName": f"run-{task}-{number}",
        "startedAt": "2026-01-01T00:00:00Z",
        "finishedAt": "2026-01-01T00:00:05Z",
    }
    if exit_code is not None:
        found["exitCode"] = exit_code
    if reason:
        found["reason"] = reason
    return found


def task_object(name: str, phase: str, *attempts: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": f"run-{name}"},
        "spec": {"workflow": "run", "name": name},
        "status": {"phase": phase, "attempts": list(attempts)},
    }


def job(name: str, uid: str, end: str | None) -> dict[str, Any]:
    conditions = [{"type": end, "status": "True"}] if end else []
    return {"metadata": {"name": name, "uid": uid}, "status": {"conditions": conditions}}


def consistent() -> Snapshot:
    """A succeeded run of three tasks, `load` failed once and succeeded on its retry."""
    tasks = [
        task_object("extract", "Succeeded", attempt(1, "extract", 0, "Completed")),
        task_object(
            "load",
            "Succeeded",
            attempt(1, "load", 1, "Error"),
            attempt(2, "load", 0, "Completed"),
        ),
        task_object("report", "Succeeded", attempt(1, "report", 0, "Completed")),
    ]
    workflow = {
        "metadata": {"name": "run"},
        "status": {
            "phase": "Succeeded",
            "progress": "3/3",
            "tasks": {"total": 3, "succeeded": 3},
        },
    }
    jobs = [
        job("run-extract-1", "u1", "Complete"),
        job("run-load-1", "u2", "Failed"),
        job("run-load-2", "u3", "Complete"),
        job("run-report-1", "u4", "Complete"),
    ]
    sightings = Sightings()
    for each in jobs:
        sightings.job(each["metadata"]["name"], each["metadata"]["uid"])
        sightings.pod(each["metadata"]["name"], each["metadata"]["name"] + "-abcde")
    return Snapshot(workflows=[workflow], tasks=tasks, jobs=jobs, sightings=sightings)


def invariants(snapshot: Snapshot) -> set[str]:
    return {violation.invariant for violation in check(snapshot)}


def replace(snapshot: Snapshot, **changes: Any) -> Snapshot:
    fields = {
        "workflows": copy.deepcopy(list(snapshot.workflows)),
        "tasks": copy.deepcopy(list(snapshot.tasks)),
        "jobs": copy.deepcopy(list(snapshot.jobs)),
        "sightings": copy.deepcopy(snapshot.sightings),
    }
    fields.update(changes)
    return Snapshot(**fields)


def test_a_consistent_round_has_no_violations() -> None:
    assert check(consistent()) == []


def test_a_run_still_running_is_not_finished() -> None:
    snapshot = consistent()
    run = copy.deepcopy(dict(snapshot.workflows[0]))
    run["status"]["phase"] = "Running"
    assert "run-not-finished" in invariants(replace(snapshot, workflows=[run]))


def test_counts_that_disagree_with_the_tasks_are_found() -> None:
    snapshot = consistent()
    run = copy.deepcopy(dict(snapshot.workflows[0]))
    run["status"]["tasks"] = {"total": 3, "succeeded": 2, "running": 1}
    assert invariants(replace(snapshot, workflows=[run])) == {"counts-disagree"}


def test_a_progress_that_disagrees_with_the_tasks_is_found() -> None:
    snapshot = consistent()
    run = copy.deepcopy(dict(snapshot.workflows[0]))
    run["status"]["progress"] = "2/3"
    assert invariants(replace(snapshot, workflows=[run])) == {"counts-disagree"}


def test_a_finished_run_with_a_task_per_node_has_none_missing() -> None:
    snapshot = replace(consistent())
    snapshot.workflows[0]["spec"] = {
        "tasks": [{"name": "extract"}, {"name": "load"}, {"name": "report"}]
    }
    assert check(snapshot) == []


def test_a_finished_run_without_a_task_for_each_fan_out_item_is_found() -> None:
    snapshot = replace(consistent())
    snapshot.workflows[0]["spec"] = {
        "tasks": [{"name": "extract"}, {"name": "load", "withItems": [1, 2]}, {"name": "report"}]
    }
    assert invariants(snapshot) == {"tasks-missing"}


def test_a_succeeded_run_with_a_failed_task_disagrees() -> None:
    snapshot = replace(consistent())
    report = snapshot.tasks[2]
    report["status"]["phase"] = "Failed"
    report["status"]["attempts"][0].update(exitCode=1, reason="Error")
    snapshot.jobs[3]["status"]["conditions"][0]["type"] = "Failed"
    run = snapshot.workflows[0]
    run["status"]["tasks"] = {"total": 3, "succeeded": 2, "failed": 1}
    assert invariants(snapshot) == {"outcome-disagrees"}


def test_a_failed_run_without_a_failed_task_disagrees() -> None:
    snapshot = replace(consistent())
    snapshot.workflows[0]["status"]["phase"] = "Failed"
    assert invariants(snapshot) == {"outcome-disagrees"}


def test_a_running_task_under_a_finished_run_is_found() -> None:
    """Issue 6, 4: the run was written Succeeded while a Task's final write was lost."""
    snapshot = replace(consistent())
    report = snapshot.tasks[2]
    report["status"]["phase"] = "Running"
    del report["status"]["attempts"][0]["finishedAt"]
    found = invariants(snapshot)
    assert "task-left-unfinished" in found
    assert "counts-disagree" in found


def test_an_attempt_left_open_under_a_finished_task_is_found() -> None:
    snapshot = replace(consistent())
    del snapshot.tasks[1]["status"]["attempts"][0]["finishedAt"]
    assert invariants(snapshot) == {"attempt-left-open"}


def test_an_attempt_that_reads_unlike_its_job_is_found() -> None:
    snapshot = replace(consistent())
    snapshot.jobs[1]["status"]["conditions"][0]["type"] = "Complete"
    assert invariants(snapshot) == {"job-disagrees"}


def test_one_job_name_created_twice_is_two_jobs_for_one_attempt() -> None:
    """Issue 6, 3a: a Job deleted by hand re-created under the same name and attempt."""
    snapshot = replace(consistent())
    snapshot.sightings.job("run-extract-1", "u9")
    assert invariants(snapshot) == {"attempt-has-two-jobs"}


def test_two_jobs_of_one_attempt_with_a_pod_each_is_a_task_run_twice() -> None:
    snapshot = replace(consistent())
    snapshot.sightings.job("run-extract-1", "u9")
    snapshot.sightings.pod("run-extract-1", "run-extract-1-zzzzz")
    assert invariants(snapshot) == {"attempt-has-two-jobs", "attempt-ran-twice"}


def test_one_job_object_with_two_pods_is_the_job_controllers_not_a_violation() -> None:
    snapshot = replace(consistent())
    snapshot.sightings.pod("run-extract-1", "run-extract-1-zzzzz")
    assert invariants(snapshot) == set()
    assert [f.invariant for f in kubernetes_findings(snapshot)] == ["job-controller-made-two-pods"]


def test_a_job_no_attempt_records_is_an_unrecorded_run() -> None:
    snapshot = replace(consistent())
    snapshot.sightings.job("run-extract-2", "u7")
    snapshot.sightings.job("run-gone-1", "u8")
    found = check(snapshot)
    assert {v.invariant for v in found} == {"unrecorded-run"}
    assert {v.subject for v in found} == {"Job run-extract-2", "Job run-gone-1"}


def test_a_failed_attempt_without_a_reason_is_found() -> None:
    snapshot = replace(consistent())
    del snapshot.tasks[1]["status"]["attempts"][0]["reason"]
    assert invariants(snapshot) == {"failed-attempt-no-reason"}


def test_a_retried_attempt_that_exited_zero_still_needs_a_reason() -> None:
    """Issue 6, 3c: retried although the container succeeded; the reason must say why."""
    snapshot = replace(consistent())
    first = snapshot.tasks[1]["status"]["attempts"][0]
    first.update(exitCode=0)
    del first["reason"]
    assert "failed-attempt-no-reason" in invariants(snapshot)


def test_a_succeeded_tasks_last_attempt_needs_no_reason() -> None:
    snapshot = replace(consistent())
    del snapshot.tasks[0]["status"]["attempts"][0]["reason"]
    assert check(snapshot) == []


def test_an_attempt_recorded_as_ending_before_it_started_is_found() -> None:
    snapshot = replace(consistent())
    snapshot.tasks[0]["status"]["attempts"][0]["startedAt"] = "2026-01-01T00:00:09.5Z"
    assert invariants(snapshot) == {"attempt-ends-before-start"}


def test_a_finish_within_the_second_of_the_start_is_not_before_it() -> None:
    snapshot = replace(consistent())
    snapshot.tasks[0]["status"]["attempts"][0]["startedAt"] = "2026-01-01T00:00:05.9Z"
    assert check(snapshot) == []


def test_a_job_left_behind_by_job_cleanup_is_found() -> None:
    snapshot = replace(consistent())
    snapshot.workflows[0]["spec"] = {"jobCleanup": "OnTaskSuccess"}
    found = check(snapshot)
    assert {v.invariant for v in found} == {"cleanup-left-job"}
    # The failed attempt's Job stays: OnTaskSuccess cleans up after a Succeeded task
    # only, and load succeeded, so all four Jobs are left.
    assert len(found) == 4
    kept = replace(snapshot, jobs=[])
    assert check(kept) == []


def test_created_pod_events_give_job_uids_and_pods() -> None:
    def created(job_name: str, uid: str, pod: str) -> dict[str, Any]:
        return {
            "reason": "SuccessfulCreate",
            "involvedObject": {"kind": "Job", "name": job_name, "uid": uid},
            "message": f"Created pod: {pod}",
        }

    events = [
        created("run-a-1", "u1", "run-a-1-xxxxx"),
        created("run-a-1", "u2", "run-a-1-yyyyy"),
        {"reason": "Completed", "involvedObject": {"kind": "Job", "name": "run-a-1", "uid": "u1"}},
        {"reason": "SuccessfulCreate", "involvedObject": {"kind": "ReplicaSet", "name": "x"}},
    ]
    found = sightings_from_events(events)
    assert found.job_uids == {"run-a-1": {"u1", "u2"}}
    assert found.pods == {"run-a-1": {"run-a-1-xxxxx", "run-a-1-yyyyy"}}


def test_listed_pods_name_their_job_and_its_uid() -> None:
    pod = {
        "metadata": {
            "name": "run-a-1-xxxxx",
            "labels": {
                "batch.kubernetes.io/job-name": "run-a-1",
                "batch.kubernetes.io/controller-uid": "u1",
            },
        }
    }
    found = sightings_from_objects([job("run-b-1", "u5", None)], [pod])
    assert found.job_uids == {"run-a-1": {"u1"}, "run-b-1": {"u5"}}
    assert found.pods == {"run-a-1": {"run-a-1-xxxxx"}}


def test_figures_count_attempts_against_jobs_and_pods() -> None:
    counted = figures(consistent())
    assert (counted.runs, counted.tasks, counted.attempts, counted.jobs, counted.pods) == (
        1,
        3,
        4,
        4,
        4,
    )
