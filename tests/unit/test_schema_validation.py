"""kubedag.schema_validation checks an object as the API server would, from the schema
kubedag generates from its models."""

from collections.abc import Iterator
from typing import Any

import pytest
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

from kubedag.api.crd import build_crds
from kubedag.schema_validation import cel_program, schema_at, validate_object


def cel_rules(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for rule in node.get("x-kubernetes-validations", []):
            yield rule["rule"]
        for child in node.values():
            yield from cel_rules(child)
    elif isinstance(node, list):
        for child in node:
            yield from cel_rules(child)


RULES = sorted({rule for crd in build_crds().values() for rule in cel_rules(crd)})


@pytest.mark.parametrize("rule", RULES)
def test_every_cel_rule_of_the_crds_is_evaluated_by_cel_python(rule: str) -> None:
    """A rule using a function of the Kubernetes CEL libraries that cel-python lacks
    would be skipped silently by lint: make the engine enforce it, and say so here."""
    try:
        cel_program(rule).evaluate({"self": json_to_cel({}), "oldSelf": json_to_cel({})})
    except CELEvalError as error:
        assert "undeclared reference" not in str(error.args[0])[:40], rule


def test_the_schema_is_the_one_built_from_the_models() -> None:
    task = schema_at("Workflow", ["spec", "tasks", 0])
    built = build_crds()["workflows.yaml"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert set(task["properties"]) == set(
        built["properties"]["spec"]["properties"]["tasks"]["items"]["properties"]
    )


def test_metadata_and_status_are_left_to_the_api_server() -> None:
    body = {"metadata": {"anything": 1}, "status": {"phase": 3}, "spec": {"image": "x"}}
    assert validate_object("TaskTemplate", body) == []


def test_a_list_item_that_is_null_is_not_dropped() -> None:
    problems = validate_object("Workflow", {"spec": {"tasks": [None]}})
    assert [(p.path, p.message) for p in problems] == [
        ("spec.tasks[0]", "must be of type object, not null")
    ]


@pytest.mark.parametrize(
    ("start", "end", "refused"),
    [
        # As texts these sort the other way round; as instants (the API server's CEL) not.
        ("2026-11-29T20:00:00-05:00", "2026-11-30T02:30:00+01:00", False),
        ("2026-11-30T00:30:00+01:00", "2026-11-29T18:00:00-05:00", True),
        ("2026-11-29T00:00:00Z", "2026-11-29T00:00:00Z", True),
    ],
)
def test_cel_compares_date_times_as_instants(start: str, end: str, refused: bool) -> None:
    workflow = {
        "dataInterval": {"start": start, "end": end},
        "tasks": [{"name": "a", "image": "x"}],
    }
    problems = validate_object("Workflow", {"spec": workflow})
    assert any("start must be before end" in str(p) for p in problems) == refused


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        # What kube-apiserver v1.36 answered to a Backfill's spec.start (server dry run).
        ("2026-11-01T00:00:00+01:00", True),
        ("2026-11-01T00:00:00.5Z", True),
        ("2026-11-01t00:00:00z", True),
        ("9999-12-31T23:59:59+00:00", True),
        ("0000-01-01T00:00:00Z", True),
        ("2026-11-01T00:00:00", False),  # no offset
        ("2026-11-01", False),
        ("2026-02-30T00:00:00Z", False),
        ("2026-11-01T24:00:00Z", False),
        ("2026-11-01T00:00:60Z", False),
        ("2026-11-01 00:00:00Z", False),
        ("2026-11-01T00:00:00+0100", False),
        ("2026-11-01T00:00Z", False),
    ],
)
def test_date_times_are_checked_like_the_api_server_checks_them(text: str, accepted: bool) -> None:
    backfill = {
        "workflowTemplateRef": {"name": "etl"},
        "schedules": ["0 0 * * *"],
        "start": text,
        "end": "9999-12-31T23:59:59.9Z",
    }
    problems = validate_object("Backfill", {"spec": backfill})
    refused = [p for p in problems if p.path == "spec.start" and "date-time" in p.message]
    assert (not refused) == accepted, problems
