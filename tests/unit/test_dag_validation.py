from kubedag.api.workflow import WorkflowSpec, WorkflowTask
from kubedag.engine.dag import find_cycle, topological_order
from kubedag.engine.specs import resolve_spec, validate_dag


def tasks(**dependencies: list[str]) -> list[WorkflowTask]:
    return [
        WorkflowTask(name=name, image="x", depends_on=deps) for name, deps in dependencies.items()
    ]


def test_a_valid_diamond_has_no_errors() -> None:
    assert validate_dag(tasks(a=[], b=["a"], c=["a"], d=["b", "c"])) == []


def test_cycle_is_reported_with_its_path() -> None:
    errors = validate_dag(tasks(a=["c"], b=["a"], c=["b"], d=[]))
    assert len(errors) == 1
    assert errors[0].path == "spec.tasks"
    assert "dependency cycle" in errors[0].message
    cycle_text = errors[0].message.split(": ", 1)[1]
    nodes = cycle_text.split(" -> ")
    assert nodes[0] == nodes[-1]
    assert set(nodes) == {"a", "b", "c"}


def test_unknown_dependency_names_the_task_and_the_missing_name() -> None:
    errors = validate_dag(tasks(load=["transfrom"]))
    assert [str(e) for e in errors] == [
        "spec.tasks[0].dependsOn[0]: task 'load' depends on unknown task 'transfrom'"
    ]


def test_duplicate_names_point_at_both_entries() -> None:
    errors = validate_dag([WorkflowTask(name="a", image="x"), WorkflowTask(name="a", image="y")])
    assert [str(e) for e in errors] == [
        "spec.tasks[1].name: duplicate task name 'a' (also spec.tasks[0])"
    ]


def test_a_task_named_like_an_item_of_a_fan_out_task_is_refused() -> None:
    errors = validate_dag(
        [
            WorkflowTask(name="part", image="x", with_items=["a", "b"]),
            WorkflowTask(name="part-1", image="x"),
            WorkflowTask(name="part-x", image="x"),
            WorkflowTask(name="partition-1", image="x"),
        ]
    )
    assert [str(e) for e in errors] == [
        "spec.tasks[1].name: task name 'part-1' is the name of an item of fan-out task 'part' "
        "(its items are named part-0, part-1, …): rename one of the two"
    ]


def test_a_name_like_an_item_is_fine_when_the_task_does_not_fan_out() -> None:
    assert validate_dag(tasks(part=[], **{"part-1": []})) == []


def test_self_dependency_is_an_error() -> None:
    errors = validate_dag(tasks(a=["a"]))
    assert [e.message for e in errors] == ["task 'a' depends on itself"]


def test_find_cycle_handles_a_long_chain_without_recursion() -> None:
    chain = {f"t{i}": [f"t{i - 1}"] if i else [] for i in range(5000)}
    assert find_cycle(chain) == []
    chain["t0"] = ["t4999"]
    assert len(find_cycle(chain)) == 5000


def test_topological_order_puts_dependencies_first_and_keeps_declaration_order() -> None:
    order = topological_order({"report": ["load"], "b": [], "a": [], "load": ["a", "b"]})
    assert order == ["b", "a", "load", "report"]


def test_every_problem_of_a_spec_is_reported_at_once() -> None:
    spec = WorkflowSpec.model_validate(
        {
            "params": [{"name": "day"}],
            "tasks": [
                {"name": "a", "image": "x", "dependsOn": ["ghost"], "args": ["{{params.dya}}"]},
                {"name": "b", "image": "x", "dependsOn": ["c"]},
                {"name": "c", "image": "x", "dependsOn": ["b"], "when": "(("},
                {"name": "d", "image": "x", "args": ["{{tasks.a.outputs.rows}}"]},
            ],
        }
    )
    paths = sorted(error.path for error in resolve_spec(spec, {})[1])
    assert paths == [
        "spec.params[0]",
        "spec.tasks",
        "spec.tasks[0].args[0]",
        "spec.tasks[0].dependsOn[0]",
        "spec.tasks[2].when",
        "spec.tasks[3].args[0]",
    ]
