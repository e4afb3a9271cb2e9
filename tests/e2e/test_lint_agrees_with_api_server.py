"""`kubedag lint` and the API server agree on hostile documents: both refuse or both
accept (`kubectl create --dry-run=server`, strict field validation, as a user applies), and
what the server would store is what lint read."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest

from kubedag.lint import Check, Severity, lint_text
from kubedag.schema_validation import schema_at
from kubedag.yaml_reading import read_documents
from tests.e2e.cluster import Kubectl


def workflow(spec: str, kind: str = "Workflow") -> str:
    head = f"apiVersion: kubedag.io/v1alpha1\nkind: {kind}\nmetadata: {{name: hostile}}\n"
    return head + "spec:\n" + textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ") + "\n"


# (id, document, does the API server refuse it)
CASES = [
    ("output-name-n", workflow("tasks: [{name: a, image: x, outputs: [{name: n}]}]"), True),
    ("output-name-quoted", workflow("tasks: [{name: a, image: x, outputs: [{name: 'n'}]}]"), False),
    (
        "item-keys-yaml-1-1",
        workflow(
            """
            tasks:
            - name: a
              image: x
              withItems: [{n: 1, on: 2, 0x10: 3, 1.5: 4, 1e6: 5, y: [0755, 08, 1_000, 3.0]}]
            """
        ),
        False,
    ),
    (
        "strings-that-look-like-other-things",
        workflow("tasks: [{name: a, image: x, args: [2024-01-31, '0755', 1:30, 1e999, .Nan]}]"),
        False,
    ),
    ("octal-in-a-string-list", workflow("tasks: [{name: a, image: x, args: [0755]}]"), True),
    ("yes-in-a-boolean", workflow("suspend: yes\ntasks: [{name: a, image: x}]"), False),
    ("unknown-field", workflow("tasks: [{name: a, image: x, hostNetwork: true}]"), True),
    (
        "unknown-field-in-free-form-object",
        workflow(
            "tasks: [{name: a, image: x, env: [{name: P, valueFrom: {anything: {at: all}}}]}]"
        ),
        False,
    ),
    (
        "cpu-as-a-float",
        workflow("tasks: [{name: a, image: x, resources: {limits: {cpu: 0.5}}}]"),
        True,
    ),
    (
        "whole-float-is-an-integer",
        workflow("parallelism: 3.0\ntasks: [{name: a, image: x}]"),
        False,
    ),
    ("null-field", workflow("parallelism: null\ntasks: [{name: a, image: x, args: ~}]"), False),
    (
        "duplicate-key",
        workflow("parallelism: 1\nparallelism: 2\ntasks: [{name: a, image: x}]"),
        False,
    ),
    ("duplicate-task-names", workflow("tasks: [{name: a, image: x}, {name: a, image: z}]"), True),
    ("bad-task-name", workflow("tasks: [{name: Load_Orders, image: x}]"), True),
    ("zero-parallelism", workflow("parallelism: 0\ntasks: [{name: a, image: x}]"), True),
    ("wrong-enum", workflow("shutdown: Later\ntasks: [{name: a, image: x}]"), True),
    (
        "cel-image-and-template",
        workflow("tasks: [{name: a, image: x, templateRef: {name: t}}]"),
        True,
    ),
    ("cel-self-dependency", workflow("tasks: [{name: a, image: x, dependsOn: [a]}]"), True),
    # CEL compares date-times as instants: these texts sort the other way round.
    (
        "data-interval-in-order-across-offsets",
        workflow(
            "dataInterval: {start: '2026-11-29T20:00:00-05:00', end: '2026-11-30T02:30:00+01:00'}"
            "\ntasks: [{name: a, image: x}]"
        ),
        False,
    ),
    (
        "data-interval-reversed-across-offsets",
        workflow(
            "dataInterval: {start: '2026-11-30T00:30:00+01:00', end: '2026-11-29T18:00:00-05:00'}"
            "\ntasks: [{name: a, image: x}]"
        ),
        True,
    ),
    (
        "data-interval-not-a-date-time",
        workflow("dataInterval: {start: yesterday, end: today}\ntasks: [{name: a, image: x}]"),
        True,
    ),
    ("template-without-image", workflow("command: [echo]", kind="TaskTemplate"), True),
    ("nan-value", workflow("tasks: [{name: a, image: x, withItems: [.nan]}]"), True),
    ("null-task", workflow("tasks: [~]"), True),
    (
        "a-list-of-one",
        "apiVersion: v1\nkind: List\nitems:\n- "
        + workflow("tasks: [{name: a, image: x, outputs: [{name: no}]}]").replace("\n", "\n  "),
        True,
    ),
    (
        "name-n",
        "apiVersion: kubedag.io/v1alpha1\nkind: Workflow\nmetadata: {name: n}\n"
        "spec: {tasks: [{name: a, image: x}]}\n",
        True,
    ),
    # Issue 9's kinds: the CronWorkflow's rule on metadata.name, date-time formats.
    (
        "cron-workflow-name-of-52",
        "apiVersion: kubedag.io/v1alpha1\nkind: CronWorkflow\nmetadata: {name: %s}\n"
        "spec: {schedules: ['0 * * * *'], workflowTemplateRef: {name: t}}\n" % ("a" * 52),
        False,
    ),
    (
        "cron-workflow-name-of-53",
        "apiVersion: kubedag.io/v1alpha1\nkind: CronWorkflow\nmetadata: {name: %s}\n"
        "spec: {schedules: ['0 * * * *'], workflowTemplateRef: {name: t}}\n" % ("a" * 53),
        True,
    ),
    (
        "backfill-start-without-offset",
        workflow(
            "{cronWorkflowRef: {name: c}, start: '2026-11-01T00:00:00', "
            "end: '2026-11-02T00:00:00Z'}",
            kind="Backfill",
        ),
        True,
    ),
    (
        "backfill-on-february-30",
        workflow(
            "{cronWorkflowRef: {name: c}, start: '2026-02-30T00:00:00Z', "
            "end: '2026-03-02T00:00:00Z'}",
            kind="Backfill",
        ),
        True,
    ),
    (
        "backfill-with-a-fraction-of-a-second",
        workflow(
            "{cronWorkflowRef: {name: c}, start: '2026-11-01T00:00:00.5Z', "
            "end: '2026-11-02T00:00:00+01:00', "
            # The server's defaults, written out: what it stores is compared to the file.
            "maxConcurrentRuns: 1, order: OldestFirst, rerunSucceeded: false}",
            kind="Backfill",
        ),
        False,
    ),
    (
        "backfill-start-equals-end",
        workflow(
            "{cronWorkflowRef: {name: c}, start: '2026-11-01T00:00:00+01:00', "
            "end: '2026-10-31T23:00:00Z'}",
            kind="Backfill",
        ),
        True,
    ),
]


@pytest.mark.parametrize(("document", "refused"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_lint_refuses_what_the_api_server_refuses(
    kubectl: Kubectl, document: str, refused: bool
) -> None:
    server = kubectl.run(
        "create", "-n", "default", "--dry-run=server", "-o", "json", "-f", "-",
        stdin=document, check=False,
    )  # fmt: skip
    server_refuses = server.returncode != 0
    findings = lint_text(document)
    lint_refuses = [
        str(f) for f in findings if f.severity is Severity.ERROR and f.check is not Check.ENGINE
    ]
    assert server_refuses == refused, server.stderr
    assert bool(lint_refuses) == server_refuses, (lint_refuses, server.stderr)
    if not server_refuses:
        stored = json.loads(server.stdout)["spec"]
        [read] = read_documents(document)[0]
        schema = schema_at(read.content["kind"], ["spec"])
        assert with_defaults(without_nulls(read.content["spec"]), schema) == stored


def with_defaults(value: Any, schema: dict[str, Any]) -> Any:
    """`value` with the schema's defaults filled in, as the API server fills them in
    (a CronWorkflow's `suspend: false`)."""
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        filled = {
            key: with_defaults(item, properties.get(key) or {}) for key, item in value.items()
        }
        for key, field in properties.items():
            if key not in filled and "default" in field:
                filled[key] = field["default"]
        return filled
    if isinstance(value, list):
        return [with_defaults(item, schema.get("items") or {}) for item in value]
    return value


def without_nulls(value: Any) -> Any:
    """The API server prunes a null field that is not nullable (none of kubedag's are)."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value
