"""The resources' spec and status, as pydantic models: the one source of truth from which
the CRDs in crds/ are generated."""

from kubedag.api.common import Condition, ConditionStatus
from kubedag.api.task import Attempt, TaskPhase, TaskResourceSpec, TaskResourceStatus
from kubedag.api.workflow import (
    TaskCounts,
    WorkflowPhase,
    WorkflowSpec,
    WorkflowStatus,
    WorkflowTask,
)

GROUP = "kubedag.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "Attempt",
    "Condition",
    "ConditionStatus",
    "TaskCounts",
    "TaskPhase",
    "TaskResourceSpec",
    "TaskResourceStatus",
    "WorkflowPhase",
    "WorkflowSpec",
    "WorkflowStatus",
    "WorkflowTask",
]
