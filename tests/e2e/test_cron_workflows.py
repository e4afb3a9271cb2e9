"""CronWorkflows on a real control plane (issue 9): schedules firing every few seconds (a
6-field cron with seconds), what their runs get, the concurrency policies, an operator down
for several ticks, and what `kubectl get cronworkflows` shows."""

from __future__ import annotations

import json
import time
from typing import Any

from kubedag.engine.intervals import Cadence, run_name
from tests.e2e.cluster import Kubectl, task, wait_for
from tests.e2e.helpers import container_args, jobs_by_task, timestamp
from tests.e2e.operator_process import OperatorProcess

LABEL = "kubedag.io/cron-workflow"


def cron_workflow(
    name: str, schedule: str, tasks: list[dict[str, Any]], **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": {"name": name},
        "spec": {"schedules": [schedule], "workflowSpec": {"tasks": tasks}, **spec},
    }


def runs_of(kubectl: Kubectl, namespace: str, name: str) -> list[dict[str, Any]]:
    runs = kubectl.list(namespace, "workflows", f"{LABEL}={name}")
    return sorted(runs, key=lambda run: timestamp(run["spec"]["dataInterval"]["start"]))


def active(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        run for run in runs if (run.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]


def event_messages(kubectl: Kubectl, namespace: str, name: str, reason: str) -> list[str]:
    return [
        event["message"]
        for event in kubectl.events(namespace, "CronWorkflow", name)
        if event["reason"] == reason
    ]


def test_a_schedule_creates_one_run_per_interval_with_its_schedule_values(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    echo = task(
        "report",
        args=["{{schedule.ds}}", "{{schedule.intervalStart}}", "{{schedule.intervalEnd}}"],
    )
    kubectl.apply(
        namespace,
        cron_workflow(
            "every-four",
            "*/4 * * * * *",
            [echo],
            timeZone="Europe/Berlin",
            successfulRunsHistoryLimit=10,
        ),
    )
    runs = wait_for(
        "two finished runs",
        lambda: (
            [
                run
                for run in runs_of(kubectl, namespace, "every-four")
                if (run.get("status") or {}).get("phase") == "Succeeded"
            ][:2]
            if len(runs_of(kubectl, namespace, "every-four")) >= 2
            else None
        ),
        timeout=90,
    )
    cadence = Cadence(["*/4 * * * * *"], "Europe/Berlin")
    for run in runs:
        start = timestamp(run["spec"]["dataInterval"]["start"])
        end = timestamp(run["spec"]["dataInterval"]["end"])
        interval = cadence.interval_ending_at(end)
        assert interval.start == start  # [previous tick, tick)
        assert run["metadata"]["name"] == run_name("every-four", interval)
        assert run["metadata"]["ownerReferences"][0]["kind"] == "CronWorkflow"
        [job] = jobs_by_task(kubectl, namespace, run["metadata"]["name"])["report"]
        local_start = interval.local_start
        assert container_args(job) == [
            local_start.strftime("%Y-%m-%d"),
            run["spec"]["dataInterval"]["start"],
            run["spec"]["dataInterval"]["end"],
        ]
        assert run["spec"]["dataInterval"]["start"].endswith(("+01:00", "+02:00"))
    assert len(event_messages(kubectl, namespace, "every-four", "RunCreated")) >= 2

    table = kubectl.run("get", "-n", namespace, "cronworkflows").stdout
    header = table.splitlines()[0].split()
    assert " ".join(header) == "NAME SCHEDULE SUSPEND ACTIVE LAST SCHEDULE NEXT SCHEDULE AGE"
    assert "every-four" in table and "*/4 * * * * *" in table
    (row,) = [line for line in table.splitlines() if line.startswith("every-four")]
    assert " false " in row  # suspend is defaulted by the API server, as a CronJob's
    body = kubectl.get(namespace, "cronworkflow", "every-four")
    assert body["status"]["lastScheduleTime"] and body["status"]["nextScheduleTime"]
    assert body["status"]["observedGeneration"] == body["metadata"]["generation"]

    # Deleted (its runs kept, to count them): no run is created after that.
    kubectl.run("delete", "-n", namespace, "cronworkflow", "every-four", "--cascade=orphan")
    count = len(runs_of(kubectl, namespace, "every-four"))
    time.sleep(9)  # two periods and more
    assert len(runs_of(kubectl, namespace, "every-four")) == count


def test_forbid_never_runs_two_at_once_and_says_why_it_skips(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    kubectl.apply(
        namespace,
        cron_workflow(
            "forbidding", "*/3 * * * * *", [task("slow", seconds=10)], concurrencyPolicy="Forbid"
        ),
    )
    wait_for(
        "a RunSkipped event for Forbid",
        lambda: [
            m
            for m in event_messages(kubectl, namespace, "forbidding", "RunSkipped")
            if m.startswith("Forbid")
        ],
        timeout=60,
    )
    seen_active = []
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline:
        seen_active.append(len(active(runs_of(kubectl, namespace, "forbidding"))))
        time.sleep(0.5)
    assert max(seen_active) == 1
    kubectl.run("delete", "-n", namespace, "cronworkflow", "forbidding")


def test_replace_stops_the_active_run_for_the_new_one(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    kubectl.apply(
        namespace,
        cron_workflow(
            "replacing", "*/5 * * * * *", [task("slow", seconds=60)], concurrencyPolicy="Replace"
        ),
    )
    replaced = wait_for(
        "a RunReplaced event",
        lambda: event_messages(kubectl, namespace, "replacing", "RunReplaced"),
        timeout=60,
    )
    stopped = replaced[0].split()[1]
    assert kubectl.get(namespace, "workflow", stopped)["spec"]["shutdown"] == "Terminate"
    wait_for(
        "the replaced run to end",
        lambda: (
            (kubectl.get(namespace, "workflow", stopped).get("status") or {}).get("phase")
            == "Failed"
        ),
    )
    kubectl.run("delete", "-n", namespace, "cronworkflow", "replacing")


def test_an_operator_down_for_several_ticks_catches_up_as_its_policy_says_without_duplicates(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    kubectl.apply(
        namespace,
        cron_workflow(
            "catching-up",
            "*/3 * * * * *",
            [task("quick")],
            catchUp={"policy": "All", "maxRuns": 2},
            successfulRunsHistoryLimit=50,
        ),
    )
    wait_for("a first run", lambda: runs_of(kubectl, namespace, "catching-up"), timeout=60)
    operator.kill()
    before = {run["metadata"]["name"] for run in runs_of(kubectl, namespace, "catching-up")}
    time.sleep(13)  # four ticks or more while nobody schedules
    operator.start()
    wait_for(
        "the catch-up's skip event",
        lambda: [
            m
            for m in event_messages(kubectl, namespace, "catching-up", "RunSkipped")
            if m.startswith("CatchUpPolicy")
        ],
        timeout=60,
    )
    wait_for(
        "a run after the catch-up",
        lambda: len(runs_of(kubectl, namespace, "catching-up")) >= len(before) + 3,
        timeout=60,
    )
    kubectl.run("delete", "-n", namespace, "cronworkflow", "catching-up", "--cascade=orphan")
    runs = runs_of(kubectl, namespace, "catching-up")
    starts = [run["spec"]["dataInterval"]["start"] for run in runs]
    assert len(set(starts)) == len(starts)  # one run per interval
    # The intervals run: contiguous before the outage, then a gap (the skipped ticks),
    # then the newest two missed ones (maxRuns 2), contiguous again with the later ones.
    gaps = [
        index
        for index in range(1, len(runs))
        if runs[index]["spec"]["dataInterval"]["start"]
        != runs[index - 1]["spec"]["dataInterval"]["end"]
    ]
    assert len(gaps) == 1
    after_gap = runs[gaps[0] :]
    assert not {run["metadata"]["name"] for run in after_gap} & before
    assert len(after_gap) >= 2


def ready_condition(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any] | None:
    status = kubectl.get(namespace, "cronworkflow", name).get("status") or {}
    return next((c for c in status.get("conditions", []) if c["type"] == "Ready"), None)


def test_bad_input_gets_a_reason_on_the_cron_workflow_and_a_warning_never_a_crash(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    kubectl.apply(
        namespace,
        cron_workflow("bad-cron", "61 * * * *", [task("a")]),
        cron_workflow("bad-zone", "0 * * * *", [task("a")], timeZone="Mars/Olympus_Mons"),
    )
    for name in ("bad-cron", "bad-zone"):
        ready = wait_for(
            f"{name} to say why it cannot schedule",
            lambda name=name: ready_condition(kubectl, namespace, name),
        )
        assert (ready["status"], ready["reason"]) == ("False", "InvalidSchedule")
        warnings = [
            e for e in kubectl.events(namespace, "CronWorkflow", name) if e["type"] == "Warning"
        ]
        assert warnings and warnings[0]["reason"] == "InvalidSchedule"
    # The API server itself refuses a name its runs could not carry, and two sources.
    too_long = cron_workflow("x" * 53, "0 * * * *", [task("a")])
    refused = kubectl.run(
        "apply", "-n", namespace, "-f", "-", stdin=json.dumps(too_long), check=False
    )
    assert refused.returncode != 0 and "at most 52 characters" in refused.stderr
    both = cron_workflow("both", "0 * * * *", [task("a")], workflowTemplateRef={"name": "t"})
    refused = kubectl.run("apply", "-n", namespace, "-f", "-", stdin=json.dumps(both), check=False)
    assert refused.returncode != 0 and "exactly one of" in refused.stderr
    operator_alive = operator.process is not None and operator.process.poll() is None
    assert operator_alive


def test_a_schedule_of_a_workflow_template_waits_for_it_then_runs_it_with_its_params(
    kubectl: Kubectl, namespace: str
) -> None:
    schedule = {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": {"name": "from-template"},
        "spec": {
            "schedules": ["*/4 * * * * *"],
            "workflowTemplateRef": {"name": "partitioned"},
            "params": [{"name": "table", "value": "orders"}],
            "successfulRunsHistoryLimit": 10,
        },
    }
    kubectl.apply(namespace, schedule)
    ready = wait_for(
        "the CronWorkflow to wait for its template",
        lambda: (
            condition
            if (condition := ready_condition(kubectl, namespace, "from-template"))
            and condition["status"] == "False"
            else None
        ),
    )
    assert ready["reason"] == "InvalidWorkflowSource" and "partitioned" in ready["message"]
    assert runs_of(kubectl, namespace, "from-template") == []

    template = {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": "partitioned"},
        "spec": {
            "params": [{"name": "table"}],
            "tasks": [task("load", args=["{{params.table}}", "{{schedule.ds}}"])],
        },
    }
    kubectl.apply(namespace, template)
    (run,) = wait_for(
        "a run of the template to succeed",
        lambda: [
            run
            for run in runs_of(kubectl, namespace, "from-template")
            if (run.get("status") or {}).get("phase") == "Succeeded"
        ][:1],
        timeout=90,
    )
    assert run["spec"]["workflowTemplateRef"] == {"name": "partitioned"}
    assert run["status"]["storedWorkflowTemplate"]["tasks"][0]["name"] == "load"
    (job,) = jobs_by_task(kubectl, namespace, run["metadata"]["name"])["load"]
    assert container_args(job) == ["orders", run["spec"]["dataInterval"]["start"][:10]]
