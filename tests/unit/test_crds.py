"""The CRDs in crds/ are generated from the API models; these tests keep them honest."""

from pathlib import Path
from typing import Any

import yaml

from kubedag.api.crd import build_crds, render

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"


def walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, value in node.items():
            found += walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += walk(value, f"{path}[{index}]")
    return found


def test_checked_in_crds_match_the_models() -> None:
    for file_name, crd in build_crds().items():
        checked_in = (CRD_DIR / file_name).read_text()
        assert checked_in == render(crd), f"crds/{file_name} is stale: run `make crds`"


def test_schemas_are_structural() -> None:
    for file_name, crd in build_crds().items():
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        for path, node in walk(schema):
            where = f"{file_name}{path}"
            assert "$ref" not in node and "$defs" not in node, where
            assert "anyOf" not in node and "const" not in node, where
            # A map of property names is not a schema (ConfigMap volumes have `items`).
            is_schema = not path.endswith(".properties")
            if is_schema and ("properties" in node or "items" in node):
                assert node.get("type") in ("object", "array"), where
            assert node.get("additionalProperties") is not True, where


def test_workflows_and_tasks_have_status_columns_short_names_and_the_kubedag_category() -> None:
    crds = build_crds()
    for crd in (crds["workflows.yaml"], crds["tasks.yaml"]):
        names = crd["spec"]["names"]
        version = crd["spec"]["versions"][0]
        assert names["categories"] == ["kubedag"]
        assert names["shortNames"]
        assert version["subresources"] == {"status": {}}
        columns = {column["name"] for column in version["additionalPrinterColumns"]}
        assert {"Phase", "Age"} <= columns


def test_task_names_are_unique_by_list_map_and_self_dependency_is_a_cel_rule() -> None:
    workflows = yaml.safe_load((CRD_DIR / "workflows.yaml").read_text())
    tasks = workflows["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]["tasks"]
    assert tasks["x-kubernetes-list-type"] == "map"
    assert tasks["x-kubernetes-list-map-keys"] == ["name"]
    assert tasks["maxItems"] > 0
    rules = [rule["rule"] for rule in tasks["items"]["x-kubernetes-validations"]]
    assert any("!(self.name in self.dependsOn)" in rule for rule in rules)
    assert tasks["items"]["properties"]["dependsOn"]["maxItems"] > 0


def test_every_model_field_is_a_property_of_its_crd() -> None:
    from pydantic import BaseModel

    from kubedag.api.task import TaskResourceSpec, TaskResourceStatus
    from kubedag.api.template import TaskTemplateSpec
    from kubedag.api.workflow import WorkflowSpec, WorkflowStatus

    def aliases(model: type[BaseModel]) -> set[str]:
        return {field.alias or name for name, field in model.model_fields.items()}

    crds = build_crds()

    def properties(file_name: str, part: str) -> dict[str, Any]:
        schema = crds[file_name]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        return schema["properties"][part]  # type: ignore[no-any-return]

    for file_name, part, model in (
        ("workflows.yaml", "spec", WorkflowSpec),
        ("workflows.yaml", "status", WorkflowStatus),
        ("tasks.yaml", "spec", TaskResourceSpec),
        ("tasks.yaml", "status", TaskResourceStatus),
        ("tasktemplates.yaml", "spec", TaskTemplateSpec),
    ):
        assert set(properties(file_name, part)["properties"]) == aliases(model), (file_name, part)
    params = properties("workflows.yaml", "spec")["properties"]["params"]["items"]["properties"]
    assert set(params) == {"name", "value", "default", "description"}
