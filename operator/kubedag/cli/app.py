"""The `kubedag` command line (also `kubectl kubedag`, as a kubectl plugin).

Built on click (https://click.palletsprojects.com): it parses, prints help, reports a
usage error with exit code 2, and completes commands, flags and (from the cluster) run
names in bash, zsh and fish. This module imports only click and the small `errors`
module; each verb imports what it needs (lightkube, pydantic, rich, the engine) when it
runs, so `kubedag version` starts in the time Python and click take.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any, TypeVar

import click

from kubedag.cli.errors import CliError, ExitCode

F = TypeVar("F", bound=Callable[..., Any])

OUTPUT_CHOICES = ("json", "yaml", "wide", "name")
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _target(params: dict[str, Any]) -> Any:
    from kubedag.cli.cluster import Target

    return Target(
        kubeconfig=params.get("kubeconfig"),
        context=params.get("context"),
        namespace=params.get("namespace"),
        all_namespaces=bool(params.get("all_namespaces")),
    )


def _connect(params: dict[str, Any]) -> Any:
    from kubedag.cli.cluster import connect

    return connect(_target(params))


def _complete_runs(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    """Run names of the namespace the command line names so far, for shell completion.
    Anything that goes wrong (no cluster) completes nothing rather than printing."""
    try:
        from kubedag.cli.runs import list_workflows

        names = [w["metadata"]["name"] for w in list_workflows(_connect(ctx.params))]
    except Exception:
        return []
    return [name for name in sorted(names) if name.startswith(incomplete)]


def cluster_options(*, all_namespaces: bool = False) -> Callable[[F], F]:
    """-n/--namespace, --context, --kubeconfig (and -A): as kubectl reads them."""

    def decorate(function: F) -> F:
        options = [
            click.option(
                "-n",
                "--namespace",
                metavar="NS",
                callback=_check_namespace,
                help="namespace (default: the kubeconfig context's, else 'default')",
            ),
            click.option("--context", metavar="NAME", help="kubeconfig context (default: current)"),
            click.option(
                "--kubeconfig",
                metavar="FILE",
                type=click.Path(dir_okay=False),
                help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)",
            ),
        ]
        if all_namespaces:
            options.append(
                click.option("-A", "--all-namespaces", is_flag=True, help="every namespace")
            )
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def output_option(*choices: str) -> Callable[[F], F]:
    return click.option(
        "-o", "--output", type=click.Choice(choices or OUTPUT_CHOICES), help="output format"
    )


# Kubernetes object names (https://kubernetes.io/docs/concepts/overview/working-with-objects/names/):
# a DNS subdomain (RFC 1123) for kubedag's objects, a DNS label for a namespace. A name is
# part of the request's URL: `a/status` would address the status subresource (a patch of
# the spec through it is ignored, and the verb said it was done), and an empty name the
# whole collection.
_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"


def object_name_problem(value: str, *, namespace: bool = False) -> str | None:
    """Why `value` cannot be a kubedag object's name (or, with `namespace`, a namespace's),
    None when it can."""
    import re

    pattern, limit, what = (
        (_LABEL, 63, "a namespace name") if namespace else (_SUBDOMAIN, 253, "an object name")
    )
    if not value:
        return f"{what} cannot be empty"
    if len(value) > limit or not re.fullmatch(pattern, value):
        return (
            f"{value!r} is not {what}: lowercase letters, digits and '-'"
            + ("" if namespace else ", '.'")
            + f", starting and ending with a letter or digit, at most {limit} characters"
        )
    return None


def _check_names(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """An object NAME argument (or several) checked while parsing: exit 2."""
    for name in value if isinstance(value, tuple) else [value]:
        problem = name is not None and object_name_problem(name)
        if problem:
            raise click.BadParameter(problem)
    return value


def _check_namespace(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    problem = value is not None and object_name_problem(value, namespace=True)
    if problem:
        raise click.BadParameter(problem)
    return value


RUN_NAME = click.argument("name", shell_complete=_complete_runs, callback=_check_names)


class Seconds(click.ParamType[float]):
    """A number of seconds: finite, at least `minimum` (click's FloatRange lets NaN and
    infinity through, and time.sleep refuses NaN and negative lengths)."""

    name = "seconds"

    def __init__(self, minimum: float, *, inclusive: bool = True) -> None:
        self.minimum, self.inclusive = minimum, inclusive

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        import math

        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        low_ok = number >= self.minimum if self.inclusive else number > self.minimum
        if not math.isfinite(number) or not low_ok:
            bound = f">= {self.minimum:g}" if self.inclusive else f"> {self.minimum:g}"
            self.fail(f"{value!r} is not a finite number of seconds {bound}", param, ctx)
        return number


TIMEOUT = Seconds(0)
INTERVAL = Seconds(0, inclusive=False)


def _check_age(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """An AGE option (90s, 30m, 12h, 7d, 1h30m) checked while the command line is parsed,
    so a bad one is a usage error (exit 2) before any cluster is asked."""
    if value is None:
        return None
    from kubedag.cli.runs import parse_age

    try:
        parse_age(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return value


@click.group(context_settings=CONTEXT_SETTINGS)
def cli() -> None:
    """kubedag: run and inspect kubedag Workflows (workflows.kubedag.io) on Kubernetes.

    Exit codes: 0 done, 1 the run failed (or lint found errors), 2 usage, 3 not found,
    4 cluster unusable (kubeconfig, connection, forbidden), 5 refused in this state,
    124 timed out, 130 interrupted, 141 output closed early.
    """


# -- version, completion ----------------------------------------------------------------


@cli.command()
@output_option("json", "yaml")
def version(output: str | None) -> int:
    """Print the client's version."""
    import platform

    from kubedag import __version__

    if output:
        from kubedag.cli.output import document

        data = {"clientVersion": {"kubedag": __version__, "python": platform.python_version()}}
        click.echo(document(data, output))
    else:
        click.echo(f"kubedag {__version__} (python {platform.python_version()})")
    return 0


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> int:
    """Print the shell completion script: `source <(kubedag completion bash)`."""
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None
    click.echo(completer(cli, {}, "kubedag", "_KUBEDAG_COMPLETE").source())
    return 0


