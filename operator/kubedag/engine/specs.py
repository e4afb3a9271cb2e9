"""From a Workflow spec to the runnable task definitions: templates merged, parameters
resolved, every reference and expression checked. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kubedag.api.template import TaskTemplateSpec
from kubedag.api.workflow import MAX_NODES, TaskContainer, WorkflowSpec, WorkflowTask
from kubedag.engine import datasets, expressions, json_values
from kubedag.engine.dag import SpecError, find_cycle, topological_order
from kubedag.engine.intervals import schedule_values
from kubedag.engine.pod_fields import merge_pod_fields
from kubedag.engine.templating import (
    REFERENCE,
    MissingValue,
    Scope,
    check_reference,
    check_text,
    item_values,
    reference_of,
    references_in,
    render,
)

# The fields of a task's container that may hold {{...}} references.
_TEMPLATED_FIELDS = ("image", "command", "args", "working_dir")


@dataclass(frozen=True)
class ResolvedTask:
    """A workflow task ready to plan: template merged in, dependencies made explicit."""

    name: str
    definition: WorkflowTask  # the container fields come from the template when there is one
    dependencies: frozenset[str]  # task names it waits for (dependsOn or the depends terms)
    depends: expressions.Expression | None
    when: expressions.Expression | None
    params: Mapping[str, str]  # the values of {{params.*}} inside this task (unrendered)
    fan_out_source: tuple[str, str] | None  # withParam: (task, output)
    exit_handler: bool = False
    path: str = ""  # where the task is in the Workflow, e.g. spec.tasks[3]


@dataclass(frozen=True)
class ResolvedSpec:
    tasks: Mapping[str, ResolvedTask]  # main tasks then exit-handler tasks, in order
    order: list[str]  # main tasks in topological order
    exit_order: list[str]
    workflow_params: Mapping[str, str]
    missing_templates: list[str] = field(default_factory=list)
    # task -> the tasks it waits for, directly or not, that declare outputs: the outputs a
    # task's values may use. Computed once per spec (issue 8: per node and pass, walking
    # the ancestors made a 10,000-task chain O(n^2)).
    output_ancestors: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # The {{schedule.*}} values of a run with spec.dataInterval; empty otherwise.
    schedule_values: Mapping[str, str] = field(default_factory=dict)


# The resolved spec (None when it cannot run) and the reasons it cannot.
SpecResolution = tuple[ResolvedSpec | None, list[SpecError]]


def resolve_spec(spec: WorkflowSpec, templates: Mapping[str, TaskTemplateSpec]) -> SpecResolution:
    """The resolved spec, or the reasons it cannot run. Missing templates are reported on
    the result (the workflow waits for them) rather than as errors."""
    errors: list[SpecError] = []
    interval = spec.data_interval
    schedule = schedule_values(interval.start, interval.end) if interval else {}
    workflow_params: dict[str, str] = {}
    for index, param in enumerate(spec.params or []):
        value = param.value if param.value is not None else param.default
        if value is None:
            errors.append(
                SpecError(
                    f"spec.params[{index}]", f"parameter {param.name!r} needs a value or a default"
                )
            )
            continue
        named = [ref for ref in references_in(value) if ref.startswith("schedule.")]
        if named:
            # A run's params may name its interval ({{schedule.ds}} as a partition, issue 9);
            # other references in a param value stay text, as they always have.
            scope = Scope(params=frozenset(), schedule=bool(schedule))
            problems = [problem for ref in named if (problem := check_reference(ref, scope))]
            errors += [SpecError(f"spec.params[{index}].value", p) for p in problems]
            value = render(value, schedule, partial=True)
        workflow_params[param.name] = value

    main = list(spec.tasks or [])
    exits = list(spec.on_exit or [])
    nodes = sum(len(task.with_items or [None]) for task in [*main, *exits])
    if nodes > MAX_NODES:
        errors.append(
            SpecError(
                "spec.tasks",
                f"{nodes} tasks and withItems items in all (spec.tasks and spec.onExit); "
                f"the limit is {MAX_NODES}",
            )
        )
    entries = [("spec.tasks", i, t, False) for i, t in enumerate(main)]
    entries += [("spec.onExit", i, t, True) for i, t in enumerate(exits)]
    seen: dict[str, str] = {}
    for base, index, task, _ in entries:
        if task.name in seen:
            errors.append(
                SpecError(
                    f"{base}[{index}].name",
                    f"duplicate task name {task.name!r} (also {seen[task.name]})",
                )
            )
        seen.setdefault(task.name, f"{base}[{index}]")
    errors += _check_fan_out_names(entries)

    missing: list[str] = []
    resolved: dict[str, ResolvedTask] = {}
    groups = {
        exit_handler: {task.name for _, _, task, e in entries if e == exit_handler}
        for exit_handler in (False, True)
    }
    for base, index, task, exit_handler in entries:
        path = f"{base}[{index}]"
        definition = task
        template_params: dict[str, str] | None = None
        if (task.image is None) == (task.template_ref is None):
            errors.append(
                SpecError(path, f"task {task.name!r} needs exactly one of image and templateRef")
            )
            continue
        if task.template_ref is not None:
            template = templates.get(task.template_ref.name)
            if template is None:
                missing.append(task.template_ref.name)
                continue
            definition, template_params, problems = _merge_template(task, template)
            errors += [SpecError(f"{path}.params", problem) for problem in problems]
        group = groups[exit_handler]
        dependencies, depends = _dependencies(task, path, group, errors)
        when = None
        if task.when is not None:
            try:
                when = expressions.parse_when(task.when)
            except expressions.ExpressionError as error:
                errors.append(SpecError(f"{path}.when", f"task {task.name!r}: {error}"))
        fan_out_source = None
        if task.with_items is not None and task.with_param is not None:
            errors.append(SpecError(path, "use either withItems or withParam, not both"))
        if task.with_param is not None:
            fan_out_source = _fan_out_source(task.with_param)
            if fan_out_source is None:
                errors.append(
                    SpecError(
                        f"{path}.withParam",
                        "must be one reference to an upstream output, "
                        "like {{tasks.list-files.outputs.files}}",
                    )
                )
        if fan_out_source is not None and fan_out_source[0] in group:
            # The list comes from that task: it is an implicit dependency.
            dependencies.add(fan_out_source[0])
        params = (
            template_params
            if template_params is not None
            else {**workflow_params, **(task.params or {})}
        )
        resolved[task.name] = ResolvedTask(
            name=task.name,
            definition=definition,
            dependencies=frozenset(dependencies),
            depends=depends,
            when=when,
            params=params,
            fan_out_source=fan_out_source,
            exit_handler=exit_handler,
            path=path,
        )
    if missing and not errors:
        # Waiting for TaskTemplates: the rest is checked once they exist.
        return ResolvedSpec(
            resolved, [], [], workflow_params, missing, schedule_values=schedule
        ), []

    # Every problem of the spec in one report (`kubedag lint`, the Workflow's message): the
    # checks below go on after earlier ones failed, on the tasks that could be resolved.
    order: list[str] = []
    exit_order: list[str] = []
    for exit_handler, target in ((False, order), (True, exit_order)):
        graph = {
            name: sorted(task.dependencies)
            for name, task in resolved.items()
            if task.exit_handler == exit_handler
        }
        cycle = find_cycle(graph)
        if cycle:
            where = "spec.onExit" if exit_handler else "spec.tasks"
            errors.append(SpecError(where, "dependency cycle: " + " -> ".join([*cycle, cycle[0]])))
        else:
            target.extend(topological_order(graph))
    for base, index, task, _ in entries:
        checked = resolved.get(task.name)
        if checked is None or checked.path != f"{base}[{index}]":
            continue  # not resolved, or a duplicate name (reported above)
        if task.when is not None and checked.when is None:
            continue  # its `when` does not parse (reported above)
        errors += _check_references(
            resolved, task.name, f"{base}[{index}]", workflow_params, scheduled=bool(schedule)
        )
        errors += _dataset_problems(checked.definition, f"{base}[{index}]", task.name)
    if errors:
        return None, errors
    output_ancestors = _output_ancestors(resolved, [*order, *exit_order])
    return (
        ResolvedSpec(resolved, order, exit_order, workflow_params, [], output_ancestors, schedule),
        [],
    )


def _output_ancestors(
    tasks: Mapping[str, ResolvedTask], order: Sequence[str]
) -> dict[str, frozenset[str]]:
    """For each task of `order` (dependencies first), its ancestors that declare outputs.
    Linear in the tasks when few declare outputs: a task whose dependencies add nothing
    shares their set."""
    found: dict[str, frozenset[str]] = {}
    empty: frozenset[str] = frozenset()
    for name in order:
        collected = empty
        for dependency in tasks[name].dependencies:
            inherited = found.get(dependency, empty)
            if tasks[dependency].definition.outputs:
                inherited = inherited | {dependency}
            if not inherited <= collected:
                collected = inherited if not collected else collected | inherited
        found[name] = collected
    return found


def validate_dag(tasks: Sequence[WorkflowTask]) -> list[SpecError]:
    """Every problem with the task graph alone (duplicate names, unknown dependencies,
    cycles): `resolve_spec` for a workflow of just these tasks."""
    return resolve_spec(WorkflowSpec(tasks=list(tasks)), templates={})[1]


def _merge_template(
    task: WorkflowTask, template: TaskTemplateSpec
) -> tuple[WorkflowTask, dict[str, str], list[str]]:
    """The task with the template's container under its own fields, and the template's
    parameter values (the task's `params`, else the template's defaults)."""
    container_fields = set(TaskContainer.model_fields)
    overrides = {
        name: getattr(task, name) for name in container_fields if getattr(task, name) is not None
    }
    base = {name: getattr(template, name) for name in container_fields}
    definition = task.model_copy(update={**base, **overrides, **merge_pod_fields(template, task)})
    problems = []
    declared = {param.name: param for param in template.params or []}
    values: dict[str, str] = {}
    for name in sorted(set(task.params or {}) - set(declared)):
        problems.append(f"the template has no parameter {name!r}")
    for name, param in declared.items():
        value = (task.params or {}).get(name, param.default)
        if value is None:
            problems.append(f"parameter {name!r} of the template needs a value")
        else:
            values[name] = value
    return definition, values, problems


def _dependencies(
    task: WorkflowTask, path: str, group: set[str], errors: list[SpecError]
) -> tuple[set[str], expressions.Expression | None]:
    depends = None
    names: list[tuple[str, str]] = [
        (f"{path}.dependsOn[{i}]", name) for i, name in enumerate(task.depends_on)
    ]
    if task.depends is not None:
        try:
            depends = expressions.parse_depends(task.depends)
            names += [
                (f"{path}.depends", name) for name in sorted(expressions.depends_tasks(depends))
            ]
        except expressions.ExpressionError as error:
            errors.append(SpecError(f"{path}.depends", f"task {task.name!r}: {error}"))
    found = set()
    for where, name in names:
        if name == task.name:
            errors.append(SpecError(where, f"task {task.name!r} depends on itself"))
        elif name not in group:
            errors.append(SpecError(where, f"task {task.name!r} depends on unknown task {name!r}"))
        else:
            found.add(name)
    return found, depends


def _fan_out_source(text: str) -> tuple[str, str] | None:
    match = REFERENCE.fullmatch(text.strip())
    reference = reference_of(match) if match is not None else None
    if reference is None:
        return None
    parts = reference.split(".")
    if len(parts) == 4 and parts[0] == "tasks" and parts[2] == "outputs":
        return parts[1], parts[3]
    return None


def _ancestors(tasks: Mapping[str, ResolvedTask], name: str) -> set[str]:
    """The resolved tasks `name` waits for, directly or not (cycles and unresolved tasks,
    reported elsewhere, are passed over)."""
    found: set[str] = set()
    stack = list(tasks[name].dependencies)
    while stack:
        current = stack.pop()
        if current not in found and current in tasks:
            found.add(current)
            stack.extend(tasks[current].dependencies)
    return found


def _check_references(
    tasks: Mapping[str, ResolvedTask],
    name: str,
    path: str,
    workflow_params: Mapping[str, str],
    *,
    scheduled: bool,
) -> list[SpecError]:
    task = tasks[name]
    definition = task.definition
    texts = [(where, text, False) for where, text in _container_texts(definition, path)]
    for key, value in (definition.params or {}).items():
        texts.append((f"{path}.params.{key}", value, True))
    if definition.when is not None:
        when = expressions.parse_when(definition.when)
        texts += [(f"{path}.when", reference, False) for reference in expressions.references(when)]
    if task.fan_out_source is not None:
        texts.append((f"{path}.withParam", definition.with_param or "", False))
    outputs: dict[str, frozenset[str]] = {}
    if any("tasks." in text for _, text, _ in texts):
        # Only a task that names other tasks needs its ancestors (O(n) each, so O(n^2) for
        # a 10,000-task chain if done for every task: issue 8).
        outputs = {
            ancestor: frozenset(output.name for output in tasks[ancestor].definition.outputs or [])
            for ancestor in _ancestors(tasks, name)
        }
    fan_out = definition.with_items is not None or definition.with_param is not None
    scope = Scope(
        params=frozenset(task.params),
        outputs=outputs,
        fan_out=fan_out,
        exit_handler=task.exit_handler,
        schedule=scheduled,
    )
    # A task's own params values may use the workflow's params and the item.
    param_scope = Scope(
        params=frozenset(workflow_params),
        outputs=outputs,
        fan_out=fan_out,
        exit_handler=task.exit_handler,
        schedule=scheduled,
    )
    errors = []
    for where, text, is_param in texts:
        errors += [
            SpecError(where, f"task {name!r}: {problem}")
            for problem in check_text(text, param_scope if is_param else scope)
        ]
    return errors


def _container_texts(definition: WorkflowTask, path: str) -> list[tuple[str, str]]:
    """Every text of a task's container that may hold `{{...}}`, with its path."""
    texts: list[tuple[str, str]] = []
    for field_name in _TEMPLATED_FIELDS:
        value = getattr(definition, field_name)
        camel = _camel(field_name)
        if isinstance(value, str):
            texts.append((f"{path}.{camel}", value))
        elif isinstance(value, list):
            texts += [(f"{path}.{camel}[{i}]", text) for i, text in enumerate(value)]
    metadata = definition.metadata
    for kind, entries in (
        ("labels", metadata.labels if metadata else None),
        ("annotations", metadata.annotations if metadata else None),
    ):
        for key, value in (entries or {}).items():
            texts.append((f"{path}.metadata.{kind}[{key}]", value))
    for i, env in enumerate(definition.env or []):
        if env.value is not None:
            texts.append((f"{path}.env[{i}].value", env.value))
    return texts + _dataset_texts(definition, path)


