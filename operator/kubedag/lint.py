"""`kubedag lint`: what the API server would store and refuse, and what the engine would
refuse, for every Workflow, WorkflowTemplate and TaskTemplate of a file, all in one run.
Pure: text in, findings out.

Three checks, each with the path of what it finds (`spec.tasks[0].outputs[0].name`):
1. the YAML is read as kubectl reads it (kubedag.yaml_reading), with a warning where
   YAML 1.1 changes what a person probably meant (`n` is the boolean false);
2. the document is validated against its CRD's schema (kubedag.schema_validation), as the
   API server does with strict field validation;
3. the engine's rules (kubedag.engine.specs.resolve_spec), which the operator applies
   before it runs anything. They run whenever a spec can be built, also when the schema
   found problems: a value the schema refused is left out for this check (or, where a
   string belongs, stands in as its JSON text).

Only the engine's rules are not the API server's: the e2e test
tests/e2e/test_lint_agrees_with_api_server.py holds lint's other errors against
`kubectl create --dry-run=server`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError

from kubedag.api import API_VERSION, GROUP
from kubedag.api.cron_workflow import MAX_NAME_LENGTH as MAX_CRON_NAME_LENGTH
from kubedag.api.cron_workflow import NAME_RULE_MESSAGE as CRON_NAME_RULE_MESSAGE
from kubedag.api.dataset import DatasetTrigger
from kubedag.api.template import TaskTemplateSpec
from kubedag.api.workflow import DataInterval, WorkflowSpec
from kubedag.engine.dataset_triggers import trigger_problem
from kubedag.engine.intervals import Cadence, InvalidCadence
from kubedag.engine.specs import resolve_spec, static_item_problems
from kubedag.engine.workflow_templates import run_spec
from kubedag.schema_validation import format_path, schema_at, validate_object
from kubedag.yaml_reading import Document, read_documents

CHECKED_KINDS = ("Workflow", "WorkflowTemplate", "TaskTemplate", "CronWorkflow", "Backfill")
# Kinds whose spec is not a Workflow's: the engine checks their cadence (issue 9).
_SCHEDULE_KINDS = ("CronWorkflow", "Backfill")
# metadata.name of a custom resource: a DNS-1123 subdomain.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_MAX_PRUNING_ROUNDS = 20


class Check(StrEnum):
    """Who would object: kubectl reading the file, the API server storing it, or the
    operator's engine running it (the API server accepts what only the engine refuses)."""

    KUBECTL = "kubectl"
    API_SERVER = "api-server"
    ENGINE = "engine"


class Severity(StrEnum):
    ERROR = "error"  # kubectl, the API server or the operator refuses it
    WARNING = "warning"  # accepted, but probably not what was meant
    NOTE = "note"  # not checked, and why


@dataclass(frozen=True)
class Finding:
    severity: Severity
    document: str  # "Workflow etl" or "document 3"
    path: str  # "" when it is about the whole document
    message: str
    check: Check = Check.API_SERVER

    def __str__(self) -> str:
        where = f"{self.document}: {self.path}" if self.path else self.document
        return f"{where}: {self.message}"


def lint_text(text: str) -> list[Finding]:
    """Every finding of one file."""
    documents, syntax_error = read_documents(text)
    findings = lint_documents(documents)
    if syntax_error is not None:
        where = f"document {len(documents) + 1}"
        findings.append(
            Finding(Severity.ERROR, where, "", f"cannot read: {syntax_error}", Check.KUBECTL)
        )
    return findings


def lint_documents(documents: Sequence[Document]) -> list[Finding]:
    """Every finding of these documents; TaskTemplates and WorkflowTemplates among them
    are used to check the Workflows that reference them."""
    documents = list(_flattened(documents))
    templates = _Templates(
        tasks={
            name: spec
            for document in documents
            if _checked_kind(document) == "TaskTemplate"
            and (name := _name(document))
            and (spec := _spec_model(TaskTemplateSpec, document.content).spec) is not None
        },
        workflows={
            name: spec
            for document in documents
            if _checked_kind(document) == "WorkflowTemplate"
            and (name := _name(document))
            and (spec := _spec_model(WorkflowSpec, document.content).spec) is not None
        },
    )
    findings: list[Finding] = []
    for document in documents:
        findings += _lint_document(document, templates)
    return findings


