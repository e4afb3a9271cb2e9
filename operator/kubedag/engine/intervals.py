"""Cron cadences and data intervals: when a scheduled run is due, which span of data it
covers, and what it is called. Pure; shared by CronWorkflows and Backfills (issue 9).

A cadence is one or more cron expressions in an IANA time zone. Its ticks are the merged,
strictly increasing instants any expression fires at. Each tick `t` ends the data interval
`[previous tick, t)`: the run for that interval is due at `t`, and its logical date is the
interval's start (Airflow's data interval and logical date, CronDataIntervalTimetable).

Cron expressions are read by `cronsim` (5 fields, or 6 with a leading seconds field; `L`,
`W`, `#`); the `@hourly`-style nicknames of crontab(5), which Kubernetes CronJobs also take,
are spelled out here because cronsim does not read them. cronsim follows cronie, the cron
of Debian and Fedora, across daylight-saving changes: a local time skipped by a
spring-forward jump runs once, at the jump; a fixed local time that occurs twice in a
fall-back hour runs once, the first time; an expression with a wildcard hour (`0 * * * *`)
runs every real hour, both copies of the doubled one included: they are different hours of
data.

A run's name is the base (the CronWorkflow's or WorkflowTemplate's name) and its interval
start in UTC: the same interval always gets the same name, so a crash, a restart, a second
operator replica or a backfill of a scheduled interval cannot create it twice (the API
server refuses the second create with 409 AlreadyExists).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

from kubedag.names import shorten

# Room for "-YYYYMMDD-HHMMSS" in a 63-character label value (a CronJob's name limit is 52
# for the same reason: kubernetes/kubernetes#50520).
MAX_BASE_LENGTH = 47
_ONE_SECOND = timedelta(seconds=1)
# crontab(5)'s nicknames (@reboot has no meaning for a schedule).
NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class InvalidCadence(ValueError):
    """A cron expression or time zone that cannot be used; the message says which and why."""


@dataclass(frozen=True, order=True)
class DataInterval:
    """The span of data one run processes: `[start, end)`, aware datetimes in UTC, and the
    time zone its local times are shown in.

    Kept in UTC because Python compares two datetimes of one zone by their wall times,
    ignoring `fold` (PEP 495): the two 02:00s of a fall-back night would compare equal."""

    start: datetime
    end: datetime
    zone: tzinfo = field(default=UTC, compare=False)

    @property
    def logical_date(self) -> datetime:
        """The interval's start: what Airflow calls the run's logical date."""
        return self.start

    @property
    def local_start(self) -> datetime:
        return self.start.astimezone(self.zone)

    @property
    def local_end(self) -> datetime:
        return self.end.astimezone(self.zone)


class Cadence:
    """Ticks of one or more cron expressions in a time zone.

    Raises InvalidCadence for an empty list, an expression cronsim cannot read (its
    message names the field) or an unknown time zone."""

    def __init__(self, schedules: Sequence[str], time_zone: str | None = None) -> None:
        if not schedules:
            raise InvalidCadence("no cron expression given")
        unknown = f"unknown time zone {time_zone!r} (an IANA name, e.g. Europe/Berlin)"
        if time_zone and time_zone not in _zone_names():
            # ZoneInfo also opens any file under the zoneinfo directories: `localtime` (the
            # operator host's own zone, not the user's), `right/...` (leap-second clocks).
            raise InvalidCadence(unknown)
        try:
            self.zone = ZoneInfo(time_zone or "UTC")
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise InvalidCadence(unknown) from error
        probe = datetime(2000, 1, 1, tzinfo=self.zone)
        expressions = []
        for written in schedules:
            expression = NICKNAMES.get(written.strip().lower(), written)
            try:
                CronSim(expression, probe)
            except CronSimError as error:
                raise InvalidCadence(f"cron expression {written!r}: {error}") from error
            expressions.append(expression)
        self.schedules = tuple(expressions)

    def ticks_after(self, moment: datetime) -> Iterator[datetime]:
        """Every tick strictly after `moment` (aware), oldest first, in UTC (see
        DataInterval for why). Endless: take what you need."""
        local = moment.astimezone(self.zone)
        merged = heapq.merge(*(_utc(CronSim(e, local)) for e in self.schedules))
        previous: datetime | None = None
        for tick in merged:
            if tick != previous:
                previous = tick
                yield tick

    def ticks_from(self, moment: datetime) -> Iterator[datetime]:
        """Every tick at or after `moment`, oldest first."""
        # cronsim works in whole seconds and yields ticks strictly after its start.
        whole = moment.replace(microsecond=0)
        return self.ticks_after(whole - _ONE_SECOND if whole == moment else whole)

    def tick_before(self, moment: datetime) -> datetime:
        """The latest tick strictly before `moment`, in UTC."""
        if moment.microsecond:
            # Rounded up in UTC: arithmetic on a local time drops its fold (PEP 495), and a
            # moment in the second copy of a fall-back hour would become the first copy.
            moment = moment.astimezone(UTC).replace(microsecond=0) + _ONE_SECOND
        local = moment.astimezone(self.zone)
        return max(next(CronSim(e, local, reverse=True)).astimezone(UTC) for e in self.schedules)

    def interval_ending_at(self, tick: datetime) -> DataInterval:
        """The data interval a run due at `tick` covers: `[previous tick, tick)`."""
        return DataInterval(self.tick_before(tick), tick.astimezone(UTC), self.zone)

    def intervals_starting(self, start: datetime, end: datetime) -> Iterator[DataInterval]:
        """The intervals whose start lies in `[start, end)`, oldest first (a backfill's
        range: Airflow's backfill selects runs by logical date the same way)."""
        ticks = self.ticks_from(start)
        current = next(ticks)
        for following in ticks:
            if current >= end:
                return
            yield DataInterval(current, following, self.zone)
            current = following

    def due_between(self, after: datetime, until: datetime) -> Iterator[datetime]:
        """The ticks in `(after, until]`: the runs that came due in that time."""
        for tick in self.ticks_after(after):
            if tick > until:
                return
            yield tick


@cache
def _zone_names() -> frozenset[str]:
    """The IANA zone names this process knows (system tzdata and the tzdata package),
    without `localtime`, which names the host's configured zone."""
    return frozenset(available_timezones() - {"localtime"})


def _utc(ticks: Iterable[datetime]) -> Iterator[datetime]:
    # Compared in UTC: two local times with different offsets order by the instant.
    for tick in ticks:
        yield tick.astimezone(UTC)


def run_name(base: str, interval: DataInterval) -> str:
    """`<base>-<YYYYMMDD>-<HHMMSS>` of the interval's start in UTC, e.g.
    `nightly-etl-20261129-230000`. A base longer than 47 characters is shortened with a
    hash (kubedag.names.shorten), so a name always fits a label value."""
    stamp = interval.start.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{shorten(base, MAX_BASE_LENGTH)}-{stamp}"


def rfc3339(moment: datetime) -> str:
    """`2026-11-29T00:00:00+01:00`; UTC as `Z`."""
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def interval_values(interval: DataInterval) -> Mapping[str, str]:
    """The `{{schedule.*}}` values of a run over `interval`, in the interval's local time."""
    return schedule_values(interval.local_start, interval.local_end)


def schedule_values(start: datetime, end: datetime) -> Mapping[str, str]:
    """The `{{schedule.*}}` values of a run over `[start, end)` (aware datetimes, shown with
    their own offsets): intervalStart, intervalEnd, logicalDate (= intervalStart; RFC 3339)
    and ds (the logical date's YYYY-MM-DD, Airflow's `ds`)."""
    return {
        "schedule.intervalStart": rfc3339(start),
        "schedule.intervalEnd": rfc3339(end),
        "schedule.logicalDate": rfc3339(start),
        "schedule.ds": start.strftime("%Y-%m-%d"),
    }


SCHEDULE_FIELDS = ("intervalStart", "intervalEnd", "logicalDate", "ds")
