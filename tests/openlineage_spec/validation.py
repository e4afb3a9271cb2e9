"""Checks an OpenLineage event (JSON) against the spec's JSON Schemas in this folder and
against openlineage-python's own models: the event as a RunEvent, and each facet against
the schema its `_schemaURL` names (facets kubedag defines itself are checked for the
fields every facet needs)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import nominal_time_run, parent_run
from openlineage.client.serde import Serde
from referencing import Registry, Resource

HERE = Path(__file__).parent
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
KUBEDAG_SCHEMAS = "https://kubedag.io/spec/"


@functools.cache
def _registry() -> Registry:
    resources = []
    for path in sorted(HERE.glob("*.json")):
        contents = json.loads(path.read_text())
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


def _validator(url: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        {"$ref": url}, registry=_registry(), format_checker=jsonschema.FormatChecker()
    )


def problems(event: dict[str, Any]) -> list[str]:
    """What is wrong with `event` (empty: valid). Every facet's schema must be one of the
    spec's (in this folder) or kubedag's own."""
    found = [
        f"event: {e.message} at {list(e.absolute_path)}"
        for e in _validator(RUN_EVENT).iter_errors(event)
    ]
    facet_groups: list[tuple[str, dict[str, Any]]] = [
        ("run", (event.get("run") or {}).get("facets") or {}),
        ("job", (event.get("job") or {}).get("facets") or {}),
    ]
    for group, facets in facet_groups:
        for name, facet in facets.items():
            url = facet.get("_schemaURL", "")
            if url.startswith(KUBEDAG_SCHEMAS):
                if not facet.get("_producer"):
                    found.append(f"{group} facet {name}: no _producer")
                continue
            base = url.split("#")[0]
            try:
                _registry().get_or_retrieve(base)
            except Exception:
                found.append(f"{group} facet {name}: schema {url} is not one the spec publishes")
                continue
            found += [
                f"{group} facet {name}: {e.message} at {list(e.absolute_path)}"
                for e in _validator(url).iter_errors(facet)
            ]
    try:
        _as_client_model(event)
    except Exception as error:
        found.append(f"openlineage-python's models refuse it: {type(error).__name__}: {error}")
    return found


def _as_client_model(event: dict[str, Any]) -> RunEvent:
    """The event rebuilt with openlineage-python's models, whose validators check what the
    schema leaves to formats (a runId is a UUID, eventTime a date-time with a time)."""
    facets = event["run"].get("facets") or {}
    run_facets: dict[str, Any] = {}
    if "parent" in facets:
        parent = facets["parent"]
        root = parent.get("root")
        run_facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=parent["run"]["runId"]),
            job=parent_run.Job(namespace=parent["job"]["namespace"], name=parent["job"]["name"]),
            root=parent_run.Root(
                run=parent_run.RootRun(runId=root["run"]["runId"]),
                job=parent_run.RootJob(
                    namespace=root["job"]["namespace"], name=root["job"]["name"]
                ),
            )
            if root
            else None,
        )
    if "nominalTime" in facets:
        nominal = facets["nominalTime"]
        run_facets["nominalTime"] = nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=nominal["nominalStartTime"],
            nominalEndTime=nominal.get("nominalEndTime"),
        )
    built = RunEvent(
        eventType=RunState(event["eventType"]),
        eventTime=event["eventTime"],
        run=Run(runId=event["run"]["runId"], facets=run_facets),
        job=Job(namespace=event["job"]["namespace"], name=event["job"]["name"]),
        producer=event["producer"],
        inputs=[
            InputDataset(namespace=d["namespace"], name=d["name"])
            for d in event.get("inputs") or []
        ],
        outputs=[
            OutputDataset(namespace=d["namespace"], name=d["name"])
            for d in event.get("outputs") or []
        ],
    )
    Serde.to_json(built)
    return built
