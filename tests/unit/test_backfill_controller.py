"""The Backfill controller's I/O (kubedag.controller.backfills) against a recording fake of
the API client: what it creates, writes and posts for what the watch caches hold."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubedag.controller.backfills import BackfillController, BackfillViews
from kubedag.controller.reconciler import workflow_key
from kubedag.engine.intervals import Cadence, run_name
from kubedag.frozen_watches import WatchMonitor
from kubedag.handlers import Caches
from kubedag.k8s.observe import read_backfill, read_cron_workflow_source, read_workflow
from kubedag.k8s.watch_cache import Listing, Source
from kubedag.names import BACKFILL_LABEL, CRON_WORKFLOW_LABEL

NAMESPACE = "data"


class FakeApi:
    """Answers `get` from `objects`; records every write. `existing` names make `create`
    answer as for a 409 (the object exists)."""

    def __init__(self, objects: dict[tuple[str, str], dict[str, Any]] | None = None) -> None:
        self.objects = objects or {}
        self.existing: set[str] = set()
        self.created: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.patched: list[tuple[str, dict[str, Any]]] = []

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind, name))

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        if manifest["metadata"]["name"] in self.existing:
            return None
        self.created.append(manifest)
        return manifest

    async def patch_status(
        self, kind: str, namespace: str, name: str, status: dict[str, Any]
    ) -> str | None:
        self.statuses.append(status)
        return "2"

    async def merge_patch(
        self, kind: str, namespace: str, name: str, patch: dict[str, Any]
    ) -> bool:
        self.patched.append((name, patch))
        return True

    async def delete(self, kind: str, namespace: str, name: str) -> None:
        raise AssertionError("nothing is deleted here")

    async def post_event(self, **event: Any) -> None:
        self.events.append(event)


def cron_workflow() -> dict[str, Any]:
    return {
        "metadata": {"name": "nightly", "namespace": NAMESPACE},
        "spec": {
            "schedules": ["0 0 * * *"],
            "timeZone": "Europe/Berlin",
            "workflowTemplateRef": {"name": "etl"},
            "params": [{"name": "lake", "value": "s3://prod"}, {"name": "mode", "value": "full"}],
            "workflowMetadata": {"labels": {"team": "data"}, "annotations": {"owner": "ana"}},
        },
    }


def backfill_body(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "redo", "namespace": NAMESPACE, "uid": "bf-uid", "generation": 1},
        "spec": {
            "cronWorkflowRef": {"name": "nightly"},
            "start": "2026-11-01T00:00:00+01:00",
            "end": "2026-11-06T00:00:00+01:00",
            "maxConcurrentRuns": 2,
            "params": [{"name": "mode", "value": "backfill"}],
            **spec,
        },
    }


def controller(
    api: FakeApi,
    backfill: dict[str, Any],
    workflows: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> BackfillController:
    made = BackfillController(api)  # type: ignore[arg-type]
    records: dict[Any, list[Any]] = {}
    for body in workflows:
        record = read_workflow(body)
        records.setdefault(workflow_key(NAMESPACE, record.name), []).append(record)
    made.views = BackfillViews(
        workflows=records, backfills={(NAMESPACE, "redo"): [read_backfill(backfill)]}
    )
    return made


def one_pass(made: BackfillController) -> None:
    async def run() -> None:
        await made._reconcile((NAMESPACE, "redo"), 0.0)
        await made.queue.stop()

    asyncio.run(run())


NAMES = [
    run_name("nightly", interval)
    for interval in Cadence(["0 0 * * *"], "Europe/Berlin").intervals_starting(
        read_backfill(backfill_body()).spec.start,  # type: ignore[union-attr]
        read_backfill(backfill_body()).spec.end,  # type: ignore[union-attr]
    )
]


def test_runs_of_a_cron_workflow_are_named_after_it_owned_by_the_backfill_and_labelled() -> None:
    api = FakeApi({("CronWorkflow", "nightly"): cron_workflow()})
    one_pass(controller(api, backfill_body()))
    assert [run["metadata"]["name"] for run in api.created] == NAMES[:2]
    first = api.created[0]
    assert first["metadata"]["labels"] == {"team": "data", BACKFILL_LABEL: "redo"}
    assert CRON_WORKFLOW_LABEL not in first["metadata"]["labels"]
    assert first["metadata"]["annotations"] == {"owner": "ana"}
    assert first["metadata"]["ownerReferences"][0]["uid"] == "bf-uid"
    assert first["metadata"]["ownerReferences"][0]["kind"] == "Backfill"
    assert first["spec"] == {
        "workflowTemplateRef": {"name": "etl"},
        # The Backfill's value overrides the CronWorkflow's; the others are kept.
        "params": [{"name": "lake", "value": "s3://prod"}, {"name": "mode", "value": "backfill"}],
        "dataInterval": {"start": "2026-11-01T00:00:00+01:00", "end": "2026-11-02T00:00:00+01:00"},
    }
    assert api.statuses[-1]["progress"] == "0/5"
    assert api.statuses[-1]["phase"] == "Running"
    assert [e["reason"] for e in api.events] == ["RunCreated", "RunCreated"]


def test_a_run_that_already_exists_is_no_error_and_gets_no_event() -> None:
    api = FakeApi({("CronWorkflow", "nightly"): cron_workflow()})
    api.existing = {NAMES[0]}
    one_pass(controller(api, backfill_body()))
    assert [run["metadata"]["name"] for run in api.created] == [NAMES[1]]
    assert [e["message"] for e in api.events] == [
        f"created run {NAMES[1]} for [2026-11-02T00:00:00+01:00, 2026-11-03T00:00:00+01:00)"
    ]


def test_runs_created_but_not_yet_seen_by_the_watch_hold_their_slots() -> None:
    api = FakeApi({("CronWorkflow", "nightly"): cron_workflow()})
    made = controller(api, backfill_body())
    one_pass(made)
    one_pass(made)  # the watch has delivered neither run yet
    assert [run["metadata"]["name"] for run in api.created] == NAMES[:2]


def test_a_scheduled_run_that_succeeded_counts_and_one_still_running_takes_a_slot() -> None:
    api = FakeApi({("CronWorkflow", "nightly"): cron_workflow()})
    scheduled = [
        {
            "metadata": {
                "name": name,
                "namespace": NAMESPACE,
                "uid": f"uid-{name}",
                "labels": {CRON_WORKFLOW_LABEL: "nightly"},
                "ownerReferences": [{"uid": "cron-uid", "controller": True}],
            },
            "spec": {"workflowTemplateRef": {"name": "etl"}},
            "status": {"phase": phase},
        }
        for name, phase in ((NAMES[0], "Succeeded"), (NAMES[1], "Running"))
    ]
    one_pass(controller(api, backfill_body(), scheduled))
    assert [run["metadata"]["name"] for run in api.created] == [NAMES[2]]
    assert api.statuses[-1]["runs"] == {
        "total": 5,
        "succeeded": 1,
        "failed": 0,
        "running": 2,
        "pending": 2,
    }


def test_a_missing_cron_workflow_makes_the_backfill_wait_and_say_why() -> None:
    api = FakeApi()
    one_pass(controller(api, backfill_body()))
    assert api.created == []
    status = api.statuses[-1]
    assert status["phase"] == "Pending"
    assert "CronWorkflow 'nightly' not found" in status["message"]
    resolved = next(c for c in status["conditions"] if c["type"] == "Resolved")
    assert (resolved["status"], resolved["reason"]) == ("False", "CronWorkflowNotFound")
    assert [(e["event_type"], e["reason"]) for e in api.events] == [
        ("Warning", "CronWorkflowNotFound")
    ]


def test_cancel_terminates_the_backfills_own_running_runs() -> None:
    api = FakeApi({("CronWorkflow", "nightly"): cron_workflow()})
    running = {
        "metadata": {
            "name": NAMES[0],
            "namespace": NAMESPACE,
            "uid": "run-uid",
            "labels": {BACKFILL_LABEL: "redo"},
            "ownerReferences": [{"uid": "bf-uid", "controller": True}],
        },
        "spec": {"workflowTemplateRef": {"name": "etl"}},
        "status": {"phase": "Running"},
    }
    one_pass(controller(api, backfill_body(cancel=True), [running]))
    assert api.patched == [(NAMES[0], {"spec": {"shutdown": "Terminate"}})]
    assert api.created == []
    assert api.statuses[-1]["phase"] == "Cancelled"


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"schedules": "0 0 * * *", "workflowSpec": {}}, "spec.schedules"),
        ({"schedules": ["@daily"]}, "neither a workflowTemplateRef.name nor a workflowSpec"),
        (
            {"schedules": ["@daily"], "workflowSpec": {}, "workflowTemplateRef": {"name": "x"}},
            "neither",
        ),
        ({"schedules": ["@daily"], "workflowSpec": {}, "params": ["x"]}, "spec.params"),
        ({"schedules": ["@daily"], "workflowSpec": {}, "timeZone": 1}, "spec.timeZone"),
    ],
)
def test_an_unusable_cron_workflow_is_read_with_the_field_that_is_wrong(
    spec: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        read_cron_workflow_source({"spec": spec})


def test_a_cron_workflow_with_an_inline_spec_is_read_as_it_is() -> None:
    source = read_cron_workflow_source(
        {"spec": {"schedules": ["@hourly"], "workflowSpec": {"tasks": [{"name": "a"}]}}}
    )
    assert source.workflow_spec == {"tasks": [{"name": "a"}]}
    assert (source.workflow_template, source.time_zone, source.params) == (None, None, ())


def test_a_finished_backfill_costs_no_request_until_its_spec_changes() -> None:
    finished = backfill_body()
    finished["status"] = {"phase": "Succeeded", "progress": "5/5", "observedGeneration": 1}
    api = FakeApi({("CronWorkflow", "nightly"): cron_workflow()})
    api.get = None  # type: ignore[assignment,method-assign]  # any request would fail
    one_pass(controller(api, finished))
    assert (api.created, api.statuses, api.events) == ([], [], [])


def test_the_caches_watch_backfills_and_hand_each_one_a_first_pass() -> None:
    async def main() -> None:
        def source(kind: str, namespace: str | None, labels: str | None) -> Source:
            items = {"Backfill": [backfill_body()]}.get(kind, [])
            return Listed(kind, items)

        backfills = BackfillController(FakeApi())  # type: ignore[arg-type]
        requested: list[tuple[str, str]] = []
        backfills.request = requested.append  # type: ignore[method-assign]
        caches = Caches(
            None,  # type: ignore[arg-type]  # no API server: every source is a fake
            RecordingController(),  # type: ignore[arg-type]
            [None],
            WatchMonitor(),
            source=source,
            backfills=backfills,
        )
        await asyncio.wait_for(caches.start(), timeout=5)
        assert requested == [(NAMESPACE, "redo")]
        assert backfills.views is not None
        assert [r.uid for r in backfills.views.backfills[(NAMESPACE, "redo")]] == ["bf-uid"]
        await caches.stop()

    asyncio.run(main())


class Listed:
    """A resource that lists `items` once, then watches quietly."""

    def __init__(self, kind: str, items: list[dict[str, Any]]) -> None:
        self.name = kind
        self.items = items

    async def list(self) -> AsyncIterator[Listing]:
        yield Listing(self.items, "1")

    async def watch(self, resource_version: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        await asyncio.sleep(3600)
        yield ("BOOKMARK", {})  # never reached


class RecordingController:
    def __init__(self) -> None:
        self.views: Any = None

    def request(self, key: tuple[str, str]) -> None:
        pass


def test_a_missing_workflow_template_makes_the_backfill_wait() -> None:
    body = backfill_body(workflowTemplateRef={"name": "etl"}, schedules=["@daily"])
    del body["spec"]["cronWorkflowRef"]
    api = FakeApi()
    one_pass(controller(api, body))
    assert api.created == []
    assert [e["reason"] for e in api.events] == ["WorkflowTemplateNotFound"]


def test_a_failed_status_write_loses_no_event_of_what_the_pass_did() -> None:
    api = FakeApi({("CronWorkflow", "nightly"): cron_workflow()})

    async def refuse(*_: Any) -> str | None:
        raise RuntimeError("the API server timed out")

    api.patch_status = refuse  # type: ignore[method-assign]
    made = controller(api, backfill_body())
    with pytest.raises(RuntimeError):
        one_pass(made)
    # The runs were made and told about, though the status write failed (the queue retries
    # the pass; it would find the runs and plan them no more).
    assert [e["reason"] for e in api.events] == ["RunCreated", "RunCreated"]


def test_a_run_with_the_intervals_name_but_another_interval_is_reported_not_counted() -> None:
    """An hourly run named like the first daily interval (same base, same start) covers one
    hour: the Backfill neither counts it as that day's run nor makes a second one."""
    api = FakeApi({("CronWorkflow", "nightly"): cron_workflow()})
    hourly = {
        "metadata": {
            "name": NAMES[0],
            "namespace": NAMESPACE,
            "uid": "uid-hourly",
            "labels": {CRON_WORKFLOW_LABEL: "nightly"},
        },
        "spec": {
            "workflowTemplateRef": {"name": "etl"},
            "dataInterval": {
                "start": "2026-11-01T00:00:00+01:00",
                "end": "2026-11-01T01:00:00+01:00",
            },
        },
        "status": {"phase": "Succeeded"},
    }
    same_day = {**hourly, "metadata": {**hourly["metadata"], "name": NAMES[1]}}
    same_day["spec"] = {
        "workflowTemplateRef": {"name": "etl"},
        # The same instants as the planned interval, written in UTC.
        "dataInterval": {"start": "2026-11-01T23:00:00Z", "end": "2026-11-02T23:00:00Z"},
    }
    one_pass(controller(api, backfill_body(), [hourly, same_day]))
    assert NAMES[0] not in [run["metadata"]["name"] for run in api.created]
    runs = api.statuses[-1]["runs"]
    assert (runs["succeeded"], runs["failed"]) == (1, 1)
    assert [event["reason"] for event in api.events].count("IntervalConflict") == 1
