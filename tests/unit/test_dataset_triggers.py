"""Dataset triggers of CronWorkflows (kubedag.engine.dataset_triggers through
kubedag.engine.scheduling, issue 10): when a run starts (All, Any), what it gets, and one
run per set of updates whatever the crashes and repeated passes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kubedag.api.common import ConditionStatus
from kubedag.api.cron_workflow import CronWorkflowSpec, CronWorkflowStatus
from kubedag.api.dataset import Materialization
from kubedag.api.workflow import WorkflowPhase
from kubedag.engine.dataset_triggers import (
    DatasetIdentity,
    DatasetState,
    read_consumed,
    sequence_of,
    trigger_run_name,
)
from kubedag.engine.scheduling import READY, ExistingRun, ScheduleDecision, decide_schedule

NAME = "join"
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
A: DatasetIdentity = ("s3://lake", "orders")
B: DatasetIdentity = ("s3://lake", "customers")


def make_spec(condition: str = "All", **fields: Any) -> CronWorkflowSpec:
    wire: dict[str, Any] = {
        "datasetTrigger": {
            "datasets": [{"namespace": ns, "name": name} for ns, name in (A, B)],
            "condition": condition,
        },
        "workflowSpec": {"tasks": [{"name": "a", "image": "busybox"}]},
    }
    wire.update(fields)
    return CronWorkflowSpec.model_validate(wire)


def state(count: int, partition: str | None = None, minute: int = 0) -> DatasetState:
    last = Materialization(
        time=NOW + timedelta(minutes=minute),
        workflow="producer",
        task="write",
        attempt=1,
        partition=partition,
    )
    return DatasetState(count, last if count else None)


def decide(
    spec: CronWorkflowSpec,
    datasets: Mapping[DatasetIdentity, DatasetState],
    status: CronWorkflowStatus | None = None,
    runs: Sequence[ExistingRun] = (),
    **extra: Any,
) -> ScheduleDecision:
    return decide_schedule(
        name=NAME,
        spec=spec,
        status=status or CronWorkflowStatus(),
        runs=runs,
        now=NOW,
        created_at=NOW - timedelta(hours=1),
        generation=1,
        datasets=datasets,
        **extra,
    )


def run_of(decision: ScheduleDecision, phase: WorkflowPhase | None = None) -> ExistingRun:
    assert decision.triggered is not None
    return ExistingRun(
        name=decision.triggered.name,
        interval_start=None,
        phase=phase,
        trigger_consumed=read_consumed(decision.triggered.annotation),
    )


def test_first_sight_records_the_counts_and_starts_nothing() -> None:
    decision = decide(make_spec("Any"), {A: state(5)})
    assert decision.triggered is None
    trigger = decision.status.dataset_trigger
    assert trigger is not None and trigger.runs == 0
    assert {(c.name, c.materializations) for c in trigger.consumed or []} == {
        ("orders", 5),
        ("customers", 0),
    }


def test_updates_since_the_cron_workflow_was_created_count_on_first_sight() -> None:
    # Created an hour before NOW; the operator's first pass comes only now.
    written = (NOW - timedelta(minutes=10), NOW - timedelta(minutes=30), NOW - timedelta(hours=2))
    datasets = {A: DatasetState(3, state(3).last, written)}
    decision = decide(make_spec("Any"), datasets)
    assert decision.triggered is not None
    entries = json.loads({p.name: p.value for p in decision.triggered.params}["triggerDatasets"])
    assert [(e["name"], e["new"]) for e in entries] == [("orders", 2)]


def test_all_waits_for_every_dataset() -> None:
    first = decide(make_spec("All"), {})
    only_a = decide(make_spec("All"), {A: state(2)}, first.status)
    assert only_a.triggered is None
    both = decide(make_spec("All"), {A: state(2), B: state(1)}, only_a.status)
    assert both.triggered is not None and both.triggered.name == "join-ds-1"
    assert [e.reason.value for e in both.events] == ["RunCreated"]


def test_any_starts_a_run_for_one_update_and_consumes_everything_seen() -> None:
    first = decide(make_spec("Any"), {})
    decision = decide(make_spec("Any"), {A: state(3)}, first.status)
    assert decision.triggered is not None
    params = {p.name: p.value for p in decision.triggered.params}
    entries = json.loads(params["triggerDatasets"])
    assert [(e["name"], e["new"], e["materializations"]) for e in entries] == [("orders", 3, 3)]
    again = decide(make_spec("Any"), {A: state(3)}, decision.status, [run_of(decision)])
    assert again.triggered is None


def test_the_run_gets_the_newest_partition_and_the_materializations() -> None:
    first = decide(make_spec("All"), {})
    datasets = {A: state(1, "2026-03-01", minute=1), B: state(1, "2026-03-02", minute=5)}
    decision = decide(make_spec("All"), datasets, first.status)
    assert decision.triggered is not None
    params = {p.name: p.value for p in decision.triggered.params}
    assert params["triggerPartition"] == "2026-03-02"
    entries = {e["name"]: e for e in json.loads(params["triggerDatasets"])}
    assert entries["customers"]["workflow"] == "producer"
    assert entries["orders"]["partition"] == "2026-03-01"


def test_a_workflow_template_gets_only_the_trigger_params_it_declares() -> None:
    first = decide(make_spec("Any"), {})
    decision = decide(
        make_spec("Any"), {A: state(1)}, first.status, declared_params=frozenset({"other"})
    )
    assert decision.triggered is not None and decision.triggered.params == []
    declared = decide(
        make_spec("Any"),
        {A: state(1)},
        first.status,
        declared_params=frozenset({"triggerPartition"}),
    )
    assert declared.triggered is not None
    assert [p.name for p in declared.triggered.params] == ["triggerPartition"]


def test_a_run_created_before_a_crash_is_adopted_not_created_again() -> None:
    first = decide(make_spec("Any"), {})
    created = decide(make_spec("Any"), {A: state(1)}, first.status)
    # The status write was lost; meanwhile orders was written again.
    repeated = decide(make_spec("Any"), {A: state(2)}, first.status, [run_of(created)])
    assert repeated.triggered is not None and repeated.triggered.name == "join-ds-2"
    entries = json.loads({p.name: p.value for p in repeated.triggered.params}["triggerDatasets"])
    assert entries[0]["new"] == 1  # only the update run 1 did not consume


def test_an_unrecorded_finished_trigger_run_is_not_deleted() -> None:
    first = decide(make_spec("Any", successfulRunsHistoryLimit=0), {})
    created = decide(make_spec("Any", successfulRunsHistoryLimit=0), {A: state(1)}, first.status)
    finished = run_of(created, WorkflowPhase.SUCCEEDED)
    lost = decide(
        make_spec("Any", successfulRunsHistoryLimit=0), {A: state(1)}, first.status, [finished]
    )
    assert lost.delete == [] and lost.triggered is None
    recorded = decide(
        make_spec("Any", successfulRunsHistoryLimit=0), {A: state(1)}, lost.status, [finished]
    )
    assert recorded.delete == ["join-ds-1"]


def test_forbid_waits_for_the_active_run_then_starts_one() -> None:
    spec = make_spec("Any", concurrencyPolicy="Forbid")
    first = decide(spec, {})
    running = ExistingRun(name="join-ds-0x", interval_start=None, phase=WorkflowPhase.RUNNING)
    waiting = decide(spec, {A: state(1)}, first.status, [running])
    assert waiting.triggered is None
    assert [e.reason.value for e in waiting.events] == ["RunSkipped"]
    done = ExistingRun(name="join-ds-0x", interval_start=None, phase=WorkflowPhase.SUCCEEDED)
    assert decide(spec, {A: state(2)}, waiting.status, [done]).triggered is not None


def test_replace_stops_the_active_runs() -> None:
    spec = make_spec("Any", concurrencyPolicy="Replace")
    first = decide(spec, {})
    running = ExistingRun(name="join-ds-1", interval_start=None, phase=WorkflowPhase.RUNNING)
    status = first.status.model_copy(
        update={"dataset_trigger": first.status.dataset_trigger.model_copy(update={"runs": 1})}
        if first.status.dataset_trigger
        else {}
    )
    decision = decide(spec, {A: state(1)}, status, [running])
    assert decision.triggered is not None and decision.triggered.name == "join-ds-2"
    assert decision.stop == ["join-ds-1"]


def test_suspended_updates_wait_and_start_one_run_on_resume() -> None:
    first = decide(make_spec("Any"), {})
    suspended = decide(make_spec("Any", suspend=True), {A: state(4)}, first.status)
    assert suspended.triggered is None
    resumed = decide(make_spec("Any"), {A: state(4)}, suspended.status)
    assert resumed.triggered is not None


def test_schedules_and_a_trigger_together_both_create_runs() -> None:
    spec = make_spec("Any", schedules=["0 * * * *"])
    first = decide(spec, {})
    decision = decide(spec, {A: state(1)}, first.status)
    assert decision.triggered is not None
    assert decision.status.next_schedule_time == NOW + timedelta(hours=1)


def test_an_invalid_trigger_dataset_is_reported_and_starts_nothing() -> None:
    wire = make_spec("Any").model_dump(mode="json", by_alias=True, exclude_none=True)
    wire["datasetTrigger"]["datasets"][0]["namespace"] = "S3://Lake"
    decision = decide(CronWorkflowSpec.model_validate(wire), {A: state(3)})
    ready = next(c for c in decision.status.conditions if c.type == READY)
    assert ready.status == ConditionStatus.FALSE and ready.reason == "InvalidSpec"
    assert "lower case" in ready.message and decision.triggered is None
    twice = make_spec("Any").model_dump(mode="json", by_alias=True, exclude_none=True)
    twice["datasetTrigger"]["datasets"][1] = twice["datasetTrigger"]["datasets"][0]
    again = decide(CronWorkflowSpec.model_validate(twice), {})
    assert "listed twice" in next(c for c in again.status.conditions if c.type == READY).message


def test_run_names_and_sequences_round_trip() -> None:
    assert sequence_of(NAME, trigger_run_name(NAME, 17)) == 17
    for other in ("join-ds-", "join-ds-01", "join-20260101-000000", "joiner-ds-1", "join-ds-x"):
        assert sequence_of(NAME, other) is None


@st.composite
def _histories(draw: st.DrawFn) -> list[tuple[int, int, bool, bool]]:
    """Passes: dataset counts grow; each pass's status write may be lost; a run created
    may be seen by the next pass or not yet (then the API server's 409 guards it)."""
    steps = []
    a = b = 0
    for _ in range(draw(st.integers(1, 25))):
        a += draw(st.integers(0, 2))
        b += draw(st.integers(0, 2))
        steps.append((a, b, draw(st.booleans()), draw(st.booleans())))
    return steps


@given(_histories(), st.sampled_from(["All", "Any"]))
@settings(max_examples=300, deadline=None)
def test_every_update_set_starts_exactly_one_run_whatever_writes_are_lost(
    steps: list[tuple[int, int, bool, bool]], condition: str
) -> None:
    spec = make_spec(condition)
    stored = CronWorkflowStatus()
    existing: dict[str, ExistingRun] = {}  # the API server's runs
    consumed_by: dict[str, list[Any]] = {}
    for a, b, write_lost, run_visible in steps:
        datasets = {A: state(a), B: state(b)}
        visible = list(existing.values()) if run_visible else []
        decision = decide(spec, datasets, stored, visible)
        if decision.triggered is not None and decision.triggered.name not in existing:
            run = run_of(decision)
            existing[run.name] = run
            consumed_by[run.name] = list(run.trigger_consumed or ())
        elif decision.triggered is not None:
            continue  # 409: the pass fails and is retried; the status is not written
        if not write_lost:
            stored = decision.status
    # A last pass that sees every run settles the status.
    counts = {A: steps[-1][0], B: steps[-1][1]}
    final = decide(
        spec, {key: state(count) for key, count in counts.items()}, stored, [*existing.values()]
    )
    trigger = final.status.dataset_trigger
    assert trigger is not None
    names = sorted(existing, key=lambda name: sequence_of(NAME, name) or 0)
    # Runs are numbered 1..N: none created twice, none skipped.
    assert names == [trigger_run_name(NAME, n) for n in range(1, len(existing) + 1)]
    expected_runs = len(existing) + (1 if final.triggered is not None else 0)
    assert trigger.runs == expected_runs
    if final.triggered is not None:
        assert final.triggered.name == trigger_run_name(NAME, expected_runs)
    # Each run consumed strictly more than the one before it: no set of updates twice.
    totals = [sum(c.materializations for c in consumed_by[name]) for name in names]
    assert totals == sorted(set(totals))
    # Nothing is lost: what is not consumed yet is what the condition still waits for.
    consumed = {(c.namespace, c.name): c.materializations for c in trigger.consumed or []}
    pending = [key for key in (A, B) if counts[key] > consumed[key]]
    assert not pending or (condition == "All" and len(pending) < 2)


# -- a Dataset deleted (or its status reset) by hand (review of issue 10) -----------------


def test_a_dataset_made_again_after_a_deletion_triggers_on_its_new_updates() -> None:
    # orders was consumed at 5; the Dataset was deleted by hand and written again once:
    # its count starts again at 1. That write is an update, not "4 short of the last run".
    first = decide(make_spec("Any"), {})
    ran = decide(make_spec("Any"), {A: state(5)}, first.status)
    assert ran.triggered is not None
    again = decide(make_spec("Any"), {A: state(1)}, ran.status, [run_of(ran)])
    assert again.triggered is not None and again.triggered.name == "join-ds-2"
    entries = json.loads({p.name: p.value for p in again.triggered.params}["triggerDatasets"])
    assert [(e["name"], e["new"]) for e in entries] == [("orders", 1)]
    settled = decide(make_spec("Any"), {A: state(1)}, again.status, [run_of(ran), run_of(again)])
    assert settled.triggered is None


def test_a_dataset_deleted_and_not_written_again_starts_nothing_and_forgets_its_count() -> None:
    first = decide(make_spec("All"), {})
    ran = decide(make_spec("All"), {A: state(3), B: state(2)}, first.status)
    gone = decide(make_spec("All"), {B: state(2)}, ran.status, [run_of(ran)])
    assert gone.triggered is None
    back = decide(make_spec("All"), {A: state(1), B: state(3)}, gone.status, [run_of(ran)])
    assert back.triggered is not None


def test_a_template_in_a_trigger_dataset_is_refused_with_the_reason() -> None:
    # A trigger's datasets are matched as written (no run exists yet to resolve params
    # for): `raw/{{params.day}}` would wait for a dataset that never exists.
    wire = make_spec("Any").model_dump(mode="json", by_alias=True, exclude_none=True)
    wire["datasetTrigger"]["datasets"][0]["name"] = "raw/{{params.day}}"
    decision = decide(CronWorkflowSpec.model_validate(wire), {})
    ready = next(c for c in decision.status.conditions if c.type == READY)
    assert ready.status == ConditionStatus.FALSE and ready.reason == "InvalidSpec"
    assert "not templated" in ready.message
