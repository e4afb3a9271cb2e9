from pathlib import Path

import yaml

from kubedag.api.kubernetes_schemas import schema
from kubedag.cli import lint_documents, main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_every_example_passes_lint() -> None:
    for path in EXAMPLES.glob("*.yaml"):
        problems, _ = lint_documents(list(yaml.safe_load_all(path.read_text())))
        assert problems == [], path


def test_lint_reports_unknown_dependency_and_a_task_without_image() -> None:
    documents = [
        {
            "kind": "Workflow",
            "metadata": {"name": "broken"},
            "spec": {"tasks": [{"name": "a", "image": "x", "dependsOn": ["b"]}]},
        },
        {"kind": "Workflow", "metadata": {"name": "no-image"}, "spec": {"tasks": [{"name": "a"}]}},
        {"kind": "ConfigMap", "metadata": {"name": "ignored"}},
    ]
    assert lint_documents(documents)[0] == [
        "broken: spec.tasks[0].dependsOn[0]: task 'a' depends on unknown task 'b'",
        "no-image: spec.tasks[0]: task 'a' needs exactly one of image and templateRef",
    ]


def test_lint_command_exit_code(tmp_path: Path, capsys: object) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        yaml.safe_dump({"kind": "Workflow", "spec": {"tasks": [{"name": "a", "image": "x"}]}})
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "kind": "Workflow",
                "spec": {"tasks": [{"name": "a", "image": "x", "dependsOn": ["a"]}]},
            }
        )
    )
    assert main(["lint", str(good)]) == 0
    assert main(["lint", str(bad)]) == 1


def test_lint_reports_a_file_that_is_not_yaml(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("tasks: [unclosed\n")
    assert main(["lint", str(broken), str(tmp_path / "missing.yaml")]) == 1


def test_lint_checks_templates_defined_in_the_same_file() -> None:
    template = {
        "kind": "TaskTemplate",
        "metadata": {"name": "loader"},
        "spec": {"image": "x", "params": [{"name": "table"}]},
    }
    uses = {
        "kind": "Workflow",
        "metadata": {"name": "w"},
        "spec": {"tasks": [{"name": "a", "templateRef": {"name": "loader"}}]},
    }
    elsewhere = {
        "kind": "Workflow",
        "metadata": {"name": "v"},
        "spec": {"tasks": [{"name": "a", "templateRef": {"name": "other"}}]},
    }
    problems, notes = lint_documents([template, uses, elsewhere])
    assert problems == ["w: spec.tasks[0].params: parameter 'table' of the template needs a value"]
    assert notes == ["v: TaskTemplate 'other' is not in these files; not checked"]


def test_lint_accepts_quoted_braces_and_refuses_bare_jinja() -> None:
    def document(args: list[str]) -> dict[str, object]:
        task = {"name": "dbt", "image": "x", "args": args}
        return {"kind": "Workflow", "metadata": {"name": "w"}, "spec": {"tasks": [task]}}

    assert lint_documents([document(["{{ '{{' }} ref('orders') }}"])])[0] == []
    (problem,) = lint_documents([document(["{{ ref('orders') }}"])])[0]
    assert "unknown reference {{ref('orders')}} (for literal braces write {{ '{{' }})" in problem


def test_lint_refuses_what_the_api_server_would_in_the_pod_fields() -> None:
    documents = [
        {
            "kind": "Workflow",
            "metadata": {"name": "w"},
            "spec": {
                "taskDefaults": {"nodeSelector": {"pool": 1}},
                "tasks": [
                    {
                        "name": "a",
                        "image": "x",
                        "volumes": [{"name": "d", "secret": "my-secret"}],
                        "podSecurityContext": {"runAsNonRot": True},
                        "tolerations": [{"key": "k", "tolerationSeconds": "soon"}],
                        "initContainers": [{"image": "y"}],
                        "sidecars": [
                            {"name": "s", "image": "y", "resources": {"limits": {"cpu": "lots"}}}
                        ],
                        "dependsOn": ["unknown-but-not-reached"],
                    }
                ],
            },
        },
        {
            "kind": "TaskTemplate",
            "metadata": {"name": "t"},
            "spec": {"image": "x", "imagePullPolicy": "Sometimes"},
        },
    ]
    assert lint_documents(documents)[0] == [
        "t: spec.imagePullPolicy: must be one of Always, IfNotPresent, Never, got 'Sometimes'",
        "w: spec.taskDefaults.nodeSelector.pool: must be a string, got a number (1)",
        "w: spec.tasks[0].volumes[0].secret: must be an object, got a string",
        "w: spec.tasks[0].podSecurityContext.runAsNonRot: unknown field",
        "w: spec.tasks[0].tolerations[0].tolerationSeconds: must be an integer, got a string",
        "w: spec.tasks[0].initContainers[0].name: required",
        "w: spec.tasks[0].sidecars[0].resources.limits.cpu: 'lots' does not match "
        + schema("Container")["properties"]["resources"]["properties"]["limits"][
            "additionalProperties"
        ]["pattern"],
    ]
