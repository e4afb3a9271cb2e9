"""Validating an object against its CustomResourceDefinition's schema, as the API server
does when the object is created with strict field validation (kubectl's default).

The schema is the one kubedag generates from its API models (`kubedag.api.crd`), built in
process, so it follows the models as they change. JSON Schema keywords are checked by the
`jsonschema` library (Draft 4: OpenAPI v3.0 schemas are a Draft 4 dialect); what a
structural schema adds is checked here:

- an unknown field is an error unless its object says `x-kubernetes-preserve-unknown-fields`
  (kubectl: `strict decoding error: unknown field "spec.tasks[0].envFrom"`);
- `null` in a field that is not `nullable` is dropped before validation, as the API server
  prunes it; `nullable: true` admits null;
- `x-kubernetes-int-or-string` admits an integer or a string;
- `x-kubernetes-list-type: map` items are unique by `x-kubernetes-list-map-keys`, `set`
  items are unique;
- `format: date-time` strings are checked as the API server checks them (kube-openapi's
  strfmt IsDateTime: a valid `YYYY-MM-DD`, `T` or `t`, `hh:mm:ss`, optional fraction, and
  `Z`/`z` or a `±hh:mm` offset, which is required: `2026-11-01T00:00:00` is refused);
- `x-kubernetes-validations` CEL rules are evaluated with `cel-python`; transition rules
  (those using `oldSelf`) apply to updates only and are not evaluated here. A rule that
  cannot be evaluated because a value has the wrong type is left out: the type error is
  reported instead, and the API server too skips CEL when a value has the wrong type.
"""

from __future__ import annotations

import calendar
import copy
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import celpy
import celpy.celtypes
from celpy.adapter import json_to_cel
from celpy.celtypes import BoolType
from celpy.evaluation import CELEvalError
from jsonschema import Draft4Validator, ValidationError, validators

from kubedag.api.crd import build_crds
from kubedag.field_paths import format_path


@dataclass(frozen=True)
class SchemaProblem:
    path: str  # as the API server writes it: spec.tasks[0].outputs[0].name
    message: str
    rule: str | None = None  # the CEL rule that failed, for a rule's problem


def validate_object(kind: str, instance: dict[str, Any]) -> list[SchemaProblem]:
    """Every problem the API server's schema validation finds in a new object of `kind`,
    ordered by path. `metadata` is the API server's own business and is not checked here,
    nor is `status`, which a create through the main resource ignores."""
    schema = _validation_schema(kind)
    body = {key: value for key, value in instance.items() if key not in ("metadata", "status")}
    body = _drop_nulls(body, schema)
    errors = sorted(_validator(kind).iter_errors(body), key=_path_order)
    return list(dict.fromkeys(_problem(error) for error in errors))


def crd_kinds() -> set[str]:
    return {crd["spec"]["names"]["kind"] for crd in build_crds().values()}


