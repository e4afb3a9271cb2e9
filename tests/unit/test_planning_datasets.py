"""The planner and datasets (issue 10): a Task's spec holds its inlets and outlets with
templates resolved, and the status of its ended attempt what it read and wrote, declared
and reported; a value that resolves to an invalid name fails the node, not the pass."""

from __future__ import annotations

import json
import random

from kubedag.api.task import TaskPhase
from kubedag.api.workflow import WorkflowSpec
from kubedag.engine.planning import plan_next_steps
from tests.unit.simulated_world import World


def spec(**task: object) -> WorkflowSpec:
    return WorkflowSpec.model_validate(
        {
            "params": [{"name": "day", "value": "2026-03-01"}, {"name": "bucket", "value": "lake"}],
            "tasks": [{"name": "write", "image": "busybox", **task}],
        }
    )


def test_declared_datasets_are_resolved_on_the_task_and_its_status() -> None:
    world = World(
        spec(
            withItems=["eu", "us"],
            inlets=[{"namespace": "s3://{{params.bucket}}", "name": "raw/{{item}}"}],
            outlets=[
                {
                    "namespace": "s3://{{params.bucket}}",
                    "name": "clean/orders",
                    "partition": "{{params.day}}/{{item}}",
                }
            ],
        )
    )
    created = {c.node: c.spec for c in world.plan().create_tasks}
    outlet = (created["write-1"].outlets or [])[0]
    assert (outlet.namespace, outlet.name, outlet.partition) == (
        "s3://lake",
        "clean/orders",
        "2026-03-01/us",
    )
    world.run_to_end(random.Random(1))
    status = world.tasks["write-0"].status
    assert status.phase == TaskPhase.SUCCEEDED
    assert status.datasets is not None
    assert [(r.name, r.partition) for r in status.datasets.outlets or []] == [
        ("clean/orders", "2026-03-01/eu")
    ]
    assert [r.name for r in status.datasets.inlets or []] == ["raw/eu"]


def test_reported_datasets_join_the_declared_ones_without_duplicates() -> None:
    declared = {"namespace": "s3://lake", "name": "clean/orders"}
    reported = {"namespace": "s3://lake", "name": "clean/late_orders", "partition": "p"}
    message = json.dumps({"kubedag.io/datasets": {"outlets": [declared, reported]}})
    world = World(spec(outlets=[declared]), messages={"write": message})
    world.run_to_end(random.Random(2))
    status = world.tasks["write"].status
    assert status.datasets is not None and status.datasets.message is None
    assert [r.name for r in status.datasets.outlets or []] == ["clean/orders", "clean/late_orders"]
    assert status.outputs is None


def test_a_task_without_datasets_gets_no_datasets_status() -> None:
    world = World(spec())
    world.run_to_end(random.Random(3))
    assert world.tasks["write"].status.datasets is None


def test_a_name_that_resolves_invalid_fails_the_node_with_the_reason() -> None:
    world = World(
        spec(
            withItems=["ok", "Not OK"],
            outlets=[{"namespace": "{{item}}", "name": "x"}],
        )
    )
    world.run_to_end(random.Random(4))
    good, bad = world.tasks["write-0"].status, world.tasks["write-1"].status
    assert bad.phase == TaskPhase.FAILED
    assert "OpenLineage namespace" in (bad.message or "")
    assert good.phase == TaskPhase.SUCCEEDED
    assert plan_next_steps(world.state(), now=world.now()).is_empty


def test_refused_reported_datasets_get_a_warning_event_on_the_task() -> None:
    # The task wrote what it reported, but kubedag could not take it: no Dataset is
    # updated and no trigger fires, so the user is told where they look (an Event).
    bad = {"namespace": "S3://lake", "name": "clean/orders"}
    message = json.dumps({"kubedag.io/datasets": {"outlets": [bad]}})
    world = World(spec(), messages={"write": message})
    world.run_to_end(random.Random(5))
    status = world.tasks["write"].status
    assert status.phase == TaskPhase.SUCCEEDED
    assert status.datasets is not None and "lower case" in (status.datasets.message or "")
    warnings = [e for e in world.events if e.reason == "DatasetsRefused"]
    assert len(warnings) == 1
    assert warnings[0].type == "Warning" and "lower case" in warnings[0].message


def test_accepted_reported_datasets_post_no_warning() -> None:
    good = {"namespace": "s3://lake", "name": "clean/orders"}
    message = json.dumps({"kubedag.io/datasets": {"outlets": [good]}})
    world = World(spec(), messages={"write": message})
    world.run_to_end(random.Random(6))
    assert not [e for e in world.events if e.reason == "DatasetsRefused"]
