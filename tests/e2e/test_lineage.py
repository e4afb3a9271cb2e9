"""OpenLineage on a real control plane (issue 10): an operator configured the standard way
(OPENLINEAGE_URL) sends its events to a real HTTP receiver run by the test, which checks
every event against the OpenLineage JSON Schemas and openlineage-python's models; the
operator is SIGKILLed and the receiver goes down for a while, and every event arrives."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kubedag.lineage.run_ids import task_attempt_run_id, workflow_run_id
from tests.e2e.cluster import Kubectl, task, wait_for, workflow
from tests.e2e.helpers import tasks_by_name, wait_for_phase
from tests.e2e.operator_process import OperatorProcess, free_port
from tests.openlineage_spec.validation import problems

DELIVERED_LABEL = "kubedag.io/lineage-delivered"


class LineageReceiver:
    """An OpenLineage HTTP endpoint (POST /api/v1/lineage, as Marquez serves it) on a port
    of its own; `stop()` closes the socket (the backend is down), `start()` opens it
    again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.events: list[dict[str, Any]] = []
        self.invalid: list[tuple[list[str], dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/api/v1/lineage":
                    self.send_response(404)
                    self.end_headers()
                    return
                event = json.loads(body)
                found = problems(event)
                with receiver._lock:
                    receiver.events.append(event)
                    if found:
                        receiver.invalid.append((found, event))
                # Marquez answers 201 Created; a malformed event gets 400 (the operator
                # would retry it forever, and the test's `invalid` list says why).
                self.send_response(400 if found else 201)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)

    def runs(self) -> dict[str, list[dict[str, Any]]]:
        """runId -> its events in the order they arrived."""
        found: dict[str, list[dict[str, Any]]] = {}
        for event in self.received():
            found.setdefault(event["run"]["runId"], []).append(event)
        return found


@pytest.fixture
def receiver() -> Iterator[LineageReceiver]:
    found = LineageReceiver()
    found.start()
    yield found
    found.stop()


@pytest.fixture
def lineage_namespace(kubectl: Kubectl, operator: OperatorProcess) -> Iterator[str]:
    """A namespace served by this test's own operator only: the session's operator is
    stopped meanwhile (it watches every namespace), and started again after."""
    operator.stop()
    name = f"e2e-ol-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", name)
    wait_for(
        "the namespace's default service account",
        lambda: (
            kubectl.run("get", "-n", name, "serviceaccount", "default", check=False).returncode == 0
        ),
    )
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)
    operator.start()


