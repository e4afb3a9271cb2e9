"""Checks a document against a CRD's structural schema offline, the way the API server's
schema validation does, so `kubedag lint` refuses what `kubectl apply` would: a volume of
the wrong type, an unknown field in a securityContext, a misspelt toleration.

It covers the structural part (types, unknown fields, required fields, enums, patterns,
sizes, integer-or-string). CEL rules (`x-kubernetes-validations`) and list-map uniqueness
are not evaluated here: the engine's own checks cover what kubedag's rules say.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

_TYPE_NAMES = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
}


def schema_problems(schema: dict[str, Any], value: Any, path: str) -> list[str]:
    """`path: message` for every way `value` breaks `schema` (empty when it fits)."""
    if value is None:
        return []  # the API server drops a null where the schema is not nullable
    if schema.get("x-kubernetes-int-or-string"):
        if not (_is_integer(value) or isinstance(value, str)):
            return [f"{path}: must be an integer or a string, got {_kind(value)}"]
        return _string_problems(schema, value, path) if isinstance(value, str) else []
    expected = schema.get("type")
    if expected is None:
        return []  # any value (x-kubernetes-preserve-unknown-fields without a type)
    if not _has_type(value, expected):
        return [f"{path}: must be {_TYPE_NAMES.get(expected, expected)}, got {_kind(value)}"]
    problems: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(str(option) for option in schema["enum"])
        problems.append(f"{path}: must be one of {allowed}, got {value!r}")
    if expected == "string":
        problems += _string_problems(schema, value, path)
    elif expected in ("integer", "number"):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{path}: must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{path}: must be at most {schema['maximum']}")
    elif expected == "array":
        problems += _size_problems(schema, len(value), path, "items", "Items")
        if isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                problems += schema_problems(schema["items"], item, f"{path}[{index}]")
    elif expected == "object":
        problems += _object_problems(schema, value, path)
    return problems


def _object_problems(schema: dict[str, Any], value: dict[str, Any], path: str) -> list[str]:
    problems = [
        f"{path}.{name}: required"
        for name in schema.get("required", [])
        if name not in value and "default" not in schema.get("properties", {}).get(name, {})
    ]
    properties = schema.get("properties")
    additional = schema.get("additionalProperties")
    for name, item in value.items():
        where = f"{path}.{name}"
        if properties is not None and name in properties:
            problems += schema_problems(properties[name], item, where)
        elif isinstance(additional, dict):
            problems += schema_problems(additional, item, where)
        elif properties is not None and not schema.get("x-kubernetes-preserve-unknown-fields"):
            # kubectl's field validation is Strict: the API server refuses unknown fields.
            problems.append(f"{where}: unknown field")
    return problems


def _string_problems(schema: dict[str, Any], value: str, path: str) -> list[str]:
    problems = _size_problems(schema, len(value), path, "Length", "Length")
    pattern = schema.get("pattern")
    if pattern is not None and _compiled(pattern).search(value) is None:
        problems.append(f"{path}: {value!r} does not match {pattern}")
    return problems


def _size_problems(schema: dict[str, Any], size: int, path: str, noun: str, key: str) -> list[str]:
    problems = []
    unit = "items" if noun == "items" else "characters"
    if f"min{key}" in schema and size < schema[f"min{key}"]:
        problems.append(f"{path}: must have at least {schema[f'min{key}']} {unit}")
    if f"max{key}" in schema and size > schema[f"max{key}"]:
        problems.append(f"{path}: must have at most {schema[f'max{key}']} {unit}")
    return problems


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _has_type(value: Any, expected: str) -> bool:
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "string":
        return isinstance(value, str)
    if expected == "integer":
        return _is_integer(value)
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected == "boolean":
        return isinstance(value, bool)
    return True


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    for name, check in (("object", dict), ("list", list), ("string", str), ("boolean", bool)):
        if isinstance(value, check):
            return f"{'an' if name == 'object' else 'a'} {name}"
    return f"a number ({value!r})"