# -- offline: lint, graph of a file -----------------------------------------------------


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def lint(files: Sequence[str]) -> int:
    """Check Workflow, WorkflowTemplate, TaskTemplate, CronWorkflow and Backfill files
    offline: as kubectl reads the YAML, against the CRD schema and the engine's rules.
    Exit 1 on any error (warnings alone pass)."""
    from pathlib import Path

    # jsonschema and cel-python take a while to load; only lint needs them.
    from kubedag.lint import Severity, lint_text

    failed = False
    for path in files:
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as error:
            click.echo(f"{path}: cannot read: {error}", err=True)
            failed = True
            continue
        for finding in lint_text(text):
            label = "" if finding.severity is Severity.ERROR else f"{finding.severity}: "
            click.echo(f"{path}: {label}{finding}", err=True)
            failed = failed or finding.severity is Severity.ERROR
    if not failed:
        click.echo("ok")
    return 1 if failed else 0


@cli.command()
@click.argument("source", metavar="NAME|FILE", shell_complete=_complete_runs)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot", "ascii"]),
    default="ascii",
    show_default=True,
)
@cluster_options()
def graph(source: str, fmt: str, **params: Any) -> int:
    """Draw a workflow's DAG: of a file (no cluster needed) or of a run (with its tasks'
    phases)."""
    from kubedag.cli.runs import graph as draw

    return draw(lambda: _connect(params), source, fmt)


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot"]),
    default="mermaid",
    show_default=True,
)
@cluster_options(all_namespaces=True)
def lineage(fmt: str, **params: Any) -> int:
    """Draw the datasets and the tasks that read and write them (inlets/outlets), and
    the CronWorkflows their updates trigger, for a namespace (-A: every namespace)."""
    from kubedag.cli.lineage import lineage as draw

    return draw(_connect(params), fmt)


# -- runs -------------------------------------------------------------------------------


@cli.command("list")
@click.option(
    "--phase",
    "phases",
    multiple=True,
    type=click.Choice(["Pending", "Running", "Succeeded", "Failed"]),
    help="only runs in this phase (repeatable)",
)
@click.option(
    "--since",
    metavar="AGE",
    callback=_check_age,
    help="only runs created within AGE (90s, 30m, 12h, 7d)",
)
@click.option("-l", "--selector", metavar="SELECTOR", help="label selector (a=b,c)")
@output_option()
@cluster_options(all_namespaces=True)
def list_(
    phases: Sequence[str],
    since: str | None,
    selector: str | None,
    output: str | None,
    **params: Any,
) -> int:
    """List runs (Workflows), newest first."""
    from kubedag.cli.runs import list_runs

    return list_runs(_connect(params), phases=phases, since=since, selector=selector, output=output)


