"""`kubedag submit`: the Workflows it creates, against a fake API client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubedag.cli import cluster, main
from kubedag.k8s.client import RESOURCES

TEMPLATE = {
    "metadata": {"name": "nightly", "namespace": "data"},
    "spec": {
        "params": [{"name": "date"}, {"name": "source", "default": "orders"}],
        "tasks": [{"name": "a", "image": "x"}],
    },
}


class FakeClient:
    """Holds one WorkflowTemplate; records the objects created."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    def get(self, resource: Any, name: str, namespace: str) -> Any:
        from lightkube import ApiError

        if name != "nightly" or namespace != "data":
            response = _Response({"code": 404, "message": "not found"})
            raise ApiError(response=response)  # type: ignore[arg-type]
        return RESOURCES["WorkflowTemplate"].from_dict(TEMPLATE)

    def create(self, obj: Any) -> Any:
        body = obj.to_dict()
        metadata = body["metadata"]
        if "name" not in metadata:
            metadata["name"] = metadata["generateName"] + "x7k2p"
        self.created.append(body)
        return type(obj).from_dict(body)


class _Response:
    def __init__(self, status: dict[str, Any]) -> None:
        self._status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", **status}
        self.status_code = status["code"]

    def json(self) -> dict[str, Any]:
        return self._status


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    fake = FakeClient()
    monkeypatch.setattr(
        cluster, "make_client", lambda target: (fake, target.namespace or "default")
    )
    return fake


def test_submit_from_a_template_creates_a_run_of_it_and_prints_its_name(
    client: FakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["submit", "--from", "template/nightly", "-n", "data", "-p", "date=1"]) == 0
    (run,) = client.created
    assert run["metadata"] == {
        "generateName": "nightly-",
        "namespace": "data",
        "name": "nightly-x7k2p",
    }
    assert run["spec"] == {
        "workflowTemplateRef": {"name": "nightly"},
        "params": [{"name": "date", "value": "1"}],
    }
    assert capsys.readouterr().out == "nightly-x7k2p\n"


def test_submit_with_a_param_the_template_does_not_declare_creates_nothing(
    client: FakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["submit", "--from", "template/nightly", "-n", "data", "-p", "day=1"]) == 2
    assert client.created == []
    assert "WorkflowTemplate 'nightly' has no parameter 'day'" in capsys.readouterr().err


def test_submit_from_a_missing_template_says_so(
    client: FakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["submit", "--from", "template/weekly", "-n", "data"]) == 3
    assert capsys.readouterr().err == (
        "kubedag: WorkflowTemplate 'weekly' in namespace 'data' not found\n"
    )


def test_submit_a_file_sets_the_params_and_the_name_given(
    client: FakeClient, tmp_path: Path
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(
        "apiVersion: kubedag.io/v1alpha1\nkind: Workflow\nmetadata: {name: w}\n"
        "spec:\n  params: [{name: date, value: '0'}]\n  tasks: [{name: a, image: x}]\n"
    )
    assert main(["submit", str(path), "--name", "w2", "-p", "date=1", "-p", "extra=2"]) == 0
    (run,) = client.created
    assert run["metadata"]["name"] == "w2"
    assert run["spec"]["params"] == [
        {"name": "date", "value": "1"},
        {"name": "extra", "value": "2"},
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--from", "template/nightly", "-p", "date"], "-p 'date' is not NAME=VALUE"),
        (["--from", "nightly"], "--from nightly: expected template/NAME"),
        (["run.yaml", "--from", "template/nightly"], "not both"),
        ([], "give a FILE or --from template/NAME"),
    ],
)
def test_submit_refuses_unclear_arguments_with_exit_code_2(
    client: FakeClient, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    assert main(["submit", *arguments]) == 2
    assert message in capsys.readouterr().err
    assert client.created == []


def test_a_param_given_twice_is_refused_not_silently_the_last(
    client: FakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["submit", "--from", "template/nightly", "-n", "data", "-p", "date=1", "-p", "date=2"]
    assert main(argv) == 2
    assert client.created == []
    assert "date given more than once" in capsys.readouterr().err


def test_a_template_that_cannot_be_read_is_named_with_the_servers_reason(
    client: FakeClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lightkube import ApiError

    def forbidden(resource: Any, name: str, namespace: str) -> Any:
        response = _Response({"code": 403, "message": "workflowtemplates is forbidden"})
        raise ApiError(response=response)  # type: ignore[arg-type]

    monkeypatch.setattr(client, "get", forbidden)
    assert main(["submit", "--from", "template/nightly", "-n", "data", "-p", "date=1"]) == 4
    assert client.created == []
    err = capsys.readouterr().err
    assert "WorkflowTemplate 'nightly' in namespace 'data': workflowtemplates is forbidden" in err
