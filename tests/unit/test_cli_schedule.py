"""`kubedag schedule list|next|trigger` (issue 9): what they compute without a cluster."""

from datetime import UTC, datetime

import pytest

from kubedag.cli import cluster
from kubedag.cli.app import schedule_next
from kubedag.cli.schedules import manual_interval, next_intervals, schedule_rows
from kubedag.engine.intervals import InvalidCadence, rfc3339

BERLIN_HOURLY = {"schedules": ["0 * * * *"], "timeZone": "Europe/Berlin"}


def test_next_lists_the_coming_ticks_with_their_intervals_in_the_schedules_zone() -> None:
    # The fall-back night: both 02:00 hours of 2026-10-25 in Berlin are ticks.
    now = datetime(2026, 10, 24, 23, 30, tzinfo=UTC)
    intervals = next_intervals(BERLIN_HOURLY, now, 4)
    assert [(rfc3339(i.local_start), rfc3339(i.local_end)) for i in intervals] == [
        ("2026-10-25T01:00:00+02:00", "2026-10-25T02:00:00+02:00"),
        ("2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00"),
        ("2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"),
        ("2026-10-25T03:00:00+01:00", "2026-10-25T04:00:00+01:00"),
    ]


def test_trigger_runs_the_latest_complete_interval() -> None:
    interval = manual_interval(BERLIN_HOURLY, datetime(2026, 7, 1, 10, 20, 5, tzinfo=UTC))
    assert (rfc3339(interval.local_start), rfc3339(interval.local_end)) == (
        "2026-07-01T11:00:00+02:00",
        "2026-07-01T12:00:00+02:00",
    )
    on_the_tick = manual_interval(BERLIN_HOURLY, datetime(2026, 7, 1, 11, tzinfo=UTC))
    assert rfc3339(on_the_tick.local_end) == "2026-07-01T13:00:00+02:00"


def test_a_bad_schedule_is_reported_not_computed() -> None:
    with pytest.raises(InvalidCadence, match="time zone"):
        next_intervals(
            {"schedules": ["0 * * * *"], "timeZone": "Nowhere/City"}, datetime.now(UTC), 1
        )


def test_list_shows_schedules_zone_suspension_active_runs_and_times() -> None:
    rows = schedule_rows(
        [
            {
                "metadata": {"name": "nightly"},
                "spec": {"schedules": ["0 2 * * *", "0 14 * * *"], "suspend": True},
                "status": {
                    "active": [{"name": "nightly-20260101-010000"}],
                    "lastScheduleTime": "2026-01-02T01:00:00Z",
                },
            }
        ]
    )
    assert rows[0] == ["NAME", "SCHEDULES", "TIME ZONE", "SUSPENDED", "ACTIVE", "LAST", "NEXT"]
    assert rows[1] == [
        "nightly",
        "0 2 * * * | 0 14 * * *",
        "UTC",
        "yes",
        "1",
        "2026-01-02T01:00:00Z",
        "-",
    ]


def test_the_schedule_commands_take_a_namespace_and_next_a_count() -> None:
    context = schedule_next.make_context("next", ["nightly", "-n", "etl", "-c", "7"])
    assert (context.params["name"], context.params["namespace"], context.params["count"]) == (
        "nightly",
        "etl",
        7,
    )


class _MissingEverything:
    """An API client under which no CronWorkflow exists (every GET is a 404)."""

    def get(self, resource: object, name: str, namespace: str) -> object:
        from lightkube import ApiError

        class Response:
            status_code = 404

            def json(self) -> dict[str, object]:
                return {"kind": "Status", "code": 404, "message": f"{name} not found"}

        raise ApiError(response=Response())  # type: ignore[arg-type]


@pytest.mark.parametrize("verb", ["next", "trigger"])
def test_a_missing_cron_workflow_is_named_not_a_traceback(
    verb: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kubedag import cli

    monkeypatch.setattr(cluster, "make_client", lambda target: (_MissingEverything(), "data"))
    assert cli.main(["schedule", verb, "nightly", "-n", "data"]) == 3
    assert "CronWorkflow 'nightly' in namespace 'data' not found" in capsys.readouterr().err


@pytest.mark.parametrize("count", ["0", "-1", "1001", "many"])
def test_a_tick_count_out_of_range_is_a_usage_error(
    count: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from kubedag.cli import main

    assert main(["schedule", "next", "nightly", "-c", count]) == 2
    assert "--count" in capsys.readouterr().err
