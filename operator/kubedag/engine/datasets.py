"""Datasets read and written by tasks, and the Dataset objects that count what was written
(issue 10). Pure: the I/O is in kubedag.controller.datasets.

**Naming** follows OpenLineage (https://openlineage.io/docs/spec/naming): a dataset's
`namespace` is a URI scheme, alone (`bigquery`, `file`) or with an authority
(`s3://bucket`, `postgres://host:5432`, `abfss://container@account.dfs.core.windows.net`);
its `name` is the path or qualified name within it (`raw/orders`, `db.schema.table`). The
rules here (`ref_problem`) hold for a value once its templates are resolved: the scheme in
lower case (RFC 3986 calls schemes case-insensitive; one spelling keeps one identity), no
path or whitespace in the authority, no control characters or surrounding blanks in a
name or partition.

**Counting** (`record_materializations`): each successful attempt of a task that has the
dataset in its outlets adds one to the Dataset's `materializations`, exactly once. The
operator writes two objects, the Dataset then the Task (`status.datasets.recordedAttempt`),
and may die between them; so the Dataset remembers the attempts it counted (Task UID and
attempt number, the newest MAX_RECORDED_ATTEMPTS of them) and counts an attempt it
remembers no more. An attempt is counted twice only if the operator dies between the two
writes and, before the Task is marked, more than MAX_RECORDED_ATTEMPTS other attempts of
the same dataset are counted (never in one pass: a pass counts at most that many)."""

from __future__ import annotations

import importlib
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from kubedag.api.dataset import (
    MAX_DATASETS_PER_TASK,
    MAX_HISTORY,
    MAX_PARTITION_LENGTH,
    MAX_RECORDED_ATTEMPTS,
    DatasetKey,
    DatasetRef,
    DatasetStatus,
    Materialization,
    RecordedAttempt,
)
from kubedag.api.task import TaskPhase, TaskResourceStatus
from kubedag.names import dataset_object_name

__all__ = [
    "DATASETS_KEY",
    "ProducedDataset",
    "dataset_object_name",
    "merge_refs",
    "parse_reported_datasets",
    "record_materializations",
    "ref_problem",
    "task_attempt_run_id",
    "unrecorded_outlets",
]

# The key of the termination message's JSON object under which a task reports datasets at
# run time: {"kubedag.io/datasets": {"inlets": [...], "outlets": [...]}} (issue 10).
DATASETS_KEY = "kubedag.io/datasets"