def _dataset_texts(definition: WorkflowTask, path: str) -> list[tuple[str, str]]:
    """The texts of the task's inlets and outlets (issue 10), with their paths."""
    texts: list[tuple[str, str]] = []
    for direction in ("inlets", "outlets"):
        for i, ref in enumerate(getattr(definition, direction) or []):
            for part in ("namespace", "name", "partition"):
                value = getattr(ref, part)
                if value is not None:
                    texts.append((f"{path}.{direction}[{i}].{part}", value))
    return texts


def _dataset_problems(definition: WorkflowTask, path: str, name: str) -> list[SpecError]:
    """Dataset references that cannot work: a value without templates that is no valid
    OpenLineage name, or a template only known while the task runs (the datasets are
    resolved when its Task is created; a task reports such datasets in its termination
    message instead)."""
    errors = []
    for where, text in _dataset_texts(definition, path):
        late = [ref for ref in references_in(text) if ref.startswith(datasets.RUN_TIME_REFERENCES)]
        if late:
            errors.append(
                SpecError(
                    where,
                    f"task {name!r}: {{{{{late[0]}}}}} is only known while the task runs; "
                    "dataset fields are resolved when the Task is created (params, item, "
                    "schedule and workflow name): report such datasets in the termination "
                    f"message under {datasets.DATASETS_KEY!r}",
                )
            )
    for direction in ("inlets", "outlets"):
        for i, ref in enumerate(getattr(definition, direction) or []):
            written = [ref.namespace, ref.name, ref.partition or ""]
            if any(REFERENCE.search(text) for text in written):
                continue  # checked once rendered, when the Task is created
            problem = datasets.ref_problem(ref)
            if problem is not None:
                errors.append(SpecError(f"{path}.{direction}[{i}]", f"task {name!r}: {problem}"))
    return errors


