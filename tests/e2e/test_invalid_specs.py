"""Bad input: refused at admission where the schema can say so, otherwise a Failed
workflow with reason InvalidSpec, a Warning event, and nothing started."""

from __future__ import annotations

import pytest

from tests.e2e.cluster import Kubectl, task, wait_for, workflow
from tests.e2e.helpers import wait_for_phase


@pytest.mark.parametrize(
    ("name", "tasks", "expected"),
    [
        (
            "cyclic",
            [task("a", depends_on=["c"]), task("b", depends_on=["a"]), task("c", depends_on=["b"])],
            "dependency cycle",
        ),
        (
            "unknown-dependency",
            [task("extract"), task("load", depends_on=["transfrom"])],
            "depends on unknown task 'transfrom'",
        ),
        (
            "item-name-taken",
            [task("part", withItems=["a", "b"]), task("part-1")],
            "spec.tasks[1].name: task name 'part-1' is the name of an item of fan-out task 'part'",
        ),
        (
            "bare-jinja",
            [task("dbt", args=["{{ ref('orders') }}"])],
            "unknown reference {{ref('orders')}} (for literal braces write {{ '{{' }})",
        ),
    ],
)
def test_invalid_graph_fails_with_invalid_spec_and_creates_no_job(
    kubectl: Kubectl, namespace: str, name: str, tasks: list[dict[str, object]], expected: str
) -> None:
    kubectl.apply(namespace, workflow(name, tasks))
    body = wait_for_phase(kubectl, namespace, name, "Failed", "Succeeded")
    assert body["status"]["phase"] == "Failed"
    succeeded = next(c for c in body["status"]["conditions"] if c["type"] == "Succeeded")
    assert succeeded["status"] == "False"
    assert succeeded["reason"] == "InvalidSpec"
    assert expected in succeeded["message"]
    assert expected in body["status"]["message"]
    events = wait_for(
        "the InvalidSpec warning event",
        lambda: [
            e
            for e in kubectl.events(namespace, "Workflow", name)
            if e["type"] == "Warning" and e["reason"] == "InvalidSpec"
        ],
    )
    assert expected in events[0]["message"]
    assert kubectl.list(namespace, "jobs") == []
    assert kubectl.list(namespace, "tasks") == []


def test_admission_refuses_a_task_that_depends_on_itself(kubectl: Kubectl, namespace: str) -> None:
    result = kubectl.run(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=_yaml(workflow("selfish", [task("a", depends_on=["a"])])),
        check=False,
    )
    assert result.returncode != 0
    assert "a task cannot depend on itself" in result.stderr


def test_admission_refuses_duplicate_task_names(kubectl: Kubectl, namespace: str) -> None:
    document = workflow("twins", [task("a"), task("a")])
    result = kubectl.run("create", "-n", namespace, "-f", "-", stdin=_yaml(document), check=False)
    assert result.returncode != 0
    assert "Duplicate value" in result.stderr


def test_admission_refuses_a_task_without_an_image(kubectl: Kubectl, namespace: str) -> None:
    document = workflow("no-image", [{"name": "a"}])
    result = kubectl.run("create", "-n", namespace, "-f", "-", stdin=_yaml(document), check=False)
    assert result.returncode != 0
    assert "a task needs exactly one of image and templateRef" in result.stderr


def _yaml(document: dict[str, object]) -> str:
    import yaml

    return yaml.safe_dump(document)


def test_the_tasks_of_a_submitted_workflow_cannot_change(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(namespace, workflow("fixed", [task("a", seconds=30)]))
    changed = workflow("fixed", [task("a", seconds=30), task("b")])
    result = kubectl.run("apply", "-n", namespace, "-f", "-", stdin=_yaml(changed), check=False)
    assert result.returncode != 0
    assert "cannot change after it is created" in result.stderr


def test_admission_refuses_negative_limits(kubectl: Kubectl, namespace: str) -> None:
    cases = {
        "retry-limit": workflow("neg", [task("a", retryStrategy={"limit": -1})]),
        "backoff": workflow(
            "neg", [task("a", retryStrategy={"limit": 1, "backoff": {"delaySeconds": -5}})]
        ),
        "fan-out-parallelism": workflow("neg", [task("a", withItems=[1, 2], parallelism=0)]),
        "workflow-parallelism": workflow("neg", [task("a")], parallelism=0),
        "deadline": workflow("neg", [task("a")], activeDeadlineSeconds=0),
        "ttl": workflow("neg", [task("a")], ttlSecondsAfterFinished=-1),
    }
    for case, document in cases.items():
        result = kubectl.run(
            "create", "-n", namespace, "-f", "-", stdin=_yaml(document), check=False
        )
        assert result.returncode != 0, case
        assert "should be greater than or equal to" in result.stderr, (case, result.stderr)
