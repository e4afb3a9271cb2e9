"""`kubedag lint`: what the API server would store and refuse, and what the engine would
refuse, for every Workflow, WorkflowTemplate and TaskTemplate of a file, all in one run.
Pure: text in, findings out.

Three checks, each with the path of what it finds (`spec.tasks[0].outputs[0].name`):
1. the YAML is read as kubectl reads it (kubedag.yaml_reading), with a warning where
   YAML 1.1 changes what a person probably meant (`n` is the boolean false);
2. the document is validated against its CRD's schema (kubedag.schema_validation), as the
   API server does with strict field validation;
3. the engine's rules (kubedag.validation.engine_problems, the function the admission
   webhook applies too, over kubedag.engine.specs.resolve_spec, which the operator applies
   before it runs anything). They run whenever a spec can be built, also when the schema
   found problems: a value the schema refused is left out for this check (or, where a
   string belongs, stands in as its JSON text).

Only the engine's rules are not the API server's: the e2e test
tests/e2e/test_lint_agrees_with_api_server.py holds lint's other errors against
`kubectl create --dry-run=server`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from kubedag.api import API_VERSION, GROUP
from kubedag.api.cron_workflow import MAX_NAME_LENGTH as MAX_CRON_NAME_LENGTH
from kubedag.api.cron_workflow import NAME_RULE_MESSAGE as CRON_NAME_RULE_MESSAGE
from kubedag.api.template import TaskTemplateSpec
from kubedag.api.workflow import WorkflowSpec
from kubedag.field_paths import format_path
from kubedag.schema_validation import schema_at, validate_object
from kubedag.validation import CHECKED_KINDS, Templates, engine_problems, spec_model
from kubedag.yaml_reading import Document, read_documents

# metadata.name of a custom resource: a DNS-1123 subdomain.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


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
    templates = Templates(
        tasks={
            name: spec
            for document in documents
            if _checked_kind(document) == "TaskTemplate"
            and (name := _name(document))
            and (spec := spec_model(TaskTemplateSpec, document.content).spec) is not None
        },
        workflows={
            name: spec
            for document in documents
            if _checked_kind(document) == "WorkflowTemplate"
            and (name := _name(document))
            and (spec := spec_model(WorkflowSpec, document.content).spec) is not None
        },
    )
    findings: list[Finding] = []
    for document in documents:
        findings += _lint_document(document, templates)
    return findings


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


def _lint_document(document: Document, templates: Templates) -> list[Finding]:
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
    engine_problems_found, notes = engine_problems(
        kind, content, templates, schema_failed=bool(schema_problems)
    )
    # The CRDs' CEL rules repeat rules of the engine, so that the API server refuses early;
    # where both fail at one place, the API server's finding is the one a user meets first.
    failed_rules = {problem.path for problem in schema_problems if problem.rule is not None}
    findings += [
        Finding(Severity.ERROR, label, problem.path, problem.message) for problem in schema_problems
    ]
    findings += [
        Finding(Severity.ERROR, label, path, message, Check.ENGINE)
        for path, message in engine_problems_found
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
