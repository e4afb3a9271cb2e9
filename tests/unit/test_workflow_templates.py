"""WorkflowTemplates and stored templates (issue 9): the spec a run of a template runs, and
the copies of its templates a run keeps, written before anything is created."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kubedag.api.template import TaskTemplateSpec
from kubedag.api.workflow import WorkflowSpec, WorkflowStatus
from kubedag.controller import reconciler
from kubedag.controller.reconciler import Views, WorkflowController
from kubedag.engine.plan import Reason, WorkflowState
from kubedag.engine.planning import plan_next_steps
from kubedag.engine.workflow_templates import (
    StoredTemplates,
    define_run,
    run_spec,
    task_templates_used,
)
from kubedag.k8s.observe import read_template, read_workflow, read_workflow_template
from tests.unit.test_reconciler import NAMESPACE, Cluster

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def nightly(*, table: str = "{{params.source}}_{{params.date}}") -> dict[str, Any]:
    """A WorkflowTemplate spec: `extract` (its own container), then `load` (TaskTemplate)."""
    return {
        "params": [{"name": "date"}, {"name": "source", "default": "orders"}],
        "parallelism": 2,
        "tasks": [
            {"name": "extract", "image": "busybox", "args": ["{{params.date}}"]},
            {
                "name": "load",
                "templateRef": {"name": "load-table"},
                "params": {"table": table},
                "dependsOn": ["extract"],
            },
        ],
    }


def load_table(*, mode: str = "append") -> dict[str, Any]:
    return {
        "params": [{"name": "table"}],
        "image": "busybox",
        "args": ["--table", "{{params.table}}", "--mode", mode],
    }


def run_of(template: str = "nightly", **params: str) -> WorkflowSpec:
    return WorkflowSpec.model_validate(
        {
            "workflowTemplateRef": {"name": template},
            "params": [{"name": key, "value": value} for key, value in params.items()],
        }
    )


# -- the spec a run of a template runs -------------------------------------------------


def test_a_runs_param_values_override_the_templates_and_its_defaults_stay() -> None:
    merged, errors = run_spec(
        run_of(date="20261129"), WorkflowSpec.model_validate(nightly()), "nightly"
    )
    assert errors == []
    assert merged is not None
    assert [(p.name, p.value, p.default) for p in merged.params or []] == [
        ("date", "20261129", None),
        ("source", None, "orders"),
    ]
    assert [task.name for task in merged.tasks or []] == ["extract", "load"]
    assert merged.workflow_template_ref is None


def test_a_runs_own_fields_override_the_templates() -> None:
    run = run_of(date="20261129").model_copy(update={"parallelism": 5, "suspend": True})
    merged, _ = run_spec(run, WorkflowSpec.model_validate(nightly()), "nightly")
    assert merged is not None
    assert (merged.parallelism, merged.suspend) == (5, True)
    unchanged, _ = run_spec(run_of(date="1"), WorkflowSpec.model_validate(nightly()), "nightly")
    assert unchanged is not None and unchanged.parallelism == 2


def test_a_run_param_the_template_does_not_declare_is_an_error_naming_the_declared() -> None:
    merged, errors = run_spec(
        run_of(date="1", sourse="refunds"), WorkflowSpec.model_validate(nightly()), "nightly"
    )
    assert merged is None
    assert [(error.path, error.message) for error in errors] == [
        (
            "spec.params[1]",
            "WorkflowTemplate 'nightly' has no parameter 'sourse' (it declares: 'date', 'source')",
        )
    ]


def test_a_run_param_without_a_value_is_an_error() -> None:
    run = WorkflowSpec.model_validate(
        {"workflowTemplateRef": {"name": "nightly"}, "params": [{"name": "date"}]}
    )
    merged, errors = run_spec(run, WorkflowSpec.model_validate(nightly()), "nightly")
    assert merged is None
    assert [str(error) for error in errors] == ["spec.params[0]: parameter 'date' needs a value"]


def test_a_template_param_without_a_value_that_the_run_leaves_out_fails_resolution() -> None:
    cluster_state = _state(run_of(source="x"), workflow_templates={"nightly": nightly()})
    plan = plan_next_steps(cluster_state, now=NOW)
    assert plan.workflow_status is not None
    assert plan.workflow_status.phase == "Failed"
    assert "parameter 'date' needs a value or a default" in (plan.workflow_status.message or "")


def test_the_task_templates_a_spec_uses_are_those_its_tasks_and_exit_tasks_name() -> None:
    spec = WorkflowSpec.model_validate(
        {
            **nightly(),
            "onExit": [{"name": "notify", "templateRef": {"name": "notify"}}],
        }
    )
    assert task_templates_used(spec) == {"load-table", "notify"}


# -- what a run plans from -------------------------------------------------------------


def live(
    workflow_templates: dict[str, dict[str, Any]] | None = None,
    task_templates: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "workflow_templates": {
            name: WorkflowSpec.model_validate(spec)
            for name, spec in (workflow_templates or {}).items()
        },
        "task_templates": {
            name: TaskTemplateSpec.model_validate(spec)
            for name, spec in (task_templates or {}).items()
        },
    }


def test_a_run_that_stored_nothing_stores_its_template_and_the_task_templates_it_uses() -> None:
    definition = define_run(
        run_of(date="1"),
        StoredTemplates(),
        **live({"nightly": nightly()}, {"load-table": load_table(), "unused": load_table()}),
    )
    assert definition.to_store is not None
    patch = definition.to_store.status_patch()
    assert [task["name"] for task in patch["storedWorkflowTemplate"]["tasks"]] == [
        "extract",
        "load",
    ]
    assert set(patch["storedTaskTemplates"]) == {"load-table"}
    assert definition.spec is not None and definition.errors == []


def test_stored_copies_win_over_the_templates_as_they_are_now() -> None:
    stored = StoredTemplates(
        WorkflowSpec.model_validate(nightly()).to_wire(),
        {"load-table": TaskTemplateSpec.model_validate(load_table()).to_wire()},
    )
    edited = nightly(table="edited")
    edited["tasks"].append({"name": "added", "image": "busybox"})
    definition = define_run(
        run_of(date="1"),
        stored,
        **live({"nightly": edited}, {"load-table": load_table(mode="overwrite")}),
    )
    assert definition.to_store is None
    assert definition.spec is not None
    assert [task.name for task in definition.spec.tasks or []] == ["extract", "load"]
    assert definition.task_templates["load-table"].args == [
        "--table",
        "{{params.table}}",
        "--mode",
        "append",
    ]


def test_stored_copies_win_even_when_the_templates_are_deleted() -> None:
    stored = StoredTemplates(
        WorkflowSpec.model_validate(nightly()).to_wire(),
        {"load-table": TaskTemplateSpec.model_validate(load_table()).to_wire()},
    )
    definition = define_run(run_of(date="1"), stored, **live())
    assert definition.spec is not None and definition.missing_workflow_template is None
    assert set(definition.task_templates) == {"load-table"}


def test_a_run_of_a_missing_workflow_template_waits_for_it_and_stores_nothing() -> None:
    definition = define_run(run_of(date="1"), StoredTemplates(), **live())
    assert definition.spec is None
    assert definition.missing_workflow_template == "nightly"
    assert definition.to_store is None


def test_nothing_is_stored_while_a_task_template_the_run_uses_is_missing() -> None:
    definition = define_run(run_of(date="1"), StoredTemplates(), **live({"nightly": nightly()}))
    assert definition.spec is not None  # the planner says it waits for the TaskTemplate
    assert definition.to_store is None


def test_a_run_with_its_own_tasks_stores_only_the_task_templates_it_uses() -> None:
    run = WorkflowSpec.model_validate(
        {
            "tasks": [
                {"name": "load", "templateRef": {"name": "load-table"}, "params": {"table": "t"}}
            ]
        }
    )
    definition = define_run(run, StoredTemplates(), **live({}, {"load-table": load_table()}))
    assert definition.to_store is not None
    assert set(definition.to_store.status_patch()) == {"storedTaskTemplates"}


def test_a_run_that_uses_no_template_stores_nothing() -> None:
    run = WorkflowSpec.model_validate({"tasks": [{"name": "a", "image": "busybox"}]})
    definition = define_run(run, StoredTemplates(), **live({"nightly": nightly()}))
    assert definition.to_store is None
    assert definition.spec == run


def test_a_finished_run_stores_nothing() -> None:
    definition = define_run(
        run_of(date="1"),
        StoredTemplates(),
        finished=True,
        **live({"nightly": nightly()}, {"load-table": load_table()}),
    )
    assert definition.to_store is None


def test_an_unreadable_stored_copy_is_an_error_on_the_run() -> None:
    stored = StoredTemplates({"tasks": "not a list"}, None)
    definition = define_run(run_of(date="1"), stored, **live({"nightly": nightly()}))
    assert definition.spec is None
    assert [error.path for error in definition.errors] == ["status.storedWorkflowTemplate"]


# -- what the planner makes of it ------------------------------------------------------


def _state(
    run: WorkflowSpec,
    *,
    workflow_templates: dict[str, dict[str, Any]] | None = None,
    status: WorkflowStatus | None = None,
) -> WorkflowState:
    definition = define_run(
        run, StoredTemplates(), **live(workflow_templates, {"load-table": load_table()})
    )
    return WorkflowState(
        name="run",
        generation=1,
        spec=definition.spec,
        spec_errors=definition.errors,
        missing_workflow_template=definition.missing_workflow_template,
        status=status or WorkflowStatus(),
        tasks={},
        jobs={},
        templates=definition.task_templates,
    )


def test_a_run_waiting_for_its_workflow_template_is_pending_with_a_reason_and_a_warning() -> None:
    plan = plan_next_steps(_state(run_of(date="1")), now=NOW)
    assert plan.workflow_status is not None
    assert plan.workflow_status.phase == "Pending"
    assert plan.workflow_status.message == "waiting for WorkflowTemplate 'nightly'"
    (succeeded,) = [c for c in plan.workflow_status.conditions if c.type == "Succeeded"]
    assert (succeeded.status, succeeded.reason) == ("Unknown", Reason.TEMPLATE_NOT_FOUND)
    assert [(event.type, event.reason) for event in plan.events] == [
        ("Warning", Reason.TEMPLATE_NOT_FOUND)
    ]
    assert plan.create_tasks == [] and plan.start_jobs == []


def test_a_finished_run_whose_workflow_template_is_gone_is_left_as_it_is() -> None:
    finished = WorkflowStatus.model_validate({"phase": "Succeeded", "message": "done"})
    plan = plan_next_steps(_state(run_of(date="1"), status=finished), now=NOW)
    assert plan.is_empty


def test_an_undeclared_run_param_fails_the_run_with_invalid_spec_before_anything_runs() -> None:
    state = _state(run_of(date="1", sourse="x"), workflow_templates={"nightly": nightly()})
    plan = plan_next_steps(state, now=NOW)
    assert plan.workflow_status is not None
    assert plan.workflow_status.phase == "Failed"
    assert plan.workflow_status.message == (
        "invalid spec: spec.params[1]: WorkflowTemplate 'nightly' has no parameter 'sourse' "
        "(it declares: 'date', 'source')"
    )
    assert plan.create_tasks == []


def test_a_run_of_a_template_plans_the_templates_tasks_with_the_runs_params() -> None:
    state = _state(run_of(date="20261129"), workflow_templates={"nightly": nightly()})
    plan = plan_next_steps(state, now=NOW)
    assert sorted(create.node for create in plan.create_tasks) == ["extract", "load"]
    (start,) = plan.start_jobs
    assert start.node == "extract"
    assert start.spec.args == ["20261129"]


# -- the shell: stored before anything is created --------------------------------------


def _cluster_of_a_run(**params: str) -> tuple[Cluster, dict[str, Any]]:
    cluster = Cluster(
        {
            "workflowTemplateRef": {"name": "nightly"},
            "params": [{"name": key, "value": value} for key, value in params.items()],
        }
    )
    templates: dict[str, Any] = {"nightly": nightly(), "load-table": load_table()}
    _show_templates(cluster, templates)
    return cluster, templates


def _show_templates(cluster: Cluster, templates: dict[str, Any]) -> None:
    """The template watches' views of `templates` (name -> spec) as they are now."""

    def body(name: str, spec: dict[str, Any], version: int) -> dict[str, Any]:
        return {"metadata": {"name": name, "resourceVersion": str(version)}, "spec": spec}

    version = sum(len(str(spec)) for spec in templates.values())  # changes with the specs
    cluster.controller.views = Views(
        workflows=cluster.workflows,
        tasks=cluster.tasks,
        jobs=cluster.jobs,
        pods={},
        templates={
            NAMESPACE: [read_template(body("load-table", templates["load-table"], version))]
        },
        workflow_templates={
            NAMESPACE: [read_workflow_template(body("nightly", templates["nightly"], version))]
        },
    )


