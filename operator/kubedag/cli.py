"""The `kubedag` command: run the operator, check Workflow files offline, follow a run."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kubedag.api.schema_check import schema_problems
from kubedag.api.template import TaskTemplateSpec
from kubedag.api.workflow import WorkflowSpec
from kubedag.engine.specs import resolve_spec
from kubedag.names import WORKFLOW_LABEL, shorten
from kubedag.progress import summary, table, task_lines

FINISHED = ("Succeeded", "Failed")


@cache
def _spec_schemas() -> dict[str, dict[str, Any]]:
    """Kind -> the CRD's schema of its spec (what the API server checks at admission)."""
    from kubedag.api.crd import build_crds

    return {
        crd["spec"]["names"]["kind"]: crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"][
            "properties"
        ]["spec"]
        for crd in build_crds().values()
    }


def _admission_problems(name: str, document: dict[str, Any]) -> list[str]:
    schema = _spec_schemas()[document["kind"]]
    return [
        f"{name}: {problem}" for problem in schema_problems(schema, document.get("spec"), "spec")
    ]


def lint_documents(documents: Sequence[Any]) -> tuple[list[str], list[str]]:
    """Problems in the Workflow documents (`name: path: message`), and notes: templates
    referenced but not among the documents (the cluster may have them). A document the
    API server would refuse (its CRD schema; for the Pod fields, Kubernetes' own) gets
    only those problems."""
    templates: dict[str, TaskTemplateSpec] = {}
    problems: list[str] = []
    notes: list[str] = []
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "TaskTemplate":
            name = (document.get("metadata") or {}).get("name", "")
            refused = _admission_problems(name, document)
            if refused:
                problems += refused
                continue
            try:
                templates[name] = TaskTemplateSpec.model_validate(document.get("spec") or {})
            except ValidationError as error:
                problems += [
                    f"{name}: spec.{_location(issue)}: {issue['msg']}" for issue in error.errors()
                ]
    for index, document in enumerate(documents):
        if not isinstance(document, dict) or document.get("kind") != "Workflow":
            continue
        name = (document.get("metadata") or {}).get("name") or f"document {index}"
        refused = _admission_problems(name, document)
        if refused:
            problems += refused
            continue
        try:
            spec = WorkflowSpec.model_validate(document.get("spec") or {})
        except ValidationError as error:
            problems += [
                f"{name}: spec.{_location(issue)}: {issue['msg']}" for issue in error.errors()
            ]
            continue
        resolved, errors = resolve_spec(spec, templates)
        problems += [f"{name}: {problem}" for problem in errors]
        if resolved is not None:
            notes += [
                f"{name}: TaskTemplate {template!r} is not in these files; not checked"
                for template in sorted(set(resolved.missing_templates))
            ]
    return problems, notes


def _location(issue: Any) -> str:
    return ".".join(str(part) for part in issue["loc"])


def _lint(arguments: argparse.Namespace) -> int:
    failed = False
    for path in arguments.files:
        try:
            documents = list(yaml.safe_load_all(Path(path).read_text()))
        except (OSError, yaml.YAMLError) as error:
            print(f"{path}: cannot read: {error}".replace("\n", " "), file=sys.stderr)
            failed = True
            continue
        problems, notes = lint_documents(documents)
        for problem in problems:
            print(f"{path}: {problem}", file=sys.stderr)
        for note in notes:
            print(f"{path}: note: {note}", file=sys.stderr)
        failed = failed or bool(problems)
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
    seen: dict[str, str] = {}
    last_summary = ""
    while True:
        workflow, tasks = _snapshot(client, arguments.namespace, arguments.name)
        lines = task_lines(tasks, _declared_order(workflow))
        for line in lines:
            if seen.get(line.name) != line.phase:
                seen[line.name] = line.phase
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
    operator.set_defaults(run=_operator)

    lint = commands.add_parser("lint", help="check Workflow files offline")
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
