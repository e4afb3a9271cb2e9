"""What a Workflow runs when it uses templates: the spec of its WorkflowTemplate with the
run's own params and fields over it, and the TaskTemplates it uses, as they were when the
run started. Pure.

A run keeps the versions it started with (issue 9, after Argo Workflows'
`status.storedWorkflowTemplateSpec` and `status.storedTemplates`): before its first Task or
Job is made, the shell writes the WorkflowTemplate's spec and every TaskTemplate the run
uses into the Workflow's status, and every later pass, also after an operator restart,
plans from those copies. Editing or deleting a template changes later runs only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from kubedag.api.template import TaskTemplateSpec
from kubedag.api.workflow import Param, WorkflowSpec
from kubedag.engine.dag import SpecError

# The fields of a run's spec that are not the run's to override: what the template defines,
# and the reference itself.
_TEMPLATE_FIELDS = frozenset({"tasks", "params", "workflow_template_ref"})


@dataclass(frozen=True)
class StoredTemplates:
    """The copies a run keeps, as the Workflow's status holds them (camelCase JSON):
    `workflow_template` the WorkflowTemplate's spec (None: the run has its own tasks),
    `task_templates` TaskTemplate name -> spec (None: nothing stored)."""

    workflow_template: Mapping[str, Any] | None = None
    task_templates: Mapping[str, Mapping[str, Any]] | None = None

    @property
    def empty(self) -> bool:
        return self.workflow_template is None and self.task_templates is None

    def status_patch(self) -> dict[str, Any]:
        """The fields of the Workflow's status that hold these copies."""
        patch: dict[str, Any] = {}
        if self.workflow_template is not None:
            patch["storedWorkflowTemplate"] = dict(self.workflow_template)
        if self.task_templates is not None:
            patch["storedTaskTemplates"] = {
                name: dict(spec) for name, spec in self.task_templates.items()
            }
        return patch


@dataclass(frozen=True)
class RunDefinition:
    """What one pass plans from.

    `spec` is the spec to run (None when it cannot run: `errors` say why, or
    `missing_workflow_template` names the WorkflowTemplate the run waits for);
    `task_templates` are the TaskTemplates to resolve it with; `to_store` holds the copies
    the shell must write, and see acknowledged, before it creates anything (None: the run
    keeps what it stored, or uses no template)."""

    spec: WorkflowSpec | None
    task_templates: Mapping[str, TaskTemplateSpec]
    errors: list[SpecError] = field(default_factory=list)
    missing_workflow_template: str | None = None
    to_store: StoredTemplates | None = None


def task_templates_used(spec: WorkflowSpec) -> set[str]:
    """The names of the TaskTemplates the tasks and exit-handler tasks refer to."""
    return {
        task.template_ref.name
        for task in [*(spec.tasks or []), *(spec.on_exit or [])]
        if task.template_ref is not None
    }


def run_spec(
    run: WorkflowSpec, template: WorkflowSpec, template_name: str
) -> tuple[WorkflowSpec | None, list[SpecError]]:
    """The spec a run of `template` runs: the template's tasks and params, each param's
    value taken from the run when the run gives one; every other field the run sets
    (suspend, shutdown, parallelism, onExit, ...) over the template's, as Argo Workflows
    merges a Workflow's spec over its WorkflowTemplate's.

    Errors: a run param the template does not declare (Argo refuses it too), a run param
    without a value, a template without tasks or that refers to another template."""
    errors: list[SpecError] = []
    if not template.tasks:
        errors.append(
            SpecError(
                "spec.workflowTemplateRef", f"WorkflowTemplate {template_name!r} has no tasks"
            )
        )
    if template.workflow_template_ref is not None:
        errors.append(
            SpecError(
                "spec.workflowTemplateRef",
                f"WorkflowTemplate {template_name!r} refers to another WorkflowTemplate",
            )
        )
    params = list(template.params or [])
    position = {param.name: index for index, param in enumerate(params)}
    for index, param in enumerate(run.params or []):
        value = param.value if param.value is not None else param.default
        if param.name not in position:
            declared = ", ".join(repr(name) for name in position) or "none"
            errors.append(
                SpecError(
                    f"spec.params[{index}]",
                    f"WorkflowTemplate {template_name!r} has no parameter {param.name!r} "
                    f"(it declares: {declared})",
                )
            )
        elif value is None:
            errors.append(
                SpecError(f"spec.params[{index}]", f"parameter {param.name!r} needs a value")
            )
        else:
            declared_param = params[position[param.name]]
            params[position[param.name]] = Param(
                name=param.name,
                value=value,
                default=declared_param.default,
                description=declared_param.description,
            )
    if errors:
        return None, errors
    overrides = {
        name: getattr(run, name)
        for name in WorkflowSpec.model_fields
        if name not in _TEMPLATE_FIELDS and getattr(run, name) is not None
    }
    spec = template.model_copy(
        update={**overrides, "params": params or None, "workflow_template_ref": None}
    )
    return spec, []


def define_run(
    run: WorkflowSpec,
    stored: StoredTemplates,
    *,
    workflow_templates: Mapping[str, WorkflowSpec],
    task_templates: Mapping[str, TaskTemplateSpec],
    finished: bool = False,
) -> RunDefinition:
    """What a run plans from, given its stored copies (`stored`) and the namespace's
    templates as they are now (`workflow_templates`, `task_templates`).

    Stored copies win over the live templates, always. A run that stored nothing and uses
    templates stores them once they are all there (the WorkflowTemplate and every
    TaskTemplate its tasks name); until then it waits, and a finished run stores nothing
    (there is nothing left to plan)."""
    template_name = run.workflow_template_ref.name if run.workflow_template_ref else None
    store_workflow_template: Mapping[str, Any] | None = None
    spec = run
    if template_name is not None:
        if stored.workflow_template is not None:
            try:
                template = WorkflowSpec.model_validate(stored.workflow_template)
            except ValidationError as error:
                return RunDefinition(None, {}, [_unreadable("storedWorkflowTemplate", error)])
        elif template_name in workflow_templates:
            template = workflow_templates[template_name]
            store_workflow_template = template.to_wire()
        else:
            return RunDefinition(None, {}, missing_workflow_template=template_name)
        merged, errors = run_spec(run, template, template_name)
        if merged is None:
            return RunDefinition(None, {}, errors)
        spec = merged

    used = task_templates_used(spec)
    if stored.task_templates is not None:
        templates: dict[str, TaskTemplateSpec] = {}
        for name, copy in stored.task_templates.items():
            try:
                templates[name] = TaskTemplateSpec.model_validate(copy)
            except ValidationError as error:
                return RunDefinition(None, {}, [_unreadable(f"storedTaskTemplates[{name}]", error)])
        store_task_templates = None
    else:
        templates = {name: task_templates[name] for name in used if name in task_templates}
        store_task_templates = (
            {name: template.to_wire() for name, template in templates.items()} if used else None
        )

    to_store = StoredTemplates(store_workflow_template, store_task_templates)
    complete = used <= set(templates)
    if finished or to_store.empty or not complete:
        # Waiting for a template (reported by the planner): nothing is stored before all
        # are there, so the run keeps one consistent set.
        return RunDefinition(spec, templates)
    return RunDefinition(spec, templates, to_store=to_store)


def _unreadable(where: str, error: ValidationError) -> SpecError:
    problems = "; ".join(
        f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}"
        for issue in error.errors()[:5]
    )
    return SpecError(f"status.{where}", f"the stored copy cannot be read: {problems}")
