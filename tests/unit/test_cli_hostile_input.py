"""Inputs a new or careless user gives the CLI (review of issue 11): each is one line on
stderr and a documented exit code (kubedag.cli.errors), never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kubedag.cli import cluster, main
from kubedag.cli.errors import ExitCode

SERVER = "http://127.0.0.1:9"


def kubedag(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubedag.cli", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def kubeconfig(path: Path, *, context: str = "c", namespace: str = "team", **cluster_: str) -> Path:
    fields = "".join(f", {key.replace('_', '-')}: {value}" for key, value in cluster_.items())
    path.write_text(
        f"apiVersion: v1\nkind: Config\ncurrent-context: {context}\n"
        f"clusters: [{{name: k, cluster: {{server: '{SERVER}'{fields}}}}}]\n"
        f"contexts: [{{name: {context}, context: {{cluster: k, namespace: {namespace}}}}}]\n"
    )
    return path


# -- kubeconfigs that cannot be used: exit 4, one line ---------------------------------


@pytest.mark.parametrize(
    "content",
    [
        "clusters: [\n",  # not YAML
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "contexts: [{name: c, context: {cluster: gone}}]\n",  # a context naming no cluster
        "",  # empty
    ],
)
def test_a_kubeconfig_that_cannot_be_read_is_exit_4_without_traceback(
    tmp_path: Path, content: str
) -> None:
    path = tmp_path / "config"
    path.write_text(content)
    result = kubedag("list", "--kubeconfig", str(path))
    assert "Traceback" not in result.stderr
    assert result.returncode == ExitCode.CLUSTER
    assert result.stderr.startswith("kubedag: kubeconfig: ")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"certificate_authority": "/nonexistent/ca.crt"},
        {"certificate_authority_data": "bm90IGEgY2VydA=="},
    ],
)
def test_a_kubeconfig_naming_a_missing_or_bad_file_is_exit_4(
    tmp_path: Path, fields: dict[str, str]
) -> None:
    path = kubeconfig(tmp_path / "config", **fields)
    result = kubedag("list", "--kubeconfig", str(path))
    assert "Traceback" not in result.stderr
    assert result.returncode == ExitCode.CLUSTER
    assert result.stderr.startswith("kubedag: ")


def test_an_exec_credential_plugin_that_fails_is_exit_4(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: k, cluster: {{server: '{SERVER}'}}}}]\n"
        "users: [{name: u, user: {exec: {command: /no/such/plugin, "
        "apiVersion: client.authentication.k8s.io/v1beta1}}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )
    result = kubedag("get", "etl", "--kubeconfig", str(path))
    assert "Traceback" not in result.stderr
    assert result.returncode == ExitCode.CLUSTER
    assert "/no/such/plugin" in result.stderr


def test_kubeconfig_lists_several_files_as_kubectl_merges_them(tmp_path: Path) -> None:
    """$KUBECONFIG=a:b (kubectl's "Organizing Cluster Access Using kubeconfig Files"): the
    files are merged, the first to set a value wins; a missing one is skipped."""
    first = tmp_path / "first"
    first.write_text("apiVersion: v1\nkind: Config\ncurrent-context: c\n")
    second = kubeconfig(tmp_path / "second", context="c", namespace="from-second")
    joined = ":".join([str(tmp_path / "missing"), str(first), str(second)])
    connection = cluster.connect_with_env(cluster.Target(), {"KUBECONFIG": joined})
    assert connection.namespace == "from-second"


# -- usage mistakes are found before the cluster is asked: exit 2 -----------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["list", "--since", "5x"],
        ["list", "--since", ""],
        ["delete", "--older-than", "yesterday"],
        ["submit"],
        ["submit", "/nonexistent/run.yaml"],
        ["watch", "etl", "--interval", "nan"],
        ["watch", "etl", "--interval", "0"],
        ["watch", "etl", "--interval", "-1"],
        ["watch", "etl", "--timeout", "-5"],
        ["submit", "-", "--wait", "--timeout", "inf"],
        ["retry", "etl", "--wait", "--timeout", "soon"],
        ["backfill", "b", "--max-concurrent-runs", "0"],
        ["operator", "--metrics-port", "70000"],
        # A name is part of the URL: `a/status` is the status subresource (a suspend through
        # it changed nothing and said "suspended"), an empty name the whole collection.
        ["suspend", "a/status"],
        ["get", ""],
        ["delete", "a/status", "b"],
        ["logs", "a/status", "load"],
        ["schedule", "next", "x/y"],
        ["backfill", "Nightly"],
        ["get", "etl", "-n", "Bad_NS"],
        ["list", "-n", "a/b"],
        ["submit", "--from", "template/a/b"],
        ["graph", "pipelines/missing.yaml"],
        ["graph", "Missing.yaml"],
    ],
)
def test_a_usage_mistake_is_exit_2_even_without_a_cluster(tmp_path: Path, argv: list[str]) -> None:
    result = kubedag(*argv, "--kubeconfig", str(tmp_path / "nope"))
    assert "Traceback" not in result.stderr
    assert result.returncode == ExitCode.USAGE, result.stderr


# -- submit of files that are not what it expects --------------------------------------


class RecordingClient:
    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    def create(self, obj: Any) -> Any:
        body = obj.to_dict()
        self.created.append(body)
        return type(obj).from_dict(body)


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> RecordingClient:
    fake = RecordingClient()
    monkeypatch.setattr(
        cluster, "make_client", lambda target: (fake, target.namespace or "default")
    )
    return fake


WORKFLOW = "apiVersion: kubedag.io/v1alpha1\nkind: Workflow\n"


@pytest.mark.parametrize(
    "body",
    [
        "metadata: [x]\nspec: {tasks: [{name: t, image: i}]}\n",
        "metadata: {name: a}\nspec: [x]\n",
        "metadata: {name: a}\nspec: {params: oops, tasks: [{name: t, image: i}]}\n",
        "metadata: {name: a}\nspec: {params: [oops], tasks: [{name: t, image: i}]}\n",
    ],
)
def test_submit_of_a_misshapen_workflow_is_a_usage_error(
    client: RecordingClient, tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(WORKFLOW + body)
    assert main(["submit", str(path), "-p", "day=1"]) == ExitCode.USAGE
    assert client.created == []
    assert capsys.readouterr().err.startswith(f"kubedag: {path}: ")


def test_submit_uses_the_files_namespace_and_refuses_a_different_n(
    client: RecordingClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As `kubectl create -f`: the file's metadata.namespace is used; `-n` naming another
    one is refused rather than silently winning."""
    path = tmp_path / "run.yaml"
    path.write_text(WORKFLOW + "metadata: {name: a, namespace: data}\nspec: {tasks: []}\n")
    assert main(["submit", str(path)]) == 0
    assert client.created[0]["metadata"]["namespace"] == "data"
    assert main(["submit", str(path), "-n", "data"]) == 0
    assert main(["submit", str(path), "-n", "other"]) == ExitCode.USAGE
    assert "namespace" in capsys.readouterr().err
    assert len(client.created) == 2


def test_submit_names_the_kinds_it_skipped(
    client: RecordingClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n"
        + WORKFLOW
        + "metadata: {name: a}\nspec: {tasks: []}\n"
    )
    assert main(["submit", str(path)]) == 0
    assert [body["metadata"]["name"] for body in client.created] == ["a"]
    assert "ConfigMap" in capsys.readouterr().err


# -- logs of a task that is declared but has no Task object yet -------------------------


class PendingRunClient:
    def get(self, resource: Any, name: str, namespace: str) -> Any:
        return resource.from_dict(
            {
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"tasks": [{"name": "load", "image": "i"}]},
            }
        )

    def list(self, resource: Any, namespace: str, labels: dict[str, str]) -> list[Any]:
        return []


