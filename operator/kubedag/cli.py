"""The `kubedag` command: run the operator, check Workflow files offline, follow a run."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kubedag.names import WORKFLOW_LABEL, shorten
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
    return [task.get("name", "") for task in (workflow.get("spec") or {}).get("tasks") or []]


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
        help="check Workflow and TaskTemplate files offline: as kubectl reads the YAML, "
        "against the CRD schema and the engine's rules",
    )
    lint.add_argument("files", nargs="+")
    lint.set_defaults(run=_lint)

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    return int(arguments.run(arguments))


if __name__ == "__main__":
    sys.exit(main())