@dataclass(frozen=True)
class _Templates:
    """The templates of the files linted, by name."""

    tasks: dict[str, TaskTemplateSpec]
    workflows: dict[str, WorkflowSpec]


def _flattened(documents: Sequence[Document]) -> Iterator[Document]:
    """The documents, each item of a list (`kind: List`, `kubectl get -o yaml`) as one of
    its own, as kubectl applies them."""
    for document in documents:
        content = document.content if isinstance(document.content, dict) else {}
        items = content.get("items")
        if not (str(content.get("kind", "")).endswith("List") and isinstance(items, list)):
            yield document
            continue
        for index, item in enumerate(items):
            inside = ("items", index)
            yield Document(
                index=document.index,
                content=item,
                surprises=[
                    replace(surprise, path=surprise.path[2:])
                    for surprise in document.surprises
                    if surprise.path[:2] == inside
                ],
                duplicate_keys=[path[2:] for path in document.duplicate_keys if path[:2] == inside],
            )


def _lint_document(document: Document, templates: _Templates) -> list[Finding]:
    label = _label(document)
    if document.error is not None:
        return [Finding(Severity.ERROR, label, "", f"cannot read: {document.error}", Check.KUBECTL)]
    content = document.content
    if content is None:
        return []  # an empty document: kubectl skips it too
    if not isinstance(content, dict):
        message = "a document must be a mapping (an object)"
        return [Finding(Severity.ERROR, label, "", message, Check.KUBECTL)]
    kind = _checked_kind(document)
    if kind is None:
        return _not_checked(content, label)

    findings = [
        Finding(Severity.ERROR, label, path, message) for path, message in _header(content, kind)
    ]
    schema_problems = validate_object(kind, content)
    engine_problems, notes = _engine_problems(kind, content, templates, bool(schema_problems))
    # The CRDs' CEL rules repeat rules of the engine, so that the API server refuses early;
    # where both fail at one place, the API server's finding is the one a user meets first.
    failed_rules = {problem.path for problem in schema_problems if problem.rule is not None}
    findings += [
        Finding(Severity.ERROR, label, problem.path, problem.message) for problem in schema_problems
    ]
    findings += [
        Finding(Severity.ERROR, label, path, message, Check.ENGINE)
        for path, message in engine_problems
        if path not in failed_rules
    ]
    findings += [
        Finding(Severity.WARNING, label, format_path(surprise.path), str(surprise), Check.KUBECTL)
        for surprise in document.surprises
        if not (
            isinstance(surprise.reading, bool)
            and not surprise.is_key
            and schema_at(kind, surprise.path).get("type") == "boolean"
        )
    ]
    findings += [
        Finding(
            Severity.WARNING,
            label,
            format_path(path),
            "duplicate key: the last value is kept",
            Check.KUBECTL,
        )
        for path in document.duplicate_keys
    ]
    findings += [Finding(Severity.NOTE, label, "", note, Check.ENGINE) for note in notes]
    return sorted(findings, key=_reading_order)


def _checked_kind(document: Document) -> str | None:
    content = document.content
    if not isinstance(content, dict) or content.get("kind") not in CHECKED_KINDS:
        return None
    api_version = content.get("apiVersion")
    if api_version is None or str(api_version).split("/")[0] == GROUP:
        return str(content["kind"])
    return None


def _not_checked(content: dict[str, Any], label: str) -> list[Finding]:
    if str(content.get("apiVersion", "")).split("/")[0] == GROUP:
        return [
            Finding(
                Severity.NOTE,
                label,
                "",
                f"only {', '.join(CHECKED_KINDS)} documents are checked; skipped",
            )
        ]
    return [Finding(Severity.NOTE, label, "", "not a kubedag document; skipped")]


def _header(content: dict[str, Any], kind: str) -> list[tuple[str, str]]:
    """apiVersion and metadata.name: what kubectl and the API server check before the
    schema (and the CronWorkflow CRD's rule on the name's length)."""
    problems: list[tuple[str, str]] = []
    if content.get("apiVersion") != API_VERSION:
        problems.append(("apiVersion", f"must be {API_VERSION}"))
    metadata = content.get("metadata")
    if not isinstance(metadata, dict):
        return [*problems, ("metadata.name", "Required value: name or generateName is required")]
    name = metadata.get("name")
    if name is None and not metadata.get("generateName"):
        problems.append(("metadata.name", "Required value: name or generateName is required"))
    elif name is not None and not (
        isinstance(name, str) and len(name) <= 253 and _NAME.fullmatch(name)
    ):
        problems.append(
            (
                "metadata.name",
                f"Invalid value: {name!r}: a lowercase RFC 1123 subdomain must consist of "
                "lower case alphanumeric characters, '-' or '.', and must start and end "
                "with an alphanumeric character",
            )
        )
    elif kind == "CronWorkflow" and isinstance(name, str) and len(name) > MAX_CRON_NAME_LENGTH:
        problems.append(("", CRON_NAME_RULE_MESSAGE))
    return problems


