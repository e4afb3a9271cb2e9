"""The TaskTemplate resource: a task definition written once and used by many Workflows."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from kubedag.api.common import ApiModel
from kubedag.api.workflow import ParamName, TaskContainer


class TemplateParam(ApiModel):
    name: ParamName
    default: str | None = None
    description: str | None = None


class TaskTemplateSpec(TaskContainer):
    """The container of a task, with its own parameters (`{{params.NAME}}` inside it)."""

    params: Annotated[
        list[TemplateParam] | None,
        Field(
            max_length=100,
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
            },
        ),
    ] = None

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {"rule": "has(self.image)", "message": "a TaskTemplate needs an image"}
            ]
        }
    }
