"""`kubedag` verb by verb against a real API server and the operator: what each prints, its
`-o json` shape and its exit code (issue 11; codes in kubedag/cli/errors.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from kubedag.cli.errors import ExitCode
from tests.e2e.cluster import Kubectl, task, wait_for, workflow
from tests.e2e.helpers import tasks_by_name, wait_for_phase

# A task that runs until it is stopped (10 minutes, longer than any test).
FOREVER = 600


def kubedag(
    kubectl: Kubectl, *argv: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubedag.cli", *argv],
        env=env or kubectl.env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def write(tmp_path: Path, *documents: dict[str, Any]) -> str:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    return str(path)


def two_step(name: str, *, exit_code: int = 0, seconds: float = 0) -> dict[str, Any]:
    return workflow(
        name,
        [
            task("extract", seconds=seconds, output={"rows": "42"}, outputs=[{"name": "rows"}]),
            task("load", depends_on=["extract"], exit_code=exit_code),
        ],
    )


def test_submit_wait_exits_0_for_a_success_and_1_for_a_failure(
    kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    good = kubedag(kubectl, "submit", write(tmp_path, two_step("good")), "-n", namespace, "--wait")
    assert good.returncode == 0, good.stderr
    assert good.stdout.splitlines() == ["good", "Workflow good: Succeeded"]

    bad = kubedag(
        kubectl, "submit", write(tmp_path, two_step("bad", exit_code=3)), "-n", namespace, "--watch"
    )
    assert bad.returncode == ExitCode.RUN_FAILED
    assert "load                     Failed" in bad.stdout
    assert bad.stdout.splitlines()[-1].startswith("Workflow bad: Failed (task 'load' failed")


def test_submit_from_a_template_with_params_prints_the_created_object_as_json(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        {
            "apiVersion": "kubedag.io/v1alpha1",
            "kind": "WorkflowTemplate",
            "metadata": {"name": "nightly"},
            "spec": {"params": [{"name": "day"}], "tasks": [task("only")]},
        },
    )
    result = kubedag(
        kubectl,
        "submit",
        "--from",
        "template/nightly",
        "-p",
        "day=1",
        "-n",
        namespace,
        "-o",
        "json",
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["apiVersion"] == "kubedag.io/v1alpha1" and created["kind"] == "Workflow"
    assert created["metadata"]["name"].startswith("nightly-")
    assert created["spec"]["params"] == [{"name": "day", "value": "1"}]
    unknown = kubedag(kubectl, "submit", "--from", "template/weekly", "-n", namespace)
    assert unknown.returncode == ExitCode.NOT_FOUND
    assert unknown.stderr == (
        f"kubedag: WorkflowTemplate 'weekly' in namespace '{namespace}' not found\n"
    )


def test_get_draws_the_tree_and_its_json_has_the_documented_shape(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(namespace, two_step("etl", exit_code=2))
    wait_for_phase(kubectl, namespace, "etl", "Failed")
    tree = kubedag(kubectl, "get", "etl", "-n", namespace)
    assert tree.returncode == 0, tree.stderr
    lines = tree.stdout.splitlines()
    assert lines[0].startswith("Workflow etl  Failed  2/2")
    assert any("extract  Succeeded" in line and "exit 0" in line for line in lines)
    assert any("output rows = 42" in line for line in lines)
    assert any("load  Failed  TaskFailed" in line and "exit 2" in line for line in lines)
    assert "\x1b[" not in tree.stdout  # no colour when stdout is not a terminal

    view = json.loads(kubedag(kubectl, "get", "etl", "-n", namespace, "-o", "json").stdout)
    assert set(view) == {
        "name",
        "namespace",
        "phase",
        "progress",
        "message",
        "startedAt",
        "finishedAt",
        "durationSeconds",
        "tasks",
    }
    assert [t["name"] for t in view["tasks"]] == ["extract", "load"]
    extract, load = view["tasks"]
    assert set(extract) == {
        "name",
        "phase",
        "reason",
        "message",
        "dependsOn",
        "startedAt",
        "finishedAt",
        "durationSeconds",
        "attempts",
        "outputs",
        "datasets",
    }
    assert extract["outputs"] == {"rows": "42"}
    assert load["dependsOn"] == ["extract"]
    assert [(a["number"], a["exitCode"]) for a in load["attempts"]] == [(1, 2)]
    as_yaml = yaml.safe_load(kubedag(kubectl, "get", "etl", "-n", namespace, "-o", "yaml").stdout)
    assert as_yaml["tasks"][1]["attempts"][0]["exitCode"] == 2
    named = kubedag(kubectl, "get", "etl", "-n", namespace, "-o", "name")
    assert named.stdout == "workflow.kubedag.io/etl\n"

    missing = kubedag(kubectl, "get", "nope", "-n", namespace)
    assert missing.returncode == ExitCode.NOT_FOUND
    assert missing.stderr == f"kubedag: Workflow 'nope' in namespace '{namespace}' not found\n"


def test_list_filters_by_phase_and_prints_a_kubectl_list_as_json(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(namespace, two_step("ok"), two_step("broken", exit_code=1))
    wait_for_phase(kubectl, namespace, "ok", "Succeeded")
    wait_for_phase(kubectl, namespace, "broken", "Failed")
    table = kubedag(kubectl, "list", "-n", namespace)
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["NAME", "PHASE", "PROGRESS", "DURATION", "AGE"]
    assert sorted(row.split()[:2] for row in rows) == [["broken", "Failed"], ["ok", "Succeeded"]]

    failed = json.loads(
        kubedag(kubectl, "list", "-n", namespace, "--phase", "Failed", "-o", "json").stdout
    )
    assert failed["kind"] == "List"
    assert [item["metadata"]["name"] for item in failed["items"]] == ["broken"]
    assert failed["items"][0]["apiVersion"] == "kubedag.io/v1alpha1"
    names = kubedag(kubectl, "list", "-n", namespace, "-o", "name", "--since", "1h").stdout
    assert sorted(names.split()) == ["workflow.kubedag.io/broken", "workflow.kubedag.io/ok"]

    everywhere = kubedag(kubectl, "list", "-A", "-o", "wide").stdout.splitlines()
    assert everywhere[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert everywhere[0].split()[-3:] == ["STARTED", "FINISHED", "MESSAGE"]
    assert any(row.split()[:2] == [namespace, "broken"] for row in everywhere[1:])
    bad_since = kubedag(kubectl, "list", "-n", namespace, "--since", "yesterday")
    assert bad_since.returncode == ExitCode.USAGE


def test_the_namespace_and_context_come_from_the_kubeconfig(
    kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    kubectl.apply(namespace, two_step("here"))
    config = yaml.safe_load(Path(kubectl.env["KUBECONFIG"]).read_text())
    current = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    config["contexts"].append(
        {"name": "team", "context": {**current["context"], "namespace": namespace}}
    )
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    by_context = kubedag(
        kubectl, "list", "-o", "name", "--kubeconfig", str(path), "--context", "team"
    )
    assert by_context.stdout == "workflow.kubedag.io/here\n"
    config["current-context"] = "team"
    path.write_text(yaml.safe_dump(config))
    env = {**kubectl.env, "KUBECONFIG": str(path)}
    assert kubedag(kubectl, "get", "here", "-o", "name", env=env).returncode == 0
    unknown = kubedag(kubectl, "list", "--kubeconfig", str(path), "--context", "elsewhere")
    assert unknown.returncode == ExitCode.CLUSTER
    assert unknown.stderr == "kubedag: kubeconfig: Context 'elsewhere' not found\n"


def test_watch_exits_1_for_a_failed_run_and_124_past_its_timeout(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(namespace, two_step("fails", exit_code=1))
    watched = kubedag(kubectl, "watch", "fails", "-n", namespace, "--timeout", "120")
    assert watched.returncode == ExitCode.RUN_FAILED
    assert "Workflow fails: Failed" in watched.stdout
    kubectl.apply(namespace, workflow("held", [task("a")], suspend=True))
    held = kubedag(kubectl, "watch", "held", "-n", namespace, "--timeout", "2")
    assert held.returncode == ExitCode.TIMEOUT
    assert held.stderr.startswith("kubedag: gave up waiting for held after 2s")


def test_suspend_resume_stop_and_terminate_set_the_fields_the_operator_reads(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        namespace,
        workflow("paused", [task("long", seconds=FOREVER), task("next", depends_on=["long"])]),
        workflow("stopped", [task("long", seconds=FOREVER), task("next", depends_on=["long"])]),
    )
    for name in ("paused", "stopped"):
        wait_for(
            f"{name} to run",
            lambda n=name: (
                tasks_by_name(kubectl, namespace, n)["long"].get("status", {}).get("phase")
                == "Running"
            ),
        )

    assert kubedag(kubectl, "suspend", "paused", "-n", namespace).stdout == (
        "workflow paused suspended\n"
    )
    assert kubectl.get(namespace, "workflows.kubedag.io", "paused")["spec"]["suspend"] is True
    again = kubedag(kubectl, "suspend", "paused", "-n", namespace)
    assert (again.returncode, again.stdout) == (0, "workflow paused is already suspended\n")
    assert kubedag(kubectl, "resume", "paused", "-n", namespace).returncode == 0
    assert kubectl.get(namespace, "workflows.kubedag.io", "paused")["spec"]["suspend"] is False

    assert kubedag(kubectl, "terminate", "paused", "-n", namespace).returncode == 0
    body = wait_for_phase(kubectl, namespace, "paused", "Failed")
    assert body["spec"]["shutdown"] == "Terminate"
    assert "terminated" in body["status"]["message"].lower()

    assert kubedag(kubectl, "stop", "stopped", "-n", namespace).returncode == 0
    assert kubectl.get(namespace, "workflows.kubedag.io", "stopped")["spec"]["shutdown"] == "Stop"
    # A stopped run lets its running task finish: terminate ends it now.
    assert kubedag(kubectl, "terminate", "stopped", "-n", namespace).returncode == 0
    wait_for_phase(kubectl, namespace, "stopped", "Failed")

    finished = kubedag(kubectl, "suspend", "paused", "-n", namespace)
    assert finished.returncode == ExitCode.REFUSED
    assert finished.stderr == "kubedag: workflow paused already Failed: nothing to suspend\n"
    missing = kubedag(kubectl, "stop", "nope", "-n", namespace)
    assert missing.returncode == ExitCode.NOT_FOUND


def test_retry_runs_the_failed_task_again_and_refuses_a_run_that_did_not_fail(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(namespace, two_step("flaky", exit_code=4), two_step("fine"))
    wait_for_phase(kubectl, namespace, "flaky", "Failed")
    wait_for_phase(kubectl, namespace, "fine", "Succeeded")
    retried = kubedag(kubectl, "retry", "flaky", "-n", namespace, "--wait", "--timeout", "120")
    assert retried.returncode == ExitCode.RUN_FAILED  # it fails again, as written
    assert retried.stdout.startswith("workflow flaky retried from the point of failure")
    tasks = tasks_by_name(kubectl, namespace, "flaky")
    assert [a["number"] for a in tasks["load"]["status"]["attempts"]] == [1, 2]
    assert len(tasks["extract"]["status"]["attempts"]) == 1  # kept its result
    refused = kubedag(kubectl, "retry", "fine", "-n", namespace)
    assert refused.returncode == ExitCode.REFUSED
    assert "only a Failed workflow can be retried" in refused.stderr


def test_resubmit_starts_a_new_run_of_the_same_spec(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(namespace, two_step("first"))
    wait_for_phase(kubectl, namespace, "first", "Succeeded")
    result = kubedag(kubectl, "resubmit", "first", "-n", namespace, "--wait", "-o", "name")
    assert result.returncode == 0, result.stderr
    created, outcome = result.stdout.splitlines()
    new_name = created.removeprefix("workflow.kubedag.io/")
    assert new_name.startswith("first-") and outcome == f"Workflow {new_name}: Succeeded"
    old = kubectl.get(namespace, "workflows.kubedag.io", "first")
    new = kubectl.get(namespace, "workflows.kubedag.io", new_name)
    assert new["spec"]["tasks"] == old["spec"]["tasks"]


def test_delete_by_name_and_the_completed_ones(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(
        namespace,
        two_step("done-1"),
        two_step("done-2"),
        workflow("running", [task("long", seconds=FOREVER)]),
    )
    wait_for_phase(kubectl, namespace, "done-1", "Succeeded")
    wait_for_phase(kubectl, namespace, "done-2", "Succeeded")
    one = kubedag(kubectl, "delete", "done-1", "nope", "-n", namespace)
    assert one.returncode == ExitCode.NOT_FOUND
    assert one.stdout == "workflow.kubedag.io/done-1 deleted\n"
    assert f"Workflow 'nope' in namespace '{namespace}' not found" in one.stderr
    old = kubedag(kubectl, "delete", "--older-than", "1h", "-n", namespace)
    assert (old.returncode, old.stdout) == (0, "")  # done-2 ended seconds ago
    rest = kubedag(kubectl, "delete", "--completed", "-n", namespace)
    assert rest.stdout == "workflow.kubedag.io/done-2 deleted\n"
    remaining = kubectl.list(namespace, "workflows.kubedag.io")
    assert [
        w["metadata"]["name"] for w in remaining if not w["metadata"].get("deletionTimestamp")
    ] == ["running"]
    assert kubedag(kubectl, "delete", "-n", namespace).returncode == ExitCode.USAGE


def test_logs_name_what_is_missing(kubectl: Kubectl, namespace: str) -> None:
    """On the local control plane KWOK's nodes serve no logs: `logs` must say so, and name a
    Pod that is gone with what the Task recorded. Reading a real log is in the unit tests."""
    kubectl.apply(
        namespace,
        workflow("cleaned", [task("extract", exit_code=1)], jobCleanup="OnTaskCompletion"),
    )
    wait_for_phase(kubectl, namespace, "cleaned", "Failed")
    wait_for(
        "the Job to be cleaned up",
        lambda: not kubectl.list(namespace, "jobs", "kubedag.io/workflow=cleaned"),
    )
    wait_for(
        "its Pod to be gone",
        lambda: not kubectl.list(namespace, "pods", "kubedag.io/workflow=cleaned"),
    )
    gone = kubedag(kubectl, "logs", "cleaned", "extract", "-n", namespace)
    assert gone.returncode == ExitCode.NOT_FOUND
    assert "the Pod of task extract attempt 1" in gone.stderr and "is gone" in gone.stderr
    assert "exitCode 1" in gone.stderr
    unknown = kubedag(kubectl, "logs", "cleaned", "load", "-n", namespace)
    assert unknown.returncode == ExitCode.NOT_FOUND
    assert "workflow cleaned has no task 'load' (tasks: extract)" in unknown.stderr

    kubectl.apply(namespace, workflow("live", [task("talk", seconds=FOREVER)]))
    wait_for(
        "talk to run",
        lambda: (
            (tasks_by_name(kubectl, namespace, "live").get("talk") or {})
            .get("status", {})
            .get("phase")
            == "Running"
        ),
    )
    live = kubedag(kubectl, "logs", "live", "talk", "-n", namespace)
    if live.returncode == 0:  # a real kubelet (KUBEDAG_CLUSTER=existing)
        assert "Traceback" not in live.stderr
    else:
        assert live.returncode == ExitCode.NOT_FOUND
        assert live.stderr.startswith("kubedag: cannot read the log of Pod live-talk-")
    kubedag(kubectl, "terminate", "live", "-n", namespace)


def test_graph_of_a_run_and_of_a_file(kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    kubectl.apply(namespace, two_step("drawn", exit_code=1))
    wait_for_phase(kubectl, namespace, "drawn", "Failed")
    ascii_ = kubedag(kubectl, "graph", "drawn", "-n", namespace, "--format", "ascii")
    assert ascii_.stdout.splitlines() == [
        "level 0",
        "  extract [Succeeded]",
        "level 1",
        "  load [Failed]  <- extract",
    ]
    mermaid = kubedag(kubectl, "graph", "drawn", "-n", namespace, "--format", "mermaid").stdout
    assert "n_extract --> n_load" in mermaid and "class n_load failed" in mermaid
    dot = kubedag(kubectl, "graph", write(tmp_path, two_step("file")), "--format", "dot").stdout
    assert '"extract" -> "load";' in dot
    assert kubedag(kubectl, "graph", "nope", "-n", namespace).returncode == ExitCode.NOT_FOUND


def test_version_completion_and_the_kubectl_plugin(kubectl: Kubectl) -> None:
    version = json.loads(kubedag(kubectl, "version", "-o", "json").stdout)
    assert set(version["clientVersion"]) == {"kubedag", "python"}
    script = kubedag(kubectl, "completion", "bash").stdout
    assert "_KUBEDAG_COMPLETE=bash_complete" in script
    # kubectl runs `kubectl-kubedag` from PATH for `kubectl kubedag`.
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "kubectl-kubedag").exists(), "the console script of pyproject.toml"
    env = {**kubectl.env, "PATH": f"{bin_dir}{os.pathsep}{kubectl.env['PATH']}"}
    plugin = subprocess.run(
        ["kubectl", "kubedag", "version"], env=env, capture_output=True, text=True, timeout=120
    )
    assert plugin.returncode == 0, plugin.stderr
    assert plugin.stdout.startswith("kubedag ")
    usage = subprocess.run(
        ["kubectl", "kubedag", "get"], env=env, capture_output=True, text=True, timeout=120
    )
    assert usage.returncode == ExitCode.USAGE
    assert usage.stderr.startswith("Usage: kubectl kubedag get")


def test_run_names_complete_from_the_cluster(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(namespace, workflow("alpha", [task("a")]), workflow("beta", [task("b")]))
    env = {
        **kubectl.env,
        "_KUBEDAG_COMPLETE": "bash_complete",
        "COMP_WORDS": f"kubedag get -n {namespace} al",
        "COMP_CWORD": "4",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from kubedag.cli.app import cli; cli(prog_name='kubedag')",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.split() == ["plain,alpha"]


def test_lineage_draws_the_datasets_a_run_wrote_and_get_shows_them(
    kubectl: Kubectl, namespace: str
) -> None:
    orders = {"namespace": "s3://lake", "name": "raw/orders"}
    daily = {"namespace": "postgres://db:5432", "name": "mart.daily_orders"}
    kubectl.apply(
        namespace,
        workflow(
            "pipeline",
            [
                task("extract", outlets=[orders]),
                task("load", depends_on=["extract"], inlets=[orders], outlets=[daily]),
            ],
        ),
    )
    wait_for_phase(kubectl, namespace, "pipeline", "Succeeded")

    view = json.loads(kubedag(kubectl, "get", "pipeline", "-n", namespace, "-o", "json").stdout)
    load = next(t for t in view["tasks"] if t["name"] == "load")
    assert [(d["namespace"], d["name"]) for d in load["datasets"]["inlets"]] == [
        ("s3://lake", "raw/orders")
    ]
    assert [d["name"] for d in load["datasets"]["outlets"]] == ["mart.daily_orders"]

    mermaid = kubedag(kubectl, "lineage", "-n", namespace)
    assert mermaid.returncode == 0, mermaid.stderr
    assert mermaid.stdout.startswith("flowchart LR")
    for text in ("raw/orders", "mart.daily_orders", "pipeline.extract", "pipeline.load"):
        assert text in mermaid.stdout
    dot = kubedag(kubectl, "lineage", "-n", namespace, "--format", "dot")
    assert dot.returncode == 0, dot.stderr
    assert dot.stdout.startswith("digraph") and "raw/orders" in dot.stdout
    everywhere = kubedag(kubectl, "lineage", "-A")
    assert everywhere.returncode == 0 and "pipeline.load" in everywhere.stdout

    bad = kubedag(kubectl, "lineage", "-n", namespace, "--format", "svg")
    assert bad.returncode == ExitCode.USAGE
    assert "Traceback" not in bad.stderr
