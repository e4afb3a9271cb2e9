"""Lineage is on only when an OpenLineage transport is configured (issue 10)."""

from __future__ import annotations

import os
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


# -- a configuration that cannot be used (review of issue 10) -----------------------------


@pytest.mark.parametrize(
    ("environ", "file_text", "said"),
    [
        ({"OPENLINEAGE_URL": "not-a-url"}, None, "not-a-url"),
        ({"OPENLINEAGE_URL": "http://"}, None, "http://"),
        ({"OPENLINEAGE__TRANSPORT__TYPE": "nope"}, None, "nope"),
        ({"OPENLINEAGE__TRANSPORT__URL": "http://marquez:5000"}, None, "no transport type"),
        ({"OPENLINEAGE_CONFIG": "{missing}"}, None, "does not exist"),
        ({"OPENLINEAGE_CONFIG": "{file}"}, "transport: [oops\n", "YAML"),
        ({"OPENLINEAGE_CONFIG": "{file}"}, "- a list\n", "transport"),
        ({"OPENLINEAGE_CONFIG": "{file}"}, "facets: {}\n", "transport"),
        ({"OPENLINEAGE_CONFIG": "{file}"}, "transport:\n  type: http\n", "url"),
    ],
)
def test_an_unusable_configuration_keeps_events_waiting_and_says_why(
    environ: dict[str, str],
    file_text: str | None,
    said: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The operator still schedules: its client refuses every event with the reason, so
    # events wait (and their Workflows say why) until it restarts with a fixed one; it never
    # falls back to printing events on the console, nor stops the operator's start.
    from kubedag.lineage.config import LineageConfigError, make_client

    config = tmp_path / "openlineage.yml"
    if file_text is not None:
        config.write_text(file_text)
    for key in list(os.environ):
        if key.startswith("OPENLINEAGE"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    for key, value in environ.items():
        monkeypatch.setenv(key, value.format(missing=tmp_path / "absent.yml", file=config))
    client = make_client()
    assert client is not None
    with pytest.raises(LineageConfigError) as raised:
        client.emit(None)  # type: ignore[arg-type]
    assert said in str(raised.value)


def test_a_usable_configuration_gives_the_clients_transport(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openlineage.client import OpenLineageClient

    from kubedag.lineage.config import make_client

    config = tmp_path / "openlineage.yml"
    config.write_text(f"transport:\n  type: file\n  log_file_path: {tmp_path / 'events'}\n")
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    monkeypatch.delenv("OPENLINEAGE_URL", raising=False)
    client = make_client()
    assert isinstance(client, OpenLineageClient)
    assert client.transport.kind == "file"


def test_a_missing_file_beside_a_url_leaves_the_url_in_charge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openlineage.client import OpenLineageClient

    from kubedag.lineage.config import make_client

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENLINEAGE_URL", "http://marquez:5000")
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(tmp_path / "absent.yml"))
    client = make_client()
    assert isinstance(client, OpenLineageClient) and client.transport.kind == "http"