def test_a_run_stores_its_templates_before_it_creates_anything() -> None:
    cluster, _ = _cluster_of_a_run(date="20261129")
    assert cluster.run_pass() is None
    writes = [
        call
        for call in cluster.api.calls
        if call[0] in ("patch", "create") and call != ("create", "Workflow", "wf")
    ]
    assert writes[0] == ("patch", "Workflow", "wf")
    assert len(cluster.created("Job")) == 1
    status = cluster.api.objects[("Workflow", "wf")]["status"]
    assert [task["name"] for task in status["storedWorkflowTemplate"]["tasks"]] == [
        "extract",
        "load",
    ]
    assert set(status["storedTaskTemplates"]) == {"load-table"}


def test_a_run_whose_templates_could_not_be_stored_creates_nothing() -> None:
    cluster, _ = _cluster_of_a_run(date="20261129")
    cluster.api.refuse = lambda verb, kind, body: "storedWorkflowTemplate" in body
    assert cluster.run_pass() is not None
    assert cluster.created("Task") == [] and cluster.created("Job") == []


@pytest.mark.parametrize("restarted", [False, True], ids=["same-process", "after-a-restart"])
def test_a_run_plans_from_its_stored_templates_after_they_are_edited(restarted: bool) -> None:
    cluster, templates = _cluster_of_a_run(date="20261129")
    cluster.run_pass()  # stores, then creates `extract`
    edited = nightly(table="edited")
    edited["tasks"].append({"name": "added", "image": "busybox"})
    templates.update({"nightly": edited, "load-table": load_table(mode="overwrite")})
    if restarted:
        controller = WorkflowController(cluster.api, write_concurrency=1)  # type: ignore[arg-type]
        controller.queue.request = cluster.requested.append  # type: ignore[method-assign]
        cluster.controller = controller
    _show_templates(cluster, templates)
    cluster.finish_jobs()
    cluster.refresh()
    cluster.run_pass()

    jobs = {
        body["metadata"]["labels"]["kubedag.io/task"]: body
        for (kind, _), body in cluster.api.objects.items()
        if kind == "Job"
    }
    assert sorted(jobs) == ["extract", "load"]
    container = jobs["load"]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["--table", "orders_20261129", "--mode", "append"]


