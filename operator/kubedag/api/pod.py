"""The Pod and container fields a task sets beyond its command: security contexts, volumes,
placement, registries, init containers and sidecars.

They are typed loosely here (dicts and lists of dicts, passed to the Pod as written) and
strictly in the CRDs, whose schemas for them are Kubernetes' own (kubernetes_schemas.py):
the API server validates a task's `volumes` exactly as it validates a Pod's.

The same fields appear on a task, on a TaskTemplate, in a Workflow's `taskDefaults` and in
the operator's cluster-wide defaults; engine/pod_fields.py merges them.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, ValidationError

from kubedag.api.common import ApiModel
from kubedag.api.kubernetes_schemas import json_schema_of

# Bounds for the lists a task declares (the upstream schemas leave them unbounded; these
# keep a Workflow of many tasks far from etcd's object size limit).
MAX_VOLUMES = 100
MAX_CONTAINERS = 20


def _upstream(name: str, description: str) -> Any:
    return Field(description=description, json_schema_extra=json_schema_of(name))


def _upstream_list(name: str, description: str, max_items: int = MAX_VOLUMES) -> Any:
    return Field(
        description=description,
        max_length=max_items,
        json_schema_extra=json_schema_of(name, list_of=True),
    )


class ImagePullPolicy(StrEnum):
    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


class TerminationMessagePolicy(StrEnum):
    # Only what the container writes to /dev/termination-log (kubedag's default).
    FILE = "File"
    # The log's last lines when that file is empty and the container failed: they become
    # the Task's message and an Event, so they must not hold a secret.
    FALLBACK_TO_LOGS_ON_ERROR = "FallbackToLogsOnError"


class PodFields(ApiModel):
    """A task's Pod and container fields, each named as in the Kubernetes API. The main
    container's fields (`securityContext`, `volumeMounts`, `envFrom`, `imagePullPolicy`,
    `terminationMessagePolicy`) sit beside the Pod's (`podSecurityContext`, `volumes`,
    `nodeSelector`, …), as in a Helm chart's values."""

    # The main container.
    security_context: Annotated[
        dict[str, Any] | None,
        _upstream(
            "SecurityContext",
            "The container security context of the task's containers: the main container's, "
            "and the base of each init container's and sidecar's own.",
        ),
    ] = None
    volume_mounts: Annotated[
        list[dict[str, Any]] | None,
        _upstream_list("VolumeMount", "Where the main container mounts the task's volumes."),
    ] = None
    env_from: Annotated[
        list[dict[str, Any]] | None,
        _upstream_list("EnvFromSource", "Environment variables from ConfigMaps and Secrets."),
    ] = None
    image_pull_policy: ImagePullPolicy | None = None
    termination_message_policy: Annotated[
        TerminationMessagePolicy | None,
        Field(
            description="File (the default): the task's message on failure is only what the "
            "container writes to /dev/termination-log. FallbackToLogsOnError: the last log "
            "lines when it wrote nothing (they become the Task's message and an Event)."
        ),
    ] = None
    # The Pod.
    pod_security_context: Annotated[
        dict[str, Any] | None,
        _upstream("PodSecurityContext", "The Pod's securityContext."),
    ] = None
    volumes: Annotated[
        list[dict[str, Any]] | None,
        _upstream_list("Volume", "The Pod's volumes: Secret, ConfigMap, emptyDir, PVC, …"),
    ] = None
    node_selector: dict[str, str] | None = None
    tolerations: Annotated[
        list[dict[str, Any]] | None, _upstream_list("Toleration", "The Pod's tolerations.")
    ] = None
    affinity: Annotated[
        dict[str, Any] | None, _upstream("Affinity", "The Pod's node and Pod affinity.")
    ] = None
    topology_spread_constraints: Annotated[
        list[dict[str, Any]] | None,
        _upstream_list("TopologySpreadConstraint", "The Pod's topology spread constraints."),
    ] = None
    image_pull_secrets: Annotated[
        list[dict[str, Any]] | None,
        _upstream_list("LocalObjectReference", "Secrets to pull the task's images with."),
    ] = None
    priority_class_name: Annotated[str | None, Field(max_length=253)] = None
    service_account_name: Annotated[
        str | None,
        Field(max_length=253, description="Overrides the Workflow's serviceAccountName."),
    ] = None
    runtime_class_name: Annotated[str | None, Field(max_length=253)] = None
    init_containers: Annotated[
        list[dict[str, Any]] | None,
        _upstream_list(
            "Container", "Containers that run to completion before the task's.", MAX_CONTAINERS
        ),
    ] = None
    sidecars: Annotated[
        list[dict[str, Any]] | None,
        _upstream_list(
            "Container",
            "Containers that run beside the task's (Kubernetes' native sidecars: init "
            "containers with restartPolicy Always, started after initContainers and stopped "
            "when the task's container ends).",
            MAX_CONTAINERS,
        ),
    ] = None


def load_pod_defaults(path: Path) -> PodFields | None:
    """The cluster-wide task Pod defaults from a YAML file (the chart's ConfigMap); None
    when it is empty. Raises ValueError on a file that is not such a mapping."""
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not YAML: {error}") from error
    if document is None:
        return None
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a mapping of Pod fields, got {document!r}")
    unknown = sorted(set(document) - {field.alias for field in PodFields.model_fields.values()})
    if unknown:
        raise ValueError(f"{path}: unknown task Pod fields: {', '.join(unknown)}")
    try:
        return PodFields.model_validate(document)
    except ValidationError as error:
        raise ValueError(f"{path}: {error}") from error


VALUES_SCHEMA_DESCRIPTION = (
    "Cluster-wide defaults for every task's Pod (the operator's --task-pod-defaults): the "
    "fields and shapes of kubedag.api.pod.PodFields, which the operator checks at start."
)


def task_pod_defaults_values_schema() -> dict[str, Any]:
    """The JSON schema of the chart's `taskPodDefaults` value (values.schema.json, draft 7):
    PodFields' own schema (field names as in the Kubernetes API, the upstream shapes of
    securityContext, volumes ...) with its `$ref`s inlined and no other key allowed, so
    `helm install` refuses a value the operator would refuse at start (a crash loop).
    Regenerated into the chart by `make crds`."""
    schema = PodFields.model_json_schema(by_alias=True)
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith("#/$defs/"):
                return inline(definitions[reference.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items() if key != "title"}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    properties = inline(schema["properties"])
    return {
        "type": "object",
        "additionalProperties": False,
        "description": VALUES_SCHEMA_DESCRIPTION,
        "properties": properties,
    }


def write_values_schema(path: Path) -> None:
    """Sets `properties.taskPodDefaults` of the chart's values.schema.json at `path`."""
    import json

    schema = json.loads(path.read_text())
    schema["properties"]["taskPodDefaults"] = task_pod_defaults_values_schema()
    path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    import sys

    write_values_schema(Path(sys.argv[1]))
