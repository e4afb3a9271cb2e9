"""Datasets on tasks and the Dataset objects' counts (kubedag.engine.datasets, issue 10):
OpenLineage names, run-time reports in the termination message, Dataset object names,
and counting each successful attempt exactly once whatever the crashes."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubedag.api.dataset import (
    MAX_HISTORY,
    MAX_RECORDED_ATTEMPTS,
    DatasetKey,
    DatasetRef,
    DatasetStatus,
    Materialization,
    TaskDatasets,
)
from kubedag.api.task import Attempt, TaskPhase, TaskResourceStatus
from kubedag.api.workflow import WorkflowSpec
from kubedag.engine.datasets import (
    DATASETS_KEY,
    parse_reported_datasets,
    record_materializations,
    ref_problem,
    task_attempt_run_id,
    unrecorded_outlets,
)
from kubedag.engine.specs import resolve_spec
from kubedag.engine.statuses import parse_outputs
from kubedag.names import dataset_object_name

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("namespace", "name"),
    [
        ("s3://bucket", "raw/orders"),
        ("postgres://db.example.com:5432", "shop.public.orders"),
        ("bigquery", "project.dataset.table"),
        ("abfss://container@account.dfs.core.windows.net", "path/to/data"),
        ("kafka://broker:9092", "orders-topic"),
        ("file", "/data/orders.csv"),
    ],
)
def test_openlineage_names_from_the_naming_spec_are_accepted(namespace: str, name: str) -> None:
    assert ref_problem(DatasetRef(namespace=namespace, name=name)) is None


@pytest.mark.parametrize(
    ("namespace", "name", "reason"),
    [
        ("S3://bucket", "raw", "lower case"),
        ("s3://bucket/raw", "orders", "no path"),
        ("my bucket", "orders", "URI scheme"),
        ("://bucket", "orders", "URI scheme"),
        ("s3://", "orders", "URI scheme"),
        ("3s://bucket", "orders", "URI scheme"),
        ("s3://bucket", " orders", "blanks"),
        ("s3://bucket", "orders\n", "control character"),
    ],
)
def test_invalid_names_get_a_reason(namespace: str, name: str, reason: str) -> None:
    problem = ref_problem(DatasetRef(namespace=namespace, name=name))
    assert problem is not None and reason in problem


def test_a_partition_with_a_control_character_is_refused() -> None:
    problem = ref_problem(DatasetRef(namespace="s3://b", name="raw", partition="2026\t01"))
    assert problem is not None and "partition" in problem


@given(st.text(min_size=1, max_size=300), st.text(min_size=1, max_size=300))
@settings(max_examples=300, deadline=None)
def test_dataset_object_names_are_dns_labels(namespace: str, name: str) -> None:
    object_name = dataset_object_name(namespace, name)
    assert len(object_name) <= 63
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", object_name)


def test_dataset_object_names_are_readable_and_tell_similar_pairs_apart() -> None:
    assert dataset_object_name("s3://bucket", "raw/orders").startswith("s3-bucket-raw-orders-")
    similar = {
        dataset_object_name("s3://bucket", "raw/orders"),
        dataset_object_name("s3://bucket", "raw_orders"),
        dataset_object_name("s3://bucket-raw", "orders"),
        dataset_object_name("s3://bucket", "Raw/Orders"),
    }
    assert len(similar) == 4
    assert dataset_object_name("s3://b", "x") == dataset_object_name("s3://b", "x")


def test_reported_datasets_are_read_from_the_termination_message() -> None:
    message = json.dumps(
        {
            "rows": "12",
            DATASETS_KEY: {
                "inlets": [{"namespace": "s3://raw", "name": "orders"}],
                "outlets": [{"namespace": "s3://clean", "name": "orders", "partition": "p1"}],
            },
        }
    )
    inlets, outlets, problem = parse_reported_datasets(message)
    assert problem is None
    assert inlets == [DatasetRef(namespace="s3://raw", name="orders")]
    assert outlets == [DatasetRef(namespace="s3://clean", name="orders", partition="p1")]


def test_the_datasets_key_is_not_an_output() -> None:
    spec = WorkflowSpec.model_validate(
        {"tasks": [{"name": "t", "image": "busybox", "outputs": [{"name": "rows"}]}]}
    )
    resolved, errors = resolve_spec(spec, {})
    assert resolved is not None, errors
    message = json.dumps({"rows": "12", DATASETS_KEY: {"outlets": []}})
    outputs, problem = parse_outputs(message, resolved.tasks["t"])
    assert outputs == {"rows": "12"} and problem is None


@pytest.mark.parametrize(
    ("reported", "says"),
    [
        ("not an object", "must be an object"),
        ({"outlets": "s3://b"}, "is not a list"),
        ({"outlets": [{"namespace": "s3://b"}]}, "outlets[0].name: Field required"),
        ({"outlets": [{"namespace": "S3://B", "name": "x"}]}, "lower case"),
    ],
)
def test_bad_reports_are_left_out_with_a_reason(reported: object, says: str) -> None:
    inlets, outlets, problem = parse_reported_datasets(json.dumps({DATASETS_KEY: reported}))
    assert inlets == [] and outlets == []
    assert problem is not None and says in problem


def test_a_message_without_datasets_reports_nothing() -> None:
    for message in (None, "", "exit 1: boom", json.dumps({"rows": "1"}), "[1]", "{bad"):
        assert parse_reported_datasets(message) == ([], [], None)


def _succeeded(
    attempt: int = 1, outlets: list[DatasetRef] | None = None, recorded: int | None = None
) -> TaskResourceStatus:
    return TaskResourceStatus(
        phase=TaskPhase.SUCCEEDED,
        attempts=[
            Attempt(number=n, job_name=f"j-{n}", finished_at=T0 + timedelta(minutes=n))
            for n in range(1, attempt + 1)
        ],
        datasets=TaskDatasets(outlets=outlets, recorded_attempt=recorded),
    )


OUT = [
    DatasetRef(namespace="s3://b", name="orders", partition="2026-03-01"),
    DatasetRef(namespace="s3://b", name="orders", partition="2026-03-02"),
    DatasetRef(namespace="s3://b", name="customers"),
]


def test_a_succeeded_task_produces_one_materialization_per_dataset() -> None:
    produced = unrecorded_outlets(
        task_uid="u1", workflow="wf", task="load", status=_succeeded(2, OUT)
    )
    assert [(p.key.name, p.materialization.partition) for p in produced] == [
        ("orders", "2026-03-01,2026-03-02"),
        ("customers", None),
    ]
    first = produced[0].materialization
    assert (first.attempt, first.workflow, first.task, first.task_uid) == (2, "wf", "load", "u1")
    assert first.time == T0 + timedelta(minutes=2)
    assert first.run_id == task_attempt_run_id("u1", 2)


def test_a_recorded_failed_or_outlet_free_task_produces_nothing() -> None:
    recorded = _succeeded(2, OUT, recorded=2)
    failed = _succeeded(1, OUT).model_copy(update={"phase": TaskPhase.FAILED})
    for status in (recorded, failed, _succeeded(1, None), TaskResourceStatus()):
        assert unrecorded_outlets(task_uid="u", workflow="w", task="t", status=status) == []
    # A later attempt of a recorded task is news (a retried workflow ran it again).
    assert unrecorded_outlets(
        task_uid="u", workflow="w", task="t", status=_succeeded(3, OUT, recorded=2)
    )


def test_run_ids_are_stable_uuids() -> None:
    assert task_attempt_run_id("uid", 1) == task_attempt_run_id("uid", 1)
    assert task_attempt_run_id("uid", 1) != task_attempt_run_id("uid", 2)


def _made(uid: str, attempt: int = 1, minute: int = 0) -> Materialization:
    return Materialization(
        time=T0 + timedelta(minutes=minute),
        workflow="wf",
        task="t",
        attempt=attempt,
        task_uid=uid,
    )


def test_recording_counts_new_attempts_and_keeps_the_newest_first() -> None:
    status, counted = record_materializations(DatasetStatus(), [_made("b", minute=2), _made("a")])
    assert [m.task_uid for m in counted] == ["a", "b"]
    assert status.materializations == 2
    assert status.last_materialization == _made("b", minute=2)
    assert [m.task_uid for m in status.history or []] == ["b", "a"]


def test_recording_the_same_attempts_again_changes_nothing() -> None:
    once, _ = record_materializations(DatasetStatus(), [_made("a"), _made("b")])
    again, counted = record_materializations(once, [_made("a"), _made("b")])
    assert counted == [] and again == once


def test_history_is_bounded_and_the_count_is_not() -> None:
    status = DatasetStatus()
    for index in range(MAX_HISTORY + 5):
        status, _ = record_materializations(status, [_made(f"u{index}", minute=index)])
    assert status.materializations == MAX_HISTORY + 5
    assert len(status.history or []) == MAX_HISTORY
    assert (status.history or [])[0].task_uid == f"u{MAX_HISTORY + 4}"


def test_an_older_attempt_recorded_late_does_not_replace_the_newest() -> None:
    status, _ = record_materializations(DatasetStatus(), [_made("new", minute=10)])
    status, _ = record_materializations(status, [_made("old", minute=1)])
    assert status.last_materialization is not None
    assert status.last_materialization.task_uid == "new"
    assert status.materializations == 2


def test_one_pass_counts_at_most_what_the_dataset_can_remember() -> None:
    many = [_made(f"u{i}", minute=i) for i in range(MAX_RECORDED_ATTEMPTS + 30)]
    status, counted = record_materializations(DatasetStatus(), many)
    assert len(counted) == MAX_RECORDED_ATTEMPTS
    status, rest = record_materializations(status, many)
    assert len(rest) == 30 and status.materializations == len(many)


@st.composite
def _histories(draw: st.DrawFn) -> tuple[list[list[Materialization]], list[bool]]:
    """Passes of the controller over a Dataset: which attempts each pass sees pending
    (those whose Task mark was lost come back), and whether its write is lost."""
    attempts = [
        _made(f"u{i}", attempt=1 + i % 2, minute=i) for i in range(draw(st.integers(1, 30)))
    ]
    passes = draw(
        st.lists(
            st.lists(st.sampled_from(attempts), max_size=len(attempts)), min_size=1, max_size=12
        )
    )
    # A final pass sees everything that may still be unmarked.
    passes.append(attempts)
    lost = draw(st.lists(st.booleans(), min_size=len(passes), max_size=len(passes)))
    lost[-1] = False
    return passes, lost


@given(_histories())
@settings(max_examples=300, deadline=None)
def test_each_attempt_counts_exactly_once_whatever_passes_repeat_or_lose_writes(
    history: tuple[list[list[Materialization]], list[bool]],
) -> None:
    passes, lost = history
    stored = DatasetStatus()
    for seen, write_lost in zip(passes, lost, strict=True):
        updated, _ = record_materializations(stored, seen)
        if not write_lost:
            stored = updated
    distinct = {(m.task_uid, m.attempt) for m in passes[-1]}
    assert stored.materializations == len(distinct)
    assert stored.last_materialization == max(passes[-1], key=lambda m: (m.time, m.task_uid))


def test_dataset_key_equality_is_by_namespace_and_name() -> None:
    assert DatasetKey(namespace="s3://b", name="x") == DatasetKey(namespace="s3://b", name="x")


# -- names that look valid but are not one identity (review of issue 10) ------------------


@pytest.mark.parametrize(
    ("namespace", "name", "reason"),
    [
        ("s3://bucket\n", "orders", "URI scheme"),  # a value read from a file, newline kept
        ("bigquery\n", "orders", "URI scheme"),
        ("s3://buc\x01ket", "orders", "URI scheme"),
        ("s3://bucket", "ord\x85ers", "control character"),  # C1 control (NEL)
    ],
)
def test_a_trailing_newline_or_control_character_in_a_namespace_is_refused(
    namespace: str, name: str, reason: str
) -> None:
    problem = ref_problem(DatasetRef(namespace=namespace, name=name))
    assert problem is not None and reason in problem


@pytest.mark.parametrize(
    ("reported", "says"),
    [
        ({"outlets": 0}, "outlets is not a list"),
        ({"outlets": {}}, "outlets is not a list"),
        ({"outlets": ""}, "outlets is not a list"),
        ({"inlets": False}, "inlets is not a list"),
        ({"outlet": [{"namespace": "s3://b", "name": "x"}]}, "unknown key 'outlet'"),
        ({"outlets": [{"namespace": "s3://b", "name": "x" * 5000}]}, "at most 1024"),
        ({"outlets": [{"namespace": "s3://b", "name": "x", "partition": ""}]}, "partition"),
        ({"outlets": [{"namespace": "s3://b", "name": 7}]}, "name"),
    ],
)
def test_a_report_of_the_wrong_shape_is_said_not_dropped_silently(
    reported: object, says: str
) -> None:
    _inlets, outlets, problem = parse_reported_datasets(json.dumps({DATASETS_KEY: reported}))
    assert outlets == []
    assert problem is not None and says in problem, problem


def test_a_datasets_spec_is_its_identity_and_cannot_be_edited() -> None:
    # Edited by hand, a Dataset would count one dataset's writes under another's name, and
    # the triggers that look it up by its identity would never see it again.
    from celpy.adapter import json_to_cel

    from kubedag.api.crd import build_crds
    from kubedag.schema_validation import cel_program

    (crd,) = [c for c in build_crds().values() if c["spec"]["names"]["kind"] == "Dataset"]
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    (rule,) = schema["x-kubernetes-validations"]
    old = {"namespace": "s3://lake", "name": "orders"}
    program = cel_program(rule["rule"])
    assert program.evaluate({"self": json_to_cel(old), "oldSelf": json_to_cel(old)})
    edited = {**old, "name": "customers"}
    assert not program.evaluate({"self": json_to_cel(edited), "oldSelf": json_to_cel(old)})
    assert "cannot change" in rule["message"]


def test_a_cut_or_broken_message_that_reports_datasets_says_why_they_are_lost() -> None:
    # Kubernetes keeps at most 4096 bytes of a termination message: a long report is cut
    # and no longer JSON. A task with no declared outputs had no other trace of it.
    whole = json.dumps(
        {DATASETS_KEY: {"outlets": [{"namespace": "s3://b", "name": f"t{i}"} for i in range(200)]}}
    )
    _inlets, outlets, problem = parse_reported_datasets(whole[:4096])
    assert outlets == []
    assert problem is not None and "not valid JSON" in problem and "4096" in problem
    _inlets, outlets, problem = parse_reported_datasets(json.dumps([DATASETS_KEY]))
    assert problem is not None and "not a JSON object" in problem