def test_a_pass_that_does_not_see_its_stored_copies_yet_does_not_store_edited_ones() -> None:
    cluster, templates = _cluster_of_a_run(date="20261129")
    cluster.run_pass()
    stale = dict(cluster.api.objects[("Workflow", "wf")])
    stale["status"] = {
        key: value
        for key, value in stale["status"].items()
        if key not in ("storedWorkflowTemplate", "storedTaskTemplates")
    }
    templates.update({"load-table": load_table(mode="overwrite")})
    _show_templates(cluster, templates)
    cluster.finish_jobs()
    cluster.refresh()
    cluster.workflows[("ns", "wf")] = [read_workflow(stale)]  # the watch lags behind
    cluster.run_pass()

    status = cluster.api.objects[("Workflow", "wf")]["status"]
    assert status["storedTaskTemplates"]["load-table"]["args"][3] == "append"
    (load,) = [
        body
        for (kind, _), body in cluster.api.objects.items()
        if kind == "Job" and body["metadata"]["labels"]["kubedag.io/task"] == "load"
    ]
    assert load["spec"]["template"]["spec"]["containers"][0]["args"][3] == "append"


def test_the_operators_status_writes_never_clear_the_stored_templates() -> None:
    cluster, _ = _cluster_of_a_run(date="20261129")
    for _ in range(4):
        cluster.run_pass()
        cluster.finish_jobs()
        cluster.refresh()
    status = cluster.api.objects[("Workflow", "wf")]["status"]
    assert status["phase"] == "Succeeded"
    assert status["storedWorkflowTemplate"] is not None
    assert status["storedTaskTemplates"] is not None


