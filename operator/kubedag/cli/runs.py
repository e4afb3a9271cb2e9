"""The verbs on Workflows (runs): list, get, watch, submit, logs, retry, resubmit, suspend,
resume, stop, terminate, delete, graph.

Run control maps onto what the operator already reads (README, "The workflow"):
`suspend`/`resume` set `spec.suspend`; `stop`/`terminate` set `spec.shutdown` to `Stop`
/`Terminate`; `retry` sets the annotation `kubedag.io/retry` to a new value (and clears
`spec.shutdown`, which would end the retried run again); `resubmit` creates a new
Workflow from the old one's spec. Every request goes to `workflows.kubedag.io` and
`tasks.kubedag.io` (lightkube resources with the full group), never a bare `workflows`.
Errors are CliError with an exit code (errors.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kubedag.cli.cluster import Connection
from kubedag.cli.errors import CliError, ExitCode, api_error
from kubedag.cli.output import document, echo, object_name
from kubedag.cli.views import (
    FINISHED,
    declared_order,
    finished_at_or_before,
    format_rows,
    list_rows,
    parse_time,
    workflow_view,
)

PHASES = ("Pending", "Running", "Succeeded", "Failed")


def _resource(kind: str) -> Any:
    from kubedag.k8s.client import RESOURCES

    return RESOURCES[kind]


def _what(kind: str, name: str, namespace: str) -> str:
    return f"{kind} {name!r} in namespace {namespace!r}"


def get_workflow(conn: Connection, name: str) -> dict[str, Any]:
    """The Workflow `name` (wire form). Raises CliError(NOT_FOUND) if there is none."""
    from lightkube import ApiError

    try:
        found = conn.client.get(_resource("Workflow"), name, namespace=conn.namespace)
    except ApiError as error:
        raise api_error(error, _what("Workflow", name, conn.namespace)) from None
    return dict(found.to_dict())


def run_tasks(conn: Connection, name: str) -> list[dict[str, Any]]:
    """The Task objects of run `name` (by the kubedag.io/workflow label)."""
    from lightkube import ApiError

    from kubedag.names import WORKFLOW_LABEL, shorten

    try:
        found = conn.client.list(
            _resource("Task"),
            namespace=conn.namespace,
            labels={WORKFLOW_LABEL: shorten(name, 63)},
        )
        return [dict(task.to_dict()) for task in found]
    except ApiError as error:
        raise api_error(error, f"the Tasks of {_what('Workflow', name, conn.namespace)}") from None


def parse_age(text: str) -> timedelta:
    """`90s`, `30m`, `12h`, `7d`, `1h30m` (kubectl's --since style, plus days) as a
    timedelta. Raises ValueError with the accepted forms."""
    import re

    parts = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text.strip())
    if not text.strip() or parts is None:
        raise ValueError(f"{text!r} is not a duration like 90s, 30m, 12h, 7d or 1h30m")
    days, hours, minutes, seconds = (int(value or 0) for value in parts.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


# -- list / get -------------------------------------------------------------------------


def list_workflows(conn: Connection, selector: str | None = None) -> list[dict[str, Any]]:
    from lightkube import ApiError

    try:
        found = conn.client.list(
            _resource("Workflow"), namespace=conn.list_namespace, labels=_labels(selector)
        )
        return [dict(item.to_dict()) for item in found]
    except ApiError as error:
        where = "all namespaces" if conn.all_namespaces else f"namespace {conn.namespace!r}"
        raise api_error(error, f"Workflows in {where}") from None


def _labels(selector: str | None) -> Any:
    """A `-l a=b,c` selector as lightkube's labels mapping (None: no selector)."""
    if not selector:
        return None
    from lightkube.operators import exists

    labels: dict[str, Any] = {}
    for term in selector.split(","):
        key, equals, value = term.partition("=")
        if not key.strip():
            raise CliError(f"-l {selector!r}: empty label key", ExitCode.USAGE)
        labels[key.strip()] = value.strip() if equals else exists()
    return labels


def list_runs(
    conn: Connection,
    *,
    phases: Sequence[str],
    since: str | None,
    selector: str | None,
    output: str | None,
) -> int:
    """`kubedag list`: the runs of a namespace (all with -A), newest first."""
    now = datetime.now(UTC)
    try:
        cutoff = now - parse_age(since) if since else None
    except ValueError as error:
        raise CliError(f"--since: {error}", ExitCode.USAGE) from None
    items = [
        item
        for item in list_workflows(conn, selector)
        if (not phases or ((item.get("status") or {}).get("phase") or "Pending") in phases)
        and (
            cutoff is None
            or (parse_time(item["metadata"].get("creationTimestamp")) or now) >= cutoff
        )
    ]
    if output in ("json", "yaml"):
        echo(document({"apiVersion": "v1", "kind": "List", "items": items}, output))
    elif output == "name":
        for item in items:
            echo(object_name("Workflow", item["metadata"]["name"]))
    elif not items:
        where = "any namespace" if conn.all_namespaces else f"namespace {conn.namespace}"
        echo(f"No workflows found in {where}.", err=True)
    else:
        echo(
            format_rows(
                list_rows(items, now, wide=output == "wide", namespaces=conn.all_namespaces)
            )
        )
    return 0


def get_run(conn: Connection, name: str, output: str | None) -> int:
    """`kubedag get NAME`: the run as a tree, or its view (views.py) as JSON/YAML."""
    workflow = get_workflow(conn, name)
    if output == "name":
        echo(object_name("Workflow", name))
        return 0
    view = workflow_view(workflow, run_tasks(conn, name), datetime.now(UTC))
    if output in ("json", "yaml"):
        echo(document(view, output))
    else:
        from kubedag.cli.output import print_tree

        print_tree(view, wide=output == "wide")
    return 0


# -- watch / wait -----------------------------------------------------------------------


def follow(
    conn: Connection, name: str, *, quiet: bool, timeout: float, interval: float = 1.0
) -> int:
    """Polls run `name` until it ends. Unless `quiet`, prints each change of a task's
    phase (or of why its Pod does not run) and of the summary line, then the final table.
    Returns 0 when it Succeeded, 1 when it Failed; raises CliError(TIMEOUT) past
    `timeout` seconds."""
    from kubedag.progress import summary, table, task_lines

    deadline = time.monotonic() + timeout
    seen: dict[str, tuple[str, str]] = {}
    last_summary = ""
    while True:
        workflow = get_workflow(conn, name)
        lines = task_lines(run_tasks(conn, name), declared_order(workflow))
        status = workflow.get("status") or {}
        phase = status.get("phase")
        if not quiet:
            for line in lines:
                state = (line.phase, line.reason if line.not_running else "")
                if seen.get(line.name) != state:
                    seen[line.name] = state
                    stamp = time.strftime("%H:%M:%S")
                    echo(f"{stamp}  {line.name:<24} {line.phase:<10} {line.detail}")
            current = summary(workflow, lines)
            if current != last_summary:
                echo(f"          {current}")
                last_summary = current
        if phase in FINISHED:
            if not quiet:
                echo()
                echo(table(lines))
            message = status.get("message")
            echo(f"Workflow {name}: {phase}" + (f" ({message})" if message else ""))
            return 0 if phase == "Succeeded" else int(ExitCode.RUN_FAILED)
        if time.monotonic() > deadline:
            raise CliError(
                f"gave up waiting for {name} after {timeout:g}s (phase {phase or 'Pending'})",
                ExitCode.TIMEOUT,
            )
        time.sleep(interval)


def wait_for_retry(conn: Connection, name: str, token: str, timeout: float) -> None:
    """Waits until the operator acted on retry request `token` (status.retryHandled), so a
    following watch does not read the run's old, Failed, phase. Raises CliError(TIMEOUT)."""
    deadline = time.monotonic() + timeout
    while (get_workflow(conn, name).get("status") or {}).get("retryHandled") != token:
        if time.monotonic() > deadline:
            raise CliError(
                f"the operator did not act on the retry of {name} within {timeout:g}s "
                "(is it running?)",
                ExitCode.TIMEOUT,
            )
        time.sleep(0.5)


# -- submit / resubmit ------------------------------------------------------------------


def parse_params(pairs: Sequence[str]) -> dict[str, str]:
    """`-p NAME=VALUE` values by name. Raises CliError(USAGE) for a pair without `=` or a
    name given twice."""
    values: dict[str, str] = {}
    for text in pairs:
        name, equals, value = text.partition("=")
        if not equals or not name:
            raise CliError(f"-p {text!r} is not NAME=VALUE", ExitCode.USAGE)
        if name in values:
            raise CliError(f"-p {name} given more than once", ExitCode.USAGE)
        values[name] = value
    return values


def with_values(declared: list[dict[str, Any]], values: dict[str, str]) -> list[dict[str, Any]]:
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


def template_problem(conn: Connection, name: str, params: dict[str, str]) -> CliError | None:
    """Why a run of WorkflowTemplate `name` with `params` would not start (None if none can
    be told here): the operator says the same on the run, after it is created."""
    from lightkube import ApiError
    from pydantic import ValidationError

    from kubedag.api.workflow import Param, WorkflowSpec
    from kubedag.engine.workflow_templates import run_spec

    try:
        found = conn.client.get(
            _resource("WorkflowTemplate"), name, namespace=conn.namespace
        ).to_dict()
        template = WorkflowSpec.model_validate(found.get("spec") or {})
    except ApiError as error:
        return api_error(error, _what("WorkflowTemplate", name, conn.namespace))
    except ValidationError:
        return None  # the operator reports it on the run
    run = WorkflowSpec(params=[Param(name=key, value=value) for key, value in params.items()])
    _, errors = run_spec(run, template, name)
    if not errors:
        return None
    return CliError("; ".join(f"-p {error.message}" for error in errors), ExitCode.USAGE)


def check_submit_source(file: str | None, source: str | None) -> None:
    """Raises CliError(USAGE) unless exactly one of FILE and --from is given, and --from
    is `template/NAME` with NAME an object name."""
    if source and file:
        raise CliError("submit: give a FILE or --from template/NAME, not both", ExitCode.USAGE)
    if not (source or file):
        raise CliError("submit: give a FILE or --from template/NAME", ExitCode.USAGE)
    if source:
        from kubedag.cli.app import object_name_problem

        kind, _, template = source.partition("/")
        if kind not in ("template", "workflowtemplate", "kdwt") or not template:
            raise CliError(f"--from {source}: expected template/NAME", ExitCode.USAGE)
        name_problem = object_name_problem(template)
        if name_problem:
            raise CliError(f"--from {source}: {name_problem}", ExitCode.USAGE)


def template_manifests(
    conn: Connection, source: str, params: dict[str, str]
) -> list[dict[str, Any]]:
    """The run `kubedag submit --from template/NAME` creates. Raises CliError (USAGE for a
    bad --from or params the template refuses; NOT_FOUND for a missing template)."""
    check_submit_source(None, source)
    template = source.partition("/")[2]
    problem = template_problem(conn, template, params)
    if problem:
        raise problem
    return [
        {
            "apiVersion": "kubedag.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"generateName": f"{template}-"},
            "spec": {"workflowTemplateRef": {"name": template}},
        }
    ]


def read_workflow_file(file: str) -> list[dict[str, Any]]:
    """The Workflow documents of `file` (`-` = stdin), read before any cluster is asked.
    Other kinds are named on stderr and skipped (kubectl creates those). Raises
    CliError(USAGE) for a file that cannot be read, holds no Workflow, or holds one whose
    metadata, spec or spec.params have the wrong shape (the API server would refuse it,
    and `-p` could not be set in it)."""
    import sys

    import yaml

    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text()
        documents = list(yaml.safe_load_all(text))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        reason = " ".join(str(error).split())
        raise CliError(f"{file}: cannot read: {reason}", ExitCode.USAGE) from None
    runs, skipped = [], []
    for index, doc in enumerate(documents):
        if doc is None:
            continue
        kind = doc.get("kind") if isinstance(doc, dict) else None
        if kind != "Workflow":
            skipped.append(f"{kind or 'a document without kind'} (document {index + 1})")
            continue
        problem = _workflow_shape_problem(doc)
        if problem:
            raise CliError(f"{file}: document {index + 1}: {problem}", ExitCode.USAGE)
        runs.append(doc)
    if not runs:
        hint = (
            " (create a WorkflowTemplate with kubectl apply, then submit --from template/NAME)"
            if any(entry.startswith("WorkflowTemplate ") for entry in skipped)
            else ""
        )
        found = f": found {', '.join(skipped)}" if skipped else ""
        raise CliError(f"{file}: no Workflow to submit{found}{hint}", ExitCode.USAGE)
    if skipped:
        echo(f"kubedag: {file}: skipped {', '.join(skipped)}: not a Workflow", err=True)
    return runs


def _workflow_shape_problem(document: dict[str, Any]) -> str | None:
    metadata, spec = document.get("metadata"), document.get("spec")
    if metadata is not None and not isinstance(metadata, dict):
        return "metadata is not a mapping"
    if spec is not None and not isinstance(spec, dict):
        return "spec is not a mapping"
    params = (spec or {}).get("params")
    if params is not None and not (
        isinstance(params, list) and all(isinstance(param, dict) for param in params)
    ):
        return "spec.params is not a list of {name, value} mappings"
    namespace = (metadata or {}).get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        return "metadata.namespace is not a string"
    return None


def file_namespace(file: str, runs: list[dict[str, Any]], given: str | None) -> str | None:
    """The namespace the runs of `file` go to, as `kubectl create -f` chooses it: the
    documents' metadata.namespace, else -n (`given`), else the context's (None). Raises
    CliError(USAGE) when -n names another namespace than the file, or the file several."""
    named = {str(run["metadata"]["namespace"]) for run in runs if _namespace_of(run)}
    if len(named) > 1:
        raise CliError(
            f"{file}: the Workflows name several namespaces ({', '.join(sorted(named))}): "
            "submit them one namespace at a time",
            ExitCode.USAGE,
        )
    if not named:
        return given
    (namespace,) = named
    if given and given != namespace:
        raise CliError(
            f"{file}: the namespace of the file ({namespace!r}) does not match -n {given!r}",
            ExitCode.USAGE,
        )
    return namespace


def _namespace_of(run: dict[str, Any]) -> str | None:
    return (run.get("metadata") or {}).get("namespace") or None


def create_runs(
    conn: Connection,
    runs: list[dict[str, Any]],
    params: dict[str, str],
    *,
    name: str | None = None,
    generate_name: str | None = None,
    output: str | None = None,
) -> list[str]:
    """Creates each run (in `conn.namespace`, with `params` set) and prints its name (or
    `-o name|json|yaml`). Returns the names created; raises CliError(RUN_FAILED) after
    trying all when the API server refused any (its message on stderr)."""
    from lightkube import ApiError

    if (name or generate_name) and len(runs) > 1:
        raise CliError("--name and --generate-name need a single Workflow", ExitCode.USAGE)
    created_names, refused = [], []
    for run in runs:
        metadata = run.setdefault("metadata", {})
        if name:
            metadata.pop("generateName", None)
            metadata["name"] = name
        elif generate_name:
            metadata.pop("name", None)
            metadata["generateName"] = generate_name
        metadata["namespace"] = conn.namespace
        spec = run.setdefault("spec", {})
        if params:
            spec["params"] = with_values(spec.get("params") or [], params)
        try:
            created = conn.client.create(_resource("Workflow").from_dict(run)).to_dict()
        except ApiError as error:
            label = metadata.get("name") or metadata.get("generateName", "") + "…"
            refused.append(f"cannot create Workflow {label}: {error.status.message}")
            continue
        created_names.append(created["metadata"]["name"])
        if output in ("json", "yaml"):
            echo(document(created, output))
        elif output == "name":
            echo(object_name("Workflow", created["metadata"]["name"]))
        else:
            echo(created["metadata"]["name"])
    if refused:
        raise CliError("; ".join(refused), ExitCode.RUN_FAILED)
    return created_names


# Labels and annotations that tie a run to what made it, or to a request it already
# answered: a resubmitted run is nobody's scheduled run and has no retry pending.
_NOT_COPIED = (
    "kubedag.io/cron-workflow",
    "kubedag.io/backfill",
    "kubedag.io/manual",
    "kubedag.io/retry",
    "kubectl.kubernetes.io/last-applied-configuration",
)


def resubmit_manifest(old: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    """A new run from `old` (wire form): its spec without `shutdown` and `suspend` (they
    controlled the old run), `-p` values set, its labels and annotations without those of
    a CronWorkflow, Backfill or retry; named `<old name>-<random>` by the API server. A
    run of a WorkflowTemplate runs the template as it is now (as `kubectl create` of the
    same spec would)."""
    metadata = old.get("metadata") or {}
    spec = {
        key: value
        for key, value in (old.get("spec") or {}).items()
        if key not in ("shutdown", "suspend")
    }
    if params:
        spec["params"] = with_values(list(spec.get("params") or []), params)

    def kept(mapping: dict[str, str] | None) -> dict[str, str]:
        return {k: v for k, v in (mapping or {}).items() if k not in _NOT_COPIED}

    new_metadata: dict[str, Any] = {"generateName": f"{metadata.get('name', 'run')}-"}
    if kept(metadata.get("labels")):
        new_metadata["labels"] = kept(metadata.get("labels"))
    if kept(metadata.get("annotations")):
        new_metadata["annotations"] = kept(metadata.get("annotations"))
    return {
        "apiVersion": old.get("apiVersion", "kubedag.io/v1alpha1"),
        "kind": "Workflow",
        "metadata": new_metadata,
        "spec": spec,
    }


# -- run control ------------------------------------------------------------------------


def _patch(conn: Connection, name: str, patch: dict[str, Any]) -> None:
    from lightkube import ApiError
    from lightkube.types import PatchType

    try:
        conn.client.patch(
            _resource("Workflow"),
            name,
            patch,
            namespace=conn.namespace,
            patch_type=PatchType.MERGE,
        )
    except ApiError as error:
        raise api_error(error, _what("Workflow", name, conn.namespace)) from None


def _phase(workflow: dict[str, Any]) -> str:
    return str((workflow.get("status") or {}).get("phase") or "Pending")


def control(
    conn: Connection, verb: str, name: str, after: Callable[[str], int] | None = None
) -> int:
    """`suspend`, `resume`, `stop`, `terminate` or `retry` of run `name`. A request the run
    cannot take raises CliError(REFUSED) (a finished run cannot be suspended or stopped; only
    a Failed one can be retried); one it already took prints so and returns 0. After a
    retry, `after(token)` (if given) decides the exit code (`retry --wait`)."""
    workflow = get_workflow(conn, name)
    phase, spec = _phase(workflow), workflow.get("spec") or {}
    if verb == "retry":
        if phase != "Failed":
            raise CliError(
                f"workflow {name} is {phase}: only a Failed workflow can be retried "
                "(resubmit starts a new run)",
                ExitCode.REFUSED,
            )
        from kubedag.names import RETRY_ANNOTATION

        token = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        _patch(
            conn,
            name,
            {"metadata": {"annotations": {RETRY_ANNOTATION: token}}, "spec": {"shutdown": None}},
        )
        echo(f"workflow {name} retried from the point of failure (kubedag.io/retry={token})")
        return 0 if after is None else after(token)
    if phase in FINISHED:
        raise CliError(f"workflow {name} already {phase}: nothing to {verb}", ExitCode.REFUSED)
    if verb in ("suspend", "resume"):
        wanted = verb == "suspend"
        if bool(spec.get("suspend")) == wanted:
            echo(f"workflow {name} is already {'suspended' if wanted else 'not suspended'}")
            return 0
        _patch(conn, name, {"spec": {"suspend": wanted}})
        echo(f"workflow {name} {'suspended' if wanted else 'resumed'}")
        return 0
    wanted_shutdown = {"stop": "Stop", "terminate": "Terminate"}[verb]
    current = spec.get("shutdown")
    if current == wanted_shutdown:
        echo(f"workflow {name} is already {verb}ping".replace("stopping", "stopping"))
        return 0
    if current == "Terminate":
        raise CliError(f"workflow {name} is already terminating", ExitCode.REFUSED)
    _patch(conn, name, {"spec": {"shutdown": wanted_shutdown}})
    done = {
        "stop": "stopping (running tasks finish, the exit handler runs)",
        "terminate": "terminating (running Jobs deleted, no exit handler)",
    }[verb]
    echo(f"workflow {name} {done}")
    return 0


# -- delete -----------------------------------------------------------------------------


def delete_runs(
    conn: Connection,
    names: Sequence[str],
    *,
    completed: bool,
    older_than: str | None,
    selector: str | None,
    dry_run: bool,
) -> int:
    """Deletes the named runs, or with --completed / --older-than the finished ones (of the
    namespace, all with -A). Their Tasks, Jobs and Pods go with them (owner references,
    Kubernetes' garbage collector). Exit NOT_FOUND if a named run does not exist (the
    others are still deleted)."""
    from lightkube import ApiError

    if names and (completed or older_than or selector):
        raise CliError("give NAMEs or --completed/--older-than/-l, not both", ExitCode.USAGE)
    if not names and not (completed or older_than or selector):
        raise CliError("give NAMEs, or --completed/--older-than/-l to choose runs", ExitCode.USAGE)
    if names and conn.all_namespaces:
        raise CliError("-A deletes by --completed/--older-than/-l, not by name", ExitCode.USAGE)
    targets: list[tuple[str, str]]
    if names:
        targets = [(conn.namespace, name) for name in names]
    else:
        now = datetime.now(UTC)
        try:
            moment = now - parse_age(older_than) if older_than else now
        except ValueError as error:
            raise CliError(f"--older-than: {error}", ExitCode.USAGE) from None
        targets = [
            (item["metadata"]["namespace"], item["metadata"]["name"])
            for item in list_workflows(conn, selector)
            if not (completed or older_than) or finished_at_or_before(item, moment)
        ]
    missing = []
    for namespace, name in targets:
        if dry_run:
            echo(f"{object_name('Workflow', name)} would be deleted (dry run)")
            continue
        try:
            conn.client.delete(_resource("Workflow"), name, namespace=namespace)
        except ApiError as error:
            problem = api_error(error, _what("Workflow", name, namespace))
            if problem.code != ExitCode.NOT_FOUND:
                raise problem from None
            echo(f"kubedag: {problem.message}", err=True)
            missing.append(name)
            continue
        echo(f"{object_name('Workflow', name)} deleted")
    if missing:
        return int(ExitCode.NOT_FOUND)
    return 0


# -- logs -------------------------------------------------------------------------------


def _pick_tasks(
    tasks: list[dict[str, Any]], task: str | None, run: str, declared: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The Task objects `logs` reads: the node named `task`, or every item of the fan-out
    task of that name, or (no `task`) every Task that started, in node order. A `task` the
    run `declared` but has no Task object for yet has not started (CliError NOT_FOUND)."""
    if task is None:
        return sorted(
            (t for t in tasks if (t.get("status") or {}).get("attempts")),
            key=lambda t: ((t.get("status") or {}).get("startedAt") or "", t["spec"]["name"]),
        )
    exact = [t for t in tasks if t["spec"].get("name") == task]
    items = [t for t in tasks if t["spec"].get("task") == task and t not in exact]
    found = exact or sorted(items, key=lambda t: t["spec"].get("itemIndex") or 0)
    if not found and task in declared:
        raise CliError(
            f"task {task} of workflow {run} has not started: no Task object yet (its "
            "dependencies have not finished, the run is suspended, or the operator has not "
            "reached it)",
            ExitCode.NOT_FOUND,
        )
    if not found:
        known = ", ".join(sorted(t["spec"]["name"] for t in tasks)) or "none yet"
        raise CliError(f"workflow {run} has no task {task!r} (tasks: {known})", ExitCode.NOT_FOUND)
    return found


def _attempt(task: dict[str, Any], number: int | None) -> dict[str, Any]:
    status = task.get("status") or {}
    attempts = status.get("attempts") or []
    node = task["spec"]["name"]
    if not attempts:
        raise CliError(
            f"task {node} has not started: {status.get('phase') or 'Pending'}"
            + (f" ({status['reason']})" if status.get("reason") else ""),
            ExitCode.NOT_FOUND,
        )
    if number is None:
        return dict(attempts[-1])
    for attempt in attempts:
        if attempt.get("number") == number:
            return dict(attempt)
    numbers = ", ".join(str(a.get("number")) for a in attempts)
    raise CliError(f"task {node} has no attempt {number} (attempts: {numbers})", ExitCode.NOT_FOUND)


def _pod_of(conn: Connection, job: str) -> dict[str, Any] | None:
    from lightkube.resources.core_v1 import Pod

    pods = [
        dict(p.to_dict())
        for p in conn.client.list(Pod, namespace=conn.namespace, labels={"job-name": job})
    ]
    # A Job of kubedag's runs one Pod (backoffLimit 0); the newest if a replacement exists.
    pods.sort(key=lambda p: p["metadata"].get("creationTimestamp") or "")
    return pods[-1] if pods else None


def logs(
    conn: Connection,
    run: str,
    task: str | None,
    *,
    attempt: int | None,
    follow_logs: bool,
    tail: int | None,
) -> int:
    """Prints the log of a task's attempt (the last one by default) from its Pod; without
    TASK, every started task's, each line prefixed with `<task>: `. A Pod that is gone
    (the Job was cleaned up, deleted, its TTL passed) is said with what the Task recorded
    of the attempt, exit NOT_FOUND."""
    from lightkube import ApiError

    from kubedag.k8s.observe import MAIN_CONTAINER

    workflow = get_workflow(conn, run)  # a missing run is named as such
    chosen = _pick_tasks(run_tasks(conn, run), task, run, declared_order(workflow))
    if not chosen:
        phase = _phase(workflow)
        raise CliError(f"no task of workflow {run} has started ({phase})", ExitCode.NOT_FOUND)
    if follow_logs and len(chosen) > 1:
        raise CliError("-f follows one task: give a TASK (a node, not a fan-out)", ExitCode.USAGE)
    prefix = len(chosen) > 1 or task is None
    gone = []
    for node in chosen:
        name = node["spec"]["name"]
        try:
            record = _attempt(node, attempt)
        except CliError as problem:
            if len(chosen) == 1:
                raise
            echo(f"kubedag: {problem.message}", err=True)
            continue
        job = record.get("jobName") or ""
        pod = _pod_of(conn, job)
        if pod is None:
            told = ", ".join(
                f"{key} {record[key]}"
                for key in ("exitCode", "reason", "message")
                if record.get(key) not in (None, "")
            )
            gone.append(
                f"the Pod of task {name} attempt {record.get('number')} (Job {job}) is gone: "
                "its Job was deleted (jobCleanup, ttlSecondsAfterFinished, by hand) or not "
                "created yet" + (f"; the Task recorded: {told}" if told else "")
            )
            continue
        pod_name = pod["metadata"]["name"]
        try:
            lines = conn.client.log(
                pod_name,
                namespace=conn.namespace,
                container=MAIN_CONTAINER,
                follow=follow_logs,
                tail_lines=tail,
            )
            for line in lines:
                text = line.rstrip("\n")
                echo(f"{name}: {text}" if prefix else text)
        except ApiError as error:
            message = error.status.message or str(error)
            gone.append(f"cannot read the log of Pod {pod_name} (task {name}): {message}")
    if gone:
        raise CliError("; ".join(gone), ExitCode.NOT_FOUND)
    return 0


# -- graph ------------------------------------------------------------------------------


def _spec_problems(document: dict[str, Any]) -> list[tuple[str, str]]:
    """Why the Workflow or WorkflowTemplate `document` of a file cannot run: the shape of
    its spec (the model the API server's schema is generated from), then the engine's rules
    (kubedag.validation, as `kubedag lint` and the operator apply them). Empty: drawable."""
    from pydantic import ValidationError

    from kubedag.api.workflow import WorkflowSpec
    from kubedag.field_paths import format_path
    from kubedag.validation import Templates, engine_problems

    spec = document.get("spec")
    if not isinstance(spec, dict):
        return [("spec", "must be a mapping with tasks")]
    try:
        WorkflowSpec.model_validate(spec)
    except ValidationError as error:
        return [
            (format_path(["spec", *problem["loc"]]), str(problem["msg"]))
            for problem in error.errors()
        ]
    return engine_problems(str(document["kind"]), document, Templates())[0]


def graph(conn_factory: Any, source: str, fmt: str) -> int:
    """Prints the DAG of a file (a Workflow or WorkflowTemplate; the first one found) or of
    run `source` in the cluster (with its tasks' phases)."""
    import yaml

    from kubedag.cli.graph import dag_of, render

    path = Path(source)
    if path.is_file() or source == "-":
        try:
            import sys

            text = sys.stdin.read() if source == "-" else path.read_text()
            documents = list(yaml.safe_load_all(text))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise CliError(f"{source}: cannot read: {error}", ExitCode.USAGE) from None
        drawable = [
            d
            for d in documents
            if isinstance(d, dict) and d.get("kind") in ("Workflow", "WorkflowTemplate")
        ]
        if not drawable:
            raise CliError(f"{source}: no Workflow or WorkflowTemplate", ExitCode.USAGE)
        problems = _spec_problems(drawable[0])
        if problems:
            shown = "; ".join(f"{path}: {message}" for path, message in problems[:3])
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            raise CliError(
                f"{source}: {drawable[0]['kind']} cannot be drawn: {shown}{more} "
                "(kubedag lint tells all)",
                ExitCode.RUN_FAILED,
            )
        echo(render(dag_of(drawable[0].get("spec") or {}), fmt))
        return 0
    from kubedag.cli.app import object_name_problem

    if object_name_problem(source):
        # Not a run's name: a file that is not there (a typo, another directory).
        raise CliError(f"{source}: no such file, nor a run's name", ExitCode.USAGE)
    conn = conn_factory()
    workflow = get_workflow(conn, source)
    spec = dict(workflow.get("spec") or {})
    stored = (workflow.get("status") or {}).get("storedWorkflowTemplate")
    if not spec.get("tasks") and stored:
        spec = {**stored, **{k: v for k, v in spec.items() if k == "onExit"}}
    echo(render(dag_of(spec, run_tasks(conn, source)), fmt))
    return 0
