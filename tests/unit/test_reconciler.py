"""The I/O shell of one pass, against an in-memory API: what it creates, writes and posts,
and in which order, when writes fail or the Workflow goes away (issue 6)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubedag.controller import reconciler
from kubedag.controller.reconciler import Views, WorkflowController, WorkflowKey, workflow_key
from kubedag.k8s.client import Conflict
from kubedag.k8s.observe import (
    JobRecord,
    PodRecord,
    TaskRecord,
    WorkflowRecord,
    read_job,
    read_task_record,
    read_workflow,
)
from kubedag.names import event_name

NAMESPACE = "ns"


class FakeApi:
    """Stores what is created; `refuse` decides which writes fail (a transient error)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str, str]] = []
        self.events: dict[str, dict[str, Any]] = {}
        self.refuse: Callable[[str, str, dict[str, Any]], bool] = lambda verb, kind, body: False
        self.on_create: Callable[[dict[str, Any]], None] = lambda manifest: None
        self._uids = itertools.count(1)
        # Jobs the Job controller made Pods for (its SuccessfulCreate Events).
        self.jobs_that_ran: set[str] = set()

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        self.calls.append(("create", kind, name))
        if self.refuse("create", kind, manifest):
            raise RuntimeError(f"refused: create {kind} {name}")
        if (kind, name) in self.objects:
            return None
        body = {**manifest, "metadata": {**manifest["metadata"], "uid": f"uid-{next(self._uids)}"}}
        body["metadata"]["resourceVersion"] = "1"
        self.objects[(kind, name)] = body
        self.on_create(body)
        return body

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind, name))

    async def delete(self, kind: str, namespace: str, name: str) -> None:
        self.calls.append(("delete", kind, name))
        self.objects.pop((kind, name), None)

    async def patch_status(
        self,
        kind: str,
        namespace: str,
        name: str,
        status: dict[str, Any],
        *,
        resource_version: str | None = None,
    ) -> str | None:
        self.calls.append(("patch", kind, name))
        if self.refuse("patch", kind, status):
            raise RuntimeError(f"refused: patch {kind} {name}")
        body = self.objects.get((kind, name))
        if body is None:
            return None
        if resource_version is not None and resource_version != body["metadata"]["resourceVersion"]:
            raise Conflict(f"{kind} {name} is at another version")
        body["status"] = {**(body.get("status") or {}), **status}
        version = str(int(body["metadata"]["resourceVersion"]) + 1)
        body["metadata"]["resourceVersion"] = version
        return version

    async def post_event(
        self, *, regarding: dict[str, Any], event_type: str, reason: str, message: str, name: str
    ) -> None:
        self.calls.append(("event", reason, name))
        if self.refuse("event", reason, {"message": message}):
            raise RuntimeError(f"refused: event {reason}")
        self.events.setdefault(name, {"reason": reason, "message": message})

    async def jobs_run_since(self, namespace: str, since: Any) -> set[str]:
        self.calls.append(("list", "Event", ""))
        return set(self.jobs_that_ran)

    async def close(self) -> None:
        return None


