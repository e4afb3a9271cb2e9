"""The engine's rules for one kubedag object, as `kubedag lint`, the admission webhook
(kubedag.admission) and the operator apply them: one function, `engine_problems`, so the
three say the same thing in the same words. Pure: an object's content in, (path, message)
pairs out.

The rules themselves are the engine's (kubedag.engine.specs.resolve_spec,
kubedag.engine.workflow_templates.run_spec, kubedag.engine.intervals.Cadence): the operator's
InvalidSpec condition is those functions' SpecErrors, `str(SpecError)` = `path: message`,
and so are this module's problems. What this module adds is reading an object as a user
wrote it: a spec the model cannot build entirely is built from what is valid in it, and a
WorkflowTemplate is checked as a run of it would be.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from kubedag.api.dataset import DatasetTrigger
from kubedag.api.pod import PodFields
from kubedag.api.template import TaskTemplateSpec
from kubedag.api.workflow import DataInterval, WorkflowSpec
from kubedag.engine import service_accounts as service_account_rules
from kubedag.engine.dataset_triggers import trigger_problem
from kubedag.engine.intervals import Cadence, InvalidCadence
from kubedag.engine.intervals import DataInterval as RunInterval
from kubedag.engine.service_accounts import ServiceAccountPolicy
from kubedag.engine.specs import resolve_spec, static_item_problems
from kubedag.engine.workflow_templates import run_spec
from kubedag.field_paths import format_path
from kubedag.k8s.manifests import build_run_manifest

CHECKED_KINDS = ("Workflow", "WorkflowTemplate", "TaskTemplate", "CronWorkflow", "Backfill")
# Kinds whose spec is not a Workflow's: the engine checks their cadence (issue 9).
SCHEDULE_KINDS = ("CronWorkflow", "Backfill")
_MAX_PRUNING_ROUNDS = 20


@dataclass(frozen=True)
class Templates:
    """The templates a Workflow may refer to, by name: those of the files linted, or of
    the namespace as the operator's watch caches hold them."""

    tasks: Mapping[str, TaskTemplateSpec] = field(default_factory=dict)
    workflows: Mapping[str, WorkflowSpec] = field(default_factory=dict)