_SCHEME = r"[a-z][a-z0-9+.-]*"
# Matched whole (fullmatch: "$" would let a trailing newline through); no blank, "/" or
# control character (C0 and C1) in the authority.
_NAMESPACE = re.compile(rf"{_SCHEME}(://[^\s/\x00-\x1f\x7f-\x9f]+)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Template references the dataset fields may not use: they are resolved when the Task is
# created, before upstream outputs, the attempt number or the run's outcome are known.
RUN_TIME_REFERENCES = ("tasks.", "task.attempt", "workflow.status")


def ref_problem(ref: DatasetKey) -> str | None:
    """Why a dataset reference (templates resolved) is not a valid OpenLineage name, or None."""
    namespace, name = ref.namespace, ref.name
    if not _NAMESPACE.fullmatch(namespace):
        return (
            f"dataset namespace {namespace[:100]!r} is not an OpenLineage namespace: a URI "
            "scheme in lower case, alone or with an authority, like s3://bucket, "
            "postgres://host:5432 or bigquery (no path, no blanks)"
        )
    texts = [("name", name)]
    partition = getattr(ref, "partition", None)
    if partition is not None:
        texts.append(("partition", partition))
    for what, text in texts:
        if _CONTROL.search(text):
            return f"dataset {what} {text[:100]!r} holds a control character"
        if text != text.strip() or not text:
            return f"dataset {what} {text[:100]!r} is empty or starts or ends with blanks"
    return None


def merge_refs(*groups: Iterable[DatasetRef]) -> list[DatasetRef]:
    """The references of all groups, first occurrence kept, duplicates dropped."""
    seen: set[tuple[str, str, str | None]] = set()
    merged = []
    for group in groups:
        for ref in group:
            key = (ref.namespace, ref.name, ref.partition)
            if key not in seen:
                seen.add(key)
                merged.append(ref)
    return merged


def parse_reported_datasets(
    message: str | None,
) -> tuple[list[DatasetRef], list[DatasetRef], str | None]:
    """The inlets and outlets a container reported under DATASETS_KEY of its termination
    message (a JSON object), and why some were left out (None when none were). A message
    without the key reports nothing; one that names it but is not a JSON object (often:
    cut at Kubernetes' 4096 bytes) reports nothing and says so; never raises."""
    if not message or DATASETS_KEY not in message:
        return [], [], None
    try:
        parsed: Any = json.loads(message)
    except (ValueError, RecursionError) as error:
        # Said here too: the outputs' parser says it only when outputs are declared.
        return (
            [],
            [],
            (
                f"the termination message names {DATASETS_KEY} but is not valid JSON "
                f"({str(error)[:100]}); Kubernetes keeps at most 4096 bytes of it"
            ),
        )
    if not isinstance(parsed, dict):
        return [], [], f"the termination message names {DATASETS_KEY} but is not a JSON object"
    reported = parsed.get(DATASETS_KEY)
    if reported is None:
        return [], [], None
    if not isinstance(reported, dict):
        return [], [], f'{DATASETS_KEY} must be an object {{"inlets": [...], "outlets": [...]}}'
    problems: list[str] = [
        f"{DATASETS_KEY} has an unknown key {key[:50]!r} (only inlets and outlets)"
        for key in reported
        if key not in ("inlets", "outlets")
    ]
    found: dict[str, list[DatasetRef]] = {}
    for direction in ("inlets", "outlets"):
        entries = reported.get(direction)
        if entries is None:
            entries = []
        elif not isinstance(entries, list):
            problems.append(f"{DATASETS_KEY}.{direction} is not a list")
            entries = []
        refs = []
        for index, entry in enumerate(entries):
            where = f"{DATASETS_KEY}.{direction}[{index}]"
            if not isinstance(entry, dict):
                problems.append(f"{where} is not {{namespace, name, partition?}} of strings")
                continue
            try:
                ref = DatasetRef.model_validate(entry)
            except ValidationError as error:
                first = error.errors()[0]
                field = ".".join(str(part) for part in first["loc"])
                problems.append(f"{where}.{field}: {first['msg']}")
                continue
            problem = ref_problem(ref)
            if problem is not None:
                problems.append(f"{where}: {problem}")
                continue
            refs.append(ref)
        found[direction] = refs
    message_text = "; ".join(problems[:5]) or None
    return found["inlets"], found["outlets"], message_text


def capped(refs: list[DatasetRef], what: str) -> tuple[list[DatasetRef], str | None]:
    """At most MAX_DATASETS_PER_TASK references, and a note when some were dropped."""
    if len(refs) <= MAX_DATASETS_PER_TASK:
        return refs, None
    dropped = len(refs) - MAX_DATASETS_PER_TASK
    return refs[:MAX_DATASETS_PER_TASK], (
        f"{dropped} {what} past the limit of {MAX_DATASETS_PER_TASK} per task not recorded"
    )


def task_attempt_run_id(task_uid: str, attempt: int) -> str:
    """The OpenLineage runId of a task attempt: `kubedag.lineage.run_ids` (issue 10,
    engineer `lineage`) when present; until then a UUIDv5 of the same inputs (the same
    inputs give the same id, across restarts)."""
    try:
        module: Any = importlib.import_module("kubedag.lineage.run_ids")
    except ImportError:
        return str(uuid.uuid5(_STAND_IN_NAMESPACE, f"{task_uid}/{attempt}"))
    return str(module.task_attempt_run_id(task_uid, attempt))


_STAND_IN_NAMESPACE = uuid.UUID("0b6a4f8e-3c1d-5a2e-9f70-6b1d2c3e4f50")


@dataclass(frozen=True)
class ProducedDataset:
    """A successful task attempt that wrote a dataset, as the Task object says."""

    key: DatasetKey
    materialization: Materialization

    @property
    def attempt_key(self) -> tuple[str, int]:
        return (self.materialization.task_uid or "", self.materialization.attempt)


def unrecorded_outlets(
    *, task_uid: str, workflow: str, task: str, status: TaskResourceStatus
) -> list[ProducedDataset]:
    """The datasets a Succeeded Task wrote whose Dataset objects have not counted its last
    attempt yet (status.datasets.recordedAttempt is another attempt): one per dataset,
    the partitions written joined with ",". Empty for any other Task."""
    used = status.datasets
    if status.phase != TaskPhase.SUCCEEDED or used is None or not used.outlets:
        return []
    if not status.attempts:
        return []
    attempt = status.attempts[-1]
    if used.recorded_attempt == attempt.number:
        return []
    when = attempt.finished_at or status.finished_at
    if when is None:
        return []
    partitions: dict[tuple[str, str], list[str]] = {}
    for ref in used.outlets:
        written = partitions.setdefault((ref.namespace, ref.name), [])
        if ref.partition and ref.partition not in written:
            written.append(ref.partition)
    return [
        ProducedDataset(
            key=DatasetKey(namespace=namespace, name=name),
            materialization=Materialization(
                time=when,
                workflow=workflow,
                task=task,
                attempt=attempt.number,
                partition=",".join(written)[:MAX_PARTITION_LENGTH] or None,
                run_id=task_attempt_run_id(task_uid, attempt.number),
                task_uid=task_uid,
            ),
        )
        for (namespace, name), written in partitions.items()
    ]


def record_materializations(
    status: DatasetStatus, produced: Sequence[Materialization]
) -> tuple[DatasetStatus, list[Materialization]]:
    """The Dataset's status with the attempts of `produced` it has not counted yet, and
    those attempts (oldest first). Idempotent: recording the same attempts again changes
    nothing. At most MAX_RECORDED_ATTEMPTS are counted at once (the rest on a later pass),
    so that every attempt counted here is still remembered afterwards."""
    remembered = {(r.task_uid, r.attempt) for r in status.recorded_attempts or []}
    new: list[Materialization] = []
    for item in sorted(produced, key=_order):
        key = (item.task_uid or "", item.attempt)
        if key in remembered:
            continue
        remembered.add(key)
        new.append(item)
    new = new[:MAX_RECORDED_ATTEMPTS]
    if not new:
        return status, []
    newest_first = list(reversed(new))
    history = [*newest_first, *(status.history or [])][:MAX_HISTORY]
    candidates = [m for m in (status.last_materialization, new[-1]) if m is not None]
    last = max(candidates, key=_order)
    recorded = [
        *(RecordedAttempt(task_uid=m.task_uid or "", attempt=m.attempt) for m in newest_first),
        *(status.recorded_attempts or []),
    ][:MAX_RECORDED_ATTEMPTS]
    updated = status.model_copy(
        update={
            "last_materialization": last,
            "materializations": status.materializations + len(new),
            "history": history,
            "recorded_attempts": recorded,
        }
    )
    return updated, new


def is_recorded(status: DatasetStatus, task_uid: str, attempt: int) -> bool:
    return any(
        r.task_uid == task_uid and r.attempt == attempt for r in status.recorded_attempts or []
    )


def _order(item: Materialization) -> tuple[datetime, str, int]:
    return (item.time, item.task_uid or "", item.attempt)
