"""A user's mistake is one line and a documented exit code, never a traceback (issue 11)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kubedag.cli import cluster, main
from kubedag.cli.errors import ExitCode


def kubedag(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubedag.cli", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_a_missing_kubeconfig_is_exit_4_with_its_path(tmp_path: Path) -> None:
    result = kubedag("list", "--kubeconfig", str(tmp_path / "nope"))
    assert result.returncode == ExitCode.CLUSTER
    assert (
        result.stderr == f"kubedag: kubeconfig: Configuration file {tmp_path / 'nope'} not found\n"
    )


def test_a_kubeconfig_that_is_not_one_is_exit_4(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("- just a list\n")
    result = kubedag("get", "etl", "--kubeconfig", str(path))
    assert result.returncode == ExitCode.CLUSTER
    assert result.stderr.startswith("kubedag: kubeconfig: ")
    assert "Traceback" not in result.stderr


def test_an_unreachable_api_server_is_exit_4(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "contexts: [{name: c, context: {cluster: k, namespace: team}}]\n"
    )
    result = kubedag("list", "--kubeconfig", str(path))
    assert result.returncode == ExitCode.CLUSTER
    assert result.stderr.startswith("kubedag: cannot reach the API server: ")


@pytest.mark.parametrize(
    "argv", [["list", "--bogus"], ["frobnicate"], ["logs", "etl", "load", "--attempt", "0"]]
)
def test_a_bad_flag_or_verb_is_a_usage_error(argv: list[str]) -> None:
    result = kubedag(*argv)
    assert result.returncode == ExitCode.USAGE
    assert "Usage: kubedag" in result.stderr
    assert "Traceback" not in result.stderr


def test_output_closed_early_ends_quietly_with_141() -> None:
    """`kubedag completion bash | head -0`: the reader is gone before the first write."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kubedag.cli", "completion", "bash"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    time.sleep(0.1)
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == ExitCode.BROKEN_PIPE
    assert stderr == ""


def test_the_namespace_defaults_to_the_contexts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "config"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "contexts: [{name: c, context: {cluster: k, namespace: team}},"
        " {name: d, context: {cluster: k}}]\n"
    )
    target = cluster.Target(kubeconfig=str(path))
    assert cluster.connect(target).namespace == "team"
    assert cluster.connect(cluster.Target(kubeconfig=str(path), namespace="x")).namespace == "x"
    assert cluster.connect(cluster.Target(kubeconfig=str(path), context="d")).namespace == "default"


class _PodlessClient:
    """A cluster holding run `etl` whose task `load` ran twice; the Pod of attempt 2 only."""

    def __init__(self, log_lines: list[str]) -> None:
        self.log_lines = log_lines

    def get(self, resource: Any, name: str, namespace: str) -> Any:
        return resource.from_dict({"metadata": {"name": name, "namespace": namespace}})

    def list(self, resource: Any, namespace: str, labels: dict[str, str]) -> list[Any]:
        if resource.__name__ == "Pod":
            if labels == {"job-name": "etl-load-2"}:
                return [resource.from_dict({"metadata": {"name": "etl-load-2-abcde"}})]
            return []
        attempts = [
            {"number": 1, "jobName": "etl-load-1", "exitCode": 1, "reason": "Error"},
            {"number": 2, "jobName": "etl-load-2"},
        ]
        return [
            resource.from_dict(
                {
                    "metadata": {"name": "etl-load-x"},
                    "spec": {"name": "load", "workflow": "etl", "image": "i"},
                    "status": {"phase": "Running", "attempts": attempts},
                }
            )
        ]

    def log(self, name: str, **options: Any) -> list[str]:
        assert name == "etl-load-2-abcde" and options["container"] == "main"
        return self.log_lines


def test_logs_print_the_last_attempts_pod_and_name_a_gone_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = _PodlessClient(["loading\n", "done\n"])
    monkeypatch.setattr(cluster, "make_client", lambda target: (fake, "data"))
    assert main(["logs", "etl", "load"]) == 0
    assert capsys.readouterr().out == "loading\ndone\n"
    assert main(["logs", "etl", "load", "--attempt", "1"]) == ExitCode.NOT_FOUND
    err = capsys.readouterr().err
    assert "the Pod of task load attempt 1 (Job etl-load-1) is gone" in err
    assert "exitCode 1, reason Error" in err
    assert main(["logs", "etl", "load", "--attempt", "3"]) == ExitCode.NOT_FOUND
    assert "task load has no attempt 3 (attempts: 1, 2)" in capsys.readouterr().err
