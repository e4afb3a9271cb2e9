"""Cron cadences and data intervals (kubedag.engine.intervals): ticks across daylight-saving
changes, intervals that tile time, run names, and the {{schedule.*}} values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubedag.engine.intervals import (
    MAX_BASE_LENGTH,
    Cadence,
    DataInterval,
    InvalidCadence,
    interval_values,
    run_name,
)

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute daylight-saving shift
    "Asia/Kolkata",  # no daylight saving, a half-hour offset
    "America/Santiago",  # changes at midnight local time
]
EXPRESSIONS = [
    "0 2 * * *",
    "30 2 * * *",
    "0 * * * *",
    "*/20 * * * *",
    "15 1,2,3 * * *",
    "0 0 * * 1",
    "0 3 1 * *",
    "@daily",
]

moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
)


def ticks(cadence: Cadence, after: datetime, count: int) -> list[datetime]:
    return list(islice(cadence.ticks_after(after), count))


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    expressions=st.lists(st.sampled_from(EXPRESSIONS), min_size=1, max_size=3),
    after=moments,
)
def test_ticks_are_strictly_increasing_instants_after_the_moment(
    zone: str, expressions: list[str], after: datetime
) -> None:
    found = ticks(Cadence(expressions, zone), after, 40)
    assert found[0] > after
    assert all(earlier < later for earlier, later in pairwise(found))


@settings(max_examples=150, deadline=None)
@given(zone=st.sampled_from(ZONES), expression=st.sampled_from(EXPRESSIONS), after=moments)
def test_consecutive_intervals_tile_time_without_gap_or_overlap(
    zone: str, expression: str, after: datetime
) -> None:
    cadence = Cadence([expression], zone)
    found = ticks(cadence, after, 30)
    intervals = [cadence.interval_ending_at(tick) for tick in found]
    for interval in intervals:
        assert interval.start < interval.end
    for earlier, later in pairwise(intervals):
        assert earlier.end == later.start


@settings(max_examples=100, deadline=None)
@given(zone=st.sampled_from(ZONES), expression=st.sampled_from(EXPRESSIONS), after=moments)
def test_the_tick_before_the_next_one_is_the_one_before(
    zone: str, expression: str, after: datetime
) -> None:
    cadence = Cadence([expression], zone)
    first, second = ticks(cadence, after, 2)
    assert cadence.tick_before(second) == first
    assert cadence.tick_before(first) <= after


@settings(max_examples=100, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    expression=st.sampled_from(EXPRESSIONS),
    start=moments,
    days=st.integers(min_value=1, max_value=60),
)
def test_a_range_holds_exactly_the_intervals_starting_in_it(
    zone: str, expression: str, start: datetime, days: int
) -> None:
    cadence = Cadence([expression], zone)
    end = start + timedelta(days=days)
    found = list(cadence.intervals_starting(start, end))
    assert all(start <= interval.start < end for interval in found)
    all_ticks = list(cadence.due_between(start - timedelta(seconds=1), end - timedelta(seconds=1)))
    assert [interval.start for interval in found] == all_ticks
    assert len({run_name("etl", interval) for interval in found}) == len(found)


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("year", [2025, 2026, 2027])
def test_a_fixed_local_time_runs_exactly_once_every_local_day(zone: str, year: int) -> None:
    # Every zone's daylight-saving days are in the year: a skipped 02:30 runs once, at the
    # jump; a doubled one runs once.
    cadence = Cadence(["30 2 * * *"], zone)
    local = ZoneInfo(zone)
    start = datetime(year, 1, 1, tzinfo=local).astimezone(UTC)
    end = datetime(year + 1, 1, 1, tzinfo=local).astimezone(UTC)
    days = [tick.astimezone(local).date() for tick in cadence.due_between(start, end)]
    assert len(days) == len(set(days))
    assert len(days) == (datetime(year + 1, 1, 1) - datetime(year, 1, 1)).days


def test_a_local_time_skipped_by_spring_forward_runs_at_the_jump() -> None:
    cadence = Cadence(["30 2 * * *"], "Europe/Berlin")
    berlin = ZoneInfo("Europe/Berlin")
    (tick,) = cadence.due_between(
        datetime(2026, 3, 29, 0, 0, tzinfo=berlin), datetime(2026, 3, 29, 12, 0, tzinfo=berlin)
    )
    assert tick.astimezone(berlin).strftime("%H:%M %z") == "03:00 +0200"


def test_an_hourly_schedule_runs_both_copies_of_the_doubled_hour() -> None:
    # Two different hours of data (01:00 and 02:00 UTC on the fall-back night in Berlin).
    cadence = Cadence(["0 * * * *"], "Europe/Berlin")
    found = list(
        cadence.due_between(
            datetime(2026, 10, 24, 23, 30, tzinfo=UTC), datetime(2026, 10, 25, 3, 30, tzinfo=UTC)
        )
    )
    assert [tick.hour for tick in found] == [0, 1, 2, 3]
    local = [interval_values(cadence.interval_ending_at(t))["schedule.intervalEnd"] for t in found]
    assert local[0:2] == ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00"]


def test_several_expressions_merge_and_an_instant_both_name_counts_once() -> None:
    cadence = Cadence(["*/10 * * * * *", "*/15 * * * * *"])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    seconds = [
        (t - start).seconds for t in cadence.due_between(start, start + timedelta(minutes=1))
    ]
    assert seconds == [10, 15, 20, 30, 40, 45, 50, 60]


def test_a_six_field_expression_has_a_leading_seconds_field() -> None:
    cadence = Cadence(["5 0 * * * *"])
    (first,) = ticks(cadence, datetime(2026, 1, 1, tzinfo=UTC), 1)
    assert (first.minute, first.second) == (0, 5)


@pytest.mark.parametrize(
    ("schedules", "zone", "fragment"),
    [
        ([], None, "no cron expression"),
        (["* * *"], None, "'* * *'"),
        (["0 0 30 2 *"], None, "day-of-month"),
        (["61 * * * *"], None, "minute"),
        (["0 0 * * *"], "Mars/Olympus_Mons", "unknown time zone"),
        (["0 0 * * *"], "../etc/passwd", "unknown time zone"),
        # Files under the zoneinfo directories that are not IANA names: the operator host's
        # own zone, and a clock counting leap seconds (ticks 27 s off).
        (["0 0 * * *"], "localtime", "unknown time zone"),
        (["0 0 * * *"], "right/UTC", "unknown time zone"),
        (["0 0 * * *"], "Local", "unknown time zone"),
        (["0 0 * * *"], "utc", "unknown time zone"),
    ],
)
def test_an_unusable_cadence_says_why(
    schedules: list[str], zone: str | None, fragment: str
) -> None:
    with pytest.raises(InvalidCadence, match=None) as raised:
        Cadence(schedules, zone)
    assert fragment.lower() in str(raised.value).lower()


@pytest.mark.parametrize("zone", ["UTC", "EST", "Etc/GMT+5", "US/Eastern", "Factory", "", None])
def test_iana_names_and_links_are_time_zones(zone: str | None) -> None:
    assert Cadence(["0 0 * * *"], zone).zone is not None


def test_a_run_name_is_the_base_and_the_interval_start_in_utc() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    interval = DataInterval(
        datetime(2026, 11, 28, 23, 0, tzinfo=UTC), datetime(2026, 11, 29, 23, 0, tzinfo=UTC), berlin
    )
    assert run_name("nightly-etl", interval) == "nightly-etl-20261128-230000"
    values = interval_values(interval)
    assert values["schedule.intervalStart"] == "2026-11-29T00:00:00+01:00"
    assert values["schedule.logicalDate"] == values["schedule.intervalStart"]
    assert values["schedule.ds"] == "2026-11-29"


def test_a_long_base_is_shortened_so_the_name_fits_a_label_value() -> None:
    interval = DataInterval(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
    long_base = "a" * 200
    name = run_name(long_base, interval)
    assert len(name) <= 63
    assert name != run_name("a" * 199, interval)
    assert len(run_name("b" * MAX_BASE_LENGTH, interval)) == 63
