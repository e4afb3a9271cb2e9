"""Every manifest in examples/ runs to the outcome it declares, as a user applying it
would see. A Workflow or a Backfill declares it with the annotation
examples.kubedag.io/expected-phase; so does a CronWorkflow, whose schedule would not fire in
test time: the test triggers one run (`kubedag schedule trigger`) and waits for that. A
CronWorkflow started by a dataset trigger alone (issue 10) waits for the first run the
example's own producers start: `<name>-ds-1`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedag.engine.dataset_triggers import trigger_run_name
from tests.e2e.cluster import ROOT, Kubectl, wait_for
from tests.e2e.helpers import wait_for_phase

EXPECTED_PHASE = "examples.kubedag.io/expected-phase"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def workflows_in(path: Path, kind: str = "Workflow") -> list[dict[str, Any]]:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    return [d for d in documents if d.get("kind") == kind]


def triggered_run(kubectl: Kubectl, namespace: str, cron_workflow: str) -> str:
    """Runs `kubedag schedule trigger`; returns the name of the Workflow it created."""
    command = ["schedule", "trigger", cron_workflow, "-n", namespace]
    result = subprocess.run(
        [sys.executable, "-m", "kubedag.cli", *command],
        env=kubectl.env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()[1]


def test_every_example_declares_its_expected_outcome() -> None:
    assert EXAMPLES
    for path in EXAMPLES:
        kinds = ("Workflow", "CronWorkflow", "Backfill")
        for document in [d for kind in kinds for d in workflows_in(path, kind)]:
            annotations = document["metadata"].get("annotations") or {}
            assert annotations.get(EXPECTED_PHASE) in ("Succeeded", "Failed"), path.name


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_runs_to_its_expected_outcome(kubectl: Kubectl, namespace: str, path: Path) -> None:
    kubectl.run("apply", "-n", namespace, "-f", str(path))
    for document in workflows_in(path):
        name = document["metadata"]["name"]
        expected = document["metadata"]["annotations"][EXPECTED_PHASE]
        body = wait_for_phase(kubectl, namespace, name, "Succeeded", "Failed", timeout=240)
        assert body["status"]["phase"] == expected, body["status"].get("message")
    for document in workflows_in(path, "CronWorkflow"):
        expected = document["metadata"]["annotations"][EXPECTED_PHASE]
        name = document["metadata"]["name"]
        if document["spec"].get("schedules"):
            run = triggered_run(kubectl, namespace, name)
        else:
            run = trigger_run_name(name, 1)
            wait_for(
                f"{run}, started by the dataset trigger",
                lambda run=run: (
                    kubectl.run(
                        "get", "-n", namespace, "workflows.kubedag.io", run, check=False
                    ).returncode
                    == 0
                ),
            )
        body = wait_for_phase(kubectl, namespace, run, "Succeeded", "Failed", timeout=240)
        assert body["status"]["phase"] == expected, body["status"].get("message")
    for document in workflows_in(path, "Backfill"):
        name = document["metadata"]["name"]
        expected = document["metadata"]["annotations"][EXPECTED_PHASE]

        def finished(name: str = name) -> dict[str, Any] | None:
            body = kubectl.get(namespace, "backfill", name)
            return (
                body if (body.get("status") or {}).get("phase") in ("Succeeded", "Failed") else None
            )

        body = wait_for(f"backfill {name} to finish", finished, timeout=240)
        assert body["status"]["phase"] == expected, body["status"].get("message")
