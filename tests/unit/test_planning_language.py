"""The orchestration language, planned without a cluster: params, outputs, conditions,
fan-out, retries, deadlines, the exit handler and run control."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kubedag.api.task import TaskPhase
from kubedag.api.template import TaskTemplateSpec
from kubedag.api.workflow import WorkflowPhase, WorkflowSpec
from kubedag.engine.plan import Reason, WorkflowState
from kubedag.engine.planning import plan_next_steps
from kubedag.names import job_name
from tests.unit.simulated_world import World


def spec(tasks: list[dict[str, Any]], **fields: Any) -> WorkflowSpec:
    for task in [*tasks, *fields.get("onExit", [])]:
        task.setdefault("image", "busybox")
    return WorkflowSpec.model_validate({"tasks": tasks, **fields})


def invalid_message(world: World) -> str:
    plan = world.plan()
    assert plan.workflow_status is not None
    assert plan.workflow_status.phase == WorkflowPhase.FAILED
    assert plan.create_tasks == [] and plan.start_jobs == []
    condition = next(c for c in plan.workflow_status.conditions if c.type == "Succeeded")
    assert condition.reason == Reason.INVALID_SPEC
    return condition.message


def test_params_and_workflow_fields_are_rendered_into_the_job() -> None:
    world = World(
        spec(
            [
                {
                    "name": "load",
                    "args": ["{{params.date}}", "{{workflow.name}}", "{{task.attempt}}"],
                }
            ],
            params=[{"name": "date", "value": "2026-11-28"}],
        )
    )
    (start,) = world.plan().start_jobs
    assert start.spec.args == ["2026-11-28", "wf", "1"]


def test_a_param_default_is_used_when_no_value_is_given() -> None:
    world = World(
        spec(
            [{"name": "a", "args": ["{{params.env}}"]}], params=[{"name": "env", "default": "dev"}]
        )
    )
    assert world.plan().start_jobs[0].spec.args == ["dev"]


def test_unknown_reference_is_invalid_with_the_field_path() -> None:
    world = World(
        spec(
            [{"name": "a", "args": ["x", "{{params.dat}}"]}],
            params=[{"name": "date", "value": "1"}],
        )
    )
    assert "spec.tasks[0].args[1]: task 'a': unknown parameter 'dat'" in invalid_message(world)


def test_quoted_braces_pass_jinja_and_dbt_text_to_the_job_unchanged() -> None:
    # What a dbt or Airflow user would write in their own tool, and the same text escaped.
    jinja = "select * from {{ ref('orders') }} where day = '{{ ds }}'"
    escaped = "select * from {{ \"{{ ref('orders') }}\" }} where day = '{{ '{{' }} ds }}'"
    world = World(
        spec(
            [
                {
                    "name": "load",
                    "args": [escaped, "{{params.day}}", "{{ '{{' }}params.day}}"],
                    "env": [{"name": "SQL", "value": escaped}],
                    "params": {"day": "{{ '{{' }} ds }}"},
                }
            ],
        )
    )
    plan = world.plan()
    (created,) = plan.create_tasks
    assert created.spec.args == [jinja, "{{ ds }}", "{{params.day}}"]
    (start,) = plan.start_jobs
    assert start.spec.args == [jinja, "{{ ds }}", "{{params.day}}"]
    assert start.spec.env is not None and start.spec.env[0].value == jinja


def test_unescaped_jinja_text_is_invalid_and_the_message_names_the_escape() -> None:
    world = World(spec([{"name": "a", "args": ["{{ ref('orders') }}"]}]))
    message = invalid_message(world)
    assert "spec.tasks[0].args[0]: task 'a': unknown reference {{ref('orders')}}" in message
    assert "for literal braces write {{ '{{' }}" in message


def test_a_param_without_value_or_default_is_invalid() -> None:
    world = World(spec([{"name": "a"}], params=[{"name": "date"}]))
    assert "parameter 'date' needs a value or a default" in invalid_message(world)


def test_outputs_flow_to_downstream_args_and_onto_the_task_status() -> None:
    world = World(
        spec(
            [
                {"name": "count", "outputs": [{"name": "rows"}]},
                {
                    "name": "load",
                    "dependsOn": ["count"],
                    "args": ["--rows={{tasks.count.outputs.rows}}"],
                },
            ]
        ),
        messages={"count": '{"rows": 42}'},
    )
    world.apply(world.plan())
    world.finish(("count", 1))
    plan = world.plan()
    assert plan.task_statuses["count"].outputs == {"rows": "42"}
    (start,) = plan.start_jobs
    assert start.spec.args == ["--rows=42"]


def test_referencing_an_undeclared_output_is_invalid() -> None:
    world = World(
        spec([{"name": "a"}, {"name": "b", "dependsOn": ["a"], "args": ["{{tasks.a.outputs.x}}"]}])
    )
    assert "task 'a' declares no output 'x'" in invalid_message(world)


def test_referencing_the_output_of_a_task_not_upstream_is_invalid() -> None:
    world = World(
        spec(
            [
                {"name": "a", "outputs": [{"name": "x"}]},
                {"name": "b", "args": ["{{tasks.a.outputs.x}}"]},
            ]
        )
    )
    assert "'a' is not a task this one depends on" in invalid_message(world)


def test_a_missing_declared_output_fails_the_task() -> None:
    world = World(spec([{"name": "a", "outputs": [{"name": "rows"}]}]), messages={"a": "{}"})
    world.run_to_end()
    assert world.tasks["a"].status.phase == TaskPhase.FAILED
    assert world.tasks["a"].status.reason == Reason.OUTPUTS_MISSING
    assert world.tasks["a"].status.message == (
        "declared outputs missing from the termination message: rows"
    )


def test_an_output_message_that_is_not_json_is_reported_with_the_parse_error() -> None:
    message = "rows=1200 password=hunter2"
    world = World(spec([{"name": "a", "outputs": [{"name": "rows"}]}]), messages={"a": message})
    world.run_to_end()
    status = world.tasks["a"].status
    assert (status.phase, status.reason) == (TaskPhase.FAILED, Reason.OUTPUTS_MISSING)
    assert status.message == (
        "the termination message is not valid JSON (Expecting value: line 1 column 1 (char 0)); "
        "declared outputs not read: rows"
    )
    assert "hunter2" not in (status.message or "")  # the text itself is never repeated


def test_an_output_message_that_is_json_but_not_an_object_says_what_it_is() -> None:
    world = World(
        spec([{"name": "a", "outputs": [{"name": "rows"}, {"name": "path"}]}]),
        messages={"a": "[1200]"},
    )
    world.run_to_end()
    status = world.tasks["a"].status
    assert (status.phase, status.reason) == (TaskPhase.FAILED, Reason.OUTPUTS_MISSING)
    assert status.message == (
        "the termination message is JSON but not an object (it is a list); write outputs as "
        '{"name": value, ...}; declared outputs not read: rows, path'
    )


def test_a_task_that_declares_no_outputs_may_write_any_termination_message() -> None:
    world = World(spec([{"name": "a"}]), messages={"a": "done, 1200 rows"})
    world.run_to_end()
    assert world.tasks["a"].status.phase == TaskPhase.SUCCEEDED


def test_depends_expression_runs_an_error_handler_only_on_failure() -> None:
    world = World(
        spec(
            [
                {"name": "load"},
                {"name": "on-error", "depends": "load.Failed"},
                {"name": "publish", "depends": "load"},
            ]
        ),
        exit_codes={"load": 2},
    )
    world.run_to_end()
    assert world.tasks["on-error"].status.phase == TaskPhase.SUCCEEDED
    assert world.tasks["publish"].status.phase == TaskPhase.SKIPPED
    assert world.tasks["publish"].status.reason == Reason.DEPENDS_FALSE
    # `publish` is a leaf skipped because of the failure: the failure still fails the run.
    assert world.status.phase == WorkflowPhase.FAILED
    assert "task 'load' failed" in (world.status.message or "")


def test_a_failure_handled_by_the_only_task_depending_on_it_does_not_fail_the_run() -> None:
    world = World(
        spec(
            [
                {"name": "load"},
                {"name": "on-error", "depends": "load.Failed"},
                {"name": "report", "dependsOn": ["on-error"]},
            ]
        ),
        exit_codes={"load": 2},
    )
    world.run_to_end()
    assert world.tasks["load"].status.phase == TaskPhase.FAILED
    assert world.tasks["report"].status.phase == TaskPhase.SUCCEEDED
    assert world.status.phase == WorkflowPhase.SUCCEEDED
    assert world.status.message == (
        "succeeded; the failure of 'load' was handled by the tasks depending on it"
    )
    assert world.events[-1].reason == Reason.WORKFLOW_SUCCEEDED
    assert world.events[-1].message == world.status.message


def test_a_failed_fan_out_item_fails_the_run_unless_handled() -> None:
    tasks: list[dict[str, Any]] = [{"name": "shard", "withItems": ["a", "b"]}]
    world = World(spec(tasks), exit_codes={"shard-1": 5})
    world.run_to_end()
    assert world.status.phase == WorkflowPhase.FAILED
    assert "task 'shard-1' failed" in (world.status.message or "")

    handled = [*tasks, {"name": "quarantine", "depends": "shard.AnyFailed"}]
    world = World(spec(handled), exit_codes={"shard-1": 5})
    world.run_to_end()
    assert world.tasks["quarantine"].status.phase == TaskPhase.SUCCEEDED
    assert world.status.phase == WorkflowPhase.SUCCEEDED


def test_depends_that_does_not_parse_is_invalid_and_names_the_task() -> None:
    world = World(spec([{"name": "a"}, {"name": "b", "depends": "a.Succeeded &&"}]))
    assert "task 'b'" in invalid_message(world)


def test_when_false_skips_the_task_and_what_depends_only_on_it() -> None:
    world = World(
        spec(
            [
                {"name": "check", "when": "{{params.env}} == prod"},
                {"name": "after", "dependsOn": ["check"]},
                {"name": "other"},
            ],
            params=[{"name": "env", "value": "dev"}],
        )
    )
    world.run_to_end()
    assert world.tasks["check"].status.reason == Reason.WHEN_FALSE
    assert world.tasks["after"].status.phase == TaskPhase.SKIPPED
    assert world.tasks["after"].status.reason == Reason.UPSTREAM_FAILED
    assert world.tasks["other"].status.phase == TaskPhase.SUCCEEDED
    assert "check" not in world.jobs_created
    assert world.status.phase == WorkflowPhase.SUCCEEDED


def test_when_compares_upstream_outputs_as_numbers() -> None:
    world = World(
        spec(
            [
                {"name": "count", "outputs": [{"name": "rows"}]},
                {
                    "name": "load",
                    "dependsOn": ["count"],
                    "when": "{{tasks.count.outputs.rows}} > 9",
                },
            ]
        ),
        messages={"count": '{"rows": "10"}'},
    )
    world.run_to_end()
    assert world.tasks["load"].status.phase == TaskPhase.SUCCEEDED


def test_static_fan_out_renders_each_item_and_collects_outputs() -> None:
    world = World(
        spec(
            [
                {
                    "name": "part",
                    "withItems": [{"id": 1}, {"id": 2}],
                    "args": ["{{item.id}}", "{{item}}"],
                    "outputs": [{"name": "n"}],
                },
                {"name": "merge", "dependsOn": ["part"], "args": ["{{tasks.part.outputs.n}}"]},
            ]
        ),
        messages={"part-0": '{"n": 5}', "part-1": '{"n": 7}'},
    )
    starts = {start.node: start.spec.args for start in world.plan().start_jobs}
    assert starts == {"part-0": ["1", '{"id":1}'], "part-1": ["2", '{"id":2}']}
    world.run_to_end()
    merge_job = [start for start in world.jobs if start[0] == "merge"]
    assert merge_job
    assert world.tasks["merge"].status.phase == TaskPhase.SUCCEEDED


def test_dynamic_fan_out_expands_from_an_upstream_output() -> None:
    world = World(
        spec(
            [
                {"name": "list", "outputs": [{"name": "files"}]},
                {
                    "name": "process",
                    "withParam": "{{tasks.list.outputs.files}}",
                    "args": ["{{item}}"],
                },
            ]
        ),
        messages={"list": '{"files": ["a.csv", "b.csv", "c.csv"]}'},
    )
    world.run_to_end()
    assert sorted(name for name in world.tasks if name.startswith("process-")) == [
        "process-0",
        "process-1",
        "process-2",
    ]
    assert world.status.tasks is not None and world.status.tasks.total == 4


def test_fan_out_over_something_that_is_not_a_list_fails_as_invalid_spec() -> None:
    world = World(
        spec(
            [
                {"name": "list", "outputs": [{"name": "files"}]},
                {"name": "process", "withParam": "{{tasks.list.outputs.files}}"},
            ]
        ),
        messages={"list": '{"files": "a.csv"}'},
    )
    world.run_to_end()
    assert world.status.phase == WorkflowPhase.FAILED
    condition = next(c for c in world.status.conditions if c.type == "Succeeded")
    assert condition.reason == Reason.INVALID_SPEC
    assert "task 'process'" in condition.message
    assert "not valid JSON (Expecting value" in condition.message


def test_fan_out_parallelism_caps_running_items() -> None:
    world = World(spec([{"name": "p", "withItems": list(range(5)), "parallelism": 2}]))
    world.apply(world.plan())
    assert len(world.running_jobs()) == 2
    world.finish(world.running_jobs()[0])
    world.apply(world.plan())
    assert len(world.running_jobs()) == 2


def test_retries_follow_the_backoff_and_keep_every_attempt() -> None:
    world = World(
        spec(
            [
                {
                    "name": "flaky",
                    "retryStrategy": {"limit": 3, "backoff": {"delaySeconds": 10, "factor": 2}},
                }
            ]
        ),
        exit_codes={"flaky": [1, 1, 0]},
    )
    world.apply(world.plan())
    world.finish(("flaky", 1))
    plan = world.plan()
    assert plan.start_jobs == []
    assert plan.task_statuses["flaky"].reason == Reason.RETRY_BACKOFF
    assert plan.requeue_after is not None and 9 <= plan.requeue_after <= 10
    world.run_to_end()
    attempts = world.tasks["flaky"].status.attempts
    assert [a.number for a in attempts] == [1, 2, 3]
    assert [a.exit_code for a in attempts] == [1, 1, 0]
    assert world.tasks["flaky"].status.phase == TaskPhase.SUCCEEDED


def test_on_error_policy_does_not_retry_a_container_failure() -> None:
    world = World(
        spec([{"name": "a", "retryStrategy": {"limit": 3, "retryPolicy": "OnError"}}]),
        exit_codes={"a": 1},
    )
    world.run_to_end()
    assert world.jobs_created == ["a"]


def test_on_error_policy_retries_an_evicted_attempt_even_with_an_exit_code() -> None:
    world = World(
        spec([{"name": "a", "retryStrategy": {"limit": 3, "retryPolicy": "OnError"}}]),
        exit_codes={"a": [137, 0]},
    )
    world.apply(world.plan())
    world.finish(("a", 1))
    # The kubelet killed the container when the Pod was evicted: DisruptionTarget is set.
    world.jobs[("a", 1)] = replace(world.jobs[("a", 1)], disrupted=True)
    world.run_to_end()
    assert world.jobs_created == ["a", "a"]
    assert world.tasks["a"].status.phase == TaskPhase.SUCCEEDED


def test_exit_handler_runs_after_the_dag_with_the_outcome() -> None:
    world = World(
        spec(
            [{"name": "a"}],
            onExit=[{"name": "notify", "args": ["{{workflow.status}}"]}],
        ),
        exit_codes={"a": 1},
    )
    world.apply(world.plan())
    assert "notify" in world.tasks and "notify" not in world.jobs_created
    world.finish(("a", 1))
    (start,) = world.plan().start_jobs
    assert start.node == "notify" and start.spec.args == ["Failed"]
    world.run_to_end()
    assert world.status.phase == WorkflowPhase.FAILED


def test_a_suspended_workflow_starts_nothing_until_resumed() -> None:
    world = World(spec([{"name": "a"}, {"name": "b"}], suspend=True))
    world.apply(world.plan())
    assert world.jobs_created == []
    assert world.tasks["a"].status.reason == Reason.SUSPENDED
    world.spec = world.spec.model_copy(update={"suspend": False})
    world.run_to_end()
    assert world.status.phase == WorkflowPhase.SUCCEEDED


def test_terminate_deletes_running_jobs_and_skips_the_rest() -> None:
    world = World(
        spec([{"name": "a"}, {"name": "b", "dependsOn": ["a"]}], onExit=[{"name": "bye"}])
    )
    world.apply(world.plan())
    world.spec = world.spec.model_copy(update={"shutdown": "Terminate"})
    plan = world.plan()
    assert plan.delete_jobs == [job_name("wf", "a", 1)]
    world.apply(plan)
    world.apply(world.plan())
    assert world.tasks["a"].status.reason == Reason.TERMINATED
    assert world.tasks["b"].status.phase == TaskPhase.SKIPPED
    assert world.tasks["bye"].status.phase == TaskPhase.SKIPPED
    assert world.status.phase == WorkflowPhase.FAILED


def test_workflow_deadline_fails_running_tasks_and_skips_the_rest() -> None:
    world = World(
        spec([{"name": "a"}, {"name": "b", "dependsOn": ["a"]}], activeDeadlineSeconds=30)
    )
    world.apply(world.plan())
    world.clock += 31
    world.apply(world.plan())
    world.apply(world.plan())
    assert world.tasks["a"].status.reason == Reason.DEADLINE_EXCEEDED
    assert world.tasks["b"].status.phase == TaskPhase.SKIPPED
    assert world.status.phase == WorkflowPhase.FAILED
    condition = next(c for c in world.status.conditions if c.type == "Succeeded")
    assert condition.reason == Reason.DEADLINE_EXCEEDED


def test_retry_from_failure_reruns_failed_and_skipped_tasks_only() -> None:
    world = World(
        spec([{"name": "a"}, {"name": "b", "dependsOn": ["a"]}, {"name": "c", "dependsOn": ["b"]}]),
        exit_codes={"b": [1, 0]},
    )
    world.run_to_end()
    assert world.status.phase == WorkflowPhase.FAILED
    world.retry_request = "1"
    world.run_to_end()
    assert world.status.phase == WorkflowPhase.SUCCEEDED
    assert world.status.retry_handled == "1"
    assert world.jobs_created.count("a") == 1
    assert [a.number for a in world.tasks["b"].status.attempts] == [1, 2]


def test_ttl_deletes_the_finished_workflow() -> None:
    world = World(spec([{"name": "a"}], ttlSecondsAfterFinished=60))
    world.run_to_end()
    assert world.plan().requeue_after is not None
    world.clock += 61
    assert world.plan().delete_workflow


def test_job_cleanup_deletes_jobs_of_succeeded_tasks() -> None:
    world = World(spec([{"name": "a"}], jobCleanup="OnTaskSuccess"))
    world.run_to_end()
    world.apply(world.plan())
    assert world.jobs == {}
    assert world.tasks["a"].status.phase == TaskPhase.SUCCEEDED


def test_task_template_is_merged_with_its_params() -> None:
    template = TaskTemplateSpec.model_validate(
        {
            "image": "loader:2",
            "args": ["--table", "{{params.table}}", "--mode", "{{params.mode}}"],
            "params": [{"name": "table"}, {"name": "mode", "default": "append"}],
        }
    )
    workflow = WorkflowSpec.model_validate(
        {
            "tasks": [
                {"name": "load", "templateRef": {"name": "loader"}, "params": {"table": "sales"}}
            ]
        }
    )
    world = World(workflow)
    state = world.state()
    plan = plan_next_steps(
        WorkflowState(**{**state.__dict__, "templates": {"loader": template}}), now=world.now()
    )
    (start,) = plan.start_jobs
    assert start.spec.image == "loader:2"
    assert start.spec.args == ["--table", "sales", "--mode", "append"]


def test_a_missing_template_makes_the_workflow_wait() -> None:
    world = World(
        WorkflowSpec.model_validate({"tasks": [{"name": "a", "templateRef": {"name": "nope"}}]})
    )
    plan = world.plan()
    assert plan.workflow_status is not None
    assert plan.workflow_status.phase == WorkflowPhase.PENDING
    assert plan.workflow_status.conditions[0].reason == Reason.TEMPLATE_NOT_FOUND
    assert plan.start_jobs == []
