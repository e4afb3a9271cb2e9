"""examples/gitops/ (issue 12): the Argo CD Applications, the Flux sources, Kustomizations and
HelmRelease, and the pipelines folder they apply, checked without a cluster.

Argo CD's and Flux's CRD schemas are not available offline (hack/kubeconform.sh skips
those kinds), so their documents are checked here for what would break a sync: the chart
values they carry pass the chart's values.schema.json and render (helm template, the same
step Argo CD and helm-controller run), every path and source they name exists, and the
namespaces agree. The pipelines pass `kubedag lint`; kubeconform checks them against
kubedag's CRDs in `make lint`."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedag.lint import Severity, lint_text

ROOT = Path(__file__).resolve().parents[2]
GITOPS = ROOT / "examples" / "gitops"
CHART = ROOT / "charts" / "kubedag"
PIPELINES = GITOPS / "pipelines"
# The most a client-side apply can record in kubectl.kubernetes.io/last-applied-configuration
# (the API server's limit on all annotations of an object: 256 KiB).
ANNOTATION_LIMIT = 256 * 1024


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [
        document
        for path in sorted(GITOPS.rglob("*.yaml"))
        for document in documents(path)
        if document.get("kind") == kind
    ]


def helm() -> str:
    result = subprocess.run(
        [str(ROOT / "hack" / "install-helm.sh")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def render(values: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The chart's Deployment rendered with `values` (the schema checks all of them)."""
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    return subprocess.run(
        [
            *(helm(), "template", "kubedag", str(CHART), "-f", str(values_file)),
            *("--show-only", "templates/deployment.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def chart_application() -> dict[str, Any]:
    (application,) = [
        a for a in of_kind("Application") if a["spec"]["source"].get("path") == "charts/kubedag"
    ]
    return application


def helm_release() -> dict[str, Any]:
    (release,) = of_kind("HelmRelease")
    return release


def chart_values() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("argocd", chart_application()["spec"]["source"]["helm"]["valuesObject"]),
        ("flux", helm_release()["spec"]["values"]),
    ]


@pytest.mark.parametrize("tool, values", chart_values(), ids=["argocd", "flux"])
def test_the_values_each_tool_installs_with_render_the_chart(
    tool: str, values: dict[str, Any], tmp_path: Path
) -> None:
    result = render(values, tmp_path)
    assert result.returncode == 0, result.stderr
    deployment = next(
        d for d in yaml.safe_load_all(result.stdout) if d and d["kind"] == "Deployment"
    )
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith(values["image"]["repository"] + ":")
    assert image.endswith("@" + values["image"]["digest"])


@pytest.mark.parametrize("tool, values", chart_values(), ids=["argocd", "flux"])
def test_a_misspelt_value_in_git_fails_the_render_with_its_name(
    tool: str, values: dict[str, Any], tmp_path: Path
) -> None:
    wrong = {**values, "watchNamespace": values["watchNamespaces"]}
    result = render(wrong, tmp_path)
    assert result.returncode != 0
    assert "watchNamespace" in result.stderr


def test_the_pipelines_namespace_is_the_one_the_operator_watches() -> None:
    namespaces = {
        d["metadata"].get("namespace")
        for path in PIPELINES.glob("*.yaml")
        for d in documents(path)
        if d["kind"] != "Namespace"
    }
    (namespace,) = namespaces
    assert [d["metadata"]["name"] for d in documents(PIPELINES / "namespace.yaml")] == [namespace]
    for _, values in chart_values():
        assert namespace in values["watchNamespaces"]
    (pipelines_app,) = [
        a
        for a in of_kind("Application")
        if a["spec"]["source"]["path"] == "examples/gitops/pipelines"
    ]
    assert pipelines_app["spec"]["destination"]["namespace"] == namespace


def test_every_application_points_at_a_path_of_this_repository_and_syncs_after_the_crds() -> None:
    applications = of_kind("Application")
    assert len(applications) == 2
    waves = {}
    for application in applications:
        source = application["spec"]["source"]
        assert (ROOT / source["path"]).is_dir(), source["path"]
        waves[source["path"]] = int(
            application["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
        )
    assert waves["charts/kubedag"] < waves["examples/gitops/pipelines"]


def test_crds_too_large_for_client_side_apply_are_synced_server_side() -> None:
    largest = max(len(path.read_bytes()) for path in (CHART / "files" / "crds").glob("*.yaml"))
    if largest > ANNOTATION_LIMIT:
        options = chart_application()["spec"]["syncPolicy"]["syncOptions"]
        assert "ServerSideApply=true" in options


def test_the_flux_objects_name_sources_and_paths_that_exist() -> None:
    (source,) = of_kind("GitRepository")
    reference = helm_release()["spec"]["chart"]["spec"]
    assert (reference["sourceRef"]["kind"], reference["sourceRef"]["name"]) == (
        "GitRepository",
        source["metadata"]["name"],
    )
    assert reference["sourceRef"]["namespace"] == source["metadata"]["namespace"]
    assert (ROOT / reference["chart"]).is_dir()
    flux_kustomizations = [
        k for k in of_kind("Kustomization") if k["apiVersion"].startswith("kustomize.toolkit")
    ]
    names = {k["metadata"]["name"] for k in flux_kustomizations}
    for kustomization in flux_kustomizations:
        assert kustomization["spec"]["sourceRef"]["name"] == source["metadata"]["name"]
        assert (ROOT / kustomization["spec"]["path"]).is_dir()
        for dependency in kustomization["spec"].get("dependsOn", []):
            assert dependency["name"] in names
    assert helm_release()["spec"]["test"]["enable"] is True


def test_every_kustomize_file_lists_files_that_exist() -> None:
    for path in GITOPS.rglob("kustomization.yaml"):
        kustomization = yaml.safe_load(path.read_text())
        listed = list(kustomization.get("resources", []))
        for generator in kustomization.get("configMapGenerator", []):
            listed += [entry.split("=", 1)[-1] for entry in generator.get("files", [])]
        for name in listed:
            if name == "argocd-install.yaml":  # the reader's own Argo CD install
                continue
            assert (path.parent / name).is_file(), f"{path}: {name}"


def test_the_pipelines_lint_clean_together() -> None:
    # As one text, as a GitOps tool applies the folder: the WorkflowTemplate's TaskTemplate
    # reference is then checked too.
    text = "\n---\n".join(path.read_text() for path in sorted(PIPELINES.glob("*.yaml")))
    findings = lint_text(text)
    assert [str(f) for f in findings if f.severity is not Severity.NOTE] == []
    assert not [f for f in findings if "not in these files" in f.message]
