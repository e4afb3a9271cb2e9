"""kubedag's Argo CD health checks (examples/gitops/argocd/health/), run in gopher-lua as
Argo CD runs them (tests/chart/argocd_health.py), on real objects: fixtures saved from the
API server by tests/e2e/test_argocd_health.py (KUBEDAG_SAVE_HEALTH_FIXTURES=1), each named
`<case>.<expected health>.json`, and a few states that are hard to reach on purpose (a
reconcile error, a spec the operator has not read yet) made from them by editing one field.
The argocd-cm snippets that ship the checks must carry these very scripts."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.argocd_health import HEALTH_DIR, STATUSES, health_of, load_fixture

FIXTURES = Path(__file__).parent / "fixtures" / "argocd_health"
GITOPS = HEALTH_DIR.parents[1]
CASES = sorted(FIXTURES.glob("*.json"))
KINDS = ("Workflow", "CronWorkflow", "Backfill")


def fixture(case: str) -> dict[str, Any]:
    (path,) = FIXTURES.glob(f"{case}.*.json")
    return load_fixture(path)


def test_every_kind_and_every_health_has_a_real_object() -> None:
    kinds = {load_fixture(path)["kind"] for path in CASES}
    healths = {path.name.split(".")[1] for path in CASES}
    assert kinds == set(KINDS)
    assert healths == {"Healthy", "Progressing", "Degraded", "Suspended"}


@pytest.mark.parametrize("path", CASES, ids=[path.name.split(".")[0] for path in CASES])
def test_a_real_object_gets_the_health_its_phase_means(path: Path) -> None:
    expected = path.name.split(".")[1]
    status, message = health_of(load_fixture(path))
    assert status == expected
    assert status in STATUSES
    assert message, "Argo CD shows the message next to the health: say why"


def test_a_failed_workflow_says_which_task_failed() -> None:
    status, message = health_of(fixture("workflow-failed"))
    assert status == "Degraded"
    assert "task 'b' failed" in message


def test_a_cycle_is_degraded_with_its_path() -> None:
    status, message = health_of(fixture("workflow-invalid"))
    assert status == "Degraded"
    assert "a -> b -> a" in message


def test_a_reconcile_error_shows_on_a_running_workflow_without_degrading_it() -> None:
    body = copy.deepcopy(fixture("workflow-running"))
    body["status"]["conditions"].append(
        {
            "type": "Synced",
            "status": "False",
            "reason": "ReconcileError",
            "message": "a reconciliation pass failed and is retried with backoff: Forbidden",
            "lastTransitionTime": "2026-11-30T14:00:00Z",
        }
    )
    status, message = health_of(body)
    assert status == "Progressing"
    assert "Forbidden" in message


def test_a_suspended_spec_is_suspended_before_the_operator_says_so() -> None:
    body = copy.deepcopy(fixture("workflow-running"))
    body["spec"]["suspend"] = True
    assert health_of(body)[0] == "Suspended"


def test_a_finished_workflow_stays_finished_whatever_its_suspend() -> None:
    body = copy.deepcopy(fixture("workflow-succeeded"))
    body["spec"]["suspend"] = True
    assert health_of(body)[0] == "Healthy"


def test_a_schedule_the_operator_has_not_read_since_its_change_is_progressing() -> None:
    body = copy.deepcopy(fixture("cronworkflow-invalid"))
    body["metadata"]["generation"] += 1  # fixed in git, not yet read by the operator
    assert health_of(body)[0] == "Progressing"


def test_a_backfill_changed_in_git_is_progressing_until_the_operator_reads_it() -> None:
    body = copy.deepcopy(fixture("backfill-failed"))
    body["metadata"]["generation"] += 1
    assert health_of(body)[0] == "Progressing"


def test_a_finished_backfill_whose_source_went_away_keeps_its_outcome() -> None:
    body = copy.deepcopy(fixture("backfill-succeeded"))
    resolved = next(c for c in body["status"]["conditions"] if c["type"] == "Resolved")
    resolved.update(status="False", reason="CronWorkflowNotFound", message="gone")
    assert health_of(body)[0] == "Healthy"


def test_a_status_from_a_newer_operator_with_an_unknown_phase_is_progressing() -> None:
    body = copy.deepcopy(fixture("workflow-running"))
    body["status"]["phase"] = "Archiving"
    assert health_of(body)[0] == "Progressing"


def argocd_cm_keys(document: dict[str, Any]) -> dict[str, str]:
    return {
        key: value
        for key, value in document["data"].items()
        if key.startswith("resource.customizations.health.")
    }


def test_the_argocd_cm_patch_carries_the_scripts_as_they_are() -> None:
    (document,) = yaml.safe_load_all((GITOPS / "argocd" / "argocd-cm-health.yaml").read_text())
    assert document["kind"] == "ConfigMap" and document["metadata"]["name"] == "argocd-cm"
    expected = {
        f"resource.customizations.health.kubedag.io_{kind}": (
            HEALTH_DIR / f"kubedag.io_{kind}.lua"
        ).read_text()
        for kind in KINDS
    }
    assert argocd_cm_keys(document) == expected, (
        "examples/gitops/argocd/argocd-cm-health.yaml is stale: run "
        "`python hack/argocd_cm_health.py`"
    )


def test_the_kustomization_merges_every_script_into_argocd_cm() -> None:
    kustomization = yaml.safe_load((GITOPS / "argocd" / "kustomization.yaml").read_text())
    (generator,) = kustomization["configMapGenerator"]
    assert (generator["name"], generator["behavior"]) == ("argocd-cm", "merge")
    files = dict(entry.split("=", 1) for entry in generator["files"])
    assert files == {
        f"resource.customizations.health.kubedag.io_{kind}": f"health/kubedag.io_{kind}.lua"
        for kind in KINDS
    }