def engine_problems(
    kind: str,
    content: dict[str, Any],
    templates: Templates,
    *,
    schema_failed: bool = False,
    templates_from: str = "these files",
    service_accounts: ServiceAccountPolicy | None = None,
    pod_defaults: PodFields | None = None,
) -> tuple[list[tuple[str, str]], list[str]]:
    """The engine's problems (path, message) with an object of `kind` (a CHECKED_KINDS
    name) whose content is `content`, and notes on what it could not check.

    `templates` are the TaskTemplates and WorkflowTemplates it may refer to, found in
    `templates_from` (said in the notes); one that is not there is not checked (the
    operator waits for it). With `service_accounts`, the accounts its task Pods would run
    as are checked against that policy in the object's namespace (`metadata.namespace`,
    else "default"), a task that names none running as `pod_defaults`' account (the
    operator's task Pod defaults) when they name one, as its Job would."""
    if kind in SCHEDULE_KINDS:
        problems, notes = _run_problems(
            content,
            templates,
            templates_from=templates_from,
            service_accounts=service_accounts,
            pod_defaults=pod_defaults,
            schema_failed=schema_failed,
        )
        return cadence_problems(content) + problems, notes
    model: type[BaseModel] = TaskTemplateSpec if kind == "TaskTemplate" else WorkflowSpec
    built = spec_model(model, content)
    if built.spec is None:
        if schema_failed:
            return [], ["the engine's rules were not checked: fix the problems above first"]
        return built.objections, []
    namespace = _namespace(content)
    if isinstance(built.spec, TaskTemplateSpec):
        # A TaskTemplate's other rules are checked in the Workflows that use it.
        if service_accounts is None:
            return [], []
        errors = service_account_rules.template_problems(
            built.spec, namespace=namespace, policy=service_accounts
        )
        return [(error.path, error.message) for error in errors], []
    spec = built.spec
    if kind == "WorkflowTemplate":
        spec = as_run(spec)
    elif spec.workflow_template_ref is not None:
        name = spec.workflow_template_ref.name
        template = templates.workflows.get(name)
        if template is None:
            # The operator resolves the reference in the run's namespace; offline, only a
            # template in the same files can be checked against.
            return [], [
                f"WorkflowTemplate {name!r} is not in {templates_from}; the run's params "
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
    if resolved is not None and service_accounts is not None:
        errors += service_account_rules.workflow_problems(
            resolved,
            spec,
            namespace=namespace,
            policy=service_accounts,
            pod_defaults=pod_defaults,
        )
    notes = [
        f"TaskTemplate {template!r} is not in {templates_from}; not checked"
        for template in sorted(set(resolved.missing_templates if resolved else []))
    ]
    # A field left out for the model would otherwise be reported missing by the engine.
    problems = [
        (error.path, error.message)
        for error in errors
        if not any(_within(removed, error.path) for removed in built.removed)
    ]
    return problems, notes


def _run_problems(
    content: dict[str, Any],
    templates: Templates,
    *,
    templates_from: str,
    service_accounts: ServiceAccountPolicy | None,
    schema_failed: bool,
    pod_defaults: PodFields | None = None,
) -> tuple[list[tuple[str, str]], list[str]]:
    """The engine's problems with the runs a CronWorkflow or Backfill would create: each
    run is built as the operator builds it (kubedag.k8s.manifests.build_run_manifest, for a
    stand-in interval) and checked as a Workflow. An inline spec's problems point into
    `spec.workflowSpec`; a WorkflowTemplate's own are said at `spec.workflowTemplateRef`
    with the template's path in the message. A Backfill of a CronWorkflow is checked
    through that CronWorkflow."""
    spec = content.get("spec")
    if not isinstance(spec, dict) or schema_failed:
        return [], []
    template = spec.get("workflowTemplateRef")
    inline = spec.get("workflowSpec")
    params = spec.get("params")
    if not (isinstance(template, dict) or isinstance(inline, dict)):
        return [], []
    if not isinstance(params, list) or not all(
        isinstance(param, dict) and isinstance(param.get("value"), str) for param in params
    ):
        params = []
    run = build_run_manifest(
        name="stand-in",
        namespace=_namespace(content),
        interval=RunInterval(STAND_IN.start, STAND_IN.end),
        workflow_template=str(template.get("name")) if isinstance(template, dict) else None,
        workflow_spec=inline if not isinstance(template, dict) else None,
        params=params,
        labels={},
        annotations={},
        owner={},
    )
    problems, notes = engine_problems(
        "Workflow",
        run,
        templates,
        templates_from=templates_from,
        service_accounts=service_accounts,
        pod_defaults=pod_defaults,
    )
    if isinstance(template, dict):
        name = template.get("name")
        problems = [
            (path, message)
            if path.startswith("spec.params[")  # the run's params are this object's
            else ("spec.workflowTemplateRef", f"WorkflowTemplate {name!r}: {path}: {message}")
            for path, message in problems
        ]
    else:
        problems = [
            (path.replace("spec", "spec.workflowSpec", 1), message) for path, message in problems
        ]
    return problems, notes


def cadence_problems(content: dict[str, Any]) -> list[tuple[str, str]]:
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
class BuiltSpec:
    spec: Any  # the model, or None
    objections: list[tuple[str, str]]  # the model's first objections (path, message)
    removed: list[str]  # the paths of the fields left out to build it


def spec_model(model: type[BaseModel], content: Any) -> BuiltSpec:
    """The spec as a model, built from what is valid in it, so the engine can check the
    rest: a value that should have been a string stands in as its JSON text (`true`),
    another field the model refuses is left out, and the model is tried again; unless
    the field is required or a list's item (leaving it out would shift the paths the
    engine reports)."""
    if not isinstance(content, dict) or not isinstance(content.get("spec"), dict):
        return BuiltSpec(None, [("spec", "Required value")], [])
    built = BuiltSpec(None, [], [])
    try:
        # Most specs build as they are: no copy (a quarter of the webhook's time on a
        # 10,000-task Workflow was this copy).
        built.spec = model.model_validate(content["spec"])
        return built
    except ValidationError:
        pass
    spec = copy.deepcopy(content["spec"])
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


def as_run(template: WorkflowSpec) -> WorkflowSpec:
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


def _namespace(content: Mapping[str, Any]) -> str:
    metadata = content.get("metadata")
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    return namespace if isinstance(namespace, str) and namespace else "default"