def schema_at(kind: str, path: Sequence[str | int]) -> dict[str, Any]:
    """The schema of the value at `path` (property names and list indexes), {} if none."""
    node: dict[str, Any] = _validation_schema(kind)
    for part in path:
        if isinstance(part, int):
            node = node.get("items") or {}
        elif part in (node.get("properties") or {}):
            node = node["properties"][part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return {}
    return node


@cache
def _validation_schema(kind: str) -> dict[str, Any]:
    for crd in build_crds().values():
        if crd["spec"]["names"]["kind"] == kind:
            schema: dict[str, Any] = copy.deepcopy(
                crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            )
            schema["properties"].pop("metadata", None)
            schema["properties"].pop("status", None)
            strict: dict[str, Any] = _strict(schema)
            return strict
    raise KeyError(kind)


def _strict(node: Any) -> Any:
    """The structural schema in plain JSON Schema terms: closed objects, nullable types."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    strict = {
        key: (
            {name: _strict(child) for name, child in value.items()}
            if key == "properties"
            else _strict(value)
        )
        for key, value in node.items()
    }
    if strict.get("nullable") and "type" in strict:
        strict["type"] = [strict["type"], "null"]
    is_object = strict.get("type") == "object" or "properties" in strict
    if (
        is_object
        and "additionalProperties" not in strict
        and not strict.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


def _drop_nulls(instance: Any, schema: dict[str, Any]) -> Any:
    """The object as the API server keeps it: a null field that is not nullable is pruned."""
    if isinstance(instance, list):
        return [_drop_nulls(item, schema.get("items") or {}) for item in instance]
    if not isinstance(instance, dict):
        return instance
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    kept: dict[str, Any] = {}
    for key, value in instance.items():
        child = properties.get(key, extra if isinstance(extra, dict) else {})
        if value is None and not child.get("nullable"):
            continue
        kept[key] = _drop_nulls(value, child)
    return kept


def _unknown_fields(
    validator: Any, allowed: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if allowed is not False or not isinstance(instance, dict):
        yield from _DRAFT4["additionalProperties"](validator, allowed, instance, schema)
        return
    known = schema.get("properties") or {}
    for key in instance:
        if key not in known:
            yield ValidationError("unknown field", path=[key])


def _required(
    validator: Any, required: list[str], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if isinstance(instance, dict):
        for name in required:
            if name not in instance:
                yield ValidationError("Required value", path=[name])


def _int_or_string(
    validator: Any, enabled: bool, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    is_integer = isinstance(instance, int) and not isinstance(instance, bool)
    if enabled and not (is_integer or isinstance(instance, str)):
        yield ValidationError(f"must be an integer or a string, not {_json_type(instance)}")


_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TIME = re.compile(r"(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:z|[+-]\d{2}:\d{2})")


def is_date_time(text: str) -> bool:
    """Whether the API server takes `text` as `format: date-time` (kube-openapi
    pkg/validation/strfmt IsDateTime: the text is lower-cased and split at `t`; the date
    must be a real day (Go's time.Parse of 2006-01-02, which has a year 0), the time
    hh<=23, mm<=59, ss<=59 and end in `z` or an offset)."""
    parts = text.lower().split("t")
    if len(text) < 4 or len(parts) < 2:
        return False
    date = _DATE.fullmatch(parts[0])
    clock = _TIME.fullmatch(parts[1])
    if date is None or clock is None:
        return False
    year, month, day = (int(group) for group in date.groups())
    # Year 0 is a leap year in the proleptic Gregorian calendar, as 2000 is.
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year or 2000, month)[1]:
        return False
    hour, minute, second = clock.groups()
    return hour <= "23" and minute <= "59" and second <= "59"


def _format(
    validator: Any, format_name: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if format_name == "date-time" and isinstance(instance, str) and not is_date_time(instance):
        yield ValidationError(
            f"must be of type date-time (RFC 3339 with a zone offset, e.g. "
            f"2026-11-01T00:00:00+01:00): {instance!r}"
        )


def _list_type(
    validator: Any, list_type: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not isinstance(instance, list):
        return
    keys = schema.get("x-kubernetes-list-map-keys") or []
    seen: set[str] = set()
    for index, item in enumerate(instance):
        if list_type == "map" and isinstance(item, dict):
            identity = {key: item.get(key) for key in keys}
        elif list_type == "set":
            identity = item
        else:
            continue
        text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
        if text in seen:
            yield ValidationError(f"Duplicate value: {text}", path=[index])
        seen.add(text)


def _cel_rules(
    validator: Any, rules: list[dict[str, Any]], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, schema.get("type", "object")):
        return  # the type error is reported; the API server then skips CEL too
    activation = {"self": _to_cel(instance, schema)}
    for rule in rules:
        if "oldSelf" in rule["rule"]:
            continue  # a transition rule: checked on update, never on create
        try:
            result = cel_program(rule["rule"]).evaluate(activation)
        except CELEvalError:
            # A value of the wrong type (reported by the schema), or a function of the
            # Kubernetes CEL libraries that cel-python lacks (`isURL`, `quantity`): a unit
            # test fails while any rule of the CRDs uses one.
            continue
        if not isinstance(result, BoolType) or bool(result):
            continue  # passed, or an evaluation error returned as a value (a type problem)
        path = [part for part in rule.get("fieldPath", "").split(".") if part]
        error = ValidationError(rule.get("message") or f"failed rule: {rule['rule']}", path=path)
        error.validator_value = rule["rule"]
        yield error


def _to_cel(instance: Any, schema: dict[str, Any]) -> Any:
    """`instance` as the API server's CEL sees it: a string of format date-time is a
    timestamp and one of format duration a duration, so `self.start < self.end` compares
    instants, not texts (Kubernetes docs, "Validation rules": type mapping)."""
    if isinstance(instance, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        return celpy.celtypes.MapType(
            {
                celpy.celtypes.StringType(key): _to_cel(
                    value, properties.get(key) or (extra if isinstance(extra, dict) else {})
                )
                for key, value in instance.items()
            }
        )
    if isinstance(instance, list):
        items = schema.get("items")
        items = items if isinstance(items, dict) else {}
        return celpy.celtypes.ListType([_to_cel(item, items) for item in instance])
    if isinstance(instance, str):
        try:
            if schema.get("format") == "date-time":
                return celpy.celtypes.TimestampType(instance)
            if schema.get("format") == "duration":
                return celpy.celtypes.DurationType(instance)
        except ValueError:
            pass  # not of its format: the schema reports that
    return json_to_cel(instance)


@cache
def cel_program(rule: str) -> Any:
    environment = celpy.Environment()
    return environment.program(environment.compile(rule))


_DRAFT4 = Draft4Validator.VALIDATORS


@cache
def _validator(kind: str) -> Any:
    validator_class = validators.extend(  # type: ignore[no-untyped-call]
        Draft4Validator,
        {
            "additionalProperties": _unknown_fields,
            "required": _required,
            "format": _format,
            "x-kubernetes-int-or-string": _int_or_string,
            "x-kubernetes-list-type": _list_type,
            "x-kubernetes-validations": _cel_rules,
        },
    )
    return validator_class(_validation_schema(kind))


def _problem(error: ValidationError) -> SchemaProblem:
    path = format_path(error.absolute_path)
    rule = error.validator_value if error.validator == "x-kubernetes-validations" else None
    return SchemaProblem(path, _message(error), rule if isinstance(rule, str) else None)


def _message(error: ValidationError) -> str:
    value: Any = error.validator_value
    instance: Any = error.instance
    match error.validator:
        case "type":
            expected = " or ".join(value) if isinstance(value, list) else value
            return f"must be of type {expected}, not {_json_type(instance)}"
        case "enum":
            choices = ", ".join(json.dumps(choice) for choice in value)
            return f"Unsupported value {json.dumps(instance)}: must be one of {choices}"
        case "maxLength":
            return f"Too long: may not be longer than {value} characters"
        case "minLength":
            return f"Too short: must be at least {value} characters"
        case "maxItems":
            return f"Too many: {len(instance)}: must have at most {value} items"
        case "minItems":
            return f"Too few: must have at least {value} items"
        case "minimum":
            return f"Invalid value: {instance}: must be greater than or equal to {value}"
        case "maximum":
            return f"Invalid value: {instance}: must be less than or equal to {value}"
        case "pattern":
            return f"Invalid value: {json.dumps(instance)}: must match {value!r}"
    return str(error.message)


def _json_type(instance: Any) -> str:
    if isinstance(instance, bool):
        return "boolean"
    if isinstance(instance, int):
        return "integer"
    if isinstance(instance, float):
        return "number"
    if isinstance(instance, str):
        return "string"
    if isinstance(instance, list):
        return "array"
    if isinstance(instance, dict):
        return "object"
    return "null"


def _path_order(error: ValidationError) -> list[tuple[int, int | str]]:
    return [(0, part) if isinstance(part, int) else (1, part) for part in error.absolute_path]