class Cluster:
    """The API plus the views a watch would show of it (refreshed between passes)."""

    def __init__(
        self,
        spec: dict[str, Any],
        name: str = "wf",
        *,
        normal_task_events: bool = True,
        start_record_delay: float = 0.0,
        progress_write_interval: float = 0.0,
    ) -> None:
        self.api = FakeApi()
        self.key: WorkflowKey = (NAMESPACE, name)
        workflow = {
            "apiVersion": "kubedag.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": name, "namespace": NAMESPACE, "generation": 1},
            "spec": spec,
        }
        asyncio.run(self.api.create(workflow))
        self.workflows: dict[WorkflowKey, list[WorkflowRecord]] = {}
        self.tasks: dict[WorkflowKey, list[TaskRecord]] = {}
        self.jobs: dict[WorkflowKey, list[JobRecord]] = {}
        self.controller = WorkflowController(
            self.api,  # type: ignore[arg-type]
            write_concurrency=1,
            normal_task_events=normal_task_events,
            # Most tests look at what each pass writes: a start is written at once.
            start_record_delay=start_record_delay,
            progress_write_interval=progress_write_interval,
        )
        # Passes asked for are counted here and run by the test, one at a time.
        self.requested: list[WorkflowKey] = []
        self.controller.queue.request = self.requested.append  # type: ignore[method-assign]
        self.requested_later: list[tuple[WorkflowKey, float]] = []
        self.controller.queue.request_later = (  # type: ignore[method-assign]
            lambda key, delay: self.requested_later.append((key, delay))
        )
        self.controller.views = Views(
            workflows=self.workflows, tasks=self.tasks, jobs=self.jobs, pods={}, templates={}
        )
        self.refresh()

    def refresh(self) -> None:
        """What the watches deliver: every object as stored now."""
        self.workflows.clear()
        self.tasks.clear()
        self.jobs.clear()
        # Grouped as the handlers' indices group them (by the kubedag.io/workflow label).
        for (kind, _), body in self.api.objects.items():
            if kind == "Workflow":
                key = workflow_key(NAMESPACE, body["metadata"]["name"])
                self.workflows.setdefault(key, []).append(read_workflow(body))
            elif kind == "Task":
                key = workflow_key(NAMESPACE, body["spec"]["workflow"])
                self.tasks.setdefault(key, []).append(read_task_record(body))
            elif kind == "Job" and (record := read_job(body)) is not None:
                key = (NAMESPACE, body["metadata"]["labels"]["kubedag.io/workflow"])
                self.jobs.setdefault(key, []).append(record)

    def finish_jobs(self) -> None:
        for (kind, _), body in self.api.objects.items():
            if kind == "Job":
                body["status"] = {
                    "conditions": [
                        {
                            "type": "Complete",
                            "status": "True",
                            "lastTransitionTime": "2026-01-01T00:00:00Z",
                        }
                    ],
                    "succeeded": 1,
                }

    def run_pass(self, key: WorkflowKey | None = None) -> BaseException | None:
        async def one() -> BaseException | None:
            try:
                await self.controller._reconcile(key or self.key, 0.0)
            except Exception as error:
                return error
            finally:
                await self.controller.queue.stop()
            return None

        outcome = asyncio.run(one())
        self.refresh()
        return outcome

    def created(self, kind: str) -> list[str]:
        return [name for verb, k, name in self.api.calls if verb == "create" and k == kind]

    def workflow_phase(self) -> str | None:
        return (self.api.objects[("Workflow", self.key[1])].get("status") or {}).get("phase")


def one_task() -> dict[str, Any]:
    return {"tasks": [{"name": "load", "image": "busybox"}]}


def test_a_workflow_being_deleted_gets_no_new_objects() -> None:
    cluster = Cluster(one_task())
    body = cluster.api.objects[("Workflow", "wf")]
    body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    cluster.refresh()
    assert cluster.run_pass() is None
    assert cluster.created("Task") == [] and cluster.created("Job") == []


def test_a_workflow_deleted_in_the_middle_of_a_pass_stops_creating_at_once() -> None:
    cluster = Cluster({"tasks": [{"name": "p", "image": "busybox", "withItems": list(range(50))}]})

    deleted_after: list[int] = []

    def delete_after_three(manifest: dict[str, Any]) -> None:
        if len(cluster.created("Task")) == 3 and not deleted_after:
            cluster.workflows.clear()  # the watch delivers the deletion
            deleted_after.append(len(creations()))

    def creations() -> list[str]:
        return [name for verb, _, name in cluster.api.calls if verb == "create"]

    cluster.api.on_create = delete_after_three
    cluster.run_pass()
    assert len(cluster.created("Task")) == 3
    assert creations()[deleted_after[0] :] == []


