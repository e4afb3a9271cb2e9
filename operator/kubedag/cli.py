"""The `kubedag` command: run the operator, check Workflow files offline, follow a run, list
and trigger schedules."""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from kubedag.engine.intervals import Cadence, DataInterval, InvalidCadence, rfc3339, run_name
from kubedag.names import CRON_WORKFLOW_LABEL, MANUAL_RUN_ANNOTATION, WORKFLOW_LABEL, shorten
from kubedag.progress import summary, table, task_lines

FINISHED = ("Succeeded", "Failed")


def _lint(arguments: argparse.Namespace) -> int:
    # Imported here: jsonschema and cel-python take a while to load, and the other
    # commands (the operator above all) do not need them.
    from kubedag.lint import Severity, lint_text

    failed = False
    for path in arguments.files:
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as error:
            print(f"{path}: cannot read: {error}", file=sys.stderr)
            failed = True
            continue
        for finding in lint_text(text):
            label = "" if finding.severity is Severity.ERROR else f"{finding.severity}: "
            print(f"{path}: {label}{finding}", file=sys.stderr)
            failed = failed or finding.severity is Severity.ERROR
    if not failed:
        print("ok")
    return 1 if failed else 0


def _client() -> Any:
    from lightkube import Client

    return Client(field_manager="kubedag-cli")


def _declared_order(workflow: dict[str, Any]) -> list[str]:
    """The task names in the order the spec declares them: a run of a WorkflowTemplate's
    are those of the template it stored."""
    spec = workflow.get("spec") or {}
    stored = (workflow.get("status") or {}).get("storedWorkflowTemplate") or {}
    return [task.get("name", "") for task in spec.get("tasks") or stored.get("tasks") or []]


