"""A run's data interval as its tasks see it: {{schedule.*}} in task texts and in the run's
params (issue 9), and the run manifests CronWorkflows and Backfills create."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kubedag.api.workflow import WorkflowSpec
from kubedag.engine.intervals import DataInterval
from kubedag.engine.specs import resolve_spec
from kubedag.k8s.manifests import build_run_manifest, owner_reference
from tests.unit.simulated_world import World

INTERVAL = {"start": "2026-11-29T00:00:00+01:00", "end": "2026-11-30T00:00:00+01:00"}


def spec(args: list[str], **fields: Any) -> WorkflowSpec:
    return WorkflowSpec.model_validate(
        {"tasks": [{"name": "load", "image": "busybox", "args": args}], **fields}
    )


def test_tasks_see_the_interval_with_its_own_offset() -> None:
    world = World(
        spec(
            [
                "{{schedule.intervalStart}}",
                "{{schedule.intervalEnd}}",
                "{{schedule.logicalDate}}",
                "{{schedule.ds}}",
            ],
            dataInterval=INTERVAL,
        )
    )
    (start,) = world.plan().start_jobs
    assert start.spec.args == [INTERVAL["start"], INTERVAL["end"], INTERVAL["start"], "2026-11-29"]


def test_a_param_value_may_name_the_interval() -> None:
    world = World(
        spec(
            ["{{params.partition}}"],
            dataInterval=INTERVAL,
            params=[{"name": "partition", "value": "s3://lake/orders/dt={{schedule.ds}}"}],
        )
    )
    (start,) = world.plan().start_jobs
    assert start.spec.args == ["s3://lake/orders/dt=2026-11-29"]


@pytest.mark.parametrize(
    "fields",
    [
        {"params": [{"name": "p", "value": "{{schedule.ds}}"}]},
        {},
    ],
)
def test_naming_the_interval_of_a_run_without_one_is_an_invalid_spec(fields: Any) -> None:
    args = ["{{params.p}}"] if fields else ["{{schedule.intervalEnd}}"]
    resolved, errors = resolve_spec(spec(args, **fields), {})
    assert resolved is None
    assert any("spec.dataInterval" in error.message for error in errors)


def test_an_unknown_schedule_field_is_an_invalid_spec() -> None:
    _, errors = resolve_spec(spec(["{{schedule.when}}"], dataInterval=INTERVAL), {})
    assert any("unknown reference {{schedule.when}}" in error.message for error in errors)


def interval() -> DataInterval:
    return DataInterval(
        datetime(2026, 11, 28, 23, tzinfo=UTC),
        datetime(2026, 11, 29, 23, tzinfo=UTC),
        ZoneInfo("Europe/Berlin"),
    )


def owner() -> dict[str, Any]:
    return owner_reference(
        api_version="kubedag.io/v1alpha1", kind="CronWorkflow", name="nightly", uid="u-1"
    )


def test_a_templated_run_names_its_template_params_and_interval() -> None:
    manifest = build_run_manifest(
        name="nightly-20261128-230000",
        namespace="data",
        interval=interval(),
        workflow_template="etl",
        workflow_spec=None,
        params=[{"name": "table", "value": "orders"}],
        labels={"kubedag.io/cron-workflow": "nightly"},
        annotations={},
        owner=owner(),
    )
    assert manifest["spec"] == {
        "workflowTemplateRef": {"name": "etl"},
        "params": [{"name": "table", "value": "orders"}],
        "dataInterval": INTERVAL,
    }
    assert manifest["metadata"]["ownerReferences"][0]["kind"] == "CronWorkflow"
    assert manifest["metadata"]["labels"] == {"kubedag.io/cron-workflow": "nightly"}


def test_an_inline_run_overrides_declared_param_values_and_adds_the_rest() -> None:
    inline = {
        "params": [{"name": "table", "default": "orders"}, {"name": "env", "value": "dev"}],
        "tasks": [{"name": "a", "image": "busybox"}],
    }
    manifest = build_run_manifest(
        name="n",
        namespace="data",
        interval=interval(),
        workflow_template=None,
        workflow_spec=inline,
        params=[{"name": "env", "value": "prod"}, {"name": "extra", "value": "1"}],
        labels={},
        annotations={"team": "data"},
        owner=owner(),
    )
    assert manifest["spec"]["params"] == [
        {"name": "table", "default": "orders"},
        {"name": "env", "value": "prod"},
        {"name": "extra", "value": "1"},
    ]
    assert inline["params"][1] == {"name": "env", "value": "dev"}  # the source is not changed
    assert manifest["metadata"]["annotations"] == {"team": "data"}
    WorkflowSpec.model_validate(manifest["spec"])


def test_a_run_needs_exactly_one_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        build_run_manifest(
            name="n",
            namespace="d",
            interval=interval(),
            workflow_template="etl",
            workflow_spec={"tasks": []},
            params=[],
            labels={},
            annotations={},
            owner=owner(),
        )
