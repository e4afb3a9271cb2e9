"""The Helm chart (files/crds/, rendered by templates/crds.yaml) and the plain install YAML
carry copies of the generated CRDs in crds/; these tests fail when a copy is stale (fix:
`make manifests`). The chart adds its labels and the keep annotation to each CRD's
metadata; everything else is the generated CRD."""

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "crds"
CHART_CRD_DIR = ROOT / "charts" / "kubedag" / "files" / "crds"
INSTALL_MANIFEST = ROOT / "manifests" / "kubedag.yaml"


def crds_by_name(documents: list[Any]) -> dict[str, Any]:
    """name -> the CRD without the labels and annotations the chart adds."""
    return {
        document["metadata"]["name"]: {
            **document,
            "metadata": {
                key: value
                for key, value in document["metadata"].items()
                if key not in ("labels", "annotations")
            },
        }
        for document in documents
        if document and document.get("kind") == "CustomResourceDefinition"
    }


def load_crds(directory: Path) -> dict[str, Any]:
    documents = []
    for path in sorted(directory.glob("*.yaml")):
        documents.extend(yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader))
    return crds_by_name(documents)


def test_the_generated_crds_are_found() -> None:
    assert set(load_crds(CRD_DIR)) == {
        "workflows.kubedag.io",
        "tasks.kubedag.io",
        "tasktemplates.kubedag.io",
        "backfills.kubedag.io",
        "workflowtemplates.kubedag.io",
        "cronworkflows.kubedag.io",
        "datasets.kubedag.io",
    }


def test_chart_crds_are_the_generated_crds() -> None:
    assert load_crds(CHART_CRD_DIR) == load_crds(CRD_DIR), (
        "charts/kubedag/files/crds/ differs from crds/: run `make manifests`"
    )


def test_chart_has_no_crd_files_besides_the_generated_ones() -> None:
    chart_files = {path.name for path in CHART_CRD_DIR.glob("*")}
    assert chart_files == {path.name for path in CRD_DIR.glob("*.yaml")}


def test_install_manifest_carries_the_generated_crds() -> None:
    documents = list(yaml.load_all(INSTALL_MANIFEST.read_text(), Loader=yaml.CSafeLoader))
    assert crds_by_name(documents) == load_crds(CRD_DIR), (
        "manifests/kubedag.yaml has stale CRDs: run `make manifests`"
    )


def test_install_manifest_creates_crds_and_namespace_before_the_operator() -> None:
    kinds = [
        document["kind"]
        for document in yaml.load_all(INSTALL_MANIFEST.read_text(), Loader=yaml.CSafeLoader)
    ]
    first_other = kinds.index("Namespace")
    assert set(kinds[:first_other]) == {"CustomResourceDefinition"}
    assert "CustomResourceDefinition" not in kinds[first_other:]
    assert "Deployment" in kinds[first_other:]
