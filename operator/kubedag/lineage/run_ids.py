"""Deterministic OpenLineage run ids (issue 10): the same Task attempt or Workflow run gets
the same runId in every process, before and after an operator restart, so a restart never
forks a run and a re-sent event is a duplicate of the first, never a second run.

A runId is a UUID (OpenLineage spec, RunEvent `run.runId`, format `uuid`). Ids here are
name-based UUIDs of version 5 (RFC 9562, section 5.5: SHA-1 of a namespace UUID and a
name) over the object's Kubernetes UID (unique in the cluster's lifetime, never reused) and,
for a task, the attempt number. OpenLineage recommends time-ordered UUIDv7 ids; a v7 id
needs the attempt's start time, which these functions are not given: the Dataset status
(engineer `datasets`) computes the same id from the Task's UID and attempt alone, and the
start of an attempt is recorded on the Task up to 2 s after its Job exists (see
kubedag.controller.reconciler.START_RECORD_DELAY_SECONDS), so an id derived from a time
could differ between the two. Consumers (Marquez among them) accept any UUID version.
"""

from __future__ import annotations

import uuid

# The namespace of kubedag's name-based ids: uuid5(NAMESPACE_URL, "https://kubedag.io/lineage").
# Fixed forever: changing it would give every past run a new id.
KUBEDAG_NAMESPACE = uuid.UUID("49071e70-746d-5c88-8e0b-d0aa3a5c553f")


def task_attempt_run_id(task_uid: str, attempt: int) -> uuid.UUID:
    """The runId of attempt `attempt` (1, 2, ...) of the Task whose metadata.uid is
    `task_uid`. Raises ValueError for an attempt below 1 or an empty uid."""
    if not task_uid:
        raise ValueError("a Task uid is needed")
    if attempt < 1:
        raise ValueError(f"attempts are numbered from 1, not {attempt}")
    return uuid.uuid5(KUBEDAG_NAMESPACE, f"task/{task_uid}/{attempt}")


def workflow_run_id(workflow_uid: str) -> uuid.UUID:
    """The runId of the Workflow run whose metadata.uid is `workflow_uid` (the parent run
    of its tasks' attempts). Raises ValueError for an empty uid."""
    if not workflow_uid:
        raise ValueError("a Workflow uid is needed")
    return uuid.uuid5(KUBEDAG_NAMESPACE, f"workflow/{workflow_uid}")