def test_logs_of_a_declared_task_not_started_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cluster, "make_client", lambda target: (PendingRunClient(), "default"))
    assert main(["logs", "etl", "load"]) == ExitCode.NOT_FOUND
    err = capsys.readouterr().err
    assert "has not started" in err and "no task" not in err


def test_logs_of_a_run_with_no_started_task_says_so_rather_than_printing_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cluster, "make_client", lambda target: (PendingRunClient(), "default"))
    assert main(["logs", "etl"]) == ExitCode.NOT_FOUND
    assert capsys.readouterr().err == "kubedag: no task of workflow etl has started (Pending)\n"


# -- a cluster without kubedag's CRDs --------------------------------------------------


class NoCrdClient:
    """What lightkube raises when the API server has no such resource: a 404 whose body is
    not a Kubernetes Status, as httpx.HTTPStatusError."""

    def _missing(self, path: str) -> Any:
        import httpx2 as httpx

        request = httpx.Request("GET", f"https://k8s.example:6443{path}")
        response = httpx.Response(404, text="404 page not found", request=request)
        return httpx.HTTPStatusError(
            "Client error '404 Not Found'", request=request, response=response
        )

    def get(self, resource: Any, name: str, namespace: str) -> Any:
        raise self._missing(f"/apis/kubedag.io/v1alpha1/namespaces/{namespace}/workflows/{name}")

    def list(self, resource: Any, namespace: str, labels: Any = None) -> Any:
        raise self._missing("/apis/kubedag.io/v1alpha1/cronworkflows")


@pytest.mark.parametrize(
    "argv, resource",
    [
        (["get", "etl"], "workflows.kubedag.io"),
        (["schedule", "list", "-A"], "cronworkflows.kubedag.io"),
    ],
)
def test_a_cluster_without_kubedags_crds_is_said_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    resource: str,
) -> None:
    """It was "cannot reach the API server: Client error '404 Not Found' ..." on two lines."""
    monkeypatch.setattr(cluster, "make_client", lambda target: (NoCrdClient(), "default"))
    assert main(argv) == ExitCode.CLUSTER
    err = capsys.readouterr().err
    assert err.startswith(f"kubedag: the cluster has no resource {resource}: ")
    assert "not installed" in err and err.count("\n") == 1


# -- graph of a file that is not a valid Workflow ----------------------------------------


@pytest.mark.parametrize(
    "tasks, reason",
    [
        ("[{name: a, image: x, dependsOn: [b]}, {name: b, image: x, dependsOn: [a]}]", "cycle"),
        ("[{name: a, image: x, dependsOn: [zz]}]", "unknown task 'zz'"),
        ('"hello"', "spec.tasks"),
        ("[{name: a, image: x, dependsOn: b}]", "spec.tasks[0].dependsOn"),
        ("[{image: x}]", "spec.tasks[0].name"),
    ],
)
def test_graph_of_an_invalid_file_says_why_instead_of_drawing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tasks: str, reason: str
) -> None:
    """A cycle was drawn as two levels, an unknown dependency as a node, `tasks: "hello"`
    as an empty graph, all with exit 0. Exit 1 as `kubedag lint` on the same file."""
    path = tmp_path / "run.yaml"
    path.write_text(WORKFLOW + f"metadata: {{name: a}}\nspec:\n  tasks: {tasks}\n")
    assert main(["graph", str(path)]) == ExitCode.RUN_FAILED
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"kubedag: {path}: ") and reason in captured.err
