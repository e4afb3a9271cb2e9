"""The Kubernetes API's own schemas for the Pod and container fields a task may set.

The CRDs do not describe `volumes`, `securityContext`, `affinity` … by hand: they carry the
definitions of Kubernetes' core/v1 OpenAPI (v3), extracted from the `k8s.io/kubernetes`
Go module (`api/openapi-spec/v3/api__v1_openapi.json`) of the version the test control
plane is built from, so the API server validates these fields exactly as it validates a
Pod. `make pod-schemas` regenerates kubernetes_schemas.json from that file
(kubedag.api.extract_pod_schemas).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

GENERATED_FILE = Path(__file__).with_name("kubernetes_schemas.json")


@cache
def _generated() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(GENERATED_FILE.read_text())
    return document


def source() -> str:
    """Where the schemas come from: the module path and version of k8s.io/kubernetes."""
    return str(_generated()["source"])


def schema(name: str) -> dict[str, Any]:
    """The upstream schema of one root definition (a fresh copy)."""
    copied: dict[str, Any] = json.loads(json.dumps(_generated()["definitions"][name]))
    return copied


def json_schema_of(name: str, *, list_of: bool = False) -> Callable[[dict[str, Any]], None]:
    """For pydantic's `json_schema_extra`: replaces a loosely typed field's schema (a dict,
    or a list of dicts) by the upstream one, so the CRD carries Kubernetes' own schema.
    Called only when a schema is generated, so importing the models reads no file."""

    def replace(field_schema: dict[str, Any]) -> None:
        upstream = schema(name)
        if list_of:
            upstream = {"type": "array", "items": upstream}
        kept = {k: v for k, v in field_schema.items() if k == "description"}
        for option in [field_schema, *field_schema.get("anyOf", [])]:
            if "maxItems" in option:
                kept["maxItems"] = option["maxItems"]
        field_schema.clear()
        field_schema.update({**upstream, **kept})

    return replace