@cli.command()
@RUN_NAME
@output_option()
@cluster_options()
def get(name: str, output: str | None, **params: Any) -> int:
    """Show a run as a tree: each task's phase, reason, duration, attempts, exit code,
    outputs and datasets (-o wide: every attempt; -o json|yaml: the same as data)."""
    from kubedag.cli.runs import get_run

    return get_run(_connect(params), name, output)


@cli.command()
@RUN_NAME
@click.option("--timeout", type=TIMEOUT, default=3600, show_default=True, metavar="SECONDS")
@click.option("--interval", type=INTERVAL, default=1.0, show_default=True, metavar="SECONDS")
@cluster_options()
def watch(name: str, timeout: float, interval: float, **params: Any) -> int:
    """Follow a run until it ends: a line per change. Exit 0 Succeeded, 1 Failed."""
    from kubedag.cli.runs import follow

    return follow(_connect(params), name, quiet=False, timeout=timeout, interval=interval)


def _follow_options(function: F) -> F:
    function = click.option(
        "--timeout",
        type=TIMEOUT,
        default=3600,
        show_default=True,
        metavar="SECONDS",
        help="with --watch/--wait: give up (exit 124) after this long",
    )(function)
    function = click.option(
        "--wait", is_flag=True, help="wait until the run ends; exit 1 if it failed"
    )(function)
    return click.option(
        "--watch", "watch_", is_flag=True, help="follow the run until it ends; exit 1 if it failed"
    )(function)


def _after_create(conn: Any, names: list[str], watch_: bool, wait: bool, timeout: float) -> int:
    from kubedag.cli.runs import follow

    if watch_ and wait:
        raise CliError("give --watch or --wait, not both", ExitCode.USAGE)
    if not (watch_ or wait):
        return 0
    worst = 0
    for created in names:
        worst = max(worst, follow(conn, created, quiet=wait, timeout=timeout))
    return worst


@cli.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--from", "source", metavar="template/NAME", help="run a WorkflowTemplate")
@click.option(
    "-p",
    "--param",
    "params_",
    multiple=True,
    metavar="NAME=VALUE",
    help="a param value (repeatable)",
)
@click.option("--name", help="the run's name")
@click.option("--generate-name", metavar="PREFIX", help="a prefix the API server completes")
@_follow_options
@output_option("json", "yaml", "name")
@cluster_options()
def submit(
    file: str | None,
    source: str | None,
    params_: Sequence[str],
    name: str | None,
    generate_name: str | None,
    watch_: bool,
    wait: bool,
    timeout: float,
    output: str | None,
    **params: Any,
) -> int:
    """Create runs: the Workflows of FILE (- for stdin), or a run of a WorkflowTemplate
    (--from template/NAME). Prints each run's name."""
    from kubedag.cli.runs import (
        check_submit_source,
        create_runs,
        file_namespace,
        parse_params,
        read_workflow_file,
        template_manifests,
    )

    if name and generate_name:
        raise CliError("give --name or --generate-name, not both", ExitCode.USAGE)
    if watch_ and wait:
        raise CliError("give --watch or --wait, not both", ExitCode.USAGE)
    check_submit_source(file, source)
    values = parse_params(params_)
    # The file is read before the cluster is asked: its mistakes are usage errors.
    runs = read_workflow_file(file) if file else None
    if runs is not None:
        params = {**params, "namespace": file_namespace(str(file), runs, params.get("namespace"))}
    conn = _connect(params)
    if runs is None:
        assert source is not None
        runs = template_manifests(conn, source, values)
    names = create_runs(conn, runs, values, name=name, generate_name=generate_name, output=output)
    return _after_create(conn, names, watch_, wait, timeout)