def test_a_large_pass_asks_the_api_server_whether_its_workflow_is_still_there() -> None:
    items = list(range(3 * reconciler.CREATIONS_BETWEEN_CHECKS))
    cluster = Cluster({"tasks": [{"name": "p", "image": "busybox", "withItems": items}]})

    def delete_after_some(manifest: dict[str, Any]) -> None:
        if len(cluster.created("Task")) == 10:
            # Deleted at the API server; the watch has not said so yet.
            del cluster.api.objects[("Workflow", "wf")]

    cluster.api.on_create = delete_after_some
    cluster.run_pass()
    # The group under way finishes (its Tasks and their Jobs); the next one is not begun.
    made = len(cluster.created("Task")) + len(cluster.created("Job"))
    assert made == reconciler.CREATIONS_BETWEEN_CHECKS


def test_one_pass_creates_a_bounded_number_of_objects_and_comes_back_for_the_rest() -> None:
    items = list(range(reconciler.MAX_CREATIONS_PER_PASS + 50))
    cluster = Cluster({"tasks": [{"name": "p", "image": "busybox", "withItems": items}]})
    assert cluster.run_pass() is None
    first = len(cluster.created("Task")) + len(cluster.created("Job"))
    assert first == reconciler.MAX_CREATIONS_PER_PASS
    assert set(cluster.requested) == {cluster.key}  # it asks for the next pass itself
    running = [
        body["status"]["attempts"][-1]["jobName"]
        for (kind, _), body in cluster.api.objects.items()
        if kind == "Task" and (body.get("status") or {}).get("phase") == "Running"
    ]
    # Half the budget went to Tasks, half to their Jobs: the first Jobs start at once, and
    # no Task says Running without its Job.
    assert len(running) == reconciler.MAX_CREATIONS_PER_PASS // 2
    assert all(("Job", job) in cluster.api.objects for job in running)
    for _ in range(5):
        cluster.run_pass()
    assert len(cluster.created("Job")) == len(items)
    assert len(set(cluster.created("Job"))) == len(items)


def test_a_run_is_not_stored_as_finished_while_a_task_status_is_not() -> None:
    cluster = Cluster(one_task())
    cluster.run_pass()
    cluster.finish_jobs()
    cluster.refresh()
    cluster.api.refuse = lambda verb, kind, body: verb == "patch" and kind == "Task"
    assert cluster.run_pass() is not None
    assert cluster.workflow_phase() == "Running"
    cluster.api.refuse = lambda verb, kind, body: False
    assert cluster.run_pass() is None
    assert cluster.workflow_phase() == "Succeeded"
    task = cluster.api.objects[("Task", cluster.created("Task")[0])]
    assert task["status"]["phase"] == "Succeeded"


def test_events_are_posted_again_after_a_lost_write_under_the_same_names() -> None:
    cluster = Cluster(one_task())
    cluster.run_pass()
    cluster.finish_jobs()
    cluster.refresh()
    cluster.api.refuse = lambda verb, kind, body: verb == "patch" and kind == "Task"
    cluster.run_pass()
    posted_first = set(cluster.api.events)
    assert any(event["reason"] == "TaskSucceeded" for event in cluster.api.events.values())
    cluster.api.refuse = lambda verb, kind, body: False
    cluster.run_pass()
    succeeded = [name for verb, reason, name in cluster.api.calls if reason == "TaskSucceeded"]
    assert len(succeeded) == 2 and len(set(succeeded)) == 1  # posted twice, one Event
    assert posted_first <= set(cluster.api.events)


def test_by_default_tasks_get_warnings_only_and_the_workflow_its_own_events() -> None:
    spec = {
        "tasks": [
            {"name": "load", "image": "busybox"},
            {"name": "report", "image": "busybox", "dependsOn": ["load"], "when": "1 == 2"},
        ]
    }
    quiet, chatty = Cluster(spec, normal_task_events=False), Cluster(spec)
    for cluster in (quiet, chatty):
        cluster.run_pass()
        cluster.finish_jobs()
        cluster.refresh()
        cluster.run_pass()
        cluster.run_pass()
        assert cluster.workflow_phase() == "Succeeded"

    def reasons(cluster: Cluster) -> set[str]:
        return {event["reason"] for event in cluster.api.events.values()}

    assert {"TaskStarted", "TaskSucceeded", "TaskSkipped"} <= reasons(chatty)
    assert reasons(quiet) == reasons(chatty) - {"TaskStarted", "TaskSucceeded", "TaskSkipped"}
    assert {"WorkflowStarted", "WorkflowSucceeded"} <= reasons(quiet)


