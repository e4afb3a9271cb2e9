"""The README's kubectl commands address kubedag's objects also where Argo Workflows and
Tekton are installed (issue 11): both serve a `workflows` or a `tasks` resource, and a bare
name goes to whichever group kubectl's discovery ranks first.

The commands are read from README.md (and the comments of examples/ and the scripts of
hack/), so the test keeps them honest: every kubedag resource they name must be named
unambiguously (`workflows.kubedag.io`, a `kd…` short name, the `kubedag` category), and
those that can run against the example run do, next to an Argo Workflow and a Tekton Task
carrying the same name and labels, and must show kubedag's objects only.
"""

from __future__ import annotations

import json
import re
import shlex
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.cluster import ROOT, Kubectl, wait_for

# Minimal CRDs of the same names as Argo Workflows' and Tekton Pipelines' own (names, short
# names and categories as those projects declare them; any content accepted).
FOREIGN_CRDS = [
    ("argoproj.io", "v1alpha1", "Workflow", "workflows", ["wf"], []),
    ("argoproj.io", "v1alpha1", "CronWorkflow", "cronworkflows", ["cwf", "cronwf"], []),
    ("argoproj.io", "v1alpha1", "WorkflowTemplate", "workflowtemplates", ["wftmpl"], []),
    ("tekton.dev", "v1", "Task", "tasks", [], ["tekton", "tekton-pipelines"]),
]

# kubectl verbs whose first argument is a resource type (or TYPE/NAME).
TYPED_VERBS = {"get", "describe", "delete", "patch", "annotate", "label", "edit", "wait", "explain"}
# Flags of those verbs that take a value (so the value is not the resource type).
VALUED_FLAGS = {
    "-n",
    "--namespace",
    "-l",
    "--selector",
    "-o",
    "--output",
    "-p",
    "--patch",
    "--type",
    "-f",
    "--filename",
    "--for",
    "--timeout",
    "--cascade",
    "-c",
}
PLACEHOLDER = re.compile(r"NAME|…|\.\.\.|<|\bX\b")