def _engine_problems(
    kind: str,
    content: dict[str, Any],
    templates: _Templates,
    schema_failed: bool,
) -> tuple[list[tuple[str, str]], list[str]]:
    """The engine's problems (path, message) and notes on what it could not check."""
    if kind in _SCHEDULE_KINDS:
        return _cadence_problems(content), []
    model: type[BaseModel] = TaskTemplateSpec if kind == "TaskTemplate" else WorkflowSpec
    built = _spec_model(model, content)
    if built.spec is None:
        if schema_failed:
            return [], ["the engine's rules were not checked: fix the problems above first"]
        return built.objections, []
    if not isinstance(built.spec, WorkflowSpec):
        return [], []  # a TaskTemplate's rules are checked in the Workflows that use it
    spec = built.spec
    if kind == "WorkflowTemplate":
        spec = _as_run(spec)
    elif spec.workflow_template_ref is not None:
        name = spec.workflow_template_ref.name
        template = templates.workflows.get(name)
        if template is None:
            # The operator resolves the reference in the run's namespace; offline, only a
            # template in the same files can be checked against.
            return [], [
                f"WorkflowTemplate {name!r} is not in these files; the run's params "
                "and tasks are not checked"
            ]
        merged, run_errors = run_spec(spec, template, name)
        if merged is None:
            return [(error.path, error.message) for error in run_errors], []
        spec = merged
    resolved, errors = resolve_spec(spec, templates.tasks)
    if resolved is not None and not resolved.missing_templates:
        # Items that would fail their node when it starts (a missing key): an error here,
        # although the run itself fails only those nodes (issue 6).
        errors += static_item_problems(resolved)
    notes = [
        f"TaskTemplate {template!r} is not in these files; not checked"
        for template in sorted(set(resolved.missing_templates if resolved else []))
    ]
    # A field left out for the model would otherwise be reported missing by the engine.
    problems = [
        (error.path, error.message)
        for error in errors
        if not any(_within(removed, error.path) for removed in built.removed)
    ]
    return problems, notes


def _cadence_problems(content: dict[str, Any]) -> list[tuple[str, str]]:
    """What the operator's Cadence refuses in a CronWorkflow's or Backfill's `schedules`
    and `timeZone` (the API server takes any string; the operator sets the object's
    condition). A Backfill with cronWorkflowRef has neither: its CronWorkflow's count."""
    spec = content.get("spec")
    if not isinstance(spec, dict):
        return []
    schedules = spec.get("schedules")
    zone = spec.get("timeZone")
    problems: list[tuple[str, str]] = []
    if isinstance(zone, str):
        try:
            Cadence(["0 0 * * *"], zone)
        except InvalidCadence as error:
            problems.append(("spec.timeZone", str(error)))
    for index, schedule in enumerate(schedules if isinstance(schedules, list) else []):
        if isinstance(schedule, str) and schedule:
            try:
                Cadence([schedule])
            except InvalidCadence as error:
                problems.append((f"spec.schedules[{index}]", str(error)))
    return problems + _trigger_problems(spec)


