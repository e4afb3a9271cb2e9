"""`kubedag schedule list|next|trigger` (CronWorkflows) and `kubedag backfill` (issue 9)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kubedag.cli.cluster import Connection
from kubedag.cli.errors import CliError, ExitCode, api_error
from kubedag.cli.output import document, echo
from kubedag.cli.views import format_rows
from kubedag.engine.intervals import Cadence, DataInterval, InvalidCadence, rfc3339, run_name

MAX_TICKS_SHOWN = 1000


def schedule_rows(items: Sequence[dict[str, Any]]) -> list[list[str]]:
    """`kubedag schedule list` rows of CronWorkflow objects (wire form): name, schedules,
    time zone, suspended, active runs, last and next schedule time."""
    rows = [["NAME", "SCHEDULES", "TIME ZONE", "SUSPENDED", "ACTIVE", "LAST", "NEXT"]]
    for item in items:
        spec, status = item.get("spec") or {}, item.get("status") or {}
        rows.append(
            [
                item["metadata"]["name"],
                " | ".join(spec.get("schedules") or []),
                spec.get("timeZone") or "UTC",
                "yes" if spec.get("suspend") else "no",
                str(len(status.get("active") or [])),
                status.get("lastScheduleTime") or "-",
                status.get("nextScheduleTime") or "-",
            ]
        )
    return rows


def next_intervals(spec: dict[str, Any], now: datetime, count: int) -> list[DataInterval]:
    """The data intervals of the next `count` ticks after `now` of a CronWorkflow's spec
    (wire form), computed locally. Raises InvalidCadence for a schedule that cannot run."""
    cadence = Cadence(spec.get("schedules") or [], spec.get("timeZone"))
    ticks = itertools.islice(cadence.ticks_after(now), count)
    return [cadence.interval_ending_at(tick) for tick in ticks]


def manual_interval(spec: dict[str, Any], now: datetime) -> DataInterval:
    """The interval `kubedag schedule trigger` runs: the one of the latest tick at or before
    `now` (its newest complete interval, what Airflow infers for a manual run of a cron
    schedule). Its run gets the scheduled run's name, so a manual run and a scheduled (or
    backfill) run of one interval are one object: a trigger can never double a run."""
    cadence = Cadence(spec.get("schedules") or [], spec.get("timeZone"))
    tick = cadence.tick_before(now.replace(microsecond=0) + timedelta(seconds=1))
    return cadence.interval_ending_at(tick)


def _resource(kind: str) -> Any:
    from kubedag.k8s.client import RESOURCES

    return RESOURCES[kind]


def cron_workflow(conn: Connection, name: str) -> dict[str, Any]:
    """The CronWorkflow `name` (wire form). Raises CliError (NOT_FOUND, or the API
    server's reason)."""
    from lightkube import ApiError

    try:
        return dict(
            conn.client.get(_resource("CronWorkflow"), name, namespace=conn.namespace).to_dict()
        )
    except ApiError as error:
        raise api_error(error, f"CronWorkflow {name!r} in namespace {conn.namespace!r}") from None


def schedule_list(conn: Connection, output: str | None) -> int:
    from lightkube import ApiError

    try:
        items = [
            dict(item.to_dict())
            for item in conn.client.list(_resource("CronWorkflow"), namespace=conn.list_namespace)
        ]
    except ApiError as error:
        raise api_error(error, "CronWorkflows") from None
    items.sort(key=lambda item: (item["metadata"].get("namespace", ""), item["metadata"]["name"]))
    if output in ("json", "yaml"):
        echo(document({"apiVersion": "v1", "kind": "List", "items": items}, output))
    elif output == "name":
        for item in items:
            echo(f"cronworkflow.kubedag.io/{item['metadata']['name']}")
    else:
        rows = schedule_rows(items)
        if conn.all_namespaces:
            rows = [["NAMESPACE", *rows[0]]] + [
                [item["metadata"].get("namespace", ""), *row]
                for item, row in zip(items, rows[1:], strict=True)
            ]
        echo(format_rows(rows))
    return 0


def schedule_next(conn: Connection, name: str, count: int) -> int:
    spec = cron_workflow(conn, name).get("spec") or {}
    try:
        intervals = next_intervals(spec, datetime.now(UTC), count)
    except InvalidCadence as error:
        raise CliError(f"{name}: {error}", ExitCode.REFUSED) from None
    rows = [["RUNS AT", "INTERVAL START", "INTERVAL END", "RUN NAME"]]
    for interval in intervals:
        local_end = rfc3339(interval.local_end)
        rows.append([local_end, rfc3339(interval.local_start), local_end, run_name(name, interval)])
    echo(format_rows(rows))
    return 0


def schedule_trigger(conn: Connection, name: str) -> int:
    """Creates the run of the latest complete interval, named like its scheduled run; a run
    of that interval that exists already is REFUSED (one run per interval)."""
    from lightkube import ApiError

    from kubedag.api import API_VERSION
    from kubedag.k8s.manifests import build_run_manifest, owner_reference
    from kubedag.names import CRON_WORKFLOW_LABEL, MANUAL_RUN_ANNOTATION

    body = cron_workflow(conn, name)
    spec = body.get("spec") or {}
    try:
        interval = manual_interval(spec, datetime.now(UTC))
    except InvalidCadence as error:
        raise CliError(f"{name}: {error}", ExitCode.REFUSED) from None
    run = run_name(name, interval)
    metadata = spec.get("workflowMetadata") or {}
    template = (spec.get("workflowTemplateRef") or {}).get("name")
    manifest = build_run_manifest(
        name=run,
        namespace=conn.namespace,
        interval=interval,
        workflow_template=template,
        workflow_spec=None if template else spec.get("workflowSpec"),
        params=spec.get("params") or [],
        labels={**(metadata.get("labels") or {}), CRON_WORKFLOW_LABEL: name},
        annotations={**(metadata.get("annotations") or {}), MANUAL_RUN_ANNOTATION: "true"},
        owner=owner_reference(
            api_version=API_VERSION, kind="CronWorkflow", name=name, uid=body["metadata"]["uid"]
        ),
    )
    span = f"[{rfc3339(interval.local_start)}, {rfc3339(interval.local_end)})"
    try:
        conn.client.create(_resource("Workflow").from_dict(manifest))
    except ApiError as error:
        if error.status.code != 409:
            raise api_error(error, f"Workflow {run!r}") from None
        existing = conn.client.get(_resource("Workflow"), run, namespace=conn.namespace)
        phase = (existing.to_dict().get("status") or {}).get("phase") or "Pending"
        raise CliError(
            f"workflow {run} for {span} exists already ({phase}): one run per interval; "
            "delete it to run the interval again",
            ExitCode.REFUSED,
        ) from None
    echo(f"workflow {run} created for {span}")
    return 0


# -- backfill ---------------------------------------------------------------------------


def _moment(text: str, time_zone: str | None) -> datetime:
    """An RFC 3339 date-time, or a bare date (midnight in `time_zone`, else UTC). Raises
    ValueError with the accepted forms."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise ValueError(
            f"{text!r} is neither a date (2026-11-01) nor a date-time (2026-11-01T00:00:00+01:00)"
        ) from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(time_zone or "UTC"))
    return moment


def is_bare(text: str) -> bool:
    """Whether a --from/--to value has no zone offset (a date, or a local date-time)."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).tzinfo is None
    except ValueError:
        return False  # _moment says why


def backfill_manifest(arguments: Any, cron_time_zone: str | None = None) -> dict[str, Any]:
    """The Backfill `kubedag backfill NAME --from --to ...` creates, from an object with
    the flags as attributes (name, namespace, from_, to, cron_workflow, template, schedule,
    time_zone, max_concurrent_runs, rerun_succeeded, newest_first, param). A date without
    an offset is in `--time-zone`, or with --cron-workflow in the CronWorkflow's zone
    (`cron_time_zone`, read by the caller; UTC if it has none). Raises ValueError for an
    unusable date, param or combination of sources."""
    from kubedag.api import API_VERSION

    if bool(arguments.cron_workflow) == bool(arguments.template):
        raise ValueError("give exactly one of --cron-workflow and --template")
    if arguments.template and not arguments.schedule:
        raise ValueError("--template needs --schedule (a cron expression; repeatable)")
    if arguments.cron_workflow and (arguments.schedule or arguments.time_zone):
        raise ValueError("--cron-workflow uses the CronWorkflow's schedules and time zone")
    spec: dict[str, Any] = {
        "start": rfc3339(_moment(arguments.from_, arguments.time_zone or cron_time_zone)),
        "end": rfc3339(_moment(arguments.to, arguments.time_zone or cron_time_zone)),
        "maxConcurrentRuns": arguments.max_concurrent_runs,
        "rerunSucceeded": arguments.rerun_succeeded,
        "order": "NewestFirst" if arguments.newest_first else "OldestFirst",
    }
    if arguments.cron_workflow:
        spec["cronWorkflowRef"] = {"name": arguments.cron_workflow}
    else:
        spec["workflowTemplateRef"] = {"name": arguments.template}
        spec["schedules"] = list(arguments.schedule)
        if arguments.time_zone:
            spec["timeZone"] = arguments.time_zone
    params = []
    for pair in arguments.param or []:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            raise ValueError(f"-p {pair!r}: write NAME=VALUE")
        params.append({"name": name, "value": value})
    if params:
        spec["params"] = params
    return {
        "apiVersion": API_VERSION,
        "kind": "Backfill",
        "metadata": {"name": arguments.name, "namespace": arguments.namespace},
        "spec": spec,
    }


def backfill(conn: Connection, arguments: Any) -> int:
    """Creates a Backfill (with --from and --to), or shows one (neither)."""
    import yaml
    from lightkube import ApiError

    resource = _resource("Backfill")
    what = f"Backfill {arguments.name!r} in namespace {conn.namespace!r}"
    if arguments.from_ is None and arguments.to is None:
        try:
            found = conn.client.get(resource, arguments.name, namespace=conn.namespace)
        except ApiError as error:
            raise api_error(error, what) from None
        echo(backfill_summary(found.to_dict()))
        return 0
    if arguments.from_ is None or arguments.to is None:
        raise CliError(
            "give both --from and --to (or neither, to show the Backfill)", ExitCode.USAGE
        )
    cron_time_zone = None
    if arguments.cron_workflow and (is_bare(arguments.from_) or is_bare(arguments.to)):
        # A bare date means midnight where the schedule runs, as with --time-zone.
        try:
            cron = cron_workflow(conn, arguments.cron_workflow)
        except CliError as error:
            raise CliError(
                f"{error.message} (or give --from/--to with their offsets)", error.code
            ) from None
        cron_time_zone = (cron.get("spec") or {}).get("timeZone")
    try:
        manifest = backfill_manifest(arguments, cron_time_zone)
    except (ValueError, KeyError) as error:  # ZoneInfo raises KeyError subclasses
        raise CliError(f"backfill: {error}", ExitCode.USAGE) from None
    try:
        created = conn.client.create(resource.from_dict(manifest))
    except ApiError as error:
        raise CliError(f"backfill: {error.status.message}", ExitCode.RUN_FAILED) from None
    body = created.to_dict()
    body["metadata"] = {
        key: body["metadata"][key] for key in ("name", "namespace") if key in body["metadata"]
    }
    echo(str(yaml.safe_dump(body, sort_keys=False)).rstrip("\n"))
    return 0


def backfill_summary(body: dict[str, Any]) -> str:
    status = body.get("status") or {}
    runs = status.get("runs") or {}
    lines = [
        f"Backfill {body['metadata']['name']}: {status.get('phase', 'Pending')} "
        f"{status.get('progress', '')}".rstrip(),
        "runs: "
        + ", ".join(
            f"{runs.get(key, 0)} {key}" for key in ("succeeded", "failed", "running", "pending")
        ),
    ]
    if status.get("message"):
        lines.append(f"message: {status['message']}")
    for failed in status.get("failedIntervals") or []:
        lines.append(f"failed: {failed['run']} (interval start {failed['intervalStart']})")
    return "\n".join(lines)