def test_a_failed_event_post_holds_its_status_write_back() -> None:
    cluster = Cluster(one_task())
    cluster.api.refuse = lambda verb, kind, body: verb == "event" and kind == "TaskStarted"
    assert cluster.run_pass() is not None
    task = cluster.api.objects[("Task", cluster.created("Task")[0])]
    assert (task.get("status") or {}).get("phase") is None
    cluster.api.refuse = lambda verb, kind, body: False
    cluster.run_pass()
    assert any(event["reason"] == "TaskStarted" for event in cluster.api.events.values())
    assert cluster.created("Job").count(cluster.created("Job")[0]) == 1


def test_an_unexpected_error_is_written_on_the_workflow_and_cleared_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cluster = Cluster(one_task())

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(reconciler, "plan_next_steps", broken)
    assert isinstance(cluster.run_pass(), ZeroDivisionError)
    status = cluster.api.objects[("Workflow", "wf")]["status"]
    synced = next(c for c in status["conditions"] if c["type"] == "Synced")
    assert synced["status"] == "False" and synced["reason"] == "ReconcileError"
    assert "ZeroDivisionError: a bug" in synced["message"]
    warnings = [e for e in cluster.api.events.values() if e["reason"] == "ReconcileError"]
    assert len(warnings) == 1
    cluster.run_pass()  # the same error: no second event, no second write
    assert len([e for e in cluster.api.events.values() if e["reason"] == "ReconcileError"]) == 1
    monkeypatch.undo()
    assert cluster.run_pass() is None
    status = cluster.api.objects[("Workflow", "wf")]["status"]
    synced = next(c for c in status["conditions"] if c["type"] == "Synced")
    assert synced["status"] == "True"
    assert cluster.created("Job")


def test_after_a_restart_a_job_that_ran_unrecorded_is_not_made_again() -> None:
    cluster = Cluster(one_task())
    cluster.run_pass()  # Task and Job created, the Task says Running
    (job,) = cluster.created("Job")
    task = cluster.api.objects[("Task", cluster.created("Task")[0])]
    task["status"] = {}  # the Running write was lost...
    del cluster.api.objects[("Job", job)]  # ...and the Job, which ran, deleted meanwhile
    cluster.api.jobs_that_ran.add(job)
    cluster.api.objects[("Workflow", "wf")]["metadata"]["creationTimestamp"] = (
        "2026-01-01T00:00:00Z"
    )
    cluster.refresh()
    restarted = WorkflowController(cluster.api, write_concurrency=1)  # type: ignore[arg-type]
    restarted.views = cluster.controller.views
    restarted.queue.request = cluster.requested.append  # type: ignore[method-assign]
    cluster.controller = restarted
    cluster.run_pass()
    assert cluster.created("Job") == [job]  # not a second time
    status = cluster.api.objects[("Task", cluster.created("Task")[0])]["status"]
    assert status["phase"] == "Failed" and status["reason"] == "JobDeleted"
    assert [a["jobName"] for a in status["attempts"]] == [job]


