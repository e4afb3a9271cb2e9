"""Generates the CustomResourceDefinitions from the API models.

Kubernetes wants a *structural* OpenAPI v3 schema: every node typed, no `$ref`, no
`anyOf` of types, no `const`. Pydantic emits JSON Schema, so this module inlines the
references and rewrites the constructs the API server does not accept.

`python -m kubedag.api.crd crds/` writes one YAML file per resource.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from kubedag.api import GROUP, VERSION
from kubedag.api.backfill import BackfillSpec, BackfillStatus
from kubedag.api.cron_workflow import (
    MAX_NAME_LENGTH,
    NAME_RULE_MESSAGE,
    CronWorkflowSpec,
    CronWorkflowStatus,
)
from kubedag.api.dataset import DatasetSpec, DatasetStatus
from kubedag.api.task import TaskResourceSpec, TaskResourceStatus
from kubedag.api.template import TaskTemplateSpec
from kubedag.api.workflow import WorkflowSpec, WorkflowStatus
from kubedag.api.workflow_template import WorkflowTemplateSpec

_DROPPED_KEYWORDS = {"title", "default"}


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's schema, made acceptable to the API server."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    definitions = schema.pop("$defs", {})
    rewritten: dict[str, Any] = _rewrite(schema, definitions)
    return rewritten


def _rewrite(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_rewrite(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = definitions[node["$ref"].rsplit("/", 1)[-1]]
        extra = {key: value for key, value in node.items() if key != "$ref"}
        return _rewrite({**target, **extra}, definitions)
    if "anyOf" in node:
        return _rewrite(_collapse_any_of(node), definitions)
    if "const" in node:
        node = {**{k: v for k, v in node.items() if k != "const"}, "enum": [node["const"]]}
    rewritten = {
        key: _rewrite(value, definitions)
        for key, value in node.items()
        if key not in _DROPPED_KEYWORDS
    }
    if isinstance(node.get("properties"), dict):
        # Property names are data, not keywords: a field may well be called `default`.
        rewritten["properties"] = {
            name: _rewrite(schema, definitions) for name, schema in node["properties"].items()
        }
    if "x-kubedag-server-default" in rewritten:
        # The only defaults the API server applies: pydantic defaults are the client's.
        rewritten["default"] = rewritten.pop("x-kubedag-server-default")
    if rewritten.pop("x-kubedag-any-value", False):
        # Any JSON value: no type at all, unknown fields kept.
        rewritten.pop("type", None)
        rewritten["x-kubernetes-preserve-unknown-fields"] = True
        return rewritten
    if rewritten.get("x-kubernetes-preserve-unknown-fields"):
        # A free-form object: structural schemas forbid `additionalProperties: true`.
        rewritten.pop("additionalProperties", None)
        rewritten.setdefault("type", "object")
    return rewritten


def editable_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` without its rules on changes (those that read `oldSelf`): a Workflow's spec
    embedded in an object that may be edited at any time (a WorkflowTemplate, a
    CronWorkflow's workflowSpec); each run, once created, is immutable as a Workflow."""

    def strip(node: Any) -> Any:
        if isinstance(node, list):
            return [strip(item) for item in node]
        if not isinstance(node, dict):
            return node
        stripped = {key: strip(value) for key, value in node.items()}
        rules = [
            rule
            for rule in node.get("x-kubernetes-validations", [])
            if "oldSelf" not in rule["rule"]
        ]
        if rules:
            stripped["x-kubernetes-validations"] = rules
        else:
            stripped.pop("x-kubernetes-validations", None)
        return stripped

    stripped: dict[str, Any] = strip(schema)
    return stripped


def _status_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = structural_schema(model)
    if any("default" in field for field in schema["properties"].values()):
        # Its fields' defaults only apply inside an object that exists.
        schema["default"] = {}
    return schema


def _collapse_any_of(node: dict[str, Any]) -> dict[str, Any]:
    """`X | None` becomes X (absent means None); `int | str` becomes int-or-string."""
    options = [option for option in node["anyOf"] if option.get("type") != "null"]
    rest = {key: value for key, value in node.items() if key != "anyOf"}
    if len(options) == 1:
        return {**options[0], **rest}
    if sorted(option.get("type", "") for option in options) == ["integer", "string"]:
        return {**rest, "x-kubernetes-int-or-string": True}
    raise ValueError(f"cannot express anyOf {options!r} in a structural schema")


def _printer_column(name: str, json_path: str, **extra: Any) -> dict[str, Any]:
    column_type = extra.pop("type", "string")
    return {"name": name, "type": column_type, "jsonPath": json_path, **extra}


def _crd(
    *,
    kind: str,
    plural: str,
    short_names: list[str],
    spec: type[BaseModel],
    status: type[BaseModel] | None,
    columns: list[dict[str, Any]],
    description: str,
    root_rules: list[dict[str, str]] | None = None,
    spec_schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": ["kubedag"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    **({"subresources": {"status": {}}} if status else {}),
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": description,
                            "required": ["spec"],
                            **({"x-kubernetes-validations": root_rules} if root_rules else {}),
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema or structural_schema(spec),
                                **({"status": _status_schema(status)} if status else {}),
                            },
                        }
                    },
                }
            ],
        },
    }