def _trigger_problems(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """A CronWorkflow's dataset trigger as the operator reads it (issue 10): the schema
    checks its shape, the engine its names."""
    try:
        trigger = DatasetTrigger.model_validate(spec.get("datasetTrigger"))
    except (ValueError, TypeError):
        return []  # absent, or a shape the schema reports
    problem = trigger_problem(trigger)
    if problem is None:
        return []
    where, _, message = problem.partition(": ")
    return [(where, message)]


@dataclass
class _BuiltSpec:
    spec: Any  # the model, or None
    objections: list[tuple[str, str]]  # the model's first objections (path, message)
    removed: list[str]  # the paths of the fields left out to build it


def _spec_model(model: type[BaseModel], content: Any) -> _BuiltSpec:
    """The spec as a model, built from what is valid in it, so the engine can check the
    rest: a value that should have been a string stands in as its JSON text (`true`),
    another field the model refuses is left out, and the model is tried again; unless
    the field is required or a list's item (leaving it out would shift the paths the
    engine reports)."""
    if not isinstance(content, dict) or not isinstance(content.get("spec"), dict):
        return _BuiltSpec(None, [("spec", "Required value")], [])
    spec = copy.deepcopy(content["spec"])
    built = _BuiltSpec(None, [], [])
    for _ in range(_MAX_PRUNING_ROUNDS):
        try:
            built.spec = model.model_validate(spec)
            return built
        except ValidationError as error:
            issues = error.errors()
            if not built.objections:
                built.objections = [
                    (format_path(["spec", *issue["loc"]]), issue["msg"]) for issue in issues
                ]
            if any(issue["type"] == "missing" for issue in issues):
                return built
            for issue in issues:
                if issue["type"] == "string_type" and _stand_in_text(spec, issue["loc"]):
                    continue
                removed = _remove(spec, issue["loc"])
                if removed is None:
                    return built
                built.removed.append(format_path(["spec", *removed]))
    return built


def _as_run(template: WorkflowSpec) -> WorkflowSpec:
    """A WorkflowTemplate as a run of it would be checked: a param without a value or a
    default is one each run must give, so it stands in as the empty text; and runs of a
    template are what CronWorkflows and Backfills make, so `{{schedule.*}}` is known (a
    stand-in interval: a run without one fails InvalidSpec when it starts)."""
    params = [
        param
        if param.value is not None or param.default is not None
        else param.model_copy(update={"value": ""})
        for param in template.params or []
    ]
    return template.model_copy(
        update={"params": params or None, "data_interval": template.data_interval or STAND_IN}
    )


# Any interval will do: lint checks references, not values.
STAND_IN = DataInterval(
    start=datetime(2000, 1, 1, tzinfo=UTC), end=datetime(2000, 1, 2, tzinfo=UTC)
)


def _stand_in_text(data: Any, location: Sequence[str | int]) -> bool:
    """Replaces the value at `location` by its JSON text; False if there is none."""
    path = _existing(data, location)
    if not path or len(path) != len(location):
        return False
    parent = _existing_value(data, path[:-1])
    parent[path[-1]] = json.dumps(parent[path[-1]])
    return True


def _remove(data: Any, location: Sequence[str | int]) -> list[str | int] | None:
    """Removes the deepest existing field along a pydantic error location (which may go
    on past the value, into the union member tried); its path, or None for a list item."""
    path = _existing(data, location)
    parent = _existing_value(data, path[:-1])
    if not path or not isinstance(parent, dict):
        return None
    del parent[path[-1]]
    return path


def _existing(data: Any, location: Sequence[str | int]) -> list[str | int]:
    """The longest start of `location` that exists in `data`."""
    path: list[str | int] = []
    for part in location:
        in_dict = isinstance(data, dict) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and part < len(data)
        if not (in_dict or in_list):
            break
        data = data[part]
        path.append(part)
    return path


def _existing_value(data: Any, path: Sequence[str | int]) -> Any:
    for part in path:
        data = data[part]
    return data


def _within(path: str, ancestor: str) -> bool:
    return path == ancestor or path.startswith((f"{ancestor}.", f"{ancestor}["))


def _name(document: Document) -> str:
    metadata = document.content.get("metadata") if isinstance(document.content, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else ""


def _label(document: Document) -> str:
    content = document.content
    kind = content.get("kind") if isinstance(content, dict) else None
    name = _name(document)
    if isinstance(kind, str) and name:
        return f"{kind} {name}"
    return f"document {document.index + 1}" + (f" ({kind})" if isinstance(kind, str) else "")


_SEVERITY_ORDER = {Severity.WARNING: 0, Severity.ERROR: 1, Severity.NOTE: 2}


def _reading_order(finding: Finding) -> tuple[bool, list[Any], int]:
    """By place (indexes as numbers), a warning before the error it explains; notes last."""
    parts: list[Any] = [
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", finding.path)
    ]
    return finding.severity is Severity.NOTE, parts, _SEVERITY_ORDER[finding.severity]
