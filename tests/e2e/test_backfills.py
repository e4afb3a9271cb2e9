"""Backfills (issue 9): a past range of data intervals run as Workflows, a bounded number
at a time, each interval once, as a user sees them with kubectl."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from kubedag.engine.intervals import Cadence, rfc3339, run_name
from tests.e2e.cluster import Kubectl, task, wait_for, workflow
from tests.e2e.helpers import container_args, jobs_by_task, wait_for_phase
from tests.e2e.operator_process import OperatorProcess

BERLIN = ZoneInfo("Europe/Berlin")
# 30 days of October 2026 in Berlin: the clocks go back on the 25th, so one day is 25 hours.
OCTOBER = datetime(2026, 10, 1, tzinfo=BERLIN)
FINISHED = ("Succeeded", "Failed")


def backfill(name: str, days: int, *, seconds: float = 1, **spec: Any) -> dict[str, Any]:
    """A Backfill of `days` daily intervals from 1 October 2026 (Berlin) whose runs are one
    task of `seconds` that gets the interval's date and start as args."""
    extract = task(
        "extract", seconds=seconds, args=["{{schedule.ds}}", "{{schedule.intervalStart}}"]
    )
    return {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "Backfill",
        "metadata": {"name": name},
        "spec": {
            "workflowSpec": {"tasks": [extract]},
            "schedules": ["0 0 * * *"],
            "timeZone": "Europe/Berlin",
            "start": rfc3339(OCTOBER),
            "end": rfc3339(OCTOBER + timedelta(days=days)),
            **spec,
        },
    }


def run_names(base: str, days: int) -> list[str]:
    cadence = Cadence(["0 0 * * *"], "Europe/Berlin")
    end = OCTOBER + timedelta(days=days)
    return [run_name(base, interval) for interval in cadence.intervals_starting(OCTOBER, end)]


def runs_of(kubectl: Kubectl, namespace: str, name: str) -> list[dict[str, Any]]:
    return kubectl.list(namespace, "workflows", f"kubedag.io/backfill={name}")


def active(runs: list[dict[str, Any]]) -> list[str]:
    return [
        run["metadata"]["name"]
        for run in runs
        if (run.get("status") or {}).get("phase") not in FINISHED
        and not run["metadata"].get("deletionTimestamp")
    ]


def backfill_row(kubectl: Kubectl, namespace: str, name: str) -> str:
    return kubectl.run("get", "-n", namespace, "backfill", name, "--no-headers").stdout