def build_crds() -> dict[str, dict[str, Any]]:
    """File name -> CRD manifest."""
    age = _printer_column("Age", ".metadata.creationTimestamp", type="date")
    return {
        "workflows.yaml": _crd(
            kind="Workflow",
            plural="workflows",
            short_names=["kdwf"],
            spec=WorkflowSpec,
            status=WorkflowStatus,
            description="One run of a DAG of tasks; every task runs as a Kubernetes Job.",
            columns=[
                _printer_column("Phase", ".status.phase"),
                _printer_column("Progress", ".status.progress"),
                age,
                _printer_column("Message", ".status.message", priority=1),
                _printer_column("Template", ".spec.workflowTemplateRef.name", priority=1),
            ],
        ),
        "tasks.yaml": _crd(
            kind="Task",
            plural="tasks",
            short_names=["kdtask"],
            spec=TaskResourceSpec,
            status=TaskResourceStatus,
            description="One task of one Workflow run; owns the Jobs of its attempts.",
            columns=[
                _printer_column("Workflow", ".spec.workflow"),
                _printer_column("Phase", ".status.phase"),
                _printer_column("Attempts", ".status.attempts[*].number", priority=1),
                _printer_column("Reason", ".status.reason"),
                age,
                _printer_column("Message", ".status.message", priority=1),
            ],
        ),
        "tasktemplates.yaml": _crd(
            kind="TaskTemplate",
            plural="tasktemplates",
            short_names=["kdtt"],
            spec=TaskTemplateSpec,
            status=None,
            description="A task definition with parameters, referenced by Workflows.",
            columns=[_printer_column("Image", ".spec.image"), age],
        ),
        "backfills.yaml": _crd(
            kind="Backfill",
            plural="backfills",
            short_names=["kdbf"],
            spec=BackfillSpec,
            spec_schema=editable_schema(structural_schema(BackfillSpec)),
            status=BackfillStatus,
            description="Runs of a schedule's pipeline over a past range of data intervals.",
            columns=[
                _printer_column("Phase", ".status.phase"),
                _printer_column("Progress", ".status.progress"),
                age,
                _printer_column("Message", ".status.message", priority=1),
            ],
        ),
        "workflowtemplates.yaml": _crd(
            kind="WorkflowTemplate",
            plural="workflowtemplates",
            short_names=["kdwt"],
            spec=WorkflowTemplateSpec,
            status=None,
            description="A Workflow spec kept under a name; Workflows run it with "
            "spec.workflowTemplateRef, each keeping the version it started with.",
            # A column shows only the first of a list's values (`.spec.params[*].name`
            # would show one param): none but the age.
            columns=[age],
            spec_schema=editable_schema(structural_schema(WorkflowTemplateSpec)),
        ),
        "cronworkflows.yaml": _crd(
            kind="CronWorkflow",
            plural="cronworkflows",
            short_names=["kdcron"],
            spec=CronWorkflowSpec,
            spec_schema=editable_schema(structural_schema(CronWorkflowSpec)),
            status=CronWorkflowStatus,
            description="A Workflow run on a cron schedule, one run per data interval.",
            root_rules=[
                {
                    # A run's name adds "-YYYYMMDD-HHMMSS" and must fit a label value.
                    "rule": f"self.metadata.name.size() <= {MAX_NAME_LENGTH}",
                    "message": NAME_RULE_MESSAGE,
                }
            ],
            columns=[
                _printer_column("Schedule", ".spec.schedules[*]"),
                _printer_column("Suspend", ".spec.suspend", type="boolean"),
                _printer_column("Active", ".status.active[*].name"),
                _printer_column("Last Schedule", ".status.lastScheduleTime", type="date"),
                _printer_column("Next Schedule", ".status.nextScheduleTime"),
                age,
            ],
        ),
        "datasets.yaml": _crd(
            kind="Dataset",
            plural="datasets",
            short_names=["kdds"],
            spec=DatasetSpec,
            status=DatasetStatus,
            description="A dataset (OpenLineage namespace and name) written by tasks of this "
            "namespace: its last materialization, their count and a short history (issue 10).",
            columns=[
                _printer_column("Namespace", ".spec.namespace"),
                _printer_column("Name", ".spec.name"),
                _printer_column("Last Updated", ".status.lastMaterialization.time", type="date"),
                _printer_column("Producer", ".status.lastMaterialization.workflow"),
                _printer_column("Count", ".status.materializations", type="integer", priority=1),
                _printer_column("Partition", ".status.lastMaterialization.partition", priority=1),
                age,
            ],
        ),
    }


def render(crd: dict[str, Any]) -> str:
    header = "# Generated by `make crds` from operator/kubedag/api; do not edit by hand.\n"
    return header + yaml.safe_dump(crd, sort_keys=False, width=100)


def main(argv: list[str]) -> int:
    target = Path(argv[1] if len(argv) > 1 else "crds")
    target.mkdir(parents=True, exist_ok=True)
    for file_name, crd in build_crds().items():
        (target / file_name).write_text(render(crd))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