def test_a_job_whose_labels_were_edited_by_hand_still_counts_for_its_own_task() -> None:
    # `kubectl label job <b's Job> kubedag.io/task=a --overwrite`: the Job of task b then
    # claimed to be task a's. Its end was taken for a's (a Succeeded while its own Job still
    # ran) and b's Job counted as deleted. A Job belongs to the Task that owns it, under the
    # attempt its name says; labels are only for selecting.
    cluster = Cluster({"tasks": [{"name": "a", "image": "busybox"}, {"name": "b", "image": "x"}]})
    assert cluster.run_pass() is None
    jobs = {
        body["metadata"]["labels"]["kubedag.io/task"]: body
        for (kind, _), body in cluster.api.objects.items()
        if kind == "Job"
    }
    jobs["b"]["metadata"]["labels"]["kubedag.io/task"] = "a"
    jobs["b"]["status"] = {
        "conditions": [
            {"type": "Complete", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
        ],
        "succeeded": 1,
    }
    cluster.refresh()
    assert cluster.run_pass() is None
    phases = {
        body["spec"]["name"]: body["status"]["phase"]
        for (kind, _), body in cluster.api.objects.items()
        if kind == "Task"
    }
    assert phases == {"a": "Running", "b": "Succeeded"}
    assert len(cluster.created("Job")) == 2


def test_event_names_are_valid_for_any_workflow_name() -> None:
    # Event names are DNS subdomains. A Workflow named with "-" or "." as its 200th
    # character got Events named "<...->.<digest>", which the API server refuses: every
    # Event about that Workflow (WorkflowFailed, ReconcileError) was silently lost.
    import re

    subdomain = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    for cut in ("-", ".", "a"):
        name = "a" * (200 - len(cut)) + cut + "b" * 40
        assert subdomain.match(name)
        event = event_name(name, "uid", "WorkflowFailed", "key")
        assert subdomain.match(event) and len(event) <= 253, event


def test_a_workflow_named_like_another_ones_cut_label_runs_too() -> None:
    # A name longer than a label value is cut and hashed for the kubedag.io/workflow label;
    # a second Workflow can be named exactly that value. Both were one key of the
    # operator's: only the first of the two was ever reconciled, and the other stayed
    # without a phase, condition or event.
    from kubedag.names import shorten

    long_name = "w" * 70
    cluster = Cluster(one_task(), name=long_name)
    short_name = shorten(long_name, 63)
    asyncio.run(
        cluster.api.create(
            {
                "apiVersion": "kubedag.io/v1alpha1",
                "kind": "Workflow",
                "metadata": {"name": short_name, "namespace": NAMESPACE, "generation": 1},
                "spec": one_task(),
            }
        )
    )
    cluster.refresh()
    assert len(cluster.workflows[(NAMESPACE, short_name)]) == 2  # one group, two runs
    cluster.controller.request_labelled(NAMESPACE, short_name)
    assert sorted(cluster.requested) == sorted([(NAMESPACE, long_name), (NAMESPACE, short_name)])
    for key in cluster.requested:
        assert cluster.run_pass(key) is None
    for name in (long_name, short_name):
        assert cluster.api.objects[("Workflow", name)]["status"]["phase"] == "Running"
    assert len(set(cluster.created("Job"))) == 2
    cluster.finish_jobs()
    cluster.refresh()
    for key in [(NAMESPACE, long_name), (NAMESPACE, short_name)]:
        assert cluster.run_pass(key) is None
    for name in (long_name, short_name):
        assert cluster.api.objects[("Workflow", name)]["status"]["phase"] == "Succeeded"


def test_tasks_orphaned_by_an_earlier_run_of_the_same_name_are_not_taken_for_the_new_run() -> None:
    # `kubectl delete workflow wf --cascade=orphan` (or a GitOps tool's non-cascading
    # delete) leaves the Tasks without owner references; the Workflow applied again under
    # the same name took them for its own: it was Succeeded at once, with the old run's
    # results and no Job of its own. Such Tasks are not this run's; their names are taken,
    # so the new run's tasks wait (NameTaken) until they are deleted.
    cluster = Cluster(one_task())
    cluster.run_pass()
    cluster.finish_jobs()
    cluster.refresh()
    cluster.run_pass()
    assert cluster.workflow_phase() == "Succeeded"
    jobs_before = len(cluster.created("Job"))
    del cluster.api.objects[("Workflow", "wf")]
    for (kind, _), body in cluster.api.objects.items():
        if kind == "Task":
            body["metadata"].pop("ownerReferences", None)
    cluster.refresh()
    cluster.run_pass()  # the deletion seen
    asyncio.run(
        cluster.api.create(
            {
                "apiVersion": "kubedag.io/v1alpha1",
                "kind": "Workflow",
                "metadata": {"name": "wf", "namespace": NAMESPACE, "generation": 1},
                "spec": one_task(),
            }
        )
    )
    cluster.refresh()
    cluster.run_pass()
    assert cluster.workflow_phase() == "Running"
    assert any(event["reason"] == "NameTaken" for event in cluster.api.events.values())
    assert len(cluster.created("Job")) == jobs_before


def test_a_job_deleted_before_its_refused_running_write_is_not_made_again() -> None:
    cluster = Cluster(one_task())
    cluster.api.refuse = lambda verb, kind, body: verb == "patch" and kind == "Task"
    cluster.run_pass()  # the Job is created, its Running write refused
    cluster.run_pass()  # the watch has delivered the Job; the write is refused again
    (job,) = cluster.created("Job")
    del cluster.api.objects[("Job", job)]  # deleted (by hand) before the record is made
    cluster.refresh()
    cluster.api.refuse = lambda verb, kind, body: False
    cluster.run_pass()
    cluster.run_pass()
    assert cluster.created("Job") == [job]
    status = cluster.api.objects[("Task", cluster.created("Task")[0])]["status"]
    assert status["reason"] == "JobDeleted"


def task_patches(cluster: Cluster) -> list[str]:
    return [name for verb, kind, name in cluster.api.calls if verb == "patch" and kind == "Task"]


def test_a_task_that_ends_soon_after_its_start_costs_one_status_write() -> None:
    cluster = Cluster(one_task(), start_record_delay=3600)
    cluster.run_pass()
    assert len(cluster.created("Task")) == 1 and len(cluster.created("Job")) == 1
    # The start alone is not written yet; the Job is its record, and a pass comes back.
    assert task_patches(cluster) == []
    assert [key for key, _ in cluster.requested_later] == [cluster.key]
    cluster.run_pass()  # the Job delivered by the watch: still nothing new to write
    assert task_patches(cluster) == [] and len(cluster.created("Job")) == 1
    cluster.finish_jobs()
    cluster.refresh()
    cluster.run_pass()
    assert len(task_patches(cluster)) == 1
    status = cluster.api.objects[("Task", cluster.created("Task")[0])]["status"]
    assert status["phase"] == "Succeeded"
    assert [a["jobName"] for a in status["attempts"]] == cluster.created("Job")


def test_a_start_is_written_once_its_job_is_old_enough() -> None:
    cluster = Cluster(one_task(), start_record_delay=3600)
    cluster.run_pass()
    cluster.run_pass()
    assert task_patches(cluster) == []
    cluster.controller.start_record_delay = 0  # the delay has passed
    cluster.run_pass()
    status = cluster.api.objects[("Task", cluster.created("Task")[0])]["status"]
    assert status["phase"] == "Running"
    assert [a["jobName"] for a in status["attempts"]] == cluster.created("Job")
    assert len(cluster.created("Job")) == 1


def test_a_workflow_whose_only_news_is_its_task_counts_is_written_at_most_once_a_while() -> None:
    chain = {
        "tasks": [
            {"name": "a", "image": "busybox"},
            {"name": "b", "image": "busybox", "dependsOn": ["a"]},
            {"name": "c", "image": "busybox", "dependsOn": ["b"]},
        ]
    }
    cluster = Cluster(chain, progress_write_interval=3600)
    progress = []
    for _ in range(4):
        cluster.run_pass()
        progress.append(cluster.api.objects[("Workflow", "wf")]["status"]["progress"])
        cluster.finish_jobs()
        cluster.refresh()
    # Written when the run started and when it finished; 1/3 and 2/3 waited for later.
    assert progress == ["0/3", "0/3", "0/3", "3/3"]
    assert cluster.workflow_phase() == "Succeeded"
    assert [key for key, _ in cluster.requested_later] == [cluster.key, cluster.key]
    workflow_patches = [c for c in cluster.api.calls if c[:2] == ("patch", "Workflow")]
    assert len(workflow_patches) == 2


def test_a_held_start_records_when_it_was_planned_not_the_jobs_truncated_creation_time() -> None:
    cluster = Cluster(one_task(), start_record_delay=3600)
    cluster.run_pass()
    (job,) = cluster.created("Job")
    # The API server's creationTimestamp has whole seconds.
    cluster.api.objects[("Job", job)]["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    cluster.refresh()
    cluster.controller.start_record_delay = 0
    cluster.run_pass()
    status = cluster.api.objects[("Task", cluster.created("Task")[0])]["status"]
    assert status["attempts"][0]["startedAt"] != "2026-01-01T00:00:00Z"
    assert status["attempts"][0]["startedAt"] == status["startedAt"]


def test_a_job_seen_before_its_start_is_recorded_is_never_made_again_once_deleted() -> None:
    """An operator that restarted sees a Job whose attempt no Task records (its writes are
    refused); the Job then finishes and is deleted: the attempt ran, it is not run again."""
    cluster = Cluster(one_task())
    cluster.api.refuse = lambda verb, kind, body: verb == "patch" and kind == "Task"
    cluster.run_pass()
    (job,) = cluster.created("Job")
    restarted = WorkflowController(cluster.api, write_concurrency=1)  # type: ignore[arg-type]
    restarted.views = cluster.controller.views
    restarted.queue.request = cluster.requested.append  # type: ignore[method-assign]
    cluster.controller = restarted
    cluster.run_pass()  # sees the Job; its record is still refused
    del cluster.api.objects[("Job", job)]
    cluster.refresh()
    cluster.run_pass()
    assert cluster.created("Job") == [job]
    cluster.api.refuse = lambda verb, kind, body: False
    cluster.run_pass()
    assert cluster.created("Job") == [job]
    status = cluster.api.objects[("Task", cluster.created("Task")[0])]["status"]
    assert status["reason"] == "JobDeleted"


def test_the_workflows_events_go_out_with_its_status_whatever_the_progress_interval() -> None:
    spec = {
        "tasks": [
            {"name": "a", "image": "busybox"},
            {"name": "b", "image": "busybox"},
        ]
    }
    cluster = Cluster(spec, progress_write_interval=3600)
    cluster.run_pass()
    (job_a, _) = sorted(cluster.created("Job"))
    cluster.api.objects[("Job", job_a)]["status"] = {
        "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]
    }
    cluster.refresh()
    cluster.run_pass()
    workflow_events = [
        event for name, event in cluster.api.events.items() if event["reason"] == "TaskFailed"
    ]
    # On the Task and on the Workflow, though the Workflow's news is only its counts.
    assert len(workflow_events) == 2
    assert cluster.api.objects[("Workflow", "wf")]["status"]["tasks"]["failed"] == 1


def test_a_start_is_written_once_its_container_has_run_a_while_not_while_its_pod_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shift = timedelta(0)

    class Clock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime.now(tz) + shift

    monkeypatch.setattr(reconciler, "datetime", Clock)
    cluster = Cluster(one_task(), start_record_delay=1.0)
    cluster.run_pass()
    shift = timedelta(seconds=3)  # the Job is 3 s old; its Pod has not run
    cluster.run_pass()
    assert task_patches(cluster) == []
    pods = cluster.controller.views.pods  # type: ignore[union-attr]
    assert isinstance(pods, dict)
    running = PodRecord(task="load", attempt=1, started=True, running_since=Clock.now(UTC))
    pods[(NAMESPACE, "wf")] = [running]
    cluster.run_pass()  # it runs since a moment
    assert task_patches(cluster) == []
    shift = timedelta(seconds=5)  # ... and since 2 s
    cluster.run_pass()
    status = cluster.api.objects[("Task", cluster.created("Task")[0])]["status"]
    assert status["phase"] == "Running"
    assert len(task_patches(cluster)) == 1
