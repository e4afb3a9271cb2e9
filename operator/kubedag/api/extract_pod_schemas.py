"""Extracts the schemas of the task Pod fields from Kubernetes' core/v1 OpenAPI (v3) into
kubernetes_schemas.json. Run by `make pod-schemas`, which finds the file in the
k8s.io/kubernetes Go module of the version the test control plane is built from:

    python -m kubedag.api.extract_pod_schemas OPENAPI_JSON VERSION

Every `$ref` is inlined (structural schemas allow none). Dropped, because a CRD schema
cannot hold them or should not: descriptions (with them the Workflow CRD passes the 256 KiB
that client-side `kubectl apply` allows in an annotation; `kubectl explain pod.spec` has
them), defaults (the API server would write them into every Workflow; the Pod gets them
when it is created), and the extensions a CRD does not know (patch strategies, unions).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from kubedag.api.kubernetes_schemas import GENERATED_FILE

UPSTREAM_PATH = "k8s.io/kubernetes@{version}/api/openapi-spec/v3/api__v1_openapi.json"
_CORE = "io.k8s.api.core.v1."
# The definitions the task fields use; everything they reference comes along inlined.
ROOTS = (
    "Affinity",
    "Container",
    "EnvFromSource",
    "LocalObjectReference",
    "PodSecurityContext",
    "SecurityContext",
    "Toleration",
    "TopologySpreadConstraint",
    "Volume",
    "VolumeMount",
)
# The keywords and extensions a CRD's structural schema accepts (apiextensions.k8s.io/v1
# JSONSchemaProps); the rest of the upstream annotations are dropped.
_KEPT_KEYWORDS = {
    "type",
    "format",
    "properties",
    "additionalProperties",
    "items",
    "required",
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-validations",
}
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
# A Quantity is a number or a string in a Pod; the CRD takes an integer or a string in
# the quantity syntax (as the CRDs controller-gen generates do).
_QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_SPECIAL: dict[str, dict[str, Any]] = {
    _INT_OR_STRING: {"x-kubernetes-int-or-string": True},
    _QUANTITY: {"x-kubernetes-int-or-string": True, "pattern": _QUANTITY_PATTERN},
}


def extract(openapi: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The structural, inlined schema of each root definition, by its short name."""
    definitions: dict[str, Any] = openapi["components"]["schemas"]
    return {name: _inline(definitions[_CORE + name], definitions, ()) for name in ROOTS}


def _inline(node: dict[str, Any], definitions: dict[str, Any], stack: tuple[str, ...]) -> Any:
    reference = _reference(node)
    if reference is not None:
        if reference in _SPECIAL:
            return dict(_SPECIAL[reference])
        if reference in stack:
            raise ValueError(f"recursive definition {reference}: cannot inline it")
        return _inline(definitions[reference], definitions, (*stack, reference))
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key not in _KEPT_KEYWORDS:
            continue
        if key == "properties":
            result[key] = {
                name: _inline(schema, definitions, stack) for name, schema in value.items()
            }
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            result[key] = _inline(value, definitions, stack)
        else:
            result[key] = value
    keys = node.get("x-kubernetes-list-map-keys")
    if keys and isinstance(node.get("items"), dict):
        _keep_key_defaults(node["items"], result["items"], keys, definitions)
    return result


def _reference(node: dict[str, Any]) -> str | None:
    """The definition a node stands for: a `$ref`, or one wrapped in `allOf` (how the v3
    spec attaches a description or a default to a reference)."""
    if "$ref" in node:
        return str(node["$ref"]).rsplit("/", 1)[-1]
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0]:
        return str(all_of[0]["$ref"]).rsplit("/", 1)[-1]
    return None


def _keep_key_defaults(
    upstream_item: dict[str, Any],
    item: dict[str, Any],
    keys: list[str],
    definitions: dict[str, Any],
) -> None:
    """A list-map key must be required or defaulted (`ports` keys on `protocol`, which
    defaults to TCP): those defaults stay."""
    reference = _reference(upstream_item)
    source = definitions[reference] if reference else upstream_item
    for key in keys:
        default = source.get("properties", {}).get(key, {}).get("default")
        if key not in item.get("required", []) and default is not None:
            # kubedag.api.crd turns this into the schema's `default` (it drops pydantic's).
            item["properties"][key]["x-kubedag-server-default"] = default


def render(schemas: dict[str, Any], *, version: str, upstream: bytes) -> str:
    document = {
        "generatedBy": "make pod-schemas (python -m kubedag.api.extract_pod_schemas); "
        "do not edit by hand",
        "source": UPSTREAM_PATH.format(version=version),
        "sha256": hashlib.sha256(upstream).hexdigest(),
        "definitions": schemas,
    }
    return json.dumps(document, indent=1) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} OPENAPI_JSON VERSION", file=sys.stderr)
        return 2
    upstream = Path(argv[1]).read_bytes()
    schemas = extract(json.loads(upstream))
    GENERATED_FILE.write_text(render(schemas, version=argv[2], upstream=upstream))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