@pytest.fixture
def lineage_operator(
    kubectl: Kubectl, receiver: LineageReceiver, lineage_namespace: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    env = {
        **kubectl.env,
        "OPENLINEAGE_URL": receiver.url,
        "OPENLINEAGE_NAMESPACE": "e2e",
    }
    process = OperatorProcess(env, tmp_path / "operator.log", ("-n", lineage_namespace))
    process.start()
    yield process
    process.stop()
    print(f"lineage operator log: {process.log_path}")


def ended_and_labelled(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any] | None:
    body = kubectl.get(namespace, "workflow", name)
    return body if DELIVERED_LABEL in (body["metadata"].get("labels") or {}) else None


def check_run_cycles(receiver: LineageReceiver) -> dict[str, list[dict[str, Any]]]:
    """Every run starts before it ends, once each, and repeated events are identical."""
    assert receiver.invalid == []
    runs = receiver.runs()
    for run_id, run_events in runs.items():
        distinct: dict[str, dict[str, Any]] = {}
        for event in run_events:
            earlier = distinct.setdefault(event["eventType"], event)
            assert earlier == event, f"run {run_id}: a re-sent {event['eventType']} differs"
        types = [event["eventType"] for event in run_events]
        assert types[0] == "START", f"run {run_id} did not start with START: {types}"
        assert sorted(distinct) in (["COMPLETE", "START"], ["FAIL", "START"], ["ABORT", "START"]), (
            f"run {run_id}: {types}"
        )
        first_end = next(i for i, t in enumerate(types) if t != "START")
        assert "START" not in types[first_end:] or all(
            e == distinct["START"] for e in run_events
        ), f"run {run_id}: START after its end"
    return runs


def test_every_event_is_valid_and_links_task_runs_to_their_workflow_run(
    kubectl: Kubectl,
    lineage_namespace: str,
    lineage_operator: OperatorProcess,
    receiver: LineageReceiver,
) -> None:
    namespace = lineage_namespace
    kubectl.apply(
        namespace,
        workflow(
            "daily",
            [
                task("extract", seconds=1, inlets=[{"namespace": "s3://raw", "name": "orders"}]),
                task(
                    "transform",
                    depends_on=["extract"],
                    seconds=3,
                    outlets=[
                        {
                            "namespace": "postgres://warehouse:5432",
                            "name": "dw.public.orders",
                            "partition": "{{schedule.ds}}",
                        }
                    ],
                ),
                task(
                    "load",
                    depends_on=["transform"],
                    exit_code=1,
                    retryStrategy={"limit": 1, "backoff": {"delaySeconds": 0}},
                ),
            ],
            dataInterval={"start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"},
        ),
    )
    wait_for_phase(kubectl, namespace, "daily", "Succeeded", "Failed", timeout=180)
    body = wait_for(
        "the run's OpenLineage events to be delivered and recorded",
        lambda: ended_and_labelled(kubectl, namespace, "daily"),
        timeout=120,
    )
    runs = check_run_cycles(receiver)
    workflow_id = str(workflow_run_id(body["metadata"]["uid"]))
    tasks = tasks_by_name(kubectl, namespace, "daily")
    expected = {workflow_id} | {
        str(task_attempt_run_id(t["metadata"]["uid"], a["number"]))
        for t in tasks.values()
        for a in t["status"]["attempts"]
    }
    # extract, transform, load's two attempts, and the workflow run: deterministic ids.
    assert set(runs) == expected and len(expected) == 5
    assert body["metadata"]["labels"][DELIVERED_LABEL] == str(
        sum(len({e["eventType"] for e in found}) for found in runs.values())
    )

    workflow_events = runs[workflow_id]
    assert workflow_events[0]["job"] == {"namespace": f"e2e/{namespace}", "name": "daily"} | {
        "facets": workflow_events[0]["job"]["facets"]
    }
    assert workflow_events[-1]["eventType"] == "FAIL"
    assert "load" in workflow_events[-1]["run"]["facets"]["errorMessage"]["message"]
    for run_id, found in runs.items():
        facets = found[0]["run"]["facets"]
        assert facets["nominalTime"]["nominalStartTime"] == "2026-11-01T00:00:00.000Z"
        assert facets["nominalTime"]["nominalEndTime"] == "2026-11-02T00:00:00.000Z"
        if run_id == workflow_id:
            assert "parent" not in facets
            continue
        assert facets["parent"]["run"]["runId"] == workflow_id
        assert facets["parent"]["root"]["run"]["runId"] == workflow_id
        assert found[0]["job"]["name"].startswith("daily.")

    load = tasks["load"]
    first, second = (
        runs[str(task_attempt_run_id(load["metadata"]["uid"], number))] for number in (1, 2)
    )
    assert [e["eventType"] for e in first][-1] == "FAIL"
    assert "exit code 1" in first[-1]["run"]["facets"]["errorMessage"]["message"]
    upstream = second[0]["run"]["facets"]["jobDependencies"]["upstream"]
    assert [u["job"]["name"] for u in upstream] == ["daily.transform"]
    transform_attempt = tasks["transform"]["status"]["attempts"][-1]["number"]
    assert upstream[0]["run"]["runId"] == str(
        task_attempt_run_id(tasks["transform"]["metadata"]["uid"], transform_attempt)
    )
    # Datasets go with the end of the attempt that read or wrote them.
    extract_end = runs[str(task_attempt_run_id(tasks["extract"]["metadata"]["uid"], 1))][-1]
    assert [(d["namespace"], d["name"]) for d in extract_end["inputs"]] == [("s3://raw", "orders")]
    transform_end = runs[
        str(task_attempt_run_id(tasks["transform"]["metadata"]["uid"], transform_attempt))
    ][-1]
    assert transform_end["eventType"] == "COMPLETE"
    assert [(d["namespace"], d["name"]) for d in transform_end["outputs"]] == [
        ("postgres://warehouse:5432", "dw.public.orders")
    ]
    # The workflow's end is the last event of the run.
    last = receiver.received()[-1]
    assert last["run"]["runId"] == workflow_id, " ".join(
        f"{e['eventType']}:{e['job']['name']}@{e['eventTime']}:{e['run']['runId'][:8]}"
        for e in receiver.received()
    )


def backlog(process: OperatorProcess) -> float | None:
    match = re.search(r"^kubedag_lineage_backlog_events (\S+)$", process.metrics(), re.MULTILINE)
    return float(match.group(1)) if match else None


def test_events_survive_a_backend_outage_and_an_operator_sigkill(
    kubectl: Kubectl,
    lineage_namespace: str,
    lineage_operator: OperatorProcess,
    receiver: LineageReceiver,
) -> None:
    namespace = lineage_namespace
    receiver.stop()  # the lineage backend is down from the start
    names = [f"step-{i}" for i in range(4)]
    kubectl.apply(
        namespace,
        workflow(
            "outage",
            [
                task(name, depends_on=[names[i - 1]] if i else None, seconds=1)
                for i, name in enumerate(names)
            ],
        ),
    )
    wait_for(
        "two steps to succeed while the backend is down",
        lambda: (
            sum(
                1
                for t in tasks_by_name(kubectl, namespace, "outage").values()
                if (t.get("status") or {}).get("phase") == "Succeeded"
            )
            >= 2
        ),
        timeout=120,
    )
    # Scheduling did not wait for lineage; the events wait, and the metrics say so.
    assert (backlog(lineage_operator) or 0) >= 4
    assert receiver.received() == []
    lineage_operator.kill()  # what it kept in memory is gone
    lineage_operator.start()
    wait_for_phase(kubectl, namespace, "outage", "Succeeded", timeout=180)
    # Still down: nothing may be recorded as delivered.
    assert DELIVERED_LABEL not in (
        kubectl.get(namespace, "workflow", "outage")["metadata"].get("labels") or {}
    )
    wait_for("the backlog to hold every event", lambda: (backlog(lineage_operator) or 0) >= 10)

    receiver.start()  # back
    body = wait_for(
        "every event to arrive once the backend is back",
        lambda: ended_and_labelled(kubectl, namespace, "outage"),
        timeout=180,
    )
    runs = check_run_cycles(receiver)
    tasks = tasks_by_name(kubectl, namespace, "outage")
    expected = {str(workflow_run_id(body["metadata"]["uid"]))} | {
        str(task_attempt_run_id(t["metadata"]["uid"], 1)) for t in tasks.values()
    }
    assert set(runs) == expected
    assert all(
        sorted({e["eventType"] for e in found}) == ["COMPLETE", "START"] for found in runs.values()
    )
    assert body["metadata"]["labels"][DELIVERED_LABEL] == "10"
    wait_for("the backlog to drain", lambda: backlog(lineage_operator) == 0)
