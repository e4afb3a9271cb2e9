"""`kubedag lineage`: the dataset <-> task graph of a namespace (issue 10), read with the
CLI's own connection (so -n, --context and --kubeconfig apply) and drawn by
kubedag.lineage.graph.render_lineage."""

from __future__ import annotations

from typing import Any

from kubedag.cli.cluster import Connection
from kubedag.cli.errors import api_error
from kubedag.cli.output import echo

KINDS = ("Dataset", "Task", "Workflow", "CronWorkflow")
# Objects per list request: a namespace of many runs is read in pages, so no single
# response has to hold every Task (the API server's `limit`/`continue`).
PAGE_SIZE = 500


def read_objects(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    """kind -> the objects of that kind in the connection's namespace (every namespace
    with -A). A kind whose CRD is not installed (404) reads as none. Raises CliError for
    any other API error (kubedag.cli.errors.api_error)."""
    from lightkube import ApiError

    from kubedag.k8s.client import RESOURCES

    found: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        try:
            items = conn.client.list(
                RESOURCES[kind], namespace=conn.list_namespace, chunk_size=PAGE_SIZE
            )
            found[kind] = [dict(item.to_dict()) for item in items]
        except ApiError as error:
            if getattr(getattr(error, "status", None), "code", None) == 404:
                found[kind] = []
                continue
            raise api_error(error, f"{kind}s") from None
    return found


def lineage(conn: Connection, fmt: str) -> int:
    """Prints the graph as Mermaid or DOT; exit code 0."""
    from kubedag.lineage.graph import DATASET, build_graph, render_graph

    objects = read_objects(conn)
    graph = build_graph(
        objects["Dataset"],
        objects["Task"],
        workflows=objects["Workflow"],
        schedules=objects["CronWorkflow"],
    )
    echo(render_graph(graph, "dot" if fmt == "dot" else "mermaid").rstrip("\n"))
    if not any(kind == DATASET for kind, _ in graph.nodes):
        where = "any namespace" if conn.all_namespaces else f"namespace {conn.namespace}"
        echo(
            f"no datasets in {where}: tasks declare them with inlets/outlets, or report "
            "them under kubedag.io/datasets in their termination message",
            err=True,
        )
    return 0