@cli.command()
@RUN_NAME
@click.option(
    "-p",
    "--param",
    "params_",
    multiple=True,
    metavar="NAME=VALUE",
    help="a param value for the new run (repeatable)",
)
@_follow_options
@output_option("json", "yaml", "name")
@cluster_options()
def resubmit(
    name: str,
    params_: Sequence[str],
    watch_: bool,
    wait: bool,
    timeout: float,
    output: str | None,
    **params: Any,
) -> int:
    """Start a new run from a run's spec (any phase); prints the new run's name."""
    from kubedag.cli.runs import create_runs, get_workflow, parse_params, resubmit_manifest

    if watch_ and wait:
        raise CliError("give --watch or --wait, not both", ExitCode.USAGE)
    values = parse_params(params_)
    conn = _connect(params)
    manifest = resubmit_manifest(get_workflow(conn, name), values)
    names = create_runs(conn, [manifest], {}, output=output)
    return _after_create(conn, names, watch_, wait, timeout)


def _control_command(verb: str, text: str) -> None:
    @cli.command(verb, help=text)
    @RUN_NAME
    @cluster_options()
    def command(name: str, **params: Any) -> int:
        from kubedag.cli.runs import control

        return control(_connect(params), verb, name)


_control_command("suspend", "Start no new task (running ones finish): spec.suspend=true.")
_control_command("resume", "Undo suspend: spec.suspend=false.")
_control_command(
    "stop",
    "Start no new task; running ones finish, the exit handler runs; the run ends Failed "
    "(Stopped): spec.shutdown=Stop.",
)
_control_command(
    "terminate",
    "Delete running Jobs too; no exit handler; the run ends Failed (Terminated): "
    "spec.shutdown=Terminate.",
)


@cli.command()
@click.argument("names", nargs=-1, shell_complete=_complete_runs, callback=_check_names)
@click.option("--completed", is_flag=True, help="every finished run (Succeeded or Failed)")
@click.option(
    "--older-than",
    metavar="AGE",
    callback=_check_age,
    help="finished runs that ended more than AGE ago",
)
@click.option("-l", "--selector", metavar="SELECTOR", help="label selector (a=b,c)")
@click.option("--dry-run", is_flag=True, help="print what would be deleted")
@cluster_options(all_namespaces=True)
def delete(
    names: Sequence[str],
    completed: bool,
    older_than: str | None,
    selector: str | None,
    dry_run: bool,
    **params: Any,
) -> int:
    """Delete runs (their Tasks, Jobs and Pods go with them)."""
    from kubedag.cli.runs import delete_runs

    return delete_runs(
        _connect(params),
        names,
        completed=completed,
        older_than=older_than,
        selector=selector,
        dry_run=dry_run,
    )


@cli.command()
@RUN_NAME
@click.argument("task", required=False)
@click.option("-f", "--follow", "follow_logs", is_flag=True, help="stream the log (one TASK)")
@click.option(
    "--attempt", type=click.IntRange(min=1), metavar="N", help="this attempt (default: the last)"
)
@click.option("--tail", type=click.IntRange(min=0), metavar="LINES", help="last LINES only")
@cluster_options()
def logs(
    name: str,
    task: str | None,
    follow_logs: bool,
    attempt: int | None,
    tail: int | None,
    **params: Any,
) -> int:
    """Print a task's log from its Pod (without TASK: every started task's, prefixed)."""
    from kubedag.cli.runs import logs as read_logs

    return read_logs(
        _connect(params), name, task, attempt=attempt, follow_logs=follow_logs, tail=tail
    )


@cli.command()
@RUN_NAME
@_follow_options
@cluster_options()
def retry(name: str, watch_: bool, wait: bool, timeout: float, **params: Any) -> int:
    """Run a Failed run again from the point of failure (succeeded tasks keep their
    results): sets the kubedag.io/retry annotation (and clears spec.shutdown)."""
    from kubedag.cli.runs import control, wait_for_retry

    if watch_ and wait:
        raise CliError("give --watch or --wait, not both", ExitCode.USAGE)
    conn = _connect(params)

    def after(token: str) -> int:
        if not (watch_ or wait):
            return 0
        wait_for_retry(conn, name, token, timeout)
        return _after_create(conn, [name], watch_, wait, timeout)

    return control(conn, "retry", name, after)


# -- schedules and backfills ------------------------------------------------------------


@cli.group()
def schedule() -> None:
    """CronWorkflows: list, next ticks, trigger."""


@schedule.command("list")
@output_option()
@cluster_options(all_namespaces=True)
def schedule_list(output: str | None, **params: Any) -> int:
    """The CronWorkflows of a namespace."""
    from kubedag.cli.schedules import schedule_list as show

    return show(_connect(params), output)


