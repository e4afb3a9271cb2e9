"""Lineage is on only when an OpenLineage transport is configured (issue 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubedag.lineage.config import lineage_configured, naming


@pytest.mark.parametrize(
    "environ",
    [
        {"OPENLINEAGE_URL": "http://marquez:5000"},
        {"OPENLINEAGE__TRANSPORT__TYPE": "console"},
        {"OPENLINEAGE_CONFIG": "/etc/openlineage/openlineage.yml"},
    ],
)
def test_a_transport_in_the_environment_turns_lineage_on(
    environ: dict[str, str], tmp_path: Path
) -> None:
    assert lineage_configured(environ, cwd=tmp_path, home=tmp_path)


def test_nothing_configured_means_lineage_off(tmp_path: Path) -> None:
    assert not lineage_configured({"OPENLINEAGE_NAMESPACE": "x"}, cwd=tmp_path, home=tmp_path)


@pytest.mark.parametrize("where", ["cwd", "home"])
def test_an_openlineage_yml_where_the_client_looks_turns_lineage_on(
    where: str, tmp_path: Path
) -> None:
    folder = tmp_path if where == "cwd" else tmp_path / ".openlineage"
    folder.mkdir(exist_ok=True)
    (folder / "openlineage.yml").write_text("transport:\n  type: console\n")
    assert lineage_configured({}, cwd=tmp_path, home=tmp_path)


def test_openlineage_disabled_wins(tmp_path: Path) -> None:
    environ = {"OPENLINEAGE_URL": "http://marquez:5000", "OPENLINEAGE_DISABLED": "true"}
    assert not lineage_configured(environ, cwd=tmp_path, home=tmp_path)


def test_job_namespaces_start_with_openlineage_namespace() -> None:
    assert naming({"OPENLINEAGE_NAMESPACE": "prod"}).job_namespace("team-a") == "prod/team-a"
    assert naming({}).job_namespace("team-a") == "kubedag/team-a"
