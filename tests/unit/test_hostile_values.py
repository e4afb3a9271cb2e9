"""Values the planner cannot use (a missing item key, an item nested thousands of levels
deep, an upstream output that is not what the task expects) fail only the node they belong
to, with a message naming the field, the item and the key, and never make a pass raise
(issue 6)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from kubedag.api.crd import build_crds
from kubedag.api.task import TaskPhase
from kubedag.api.workflow import MAX_NODES, MAX_SECONDS, WorkflowPhase, WorkflowSpec
from kubedag.engine import expressions
from kubedag.engine.plan import Reason
from kubedag.engine.specs import resolve_spec, static_item_problems
from tests.unit.simulated_world import World


def deeply_nested(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"a": [value]} if levels % 2 else [value]
    return value


def spec(tasks: list[dict[str, Any]]) -> WorkflowSpec:
    return WorkflowSpec.model_validate({"tasks": tasks})


def test_an_item_lacking_a_key_fails_only_its_node_naming_field_item_and_key() -> None:
    world = World(
        spec(
            [
                {
                    "name": "per-table",
                    "image": "busybox",
                    "withItems": [{"table": "orders", "mode": "append"}, {"table": "customers"}],
                    "command": ["sh", "-c", "echo load $0 $1"],
                    "args": ["{{item.table}}", "{{item.mode}}"],
                }
            ]
        )
    )
    world.run_to_end()
    assert world.tasks["per-table-0"].status.phase == TaskPhase.SUCCEEDED
    failed = world.tasks["per-table-1"].status
    assert failed.phase == TaskPhase.FAILED
    assert failed.reason == Reason.INVALID_SPEC
    assert failed.message == "spec.tasks[0].args[1]: item 1 of 'per-table' has no key 'mode'"
    assert world.jobs_created == ["per-table-0"]
    assert world.status.phase == WorkflowPhase.FAILED
    assert "has no key 'mode'" in (world.status.message or "")


def test_an_item_that_is_not_an_object_says_what_it_is() -> None:
    world = World(
        spec(
            [
                {
                    "name": "p",
                    "image": "busybox",
                    "withItems": [{"x": {"y": "1"}}, {"x": "flat"}],
                    "env": [{"name": "Y", "value": "{{item.x.y}}"}],
                }
            ]
        )
    )
    world.run_to_end()
    assert world.tasks["p-0"].status.phase == TaskPhase.SUCCEEDED
    assert world.tasks["p-1"].status.message == (
        "spec.tasks[0].env[0].value: item 1 of 'p' has no key 'y': item.x is a string"
    )


def test_an_item_nested_thousands_of_levels_deep_fails_its_node_and_the_rest_runs() -> None:
    world = World(
        spec(
            [
                {
                    "name": "p",
                    "image": "busybox",
                    "withItems": ["fine", deeply_nested(1200)],
                    "args": ["{{item}}"],
                }
            ]
        )
    )
    world.run_to_end()
    assert world.tasks["p-0"].status.phase == TaskPhase.SUCCEEDED
    assert world.tasks["p-1"].status.reason == Reason.INVALID_SPEC
    assert world.tasks["p-1"].status.message == (
        "spec.tasks[0].withItems[1]: item 1 is nested deeper than 32 levels"
    )
    assert world.jobs_created == ["p-0"]


def test_an_upstream_list_with_a_bad_item_fails_only_that_item() -> None:
    world = World(
        spec(
            [
                {"name": "list", "image": "busybox", "outputs": [{"name": "rows"}]},
                {
                    "name": "load",
                    "image": "busybox",
                    "withParam": "{{tasks.list.outputs.rows}}",
                    "args": ["{{item.id}}"],
                },
            ]
        ),
        messages={"list": json.dumps({"rows": [{"id": 1}, {"name": "no id"}, 7]})},
    )
    world.run_to_end()
    assert world.tasks["load-0"].status.phase == TaskPhase.SUCCEEDED
    assert world.tasks["load-1"].status.message == (
        "spec.tasks[1].args[0]: item 1 of 'load' has no key 'id'"
    )
    assert world.tasks["load-2"].status.message == (
        "spec.tasks[1].args[0]: item 2 of 'load' has no key 'id': item is a number"
    )
    assert sorted(world.jobs_created) == ["list", "load-0"]


def test_an_upstream_list_nested_too_deep_fails_the_fan_out_with_the_reason() -> None:
    world = World(
        spec(
            [
                {"name": "list", "image": "busybox", "outputs": [{"name": "rows"}]},
                {"name": "load", "image": "busybox", "withParam": "{{tasks.list.outputs.rows}}"},
            ]
        ),
        messages={"list": json.dumps({"rows": "[" * 3000 + "]" * 3000})},
    )
    world.run_to_end()
    assert world.status.phase == WorkflowPhase.FAILED
    assert "nested deeper than 32 levels" in (world.status.message or "")
    assert world.jobs_created == ["list"]


def test_an_upstream_list_past_the_node_limit_fails_the_fan_out_before_any_task() -> None:
    world = World(
        spec(
            [
                {"name": "list", "image": "busybox", "outputs": [{"name": "rows"}]},
                {"name": "load", "image": "busybox", "withParam": "{{tasks.list.outputs.rows}}"},
            ]
        ),
        messages={"list": json.dumps({"rows": list(range(MAX_NODES))})},
    )
    world.run_to_end()
    assert world.status.phase == WorkflowPhase.FAILED
    assert f"more than the limit of {MAX_NODES}" in (world.status.message or "")
    assert set(world.tasks) == {"list"}


def test_expressions_nested_or_chained_past_the_bounds_are_invalid_specs_not_crashes() -> None:
    for text in ["(" * 3000 + "a" + ")" * 3000, "!" * 3000 + "a", " && ".join(["a"] * 1500)]:
        resolved, errors = resolve_spec(
            spec(
                [
                    {"name": "a", "image": "busybox"},
                    {"name": "b", "image": "busybox", "depends": text[:4096]},
                ]
            ),
            {},
        )
        assert resolved is None
        assert errors and errors[0].path == "spec.tasks[1].depends"
    assert expressions.MAX_NESTING < 100


# -- never raise, whatever the values ---------------------------------------------------

json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["id", "mode", "x", "n"]), children, max_size=3),
    ),
    max_leaves=10,
)
items = st.lists(
    st.one_of(json_values, st.integers(40, 1500).map(deeply_nested)), min_size=0, max_size=5
)
# Deep enough to trip any unbounded reader, shallow enough for the test's own json.dumps.
shallower_items = st.lists(
    st.one_of(json_values, st.integers(40, 400).map(deeply_nested)), min_size=0, max_size=5
)
upstream_outputs = st.one_of(
    shallower_items.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=20),
    st.integers(1, 3000).map(lambda n: "[" * n + "]" * n),
)
references = st.sampled_from(["{{item}}", "{{item.id}}", "{{item.mode.x}}", "{{item.n}}"])


@settings(max_examples=60, deadline=None)
@given(
    static=items,
    output=upstream_outputs,
    arg=references,
    when=st.sampled_from([None, "{{item.id}} == 1", "{{item}} > 0"]),
    seed=st.integers(0, 2**32),
)
def test_no_item_list_or_upstream_output_makes_a_planning_pass_raise(
    static: list[Any], output: str, arg: str, when: str | None, seed: int
) -> None:
    dynamic: dict[str, Any] = {
        "name": "dynamic",
        "image": "busybox",
        "withParam": "{{tasks.list.outputs.rows}}",
        "args": [arg],
    }
    if when:
        dynamic["when"] = when
    world = World(
        spec(
            [
                {"name": "static", "image": "busybox", "withItems": static, "args": [arg]},
                {"name": "list", "image": "busybox", "outputs": [{"name": "rows"}]},
                dynamic,
            ]
        ),
        messages={"list": json.dumps({"rows": output}) if output else "{}"},
    )
    world.run_to_end(random.Random(seed), crash_chance=0.1)
    assert world.status.phase in (WorkflowPhase.SUCCEEDED, WorkflowPhase.FAILED)
    for name, task in world.tasks.items():
        assert task.status.phase is not None and task.status.phase.is_finished, name
        if task.status.reason == Reason.INVALID_SPEC:
            assert task.status.message and task.status.message.startswith("spec.tasks[")
            assert not any(key[0] == name for key in world.jobs), name


def test_a_spec_with_more_tasks_and_items_than_the_limit_is_invalid_before_anything_runs() -> None:
    half = MAX_NODES // 2
    _, errors = resolve_spec(
        spec(
            [
                {"name": "a", "image": "busybox", "withItems": list(range(half))},
                {"name": "b", "image": "busybox", "withItems": list(range(half))},
                {"name": "c", "image": "busybox"},
            ]
        ),
        {},
    )
    assert [error.path for error in errors] == ["spec.tasks"]
    assert f"{MAX_NODES + 1} tasks and withItems items" in errors[0].message


def test_a_workflow_of_exactly_the_limit_of_tasks_or_of_fan_out_items_is_valid() -> None:
    tasks = [{"name": f"t{i}", "image": "busybox"} for i in range(MAX_NODES)]
    assert resolve_spec(spec(tasks), {})[1] == []
    fan_out = [{"name": "p", "image": "busybox", "withItems": list(range(MAX_NODES))}]
    assert resolve_spec(spec(fan_out), {})[1] == []
    assert MAX_NODES == 10_000  # issue 8: 10,000-task runs


def test_the_crd_admits_as_many_tasks_as_the_engine_runs() -> None:
    workflow_crd = build_crds()["workflows.yaml"]
    schema = workflow_crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert schema["properties"]["spec"]["properties"]["tasks"]["maxItems"] == MAX_NODES


def test_an_unusable_item_is_reported_as_such_before_its_when_is_evaluated() -> None:
    world = World(
        spec(
            [
                {
                    "name": "p",
                    "image": "busybox",
                    "withItems": [deeply_nested(100)],
                    "when": "{{item}} != skip",
                }
            ]
        )
    )
    world.run_to_end()
    assert world.tasks["p-0"].status.message == (
        "spec.tasks[0].withItems[0]: item 0 is nested deeper than 32 levels"
    )


def test_items_that_will_fail_their_node_are_found_before_the_run_for_lint() -> None:
    resolved, errors = resolve_spec(
        spec(
            [
                {
                    "name": "per-table",
                    "image": "busybox",
                    "withItems": [
                        {"table": "orders", "mode": "append"},
                        {"table": "customers"},
                        "flat",
                        deeply_nested(40),
                    ],
                    "args": ["{{item.table}}", "{{item.mode}}"],
                }
            ]
        ),
        {},
    )
    assert resolved is not None and errors == []
    assert [str(problem) for problem in static_item_problems(resolved)] == [
        "spec.tasks[0].args[1]: item 1 of 'per-table' has no key 'mode'",
        "spec.tasks[0].args[0]: item 2 of 'per-table' has no key 'table': item is a string",
        "spec.tasks[0].args[1]: item 2 of 'per-table' has no key 'mode': item is a string",
        "spec.tasks[0].withItems[3]: item 3 is nested deeper than 32 levels",
    ]


def test_durations_past_ten_years_are_refused_at_admission_and_backoff_never_overflows() -> None:
    # The API server stores any int64; `activeDeadlineSeconds: 10**17` (or the same in a
    # backoff or TTL) made every pass of its workflow raise OverflowError: the run never
    # started. The CRD now refuses them, and a backoff factor whose 100th power is past a
    # float's range waits the longest duration instead of raising.
    huge = 10**17
    for field in (
        {"activeDeadlineSeconds": huge},
        {"ttlSecondsAfterFinished": huge},
        {"retryStrategy": {"limit": 1, "backoff": {"delaySeconds": huge}}},
        {"retryStrategy": {"limit": 1, "backoff": {"maxDelaySeconds": huge}}},
    ):
        with pytest.raises(ValidationError):
            WorkflowSpec.model_validate({"tasks": [{"name": "a", "image": "x"}], **field})
    crd_text = json.dumps(build_crds())
    assert f'"maximum": {MAX_SECONDS}' in crd_text

    at_limits = World(
        WorkflowSpec.model_validate(
            {
                "activeDeadlineSeconds": MAX_SECONDS,
                "ttlSecondsAfterFinished": MAX_SECONDS,
                "tasks": [{"name": "a", "image": "x"}],
            }
        )
    )
    at_limits.run_to_end()
    assert at_limits.status.phase == WorkflowPhase.SUCCEEDED
    world = World(
        spec(
            [
                {
                    "name": "a",
                    "image": "x",
                    "retryStrategy": {
                        "limit": 100,
                        "backoff": {"delaySeconds": 1, "factor": 1e300},
                    },
                }
            ]
        ),
        exit_codes={"a": [1, 1, 0]},
    )
    world.run_to_end()
    assert world.status.phase == WorkflowPhase.SUCCEEDED
    assert [a.exit_code for a in world.tasks["a"].status.attempts] == [1, 1, 0]


def test_a_rendered_value_past_a_field_limit_fails_only_its_node() -> None:
    # `image: "{{params.img}}"` is within the Workflow's limits as written; rendered with a
    # 3,000-character param (or upstream output) it is past the Task's `image` limit, and
    # building the node's spec raised in every pass: the whole run froze, other tasks and
    # finished Jobs included. Now only that node fails, naming the field.
    big = "x" * 3000
    world = World(
        WorkflowSpec.model_validate(
            {
                "params": [{"name": "img", "value": big}],
                "tasks": [
                    {"name": "a", "image": "{{params.img}}"},
                    {"name": "b", "image": "busybox"},
                ],
            }
        )
    )
    world.run_to_end()
    a, b = world.tasks["a"].status, world.tasks["b"].status
    assert (a.phase, a.reason) == (TaskPhase.FAILED, Reason.INVALID_SPEC)
    assert "spec.tasks[0]" in (a.message or "") and "image" in (a.message or "")
    assert big not in (a.message or "")
    assert b.phase == TaskPhase.SUCCEEDED
    assert world.jobs_created == ["b"]
    assert world.status.phase == WorkflowPhase.FAILED

    upstream = World(
        spec(
            [
                {"name": "a", "image": "busybox", "outputs": [{"name": "o"}]},
                {"name": "b", "image": "{{tasks.a.outputs.o}}", "dependsOn": ["a"]},
                {"name": "c", "image": "busybox", "dependsOn": ["a"]},
            ]
        ),
        messages={"a": json.dumps({"o": big})},
    )
    upstream.run_to_end()
    phases = {name: task.status.phase for name, task in upstream.tasks.items()}
    assert phases == {"a": TaskPhase.SUCCEEDED, "b": TaskPhase.FAILED, "c": TaskPhase.SUCCEEDED}
    assert upstream.tasks["b"].status.reason == Reason.INVALID_SPEC


def test_a_task_rendered_past_what_the_api_server_stores_fails_only_its_node() -> None:
    # A 300 kB param used in four args renders a 1.2 MB task: its Task (and Job) could never
    # be stored, and the pass failed on that creation forever. Now that node fails with
    # InvalidSpec and the size; its Task holds the spec as written; the rest runs.
    from kubedag.engine.planning import MAX_RENDERED_TASK_BYTES

    big = "x" * (300 * 1024)
    world = World(
        WorkflowSpec.model_validate(
            {
                "params": [{"name": "blob", "value": big}],
                "tasks": [
                    {"name": "a", "image": "busybox", "args": ["{{params.blob}}"] * 4},
                    {"name": "b", "image": "busybox", "args": ["{{params.blob}}"]},
                ],
            }
        )
    )
    first = world.plan()
    created = {create.node: create.spec for create in first.create_tasks}
    assert len(created["a"].model_dump_json()) < MAX_RENDERED_TASK_BYTES
    world.run_to_end()
    a, b = world.tasks["a"].status, world.tasks["b"].status
    assert (a.phase, a.reason) == (TaskPhase.FAILED, Reason.INVALID_SPEC)
    assert "bytes once rendered" in (a.message or "") and "spec.tasks[0]" in (a.message or "")
    assert b.phase == TaskPhase.SUCCEEDED
    assert world.jobs_created == ["b"]


def test_an_output_with_an_integer_past_python_s_digit_limit_fails_its_task_not_the_pass() -> None:
    # Python refuses to parse integers of more than 4,300 digits (ValueError, not a
    # JSONDecodeError): an output holding one made every pass of its workflow raise. (A
    # kubelet caps termination messages at 4 KiB, below that; other sources need not.)
    huge = "9" * 5000
    for downstream in (
        {"name": "a", "image": "x", "dependsOn": ["u"], "when": "{{tasks.u.outputs.o}} == 2"},
        {"name": "a", "image": "x", "withParam": "{{tasks.u.outputs.o}}", "args": ["{{item}}"]},
    ):
        world = World(
            spec([{"name": "u", "image": "x", "outputs": [{"name": "o"}]}, downstream]),
            messages={"u": '{"o": ' + huge + "}"},
        )
        world.run_to_end()
        assert world.status.phase == WorkflowPhase.FAILED
        assert world.tasks["u"].status.reason == Reason.OUTPUTS_MISSING
        assert "not valid JSON" in (world.tasks["u"].status.message or "")
    listed = World(
        spec(
            [
                {"name": "u", "image": "x", "outputs": [{"name": "o"}]},
                {"name": "a", "image": "x", "withParam": "{{tasks.u.outputs.o}}"},
            ]
        ),
        messages={"u": json.dumps({"o": "[" + huge + "]"})},
    )
    listed.run_to_end()
    assert listed.status.phase == WorkflowPhase.FAILED
    assert "not valid JSON" in (listed.status.message or "")
