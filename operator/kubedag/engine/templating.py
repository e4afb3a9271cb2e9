"""`{{...}}` templating in a task's image, command, args and env.

    {{params.date}}  {{workflow.name}}  {{workflow.namespace}}  {{workflow.status}}
    {{task.name}}  {{task.attempt}}  {{item}}  {{item.key}}  {{tasks.extract.outputs.rows}}
    {{schedule.intervalStart}}  {{schedule.intervalEnd}}  {{schedule.logicalDate}}
    {{schedule.ds}}  (a run with spec.dataInterval: kubedag.engine.intervals)

References are checked before anything runs (check_references): an unknown name is an
InvalidSpec with the field path, never a Job with a literal `{{...}}` in it.

Literal braces: a quoted text between the braces is rendered as that text, braces and all:

    {{ '{{' }} ds }}                 -> {{ ds }}
    {{ "{{ ref('orders') }}" }}      -> {{ ref('orders') }}

This is the escape users of the neighbouring tools already know: Jinja (so dbt and
Airflow) documents `{{ '{{' }}`, Helm and Go templates use `{{ "{{" }}`, GitHub Actions
`${{ '${{' }}`. Argo Workflows has none (argoproj/argo-workflows #2430, #8253), which is
why a Helm, Jinja or dbt text cannot be passed through it. A backslash was the other
candidate; it would mean something else again inside YAML double quotes and shell
scripts, and a reference cannot produce a quoted text any other way, so the quoted form
is unambiguous. Either quote may be used; a text holding one kind of quote uses the other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubedag.engine.intervals import SCHEDULE_FIELDS

# One `{{...}}`: a quoted text (a literal, see above) or a reference. The quoted forms are
# tried first, so a quoted text may hold braces.
REFERENCE = re.compile(
    r"""\{\{\s*(?:'(?P<single>[^']*)'|"(?P<double>[^"]*)"|(?P<reference>[^{}]*?))\s*\}\}"""
)
LITERAL_BRACES_HINT = "for literal braces write {{ '{{' }}"
_WORKFLOW_FIELDS = ("name", "namespace", "status")
_TASK_FIELDS = ("name", "attempt")


class MissingValue(KeyError):
    """A reference whose value is not known (yet). `why` says so in words, for a message:
    `no value for {{tasks.a.outputs.b}}`, `has no key 'mode'` (of an item)."""

    def __init__(self, reference: str, why: str | None = None) -> None:
        super().__init__(reference)
        self.reference = reference
        self.why = why or f"no value for {{{{{reference}}}}}"


@dataclass(frozen=True)
class Scope:
    """What a task may reference."""

    params: frozenset[str]
    # upstream task -> its declared outputs (only tasks this one waits for)
    outputs: Mapping[str, frozenset[str]] = field(default_factory=dict)
    fan_out: bool = False
    exit_handler: bool = False
    schedule: bool = False  # the run has a data interval (spec.dataInterval)


def references_in(text: str) -> Iterator[str]:
    """The inside of every reference in `text`, literals (quoted texts) left out."""
    for match in REFERENCE.finditer(text):
        if _literal(match) is None:
            yield match.group("reference")


def reference_of(match: re.Match[str]) -> str | None:
    """The inside of a matched reference, or None when the match is a literal."""
    return None if _literal(match) is not None else match.group("reference")


def _literal(match: re.Match[str]) -> str | None:
    single, double = match.group("single"), match.group("double")
    return single if single is not None else double


def check_reference(reference: str, scope: Scope) -> str | None:
    """Why `reference` (the inside of `{{...}}`) is not valid in `scope`, or None."""
    parts = reference.split(".")
    head = parts[0]
    if head == "params" and len(parts) == 2:
        return None if parts[1] in scope.params else f"unknown parameter {parts[1]!r}"
    if head == "workflow" and len(parts) == 2 and parts[1] in _WORKFLOW_FIELDS:
        if parts[1] == "status" and not scope.exit_handler:
            return "{{workflow.status}} is only known to exit handler tasks (onExit)"
        return None
    if head == "task" and len(parts) == 2 and parts[1] in _TASK_FIELDS:
        return None
    if head == "schedule" and len(parts) == 2 and parts[1] in SCHEDULE_FIELDS:
        if not scope.schedule:
            return (
                f"{{{{{reference}}}}} is only set in a run with spec.dataInterval "
                "(one a CronWorkflow or a Backfill creates)"
            )
        return None
    if head == "item":
        return None if scope.fan_out else "{{item}} is only set in withItems/withParam tasks"
    if head == "tasks" and len(parts) == 4 and parts[2] == "outputs":
        task, output = parts[1], parts[3]
        if task not in scope.outputs:
            return f"{task!r} is not a task this one depends on (add it to dependsOn/depends)"
        if output not in scope.outputs[task]:
            return f"task {task!r} declares no output {output!r}"
        return None
    return f"unknown reference {{{{{reference}}}}} ({LITERAL_BRACES_HINT})"


def check_text(text: str, scope: Scope) -> list[str]:
    return [problem for ref in references_in(text) if (problem := check_reference(ref, scope))]


def render(text: str, values: Mapping[str, str], *, partial: bool = False) -> str:
    """Substitutes every reference found in `values` and renders literals. With `partial`,
    references not in `values` are left for later; otherwise they raise MissingValue."""

    def replace(match: re.Match[str]) -> str:
        literal = _literal(match)
        if literal is not None:
            # Rendered in every pass, partial ones included: no output of render() is ever
            # rendered again (values are substituted, not re-scanned), so the braces stay.
            return literal
        reference = match.group("reference")
        if reference in values:
            return values[reference]
        if reference.startswith("item.") and "item" in values:
            try:
                return _item_field(values["item"], reference)
            except MissingValue:
                if partial:
                    return match.group(0)
                raise
        if partial:
            return match.group(0)
        raise MissingValue(reference)

    return REFERENCE.sub(replace, text)


def item_values(item: Any) -> dict[str, str]:
    """`{{item}}` is the item itself (JSON for objects and lists)."""
    return {"item": item if isinstance(item, str) else json.dumps(item, separators=(",", ":"))}


def _item_field(item_json: str, reference: str) -> str:
    try:
        value: Any = json.loads(item_json)
    except (json.JSONDecodeError, RecursionError) as error:
        # A string item is rendered as itself, not as JSON.
        key = reference.split(".")[1]
        raise MissingValue(reference, f"has no key {key!r}: item is a string") from error
    walked = "item"
    for key in reference.split(".")[1:]:
        if not isinstance(value, dict):
            raise MissingValue(reference, f"has no key {key!r}: {walked} is {_kind(value)}")
        if key not in value:
            where = "" if walked == "item" else f" in {walked}"
            raise MissingValue(reference, f"has no key {key!r}{where}")
        value = value[key]
        walked = f"{walked}.{key}"
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list"
