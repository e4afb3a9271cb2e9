"""Building blocks shared by both resources: the model base, conditions, container fields."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# Kubernetes object names that end up in labels must be DNS-1123 labels (63 characters).
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

PRESERVE_UNKNOWN_FIELDS: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}
# Any JSON value at all (string, number, object, list): see kubedag.api.crd.
ANY_JSON_VALUE: dict[str, Any] = {"x-kubedag-any-value": True}


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are ignored because the
    API server has already pruned them against the generated schema."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        use_enum_values=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict as the API server stores it (aliases, no unset Nones)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(ApiModel):
    """A condition as the Kubernetes API conventions define it."""

    type: Annotated[str, Field(max_length=316)]
    status: ConditionStatus
    reason: Annotated[str, Field(max_length=1024)] = ""
    message: Annotated[str, Field(max_length=32768)] = ""
    last_transition_time: datetime | None = None
    observed_generation: int | None = None


class EnvVar(ApiModel):
    """A container environment variable; `valueFrom` is passed to the Pod as written."""

    name: Annotated[str, Field(min_length=1, max_length=256)]
    value: str | None = None
    value_from: Annotated[
        dict[str, Any] | None, Field(json_schema_extra=PRESERVE_UNKNOWN_FIELDS)
    ] = None


class ResourceRequirements(ApiModel):
    limits: dict[str, int | str] | None = None
    requests: dict[str, int | str] | None = None


class PodMetadata(ApiModel):
    """Labels and annotations put on the task's Pods (for example to select a node pool, a
    sidecar injector or, in tests, a simulated outcome)."""

    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


def condition_list_field() -> Any:
    return Field(
        default_factory=list,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
