"""Run ids of OpenLineage events (issue 10): deterministic, distinct, valid UUIDs."""

from __future__ import annotations

import uuid

import pytest

from kubedag.lineage.run_ids import task_attempt_run_id, workflow_run_id

TASK_UID = "0b8f7a4e-2a53-4d1c-9a4a-7f2a9c1d0e11"


def test_the_same_attempt_always_gets_the_same_run_id() -> None:
    assert task_attempt_run_id(TASK_UID, 2) == task_attempt_run_id(TASK_UID, 2)


def test_attempts_of_a_task_are_different_runs() -> None:
    ids = {task_attempt_run_id(TASK_UID, attempt) for attempt in range(1, 50)}
    assert len(ids) == 49


def test_a_workflow_run_and_a_task_attempt_never_share_an_id() -> None:
    # The same uid text read as a Workflow's and as a Task's.
    assert workflow_run_id(TASK_UID) != task_attempt_run_id(TASK_UID, 1)


def test_run_ids_are_rfc_9562_name_based_uuids() -> None:
    run_id = task_attempt_run_id(TASK_UID, 1)
    assert run_id.version == 5
    assert run_id.variant == uuid.RFC_4122
    assert uuid.UUID(str(run_id)) == run_id


def test_run_ids_do_not_change_between_releases() -> None:
    # Pinned: a new id for the same object would fork every run in the lineage backend.
    assert str(workflow_run_id("uid-1")) == str(
        uuid.uuid5(uuid.UUID("49071e70-746d-5c88-8e0b-d0aa3a5c553f"), "workflow/uid-1")
    )


@pytest.mark.parametrize("attempt", [0, -1])
def test_attempt_numbers_start_at_one(attempt: int) -> None:
    with pytest.raises(ValueError, match="from 1"):
        task_attempt_run_id(TASK_UID, attempt)


def test_an_empty_uid_is_refused() -> None:
    with pytest.raises(ValueError):
        workflow_run_id("")
    with pytest.raises(ValueError):
        task_attempt_run_id("", 1)