@schedule.command("next")
@click.argument("name", callback=_check_names)
@click.option("-c", "--count", type=click.IntRange(1, 1000), default=5, show_default=True)
@cluster_options()
def schedule_next(name: str, count: int, **params: Any) -> int:
    """The next ticks and their data intervals."""
    from kubedag.cli.schedules import schedule_next as show

    return show(_connect(params), name, count)


@schedule.command("trigger")
@click.argument("name", callback=_check_names)
@cluster_options()
def schedule_trigger(name: str, **params: Any) -> int:
    """Run the latest complete interval now (named like its scheduled run)."""
    from kubedag.cli.schedules import schedule_trigger as trigger

    return trigger(_connect(params), name)


@cli.command()
@click.argument("name", callback=_check_names)
@click.option("--from", "from_", metavar="DATE", help="first interval start")
@click.option("--to", metavar="DATE", help="end of the range (exclusive)")
@click.option("--cron-workflow", metavar="NAME")
@click.option("--template", metavar="NAME", help="a WorkflowTemplate")
@click.option(
    "--schedule", "schedule_", multiple=True, metavar="CRON", help="with --template (repeatable)"
)
@click.option("--time-zone", metavar="TZ", help="IANA, for --template")
@click.option("--max-concurrent-runs", type=click.IntRange(min=1), default=1, metavar="N")
@click.option("--rerun-succeeded", is_flag=True)
@click.option("--newest-first", is_flag=True)
@click.option("-p", "--param", "params_", multiple=True, metavar="NAME=VALUE")
@cluster_options()
def backfill(
    name: str,
    from_: str | None,
    to: str | None,
    cron_workflow: str | None,
    template: str | None,
    schedule_: Sequence[str],
    time_zone: str | None,
    max_concurrent_runs: int,
    rerun_succeeded: bool,
    newest_first: bool,
    params_: Sequence[str],
    **params: Any,
) -> int:
    """Run a schedule's pipeline over a past range (creates a Backfill); without
    --from/--to, show the Backfill."""
    from kubedag.cli.schedules import backfill as run

    conn = _connect(params)
    arguments = backfill_arguments(
        {
            "name": name,
            "from_": from_,
            "to": to,
            "cron_workflow": cron_workflow,
            "template": template,
            "schedule_": schedule_,
            "time_zone": time_zone,
            "max_concurrent_runs": max_concurrent_runs,
            "rerun_succeeded": rerun_succeeded,
            "newest_first": newest_first,
            "params_": params_,
        },
        conn.namespace,
    )
    return run(conn, arguments)


def backfill_arguments(options: dict[str, Any], namespace: str) -> SimpleNamespace:
    """The `backfill` command's options (click's names) as the attributes
    `schedules.backfill_manifest` reads, in `namespace`."""
    return SimpleNamespace(
        name=options["name"],
        namespace=namespace,
        from_=options.get("from_"),
        to=options.get("to"),
        cron_workflow=options.get("cron_workflow"),
        template=options.get("template"),
        schedule=list(options.get("schedule_") or ()),
        time_zone=options.get("time_zone"),
        max_concurrent_runs=options.get("max_concurrent_runs", 1),
        rerun_succeeded=bool(options.get("rerun_succeeded")),
        newest_first=bool(options.get("newest_first")),
        param=list(options.get("params_") or ()),
    )


# -- the operator -----------------------------------------------------------------------


@cli.command()
@click.option(
    "-n", "--namespace", "namespaces", multiple=True, help="watch only these (repeatable)"
)
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--health-port", type=click.IntRange(0, 65535), default=None)
@click.option("-v", "--verbose", is_flag=True)
@click.option(
    "--task-pod-defaults",
    metavar="FILE",
    help="YAML of cluster-wide task Pod fields (securityContext, podSecurityContext, "
    "nodeSelector, …) under every Workflow's taskDefaults and every task's own",
)
@click.option(
    "--task-events",
    type=click.Choice(["warnings", "all"]),
    default="warnings",
    show_default=True,
    help="which Events to post on Tasks: Warnings only (a failure, a retry, a Pod that does "
    "not run), or also the Normal TaskStarted, TaskSucceeded and TaskSkipped",
)
def operator(
    namespaces: Sequence[str],
    metrics_port: int,
    health_port: int | None,
    verbose: bool,
    task_pod_defaults: str | None,
    task_events: str,
) -> int:
    """Run the operator."""
    from pathlib import Path

    from kubedag.api.pod import load_pod_defaults
    from kubedag.operator_main import run_operator

    try:
        defaults = load_pod_defaults(Path(task_pod_defaults)) if task_pod_defaults else None
    except (OSError, ValueError) as error:
        message = f"--task-pod-defaults: {error}".replace("\n", " ")
        raise CliError(message, ExitCode.USAGE) from None
    run_operator(
        namespaces=list(namespaces),
        metrics_port=metrics_port,
        health_port=health_port,
        verbose=verbose,
        task_pod_defaults=defaults,
        normal_task_events=task_events == "all",
    )
    return 0


