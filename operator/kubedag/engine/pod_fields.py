"""How the Pod fields of the four levels combine: a task's own fields override its
TaskTemplate's, which override the Workflow's `taskDefaults`, which override the operator's
cluster-wide defaults (the chart's `taskPodDefaults`). Pure.

A more specific level wins field by field, and inside three kinds of field, more finely
(the way a Kubernetes strategic merge patch does, so a default is relaxed by naming only
what changes):

- `securityContext` and `podSecurityContext` merge key by key, recursively: a task that
  sets `runAsUser` keeps the default `runAsNonRoot`; a list inside (capabilities.drop) is
  replaced whole.
- Lists of named things merge by their key: `volumes`, `initContainers`, `sidecars` and
  `imagePullSecrets` by `name`, `volumeMounts` by `mountPath`. An entry replaces the
  less specific entry with the same key; the others are kept.
- Every other field (`nodeSelector`, `tolerations`, `affinity`, `envFrom`, the names and
  policies) is replaced whole: a task's `nodeSelector` is the whole selector.
"""

from __future__ import annotations

from typing import Any, TypeVar

from kubedag.api.pod import PodFields

Fields = TypeVar("Fields", bound=PodFields)

_MERGED_KEY_BY_KEY = frozenset({"security_context", "pod_security_context"})
_MERGED_BY_KEY = {
    "volumes": "name",
    "volume_mounts": "mountPath",
    "init_containers": "name",
    "sidecars": "name",
    "image_pull_secrets": "name",
}
POD_FIELD_NAMES = tuple(PodFields.model_fields)


def merge_pod_fields(*levels: PodFields | None) -> dict[str, Any]:
    """The Pod fields of `levels`, least specific first, combined: field name -> value,
    only the fields some level sets (for `model_copy(update=...)`)."""
    merged: dict[str, Any] = {}
    for level in levels:
        if level is None:
            continue
        for name in POD_FIELD_NAMES:
            value = getattr(level, name)
            if value is None:
                continue
            if name in merged and name in _MERGED_KEY_BY_KEY:
                merged[name] = _merge_objects(merged[name], value)
            elif name in merged and name in _MERGED_BY_KEY:
                merged[name] = _merge_by_key(merged[name], value, _MERGED_BY_KEY[name])
            else:
                merged[name] = value
    return merged


def with_pod_defaults(fields: Fields, *defaults: PodFields | None) -> Fields:
    """`fields` (a task) over `defaults` (least specific first)."""
    return fields.model_copy(update=merge_pod_fields(*defaults, fields))


def container_security_context(
    task_context: dict[str, Any] | None, own: dict[str, Any] | None
) -> dict[str, Any] | None:
    """An init container's or sidecar's securityContext: its own over the task's, so a
    default such as `allowPrivilegeEscalation: false` reaches every container (Pod
    Security `restricted` checks each one)."""
    if task_context is None:
        return own
    return _merge_objects(task_context, own or {})


def _merge_objects(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_objects(merged[key], value)
        else:
            merged[key] = value
    return merged


def _merge_by_key(
    base: list[dict[str, Any]], override: list[dict[str, Any]], key: str
) -> list[dict[str, Any]]:
    overrides = {entry.get(key): entry for entry in override}
    kept = [overrides.pop(entry.get(key), entry) for entry in base]
    return kept + [entry for entry in override if entry.get(key) in overrides]
