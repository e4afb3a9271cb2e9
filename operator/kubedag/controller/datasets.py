"""The Dataset controller: the I/O around kubedag.engine.datasets (issue 10).

It learns from the Task watch which Succeeded Tasks wrote datasets their Dataset objects
have not counted yet (`unrecorded_outlets`), and makes one pass per Dataset object:

1. read the Dataset (a GET, not the watch cache: the count must start from the stored
   value), create it when the dataset is written for the first time;
2. count the attempts it does not remember (`record_materializations`) and write its status
   conditioned on the resourceVersion read (a concurrent writer makes the API server answer
   409; the queue retries the pass, which reads again);
3. mark each Task whose outlets are all counted (`status.datasets.recordedAttempt`).

A crash between 2 and 3 leaves the Task unmarked: the next pass (after a restart, from the
Task watch's first listing) finds the attempt among those the Dataset remembers and only
marks the Task. So each attempt is counted once whatever the restarts."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubedag.api.dataset import DatasetStatus
from kubedag.api.task import TaskResourceStatus
from kubedag.controller.queue import CoalescingQueue
from kubedag.engine.datasets import (
    ProducedDataset,
    record_materializations,
    unrecorded_outlets,
)
from kubedag.k8s.client import KubeApi
from kubedag.k8s.manifests import build_dataset_manifest
from kubedag.names import dataset_object_name

logger = logging.getLogger(__name__)

# (Kubernetes namespace, Dataset object name)
DatasetObjectKey = tuple[str, str]
AttemptKey = tuple[str, int]  # (Task UID, attempt number)


@dataclass(frozen=True)
class _Producer:
    """A Succeeded Task whose outlets are not all counted yet."""

    namespace: str
    task_object: str
    outlets: Mapping[DatasetObjectKey, ProducedDataset]
    attempt: AttemptKey


class DatasetController:
    def __init__(
        self, api: KubeApi, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.api = api
        self.clock = clock
        self.queue: CoalescingQueue[DatasetObjectKey] = CoalescingQueue(self._reconcile)
        # Task UID -> what it still waits for; Dataset -> the Task UIDs that wait for it.
        self._producers: dict[str, _Producer] = {}
        self._waiting: dict[DatasetObjectKey, set[str]] = {}
        # Dataset -> the attempts its status remembered when this process last read or
        # wrote it: a Task with several outlets is marked once all of them count it.
        self._counted: dict[DatasetObjectKey, set[AttemptKey]] = {}

    def task_changed(self, body: Mapping[str, Any]) -> None:
        """A Task changed (a watch event): note the datasets it wrote that are not
        counted."""
        metadata = body.get("metadata") or {}
        spec = body.get("spec") or {}
        uid = str(metadata.get("uid") or "")
        raw = body.get("status") or {}
        if not (raw.get("datasets") or {}).get("outlets") and uid not in self._producers:
            # Most Task events (every status write of every task) are about no dataset:
            # decided without reading the status into a model.
            return
        try:
            status = TaskResourceStatus.model_validate(raw)
        except ValueError:
            return  # the workflow controller reports an unreadable Task
        self.task_seen(
            namespace=str(metadata.get("namespace") or ""),
            object_name=str(metadata.get("name") or ""),
            workflow=str(spec.get("workflow") or ""),
            task=str(spec.get("name") or ""),
            uid=uid,
            status=status,
        )

    def task_seen(
        self,
        *,
        namespace: str,
        object_name: str,
        workflow: str,
        task: str,
        uid: str,
        status: TaskResourceStatus,
    ) -> None:
        """A Task as listed or changed: note the datasets it wrote that are not counted.
        The watch caches' first listing comes here too (kubedag.handlers), so what a crash
        left half done is finished after a restart."""
        if not uid or not workflow or not task or not object_name:
            return
        if status.datasets is None and uid not in self._producers:
            return
        produced = unrecorded_outlets(task_uid=uid, workflow=workflow, task=task, status=status)
        if not produced:
            self._forget(uid)
            return
        outlets = {
            (namespace, dataset_object_name(p.key.namespace, p.key.name)): p for p in produced
        }
        producer = _Producer(namespace, object_name, outlets, produced[0].attempt_key)
        self._forget(uid)
        self._producers[uid] = producer
        for key in outlets:
            self._waiting.setdefault(key, set()).add(uid)
            self.queue.request(key)

    def task_deleted(self, uid: str) -> None:
        """A Task is gone (its Workflow deleted): what it wrote and was not counted yet is
        not counted (retrying could never mark it, and its namespace may be going away)."""
        self._forget(uid)

    def _forget(self, uid: str) -> None:
        producer = self._producers.pop(uid, None)
        if producer is None:
            return
        for key in producer.outlets:
            waiting = self._waiting.get(key)
            if waiting is not None:
                waiting.discard(uid)
                if not waiting:
                    del self._waiting[key]

    async def _reconcile(self, key: DatasetObjectKey, requested_at: float) -> None:
        uids = sorted(self._waiting.get(key, ()))
        producers = {uid: self._producers[uid] for uid in uids if uid in self._producers}
        if not producers:
            return
        namespace, object_name = key
        produced = [producer.outlets[key] for producer in producers.values()]
        body = await self.api.get("Dataset", namespace, object_name)
        if body is None:
            identity = produced[0].key
            manifest = build_dataset_manifest(
                name=object_name,
                namespace=namespace,
                dataset_namespace=identity.namespace,
                dataset_name=identity.name,
            )
            body = await self.api.create(manifest) or await self.api.get(
                "Dataset", namespace, object_name
            )
            if body is None:
                raise RuntimeError(f"Dataset {namespace}/{object_name} vanished after creation")
        try:
            status = DatasetStatus.model_validate(body.get("status") or {})
        except ValueError:
            logger.warning("Dataset %s/%s: unreadable status, counting anew", *key)
            status = DatasetStatus()
        updated, counted = record_materializations(
            status, [item.materialization for item in produced]
        )
        if counted:
            version = body["metadata"]["resourceVersion"]
            wire = updated.model_dump(mode="json", by_alias=True)
            await self.api.patch_status(
                "Dataset", namespace, object_name, wire, resource_version=version
            )
        self._counted[key] = {(r.task_uid, r.attempt) for r in updated.recorded_attempts or []}
        for uid, producer in producers.items():
            if all(producer.attempt in self._counted.get(k, ()) for k in producer.outlets):
                await self._mark(uid, producer)
        if any(p.attempt not in self._counted[key] for p in producers.values()):
            self.queue.request(key)  # past what one pass counts: the rest in the next

    async def _mark(self, uid: str, producer: _Producer) -> None:
        """Records on the Task that its attempt's outlets are counted."""
        patch = {"datasets": {"recordedAttempt": producer.attempt[1]}}
        await self.api.patch_status("Task", producer.namespace, producer.task_object, patch)
        self._forget(uid)
