"""The one place that builds object names and labels.

Names are deterministic, so an action repeated after a crash meets AlreadyExists instead
of creating a duplicate. A Job's name becomes a label value on its Pods, so it must fit a
DNS-1123 label (63 characters); long names are shortened with a hash of the full name so
two different long names never collide.
"""

from __future__ import annotations

import hashlib

LABEL_PREFIX = "kubedag.io"
WORKFLOW_LABEL = f"{LABEL_PREFIX}/workflow"
TASK_LABEL = f"{LABEL_PREFIX}/task"
ATTEMPT_LABEL = f"{LABEL_PREFIX}/attempt"
# Set to a new value (any text) to retry a failed Workflow from the point of failure.
RETRY_ANNOTATION = f"{LABEL_PREFIX}/retry"

_DNS_LABEL_LIMIT = 63
_MAX_ATTEMPT_SUFFIX = len("-9999")
_TASK_OBJECT_LIMIT = _DNS_LABEL_LIMIT - _MAX_ATTEMPT_SUFFIX


def shorten(name: str, limit: int) -> str:
    """`name` itself if it fits, else a prefix and 8 hex digits of its SHA-256."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-.')}-{digest}"


def task_object_name(workflow: str, task: str) -> str:
    return shorten(f"{workflow}-{task}", _TASK_OBJECT_LIMIT)


def job_name(workflow: str, task: str, attempt: int) -> str:
    return f"{task_object_name(workflow, task)}-{attempt}"


def task_labels(workflow: str, task: str) -> dict[str, str]:
    # Label values are limited to 63 characters like names; workflow names may be longer.
    return {
        WORKFLOW_LABEL: shorten(workflow, _DNS_LABEL_LIMIT),
        TASK_LABEL: task,
    }


def job_labels(workflow: str, task: str, attempt: int) -> dict[str, str]:
    return {**task_labels(workflow, task), ATTEMPT_LABEL: str(attempt)}
