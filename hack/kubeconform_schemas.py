"""Writes the JSON schemas kubeconform validates against, offline (issue 12):

- Kubernetes' own kinds, from the OpenAPI v3 documents in the k8s.io/kubernetes Go module
  (`api/openapi-spec/v3/*.json`, the version the test control plane is built from);
- kubedag's kinds, from the generated CRDs in crds/ (their `openAPIV3Schema`).

Every schema is strict: an object with `properties` gets `additionalProperties: false`
unless it says `x-kubernetes-preserve-unknown-fields`, so a misspelt field fails instead of
being dropped (the API server prunes unknown fields of a CRD's objects without a word).

Layout: DIR/<group>/<kind>_<version>.json (core kinds under DIR/v1/), for kubeconform's
`-schema-location 'DIR/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'`;
<kind> is lower case, as kubeconform asks for it.

Usage: python hack/kubeconform_schemas.py kubernetes OPENAPI_V3_DIR OUT_DIR
       python hack/kubeconform_schemas.py crds CRD_YAML_DIR OUT_DIR
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REF = re.compile(r"^#/components/schemas/(.+)$")


def strict(schema: Any) -> Any:
    """`schema` (a schema object) with additionalProperties false on every object that lists
    its properties, OpenAPI's `nullable` as a JSON Schema null type, and
    `x-kubernetes-int-or-string` as integer-or-string; `$ref`s into components/schemas
    rewritten to `#/definitions/`. Recurses through subschemas only: the keys of
    `properties` are field names (JSONSchemaProps has fields called `anyOf`, `$ref` ...)."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in ("properties", "patternProperties", "definitions"):
        if isinstance(out.get(key), dict):
            out[key] = {name: strict(value) for name, value in out[key].items()}
    for key in ("items", "additionalProperties", "not"):
        if isinstance(out.get(key), dict):
            out[key] = strict(out[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(out.get(key), list):
            out[key] = [strict(value) for value in out[key]]
    ref = out.get("$ref")
    if isinstance(ref, str) and (match := REF.match(ref)):
        out["$ref"] = f"#/definitions/{match.group(1)}"
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def referenced(name: str, components: dict[str, Any]) -> set[str]:
    """Every component schema reachable from `name` (included)."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for ref in re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(components[current])):
            todo.append(ref)
    return seen


def kubernetes_schemas(openapi_dir: Path) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(group, version, kind, standalone schema) per kind of the OpenAPI v3 documents."""
    for path in sorted(openapi_dir.glob("*.json")):
        components = json.loads(path.read_text()).get("components", {}).get("schemas", {})
        for name, schema in components.items():
            for gvk in schema.get("x-kubernetes-group-version-kind", []):
                group = gvk["group"] or "v1"
                if gvk["group"] == "" and gvk["version"] != "v1":
                    continue
                if gvk["kind"].endswith("List") or gvk["kind"] in ("Status", "WatchEvent"):
                    continue
                definitions = {n: strict(components[n]) for n in referenced(name, components)}
                standalone = {"$ref": f"#/definitions/{name}", "definitions": definitions}
                yield group, gvk["version"], gvk["kind"], standalone


def crd_schemas(crd_dir: Path) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(group, version, kind, schema) per served version of each CRD in `crd_dir`."""
    for path in sorted(crd_dir.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                schema = strict(version["schema"]["openAPIV3Schema"])
                properties = schema.setdefault("properties", {})
                # The API server fills these in and checks them itself; the CRD says only
                # `type: object` for metadata.
                properties.setdefault("apiVersion", {"type": "string"})
                properties.setdefault("kind", {"type": "string"})
                yield spec["group"], version["name"], spec["names"]["kind"], schema


def write(schemas: Iterator[tuple[str, str, str, dict[str, Any]]], out: Path) -> int:
    count = 0
    for group, version, kind, schema in schemas:
        target = out / group / f"{kind.lower()}_{version}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(schema))
        count += 1
    return count


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("kubernetes", "crds"):
        print(__doc__, file=sys.stderr)
        return 2
    source, out = Path(argv[1]), Path(argv[2])
    schemas = kubernetes_schemas(source) if argv[0] == "kubernetes" else crd_schemas(source)
    count = write(schemas, out)
    if count == 0:
        print(f"no schemas found in {source}", file=sys.stderr)
        return 1
    print(f"wrote {count} schemas to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
