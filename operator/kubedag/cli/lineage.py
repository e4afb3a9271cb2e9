"""`kubedag lineage`: the dataset <-> task graph of a namespace (issue 10), read with the
CLI's own connection (so -n, --context and --kubeconfig apply) and drawn by
kubedag.lineage.graph.render_lineage."""

from __future__ import annotations

from typing import Any

from kubedag.cli.cluster import Connection
from kubedag.cli.errors import api_error
from kubedag.cli.output import echo

KINDS = ("Dataset", "Task", "Workflow", "CronWorkflow")


def read_objects(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    """kind -> the objects of that kind in the connection's namespace (every namespace
    with -A). A kind whose CRD is not installed (404) reads as none. Raises CliError for
    any other API error (kubedag.cli.errors.api_error)."""
    from lightkube import ApiError

    from kubedag.k8s.client import RESOURCES

    found: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        try:
            items = conn.client.list(RESOURCES[kind], namespace=conn.list_namespace)
            found[kind] = [dict(item.to_dict()) for item in items]
        except ApiError as error:
            if getattr(getattr(error, "status", None), "code", None) == 404:
                found[kind] = []
                continue
            raise api_error(error, f"{kind}s") from None
    return found


def lineage(conn: Connection, fmt: str) -> int:
    """Prints the graph as Mermaid or DOT; exit code 0."""
    from kubedag.lineage.graph import render_lineage

    objects = read_objects(conn)
    text = render_lineage(
        objects["Dataset"],
        objects["Task"],
        "dot" if fmt == "dot" else "mermaid",
        workflows=objects["Workflow"],
        schedules=objects["CronWorkflow"],
    )
    echo(text.rstrip("\n"))
    return 0