def _snapshot(
    client: Any, namespace: str, name: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from kubedag.k8s.client import RESOURCES

    workflow = client.get(RESOURCES["Workflow"], name, namespace=namespace).to_dict()
    tasks = [
        task.to_dict()
        for task in client.list(
            RESOURCES["Task"],
            namespace=namespace,
            labels={WORKFLOW_LABEL: shorten(name, 63)},
        )
    ]
    return workflow, tasks


def _watch(arguments: argparse.Namespace) -> int:
    """Prints each change of a task's phase and a summary line, until the run ends."""
    client = _client()
    deadline = time.monotonic() + arguments.timeout
    seen: dict[str, tuple[str, str]] = {}
    last_summary = ""
    while True:
        workflow, tasks = _snapshot(client, arguments.namespace, arguments.name)
        lines = task_lines(tasks, _declared_order(workflow))
        for line in lines:
            # A new phase, or a new reason its Pod does not run, is a new line.
            if seen.get(line.name) != (line.phase, line.reason if line.not_running else ""):
                seen[line.name] = (line.phase, line.reason if line.not_running else "")
                stamp = time.strftime("%H:%M:%S")
                print(f"{stamp}  {line.name:<24} {line.phase:<10} {line.detail}", flush=True)
        current = summary(workflow, lines)
        if current != last_summary:
            print(f"          {current}", flush=True)
            last_summary = current
        phase = (workflow.get("status") or {}).get("phase")
        if phase in FINISHED:
            print()
            print(table(lines))
            message = (workflow.get("status") or {}).get("message")
            print(f"\nWorkflow {arguments.name}: {phase}" + (f" ({message})" if message else ""))
            return 0 if phase == "Succeeded" else 1
        if time.monotonic() > deadline:
            print(f"gave up waiting after {arguments.timeout}s", file=sys.stderr)
            return 2
        time.sleep(arguments.interval)


def _get(arguments: argparse.Namespace) -> int:
    workflow, tasks = _snapshot(_client(), arguments.namespace, arguments.name)
    lines = task_lines(tasks, _declared_order(workflow))
    print(summary(workflow, lines))
    message = (workflow.get("status") or {}).get("message")
    if message:
        print(f"message: {message}")
    print(table(lines))
    return 0


def _submit(arguments: argparse.Namespace) -> int:
    """Creates Workflows: one that runs a WorkflowTemplate (`--from template/NAME`), or
    those of a file; prints each one's name. Params (`-p NAME=VALUE`) set the runs'
    `spec.params` values."""
    import yaml
    from lightkube import ApiError

    from kubedag.k8s.client import RESOURCES

    try:
        pairs = [_param(text) for text in arguments.param or []]
    except ValueError as error:
        print(f"-p: {error}", file=sys.stderr)
        return 2
    params = dict(pairs)
    if len(params) < len(pairs):
        twice = sorted({name for name, _ in pairs if [n for n, _ in pairs].count(name) > 1})
        print(f"-p: {', '.join(twice)} given more than once", file=sys.stderr)
        return 2
    if arguments.source and arguments.file:
        print("submit: give a FILE or --from template/NAME, not both", file=sys.stderr)
        return 2
    client = _client()
    if arguments.source:
        kind, _, template = arguments.source.partition("/")
        if kind not in ("template", "workflowtemplate", "kdwt") or not template:
            print(f"--from {arguments.source}: expected template/NAME", file=sys.stderr)
            return 2
        problem = _template_problem(client, arguments.namespace, template, params)
        if problem:
            print(problem, file=sys.stderr)
            return 1
        runs: list[dict[str, Any]] = [
            {
                "apiVersion": "kubedag.io/v1alpha1",
                "kind": "Workflow",
                "metadata": {"generateName": f"{template}-"},
                "spec": {"workflowTemplateRef": {"name": template}},
            }
        ]
    elif arguments.file:
        try:
            documents = list(yaml.safe_load_all(Path(arguments.file).read_text()))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            print(f"{arguments.file}: cannot read: {error}", file=sys.stderr)
            return 2
        runs = [d for d in documents if isinstance(d, dict) and d.get("kind") == "Workflow"]
        if not runs:
            print(f"{arguments.file}: no Workflow to submit", file=sys.stderr)
            return 2
    else:
        print("submit: give a FILE or --from template/NAME", file=sys.stderr)
        return 2
    if (arguments.name or arguments.generate_name) and len(runs) > 1:
        print("--name and --generate-name need a single Workflow", file=sys.stderr)
        return 2
    failed = False
    for run in runs:
        metadata = run.setdefault("metadata", {})
        if arguments.name:
            metadata.pop("generateName", None)
            metadata["name"] = arguments.name
        elif arguments.generate_name:
            metadata.pop("name", None)
            metadata["generateName"] = arguments.generate_name
        metadata["namespace"] = arguments.namespace
        spec = run.setdefault("spec", {})
        spec["params"] = _with_values(spec.get("params") or [], params)
        try:
            created = client.create(RESOURCES["Workflow"].from_dict(run))
        except ApiError as error:
            print(f"cannot create the Workflow: {error.status.message}", file=sys.stderr)
            failed = True
            continue
        print(created.to_dict()["metadata"]["name"])
    return 1 if failed else 0


def _param(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise ValueError(f"{text!r} is not NAME=VALUE")
    return name, value


def _with_values(declared: list[dict[str, Any]], values: dict[str, str]) -> list[dict[str, Any]]:
    """The params list with `values` set (by name), in order; new names at the end."""
    merged = [
        {**param, "value": values[param["name"]]} if param.get("name") in values else param
        for param in declared
    ]
    known = {param.get("name") for param in declared}
    merged += [
        {"name": name, "value": value} for name, value in values.items() if name not in known
    ]
    return merged


def _template_problem(client: Any, namespace: str, name: str, params: dict[str, str]) -> str:
    """Why a run of WorkflowTemplate `name` with `params` would not start ("" if none can
    be told here): the operator says the same on the run, after it is created."""
    from lightkube import ApiError
    from pydantic import ValidationError

    from kubedag.api.workflow import Param, WorkflowSpec
    from kubedag.engine.workflow_templates import run_spec
    from kubedag.k8s.client import RESOURCES

    try:
        found = client.get(RESOURCES["WorkflowTemplate"], name, namespace=namespace).to_dict()
        template = WorkflowSpec.model_validate(found.get("spec") or {})
    except ApiError as error:
        if error.status.code == 404:
            return f"WorkflowTemplate {name!r} not found in namespace {namespace!r}"
        return f"WorkflowTemplate {name!r}: {error.status.message}"
    except ValidationError:
        return ""  # the operator reports it on the run
    run = WorkflowSpec(params=[Param(name=key, value=value) for key, value in params.items()])
    _, errors = run_spec(run, template, name)
    return "; ".join(f"-p {error.message}" for error in errors)


def _operator(arguments: argparse.Namespace) -> int:
    from kubedag.api.pod import load_pod_defaults
    from kubedag.operator_main import run_operator

    try:
        task_pod_defaults = (
            load_pod_defaults(Path(arguments.task_pod_defaults))
            if arguments.task_pod_defaults
            else None
        )
    except (OSError, ValueError) as error:
        print(f"--task-pod-defaults: {error}".replace("\n", " "), file=sys.stderr)
        return 2
    run_operator(
        namespaces=arguments.namespace or [],
        metrics_port=arguments.metrics_port,
        health_port=arguments.health_port,
        verbose=arguments.verbose,
        task_pod_defaults=task_pod_defaults,
        normal_task_events=arguments.task_events == "all",
    )
    return 0


# -- kubedag schedule list|next|trigger (CronWorkflows, issue 9) ------------------------


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


def _print_rows(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _schedule_list(arguments: argparse.Namespace) -> int:
    from kubedag.k8s.client import RESOURCES

    items = [
        item.to_dict()
        for item in _client().list(RESOURCES["CronWorkflow"], namespace=arguments.namespace)
    ]
    _print_rows(schedule_rows(sorted(items, key=lambda item: item["metadata"]["name"])))
    return 0


def _cron_workflow(client: Any, name: str, namespace: str) -> dict[str, Any] | None:
    """The CronWorkflow `name` (wire form), or None after saying on stderr why it cannot be
    read (not found, forbidden: the API server's message)."""
    from lightkube import ApiError

    from kubedag.k8s.client import RESOURCES

    try:
        return dict(client.get(RESOURCES["CronWorkflow"], name, namespace=namespace).to_dict())
    except ApiError as error:
        if error.status.code == 404:
            print(f"CronWorkflow {name!r} not found in namespace {namespace!r}", file=sys.stderr)
        else:
            print(f"CronWorkflow {name!r}: {error.status.message}", file=sys.stderr)
        return None


def _schedule_next(arguments: argparse.Namespace) -> int:

    found = _cron_workflow(_client(), arguments.name, arguments.namespace)
    if found is None:
        return 1
    spec = found.get("spec") or {}
    try:
        intervals = next_intervals(spec, datetime.now(UTC), arguments.count)
    except InvalidCadence as error:
        print(f"{arguments.name}: {error}", file=sys.stderr)
        return 1
    rows = [["RUNS AT", "INTERVAL START", "INTERVAL END", "RUN NAME"]]
    for interval in intervals:
        local_end = rfc3339(interval.local_end)
        rows.append(
            [
                local_end,
                rfc3339(interval.local_start),
                local_end,
                run_name(arguments.name, interval),
            ]
        )
    _print_rows(rows)
    return 0


def _schedule_trigger(arguments: argparse.Namespace) -> int:
    from lightkube import ApiError

    from kubedag.api import API_VERSION
    from kubedag.k8s.client import RESOURCES
    from kubedag.k8s.manifests import build_run_manifest, owner_reference

    client = _client()
    body = _cron_workflow(client, arguments.name, arguments.namespace)
    if body is None:
        return 1
    spec = body.get("spec") or {}
    try:
        interval = manual_interval(spec, datetime.now(UTC))
    except InvalidCadence as error:
        print(f"{arguments.name}: {error}", file=sys.stderr)
        return 1
    name = run_name(arguments.name, interval)
    metadata = spec.get("workflowMetadata") or {}
    template = (spec.get("workflowTemplateRef") or {}).get("name")
    manifest = build_run_manifest(
        name=name,
        namespace=arguments.namespace,
        interval=interval,
        workflow_template=template,
        workflow_spec=None if template else spec.get("workflowSpec"),
        params=spec.get("params") or [],
        labels={**(metadata.get("labels") or {}), CRON_WORKFLOW_LABEL: arguments.name},
        annotations={**(metadata.get("annotations") or {}), MANUAL_RUN_ANNOTATION: "true"},
        owner=owner_reference(
            api_version=API_VERSION,
            kind="CronWorkflow",
            name=arguments.name,
            uid=body["metadata"]["uid"],
        ),
    )
    span = f"[{rfc3339(interval.local_start)}, {rfc3339(interval.local_end)})"
    try:
        client.create(RESOURCES["Workflow"].from_dict(manifest))
    except ApiError as error:
        if error.status.code != 409:
            raise
        existing = client.get(RESOURCES["Workflow"], name, namespace=arguments.namespace)
        phase = (existing.to_dict().get("status") or {}).get("phase") or "Pending"
        print(
            f"workflow {name} for {span} exists already ({phase}): one run per interval; "
            "delete it to run the interval again",
            file=sys.stderr,
        )
        return 1
    print(f"workflow {name} created for {span}")
    return 0


MAX_TICKS_SHOWN = 1000


def _tick_count(text: str) -> int:
    """`schedule next --count`: 1 to MAX_TICKS_SHOWN (argparse shows the ValueError's
    reason as a usage error, not a traceback)."""
    count = int(text)
    if not 1 <= count <= MAX_TICKS_SHOWN:
        raise argparse.ArgumentTypeError(f"{text} is not between 1 and {MAX_TICKS_SHOWN}")
    return count


def _add_schedule_commands(commands: Any) -> None:
    schedule = commands.add_parser("schedule", help="CronWorkflows: list, next ticks, trigger")
    verbs = schedule.add_subparsers(dest="schedule_command", required=True)
    listing = verbs.add_parser("list", help="the CronWorkflows of a namespace")
    listing.set_defaults(run=_schedule_list)
    upcoming = verbs.add_parser("next", help="the next ticks and their data intervals")
    upcoming.add_argument("name")
    upcoming.add_argument("-c", "--count", type=_tick_count, default=5, metavar="1..1000")
    upcoming.set_defaults(run=_schedule_next)
    trigger = verbs.add_parser(
        "trigger", help="run the latest complete interval now (named like its scheduled run)"
    )
    trigger.add_argument("name")
    trigger.set_defaults(run=_schedule_trigger)
    for verb in (listing, upcoming, trigger):
        verb.add_argument("-n", "--namespace", default="default")


# -- kubedag backfill (issue 9) -------------------------------------------------------


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


def backfill_manifest(
    arguments: argparse.Namespace, cron_time_zone: str | None = None
) -> dict[str, Any]:
    """The Backfill `kubedag backfill NAME --from --to ...` creates. A date without an
    offset is in `--time-zone`, or with --cron-workflow in the CronWorkflow's zone
    (`cron_time_zone`, read by the caller; UTC if it has none). Raises ValueError for an
    unusable date, param or combination of sources."""
    from kubedag.api import API_VERSION
    from kubedag.engine.intervals import rfc3339

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


def _backfill(arguments: argparse.Namespace) -> int:
    """Creates a Backfill (with --from and --to), or shows one."""
    import yaml
    from lightkube import ApiError

    from kubedag.k8s.client import RESOURCES

    resource = RESOURCES["Backfill"]
    client = _client()
    if arguments.from_ is None and arguments.to is None:
        try:
            found = client.get(resource, arguments.name, namespace=arguments.namespace)
        except ApiError as error:
            print(f"backfill {arguments.name}: {error.status.message}", file=sys.stderr)
            return 1
        print(_backfill_summary(found.to_dict()))
        return 0
    if arguments.from_ is None or arguments.to is None:
        print("give both --from and --to (or neither, to show the Backfill)", file=sys.stderr)
        return 2
    cron_time_zone = None
    if arguments.cron_workflow and (is_bare(arguments.from_) or is_bare(arguments.to)):
        # A bare date means midnight where the schedule runs, as with --time-zone.
        cron = _cron_workflow(client, arguments.cron_workflow, arguments.namespace)
        if cron is None:
            print("kubedag backfill: or give --from/--to with their offsets", file=sys.stderr)
            return 1
        cron_time_zone = (cron.get("spec") or {}).get("timeZone")
    try:
        manifest = backfill_manifest(arguments, cron_time_zone)
    except (ValueError, KeyError) as error:  # ZoneInfo raises KeyError subclasses
        print(f"kubedag backfill: {error}", file=sys.stderr)
        return 2
    try:
        created = client.create(resource.from_dict(manifest))
    except ApiError as error:
        print(f"kubedag backfill: {error.status.message}", file=sys.stderr)
        return 1
    body = created.to_dict()
    body["metadata"] = {
        key: body["metadata"][key] for key in ("name", "namespace") if key in body["metadata"]
    }
    print(yaml.safe_dump(body, sort_keys=False), end="")
    return 0


def _backfill_summary(body: dict[str, Any]) -> str:
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


def _add_backfill_command(commands: Any) -> None:
    backfill = commands.add_parser(
        "backfill",
        help="run a schedule's pipeline over a past range (creates a Backfill); "
        "without --from/--to, show the Backfill",
    )
    backfill.add_argument("name", help="the Backfill's name")
    backfill.add_argument("--from", dest="from_", metavar="DATE", help="first interval start")
    backfill.add_argument("--to", metavar="DATE", help="end of the range (exclusive)")
    backfill.add_argument("--cron-workflow", metavar="NAME")
    backfill.add_argument("--template", metavar="NAME", help="a WorkflowTemplate")
    backfill.add_argument(
        "--schedule", action="append", metavar="CRON", help="with --template (repeatable)"
    )
    backfill.add_argument("--time-zone", metavar="TZ", help="IANA, for --template")
    backfill.add_argument("--max-concurrent-runs", type=int, default=1, metavar="N")
    backfill.add_argument("--rerun-succeeded", action="store_true")
    backfill.add_argument("--newest-first", action="store_true")
    backfill.add_argument("-p", "--param", action="append", metavar="NAME=VALUE")
    backfill.add_argument("-n", "--namespace", default="default")
    backfill.set_defaults(run=_backfill)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubedag", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    operator = commands.add_parser("operator", help="run the operator")
    operator.add_argument(
        "-n", "--namespace", action="append", help="watch only these (repeatable)"
    )
    operator.add_argument("--metrics-port", type=int, default=8080)
    operator.add_argument("--health-port", type=int, default=None)
    operator.add_argument("-v", "--verbose", action="store_true")
    operator.add_argument(
        "--task-pod-defaults",
        metavar="FILE",
        help="YAML of cluster-wide task Pod fields (securityContext, podSecurityContext, "
        "nodeSelector, …) under every Workflow's taskDefaults and every task's own",
    )
    operator.add_argument(
        "--task-events",
        choices=("warnings", "all"),
        default="warnings",
        help="which Events to post on Tasks: Warnings only (the default: a failure, a retry, "
        "a Pod that does not run), or also the Normal TaskStarted, TaskSucceeded and "
        "TaskSkipped, one or two more writes per task",
    )
    operator.set_defaults(run=_operator)

    lint = commands.add_parser(
        "lint",
        help="check Workflow, WorkflowTemplate and TaskTemplate files offline: as kubectl "
        "reads the YAML, "
        "against the CRD schema and the engine's rules",
    )
    lint.add_argument("files", nargs="+")
    lint.set_defaults(run=_lint)

    submit = commands.add_parser(
        "submit",
        help="create a Workflow: a run of a WorkflowTemplate (--from template/NAME) or the "
        "Workflows of a file; prints each one's name",
    )
    submit.add_argument("file", nargs="?", help="a YAML file of Workflows")
    submit.add_argument("--from", dest="source", metavar="template/NAME")
    submit.add_argument(
        "-p", "--param", action="append", metavar="NAME=VALUE", help="a param value (repeatable)"
    )
    submit.add_argument("-n", "--namespace", default="default")
    naming = submit.add_mutually_exclusive_group()
    naming.add_argument("--name", help="the Workflow's name")
    naming.add_argument(
        "--generate-name", metavar="PREFIX", help="a prefix the API server completes"
    )
    submit.set_defaults(run=_submit)

    for verb, run, text in (
        ("watch", _watch, "follow a workflow until it ends"),
        ("get", _get, "show a workflow's tasks"),
    ):
        command = commands.add_parser(verb, help=text)
        command.add_argument("name")
        command.add_argument("-n", "--namespace", default="default")
        command.set_defaults(run=run)
        if verb == "watch":
            command.add_argument("--interval", type=float, default=1.0)
            command.add_argument("--timeout", type=float, default=3600)
    _add_schedule_commands(commands)
    _add_backfill_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    return int(arguments.run(arguments))


if __name__ == "__main__":
    sys.exit(main())