def wait_for_backfill(
    kubectl: Kubectl, namespace: str, name: str, *phases: str, timeout: float = 240
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        body = kubectl.get(namespace, "backfill", name)
        return body if (body.get("status") or {}).get("phase") in phases else None

    return wait_for(f"backfill {name} to reach {phases}", reached, timeout=timeout)


def test_thirty_days_run_three_at_a_time_and_end_thirty_of_thirty(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(namespace, backfill("october", 30, seconds=3, maxConcurrentRuns=3))
    most, seen = 0, set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        runs = runs_of(kubectl, namespace, "october")
        seen |= {run["metadata"]["name"] for run in runs}
        most = max(most, len(active(runs)))
        if len(seen) == 30 and not active(runs):
            break
        time.sleep(0.2)
    assert most == 3  # never more than maxConcurrentRuns, and that many at some point
    assert sorted(seen) == sorted(run_names("october", 30))

    body = wait_for_backfill(kubectl, namespace, "october", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"
    assert body["status"]["runs"] == {
        "total": 30,
        "succeeded": 30,
        "failed": 0,
        "running": 0,
        "pending": 0,
    }
    assert backfill_row(kubectl, namespace, "october").split()[1:3] == ["Succeeded", "30/30"]
    # Each run got its own interval: its date and its start in Berlin time (+02:00 before
    # the 25th, +01:00 after).
    args = {
        tuple(container_args(job))
        for job in kubectl.list(namespace, "jobs", "kubedag.io/task=extract")
    }
    days = [OCTOBER + timedelta(days=offset) for offset in range(30)]
    assert args == {(day.strftime("%Y-%m-%d"), rfc3339(day)) for day in days}
    assert ("2026-10-26", "2026-10-26T00:00:00+01:00") in args
    created = [
        event
        for event in kubectl.events(namespace, "Backfill", "october")
        if event["reason"] == "RunCreated"
    ]
    assert len(created) == 30


def test_an_interval_that_already_succeeded_runs_again_only_with_rerun_succeeded(
    kubectl: Kubectl, namespace: str
) -> None:
    second_day = run_names("again", 3)[1]
    by_hand = workflow(
        second_day,
        [task("extract", args=["by-hand"])],
        dataInterval={
            "start": rfc3339(OCTOBER + timedelta(days=1)),
            "end": rfc3339(OCTOBER + timedelta(days=2)),
        },
    )
    kubectl.apply(namespace, by_hand)
    first_uid = wait_for_phase(kubectl, namespace, second_day, "Succeeded")["metadata"]["uid"]

    kubectl.apply(namespace, backfill("again", 3, maxConcurrentRuns=3))
    body = wait_for_backfill(kubectl, namespace, "again", "Succeeded", "Failed")
    assert body["status"]["progress"] == "3/3"
    assert kubectl.get(namespace, "workflow", second_day)["metadata"]["uid"] == first_uid
    made = {
        run["metadata"]["name"]: run["metadata"]["uid"]
        for run in runs_of(kubectl, namespace, "again")
    }
    assert sorted(made) == sorted(set(run_names("again", 3)) - {second_day})

    # Asked to run succeeded intervals again, it re-runs the one it did not make.
    kubectl.run(
        "patch",
        "-n",
        namespace,
        "backfill",
        "again",
        "--type=merge",
        "-p",
        '{"spec": {"rerunSucceeded": true}}',
    )

    def rerun() -> dict[str, Any] | None:
        # Between its deletion and its new creation the run does not exist at all.
        found = [
            r for r in kubectl.list(namespace, "workflows") if r["metadata"]["name"] == second_day
        ]
        if not found:
            return None
        run = found[0]
        replaced = run["metadata"]["uid"] != first_uid
        return run if replaced and (run.get("status") or {}).get("phase") == "Succeeded" else None

    run = wait_for("the hand-made run to be made again by the Backfill", rerun, timeout=120)
    assert run["metadata"]["labels"]["kubedag.io/backfill"] == "again"
    body = wait_for_backfill(kubectl, namespace, "again", "Succeeded")
    assert body["status"]["progress"] == "3/3"
    again = {
        run["metadata"]["name"]: run["metadata"]["uid"]
        for run in runs_of(kubectl, namespace, "again")
    }
    assert {name: again[name] for name in made} == made  # its own runs were not run again
    reasons = [event["reason"] for event in kubectl.events(namespace, "Backfill", "again")]
    assert "RunRecreating" in reasons


def test_cancel_stops_the_running_runs_and_starts_no_more(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(namespace, backfill("stopped", 10, seconds=60, maxConcurrentRuns=2))
    wait_for("two runs running", lambda: len(active(runs_of(kubectl, namespace, "stopped"))) == 2)
    kubectl.run(
        "patch",
        "-n",
        namespace,
        "backfill",
        "stopped",
        "--type=merge",
        "-p",
        '{"spec": {"cancel": true}}',
    )
    body = wait_for_backfill(kubectl, namespace, "stopped", "Cancelled")
    wait_for(
        "the Backfill's runs to end",
        lambda: not active(runs_of(kubectl, namespace, "stopped")),
        timeout=120,
    )
    runs = runs_of(kubectl, namespace, "stopped")
    assert sorted(run["metadata"]["name"] for run in runs) == run_names("stopped", 2)
    assert {run["spec"].get("shutdown") for run in runs} == {"Terminate"}
    body = kubectl.get(namespace, "backfill", "stopped")
    assert body["status"]["runs"]["pending"] == 8
    assert "BackfillCancelled" in [
        event["reason"] for event in kubectl.events(namespace, "Backfill", "stopped")
    ]


def test_deleting_the_backfill_starts_no_more_runs(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(namespace, backfill("dropped", 10, seconds=60, maxConcurrentRuns=2))
    wait_for("two runs running", lambda: len(active(runs_of(kubectl, namespace, "dropped"))) == 2)
    kubectl.run("delete", "-n", namespace, "backfill", "dropped", "--wait=true")
    seen: set[str] = set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        seen |= {run["metadata"]["name"] for run in runs_of(kubectl, namespace, "dropped")}
        time.sleep(0.5)
    # The garbage collector removes the runs it owned; none came after them.
    assert seen <= set(run_names("dropped", 2))
    wait_for("its runs to be gone", lambda: not runs_of(kubectl, namespace, "dropped"))


def test_an_operator_stopped_mid_backfill_makes_no_run_twice_and_ends_thirty_of_thirty(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    kubectl.apply(namespace, backfill("restarted", 30, seconds=1, maxConcurrentRuns=3))
    wait_for("six runs", lambda: len(runs_of(kubectl, namespace, "restarted")) >= 6, timeout=120)
    operator.kill()
    # The world moves on while the operator is down: running Jobs finish unobserved.
    time.sleep(3)
    uids = {
        run["metadata"]["name"]: run["metadata"]["uid"]
        for run in runs_of(kubectl, namespace, "restarted")
    }
    operator.start()

    body = wait_for_backfill(kubectl, namespace, "restarted", "Succeeded", "Failed", timeout=300)
    assert body["status"]["progress"] == "30/30"
    runs = runs_of(kubectl, namespace, "restarted")
    assert sorted(run["metadata"]["name"] for run in runs) == sorted(run_names("restarted", 30))
    # The runs made before the crash are the same objects, and every interval's one task
    # ran exactly once.
    assert {
        name: uid
        for name, uid in ((r["metadata"]["name"], r["metadata"]["uid"]) for r in runs)
        if name in uids
    } == uids
    jobs = kubectl.list(namespace, "jobs", "kubedag.io/task=extract")
    assert sorted(job["metadata"]["labels"]["kubedag.io/workflow"] for job in jobs) == sorted(
        run_names("restarted", 30)
    )


def test_a_backfill_waits_for_its_cron_workflow_and_says_so(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        {
            "apiVersion": "kubedag.io/v1alpha1",
            "kind": "Backfill",
            "metadata": {"name": "orphan"},
            "spec": {
                "cronWorkflowRef": {"name": "nightly"},
                "start": "2026-10-01T00:00:00Z",
                "end": "2026-10-03T00:00:00Z",
            },
        },
    )
    body = wait_for_backfill(kubectl, namespace, "orphan", "Pending")
    resolved = next(c for c in body["status"]["conditions"] if c["type"] == "Resolved")
    assert (resolved["status"], resolved["reason"]) == ("False", "CronWorkflowNotFound")
    assert "'nightly' not found" in body["status"]["message"]
    warnings = wait_for(
        "a Warning event",
        lambda: [
            e
            for e in kubectl.events(namespace, "Backfill", "orphan")
            if e["type"] == "Warning" and e["reason"] == "CronWorkflowNotFound"
        ],
    )
    assert len(warnings) == 1
    assert runs_of(kubectl, namespace, "orphan") == []


def test_the_api_server_refuses_a_backfill_with_two_sources_or_a_reversed_range(
    kubectl: Kubectl, namespace: str
) -> None:
    bad = backfill("bad", 3)
    bad["spec"]["workflowTemplateRef"] = {"name": "daily-etl"}
    bad["spec"]["end"] = "2026-09-01T00:00:00+02:00"
    result = kubectl.run(
        "apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(bad), check=False
    )
    assert result.returncode != 0
    assert "exactly one of cronWorkflowRef, workflowTemplateRef and workflowSpec" in result.stderr
    assert "start must be before end" in result.stderr


def test_a_backfill_waits_for_its_workflow_template_then_runs_it_under_the_templates_name(
    kubectl: Kubectl, namespace: str
) -> None:
    late = backfill("late", 2, maxConcurrentRuns=2)
    del late["spec"]["workflowSpec"]
    late["spec"]["workflowTemplateRef"] = {"name": "daily-etl"}
    kubectl.apply(namespace, late)
    body = wait_for_backfill(kubectl, namespace, "late", "Pending")
    resolved = next(c for c in body["status"]["conditions"] if c["type"] == "Resolved")
    assert (resolved["status"], resolved["reason"]) == ("False", "WorkflowTemplateNotFound")

    kubectl.apply(
        namespace,
        {
            "apiVersion": "kubedag.io/v1alpha1",
            "kind": "WorkflowTemplate",
            "metadata": {"name": "daily-etl"},
            "spec": {"tasks": [task("extract", args=["{{schedule.ds}}"])]},
        },
    )
    body = wait_for_backfill(kubectl, namespace, "late", "Succeeded", "Failed")
    assert (body["status"]["phase"], body["status"]["progress"]) == ("Succeeded", "2/2")
    # The runs bear the template's name: a CronWorkflow of it would name them the same.
    runs = runs_of(kubectl, namespace, "late")
    assert sorted(run["metadata"]["name"] for run in runs) == run_names("daily-etl", 2)
    args = {
        tuple(container_args(job))
        for job in kubectl.list(namespace, "jobs", "kubedag.io/task=extract")
    }
    assert args == {("2026-10-01",), ("2026-10-02",)}


def test_a_backfill_of_a_schedule_counts_its_scheduled_run_and_never_doubles_it(
    kubectl: Kubectl, namespace: str
) -> None:
    # A daily CronWorkflow (suspended: it makes nothing by itself here), one of whose
    # intervals already ran (`kubedag schedule trigger` names it as its scheduled run); a
    # Backfill over the three days up to it shares the names and runs only the other two.
    nightly = {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": {"name": "nightly"},
        "spec": {
            "schedules": ["0 0 * * *"],
            "timeZone": "Europe/Berlin",
            "suspend": True,
            "params": [{"name": "day", "value": "{{schedule.ds}}"}],
            "workflowSpec": {
                "params": [{"name": "day"}],
                "tasks": [task("extract", args=["{{params.day}}"])],
            },
        },
    }
    kubectl.apply(namespace, nightly)
    triggered = subprocess.run(
        [sys.executable, "-m", "kubedag.cli", "schedule", "trigger", "nightly", "-n", namespace],
        env=kubectl.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    scheduled = wait_for_phase(kubectl, namespace, triggered, "Succeeded")
    interval_start = datetime.fromisoformat(scheduled["spec"]["dataInterval"]["start"])
    cadence = Cadence(["0 0 * * *"], "Europe/Berlin")
    start = cadence.tick_before(cadence.tick_before(interval_start))  # two days before
    kubectl.apply(
        namespace,
        {
            "apiVersion": "kubedag.io/v1alpha1",
            "kind": "Backfill",
            "metadata": {"name": "catch-up"},
            "spec": {
                "cronWorkflowRef": {"name": "nightly"},
                "start": rfc3339(start),
                "end": rfc3339(interval_start + timedelta(hours=1)),
                "maxConcurrentRuns": 3,
            },
        },
    )
    body = wait_for_backfill(kubectl, namespace, "catch-up", "Succeeded", "Failed")
    assert body["status"]["phase"] == "Succeeded"
    assert body["status"]["progress"] == "3/3"
    expected = [
        run_name("nightly", interval)
        for interval in cadence.intervals_starting(start, interval_start + timedelta(hours=1))
    ]
    assert expected[-1] == triggered
    # The scheduled run is the same object as before; the Backfill made the other two.
    assert (
        kubectl.get(namespace, "workflow", triggered)["metadata"]["uid"]
        == (scheduled["metadata"]["uid"])
    )
    made = sorted(run["metadata"]["name"] for run in runs_of(kubectl, namespace, "catch-up"))
    assert made == expected[:2]
    for name in made:
        (job,) = jobs_by_task(kubectl, namespace, name)["extract"]
        day = kubectl.get(namespace, "workflow", name)["spec"]["dataInterval"]["start"][:10]
        assert container_args(job) == [day]