def crd(
    group: str, version: str, kind: str, plural: str, short: list[str], categories: list[str]
) -> dict[str, object]:
    names: dict[str, object] = {
        "kind": kind,
        "plural": plural,
        "singular": kind.lower(),
        "listKind": f"{kind}List",
    }
    if short:
        names["shortNames"] = short
    if categories:
        names["categories"] = categories
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": names,
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def readme_commands() -> list[str]:
    """Every kubectl command of README.md: `$ kubectl …` lines of code blocks, `kubectl …`
    lines of bash blocks and inline code spans (joined across line breaks), without their
    `# comments`."""
    text = (ROOT / "README.md").read_text()
    found = []
    for block in re.findall(r"```(?:console|bash|sh)\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.removeprefix("$ ").strip()
            if line.startswith("kubectl "):
                found.append(line.split("  #")[0].split(" # ")[0].strip())
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for span in re.findall(r"`([^`]+)`", prose):
        span = " ".join(span.split())
        if span.startswith("kubectl "):
            found.append(span)
    return found


def other_commands() -> list[str]:
    """kubectl commands in the comments of examples/*.yaml and in hack/*.sh."""
    found = []
    for path in [
        *sorted((ROOT / "examples").glob("*.yaml")),
        *sorted((ROOT / "hack").glob("*.sh")),
    ]:
        for line in path.read_text().splitlines():
            line = line.strip().lstrip("#").strip()
            if line.startswith("kubectl "):
                found.append(line.split(" # ")[0].split("  #")[0].rstrip("\\ ").strip())
    return found


def resource_types(command: str) -> list[str]:
    """The resource types a kubectl command names (`get tasks.kubedag.io,jobs` → both;
    `wait … workflows.kubedag.io/NAME` → the type), [] for a verb without one."""
    try:
        words = shlex.split(command)[1:]
    except ValueError:
        words = command.split()[1:]
    words = [w for w in words if not w.startswith("$(")]
    if not words or words[0] not in TYPED_VERBS:
        return []
    positional, skip = [], False
    for word in words[1:]:
        if skip:
            skip = False
            continue
        if word.startswith("-"):
            skip = word in VALUED_FLAGS
            continue
        positional.append(word)
    if not positional:
        return []
    return [part.split("/")[0] for part in positional[0].split(",") if part]


def kubedag_bare_names() -> set[str]:
    """The names kubectl resolves by plural, singular or kind alone for kubedag's CRDs:
    ambiguous as soon as another group serves the same (Argo, Tekton, the next one)."""
    names: set[str] = set()
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        spec = yaml.safe_load(path.read_text())["spec"]["names"]
        names |= {spec["plural"], spec["singular"], spec["kind"].lower()}
    return names


def test_every_kubectl_command_names_kubedag_resources_unambiguously() -> None:
    commands = readme_commands()
    assert len(commands) >= 10, "README's kubectl commands were not found"
    assert any("workflows.kubedag.io" in c for c in commands)
    bare = kubedag_bare_names()
    assert {"workflows", "tasks", "workflow", "task"} <= bare
    ambiguous = [
        (command, kind)
        for command in [*commands, *other_commands()]
        for kind in resource_types(command)
        if kind.lower() in bare
    ]
    assert ambiguous == [], "name them by full group (workflows.kubedag.io) or a kd… short name"


@pytest.fixture
def foreign_crds(kubectl: Kubectl, tmp_path: Path) -> Iterator[Path]:
    """Argo's and Tekton's CRDs installed for one test, and a kubectl discovery cache of
    its own (the shared cache must never learn of them); removed again afterwards."""
    cache = tmp_path / f"kubectl-cache-{uuid.uuid4().hex[:6]}"
    private = ["--cache-dir", str(cache)]
    documents = [crd(*spec) for spec in FOREIGN_CRDS]
    kubectl.run("apply", *private, "-f", "-", stdin=yaml.safe_dump_all(documents))
    names = [f"crd/{d['metadata']['name']}" for d in documents]  # type: ignore[index]
    kubectl.run("wait", *private, "--for=condition=Established", "--timeout=120s", *names)
    try:
        yield cache
    finally:
        kubectl.run("delete", *private, "--wait=true", "--timeout=120s", *names, check=False)


def without_output(args: list[str]) -> list[str]:
    """`args` without its `-o FORMAT` / `-oFORMAT` / `--output=FORMAT`."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("-o", "--output"):
            skip = True
        elif not arg.startswith(("-o", "--output=")):
            kept.append(arg)
    return kept


def runnable(command: str) -> bool:
    """A README command that can run against the example run `etl-pipeline` as written."""
    words = command.split()
    return (
        len(words) > 2
        and words[1] in ("get", "describe", "wait")
        and not PLACEHOLDER.search(command)
        and " -n " not in command
        and all(name == "etl-pipeline" for name in _object_names(command))
    )


def _object_names(command: str) -> list[str]:
    words = shlex.split(command)[2:]
    positional, skip = [], False
    for word in words:
        if skip:
            skip = False
            continue
        if word.startswith("-"):
            skip = word in VALUED_FLAGS and "=" not in word
            continue
        positional.append(word)
    names = positional[1:]
    names += [p.split("/", 1)[1] for p in positional[:1] if "/" in p]
    return names


def test_the_readme_commands_show_kubedag_objects_next_to_argo_and_tekton(
    kubectl: Kubectl, namespace: str, foreign_crds: Path
) -> None:
    # Every kubectl call while the foreign CRDs exist uses the test's own discovery cache.
    cache = ["--cache-dir", str(foreign_crds)]

    def run(*args: str, stdin: str | None = None, check: bool = True) -> Any:
        return kubectl.run(*args, *cache, stdin=stdin, check=check)

    run("apply", "-n", namespace, "-f", str(ROOT / "examples" / "etl-pipeline.yaml"))
    # An Argo Workflow and a Tekton Task that a bare name or the README's label selector
    # would show instead of, or next to, kubedag's.
    label = {"kubedag.io/workflow": "etl-pipeline"}
    foreign = [
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": "etl-pipeline", "labels": label},
            "spec": {},
        },
        {
            "apiVersion": "tekton.dev/v1",
            "kind": "Task",
            "metadata": {"name": "etl-pipeline-load", "labels": label},
            "spec": {},
        },
    ]
    run("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(foreign))
    # The clash is real: two groups serve `workflows`, two serve `tasks`.
    served = set(run("api-resources", "-o", "name").stdout.split())
    assert {"workflows.argoproj.io", "workflows.kubedag.io"} <= served
    assert {"tasks.tekton.dev", "tasks.kubedag.io"} <= served

    def phase() -> str:
        found = run(
            "get",
            "-n",
            namespace,
            "workflows.kubedag.io",
            "etl-pipeline",
            "-o",
            "jsonpath={.status.phase}",
        )
        return str(found.stdout)

    wait_for("the example run to succeed", lambda: phase() == "Succeeded", timeout=180)

    commands = [c for c in readme_commands() if runnable(c)]
    assert any(c.startswith("kubectl get workflows.kubedag.io") for c in commands)
    assert any(c.startswith("kubectl get tasks.kubedag.io -l") for c in commands)
    assert any(c.startswith("kubectl describe") for c in commands)
    for command in commands:
        args = [*shlex.split(command)[1:], "-n", namespace]
        result = run(*args, check=False)
        assert result.returncode == 0, f"{command}: {result.stderr}"
        assert "argoproj.io" not in result.stdout and "tekton.dev" not in result.stdout, command
        if args[0] == "get":
            as_json = [*without_output(args), "-o", "json"]
            body = json.loads(run(*as_json).stdout)
            items = body.get("items", [body])
            # Those about the example run show it; others (another run's label) may be empty.
            assert items or "etl-pipeline" not in command, f"{command}: nothing shown"
            groups = {item["apiVersion"] for item in items}
            assert groups <= {"kubedag.io/v1alpha1", "batch/v1", "v1"}, f"{command}: {groups}"
        if args[0] == "describe":
            assert "API Version:  kubedag.io/v1alpha1" in result.stdout, command