def test_a_store_whose_answer_was_lost_is_not_merged_over_by_a_second_store() -> None:
    cluster, templates = _cluster_of_a_run(date="20261129")
    stale = read_workflow(cluster.api.objects[("Workflow", "wf")])
    write = cluster.api.patch_status

    async def written_but_answer_lost(*args: Any, **kwargs: Any) -> str | None:
        await write(*args, **kwargs)
        raise TimeoutError("the answer was lost")

    cluster.api.patch_status = written_but_answer_lost  # type: ignore[method-assign]
    assert isinstance(cluster.run_pass(), TimeoutError)
    cluster.api.patch_status = write  # type: ignore[method-assign]
    assert cluster.created("Task") == []

    templates.update({"load-table": load_table(mode="overwrite")})
    _show_templates(cluster, templates)
    cluster.workflows[("ns", "wf")] = [stale]  # the watch has not shown the write yet
    assert cluster.run_pass() is None
    assert cluster.created("Task") == []  # refused as a conflict: nothing is created
    assert (cluster.key, reconciler.STORE_CONFLICT_RETRY_SECONDS) in cluster.requested_later

    cluster.run_pass()  # the watch shows the first store now
    cluster.finish_jobs()
    cluster.refresh()
    cluster.run_pass()
    status = cluster.api.objects[("Workflow", "wf")]["status"]
    assert status["storedTaskTemplates"]["load-table"]["args"][3] == "append"
    (load,) = [
        body
        for (kind, _), body in cluster.api.objects.items()
        if kind == "Job" and body["metadata"]["labels"]["kubedag.io/task"] == "load"
    ]
    assert load["spec"]["template"]["spec"]["containers"][0]["args"][3] == "append"