# -- entry point ------------------------------------------------------------------------


def _prog_name() -> str:
    """`kubectl kubedag` when run as the kubectl plugin, else `kubedag`."""
    invoked = os.path.basename(sys.argv[0]) if sys.argv else ""
    return "kubectl kubedag" if invoked.startswith("kubectl-kubedag") else "kubedag"


def _is_transport_error(error: BaseException) -> bool:
    """An error of the HTTP layer (connection refused, TLS, timeout) or of lightkube's
    configuration: the cluster cannot be used, not a bug of ours."""
    module = type(error).__module__ or ""
    if module.split(".")[0] in _CLUSTER_LAYER:
        return True
    # An OSError raised inside lightkube or httpx while it talks to the cluster: an exec
    # credential plugin that is not installed, a certificate file that went away.
    if not isinstance(error, OSError):
        return False
    traceback = error.__traceback__
    while traceback is not None:
        name = traceback.tb_frame.f_globals.get("__name__") or ""
        if name.split(".")[0] in _CLUSTER_LAYER:
            return True
        traceback = traceback.tb_next
    return False


_CLUSTER_LAYER = ("httpx", "httpx2", "httpcore", "ssl", "lightkube")


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code (errors.py). Prints a user's mistake or
    an unusable cluster as one line on stderr, never a traceback."""
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name=_prog_name(),
            standalone_mode=False,
        )
        sys.stdout.flush()
        return int(result or 0)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.ClickException as error:
        error.show()
        return int(error.exit_code)
    except CliError as error:
        click.echo(f"kubedag: {error.message}", err=True)
        return int(error.code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("", err=True)
        return int(ExitCode.INTERRUPTED)
    except SystemExit as exiting:
        # click meets EPIPE itself: it wraps stdout to swallow the last flush and exits 1.
        if type(sys.stdout).__name__.endswith("PacifyFlushWrapper"):
            return int(ExitCode.BROKEN_PIPE)
        raise exiting
    except BrokenPipeError:
        # The reader is gone (`| head`): stop quietly. Python would complain once more
        # while flushing stdout at exit; point it at /dev/null first (Python docs, signal).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return int(ExitCode.BROKEN_PIPE)
    except Exception as error:
        if _is_transport_error(error):
            click.echo(f"kubedag: {_transport_message(error)}", err=True)
            return int(ExitCode.CLUSTER)
        raise


def _transport_message(error: BaseException) -> str:
    """One line for an error of the HTTP layer. An HTTP error without a Kubernetes Status
    body (lightkube raises httpx.HTTPStatusError for it) is the API server saying it has
    no such resource at all (404: the CRD is not installed) or a proxy's answer."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    request = getattr(error, "request", None)
    if isinstance(status, int) and request is not None:
        path = str(request.url.path)
        if status == 404:
            # /apis/GROUP/VERSION[/namespaces/NS]/PLURAL[/NAME]
            parts = path.strip("/").split("/")
            rest = parts[3:]
            if rest[:1] == ["namespaces"] and len(rest) > 2:
                rest = rest[2:]
            resource = f"{rest[0]}.{parts[1]}" if rest and parts[0] == "apis" else path
            return (
                f"the cluster has no resource {resource}: kubedag's CustomResource"
                "Definitions are not installed there (helm install the chart, or kubectl "
                "apply -f crds/), or the cluster is not the one meant (--context)"
            )
        return f"the API server answered HTTP {status} to {request.method} {path}"
    return "cannot reach the API server: " + " ".join(str(error).split())