def static_item_problems(spec: ResolvedSpec) -> list[SpecError]:
    """The `withItems` items that will fail their node when it starts: an item lacking a
    key the task uses (`{{item.mode}}`), not an object, or nested too deep. The run itself
    fails only those nodes (issue 6); `kubedag lint` reports them before anything runs."""
    errors: list[SpecError] = []
    for name, task in spec.tasks.items():
        items = task.definition.with_items
        if items is None:
            continue
        texts = _container_texts(task.definition, task.path)
        texts += [(f"{task.path}.params.{k}", v) for k, v in (task.definition.params or {}).items()]
        references = [
            (where, reference)
            for where, text in texts
            for reference in references_in(text)
            if reference.startswith("item.")
        ]
        for index, item in enumerate(items):
            problem = json_values.depth_problem(item)
            if problem is not None:
                errors.append(
                    SpecError(f"{task.path}.withItems[{index}]", f"item {index} {problem}")
                )
                continue
            for where, reference in references:
                try:
                    render(f"{{{{{reference}}}}}", item_values(item))
                except MissingValue as missing:
                    errors.append(SpecError(where, f"item {index} of {name!r} {missing.why}"))
    return errors


def _check_fan_out_names(entries: Sequence[tuple[str, int, WorkflowTask, bool]]) -> list[SpecError]:
    """A fan-out task `part` runs nodes named `part-0`, `part-1`, …: a task named like one of
    them would share that node's name, and with it its Task object and Jobs."""
    fan_outs = {
        task.name
        for _, _, task, _ in entries
        if task.with_items is not None or task.with_param is not None
    }
    errors = []
    for base, index, task, _ in entries:
        head, _, tail = task.name.rpartition("-")
        if head in fan_outs and tail.isdigit():
            errors.append(
                SpecError(
                    f"{base}[{index}].name",
                    f"task name {task.name!r} is the name of an item of fan-out task {head!r} "
                    f"(its items are named {head}-0, {head}-1, …): rename one of the two",
                )
            )
    return errors


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
