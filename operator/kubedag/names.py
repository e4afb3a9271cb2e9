"""The one place that builds object names and labels.

A Task object is named `<workflow>-<node>-<hash>` and its Jobs `<task object>-<attempt>`,
where `<hash>` is ten characters of a SHA-256 of the (workflow, node) pair. The readable
join alone is ambiguous: workflow `etl` with task `daily-load` and workflow `etl-daily`
with task `load` both join to `etl-daily-load`, and one of them could never run (see
NameTaken in the reconciler, kept as a safety net). Argo Workflows hashes node names for
the same reason. With the hash, two different pairs get different names by construction;
within one workflow, node names are unique (the engine refuses a task named like another
task's fan-out item, specs.py).

Names are deterministic, so an action repeated after a crash meets AlreadyExists instead
of creating a duplicate. A Job's name becomes the `job-name` label of its Pods, so it must
fit a label value (63 characters): a long readable part is cut, keeping as much of the
node name as it can (that is what tells one workflow's objects apart); the hash still
covers the full names.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re

LABEL_PREFIX = "kubedag.io"
WORKFLOW_LABEL = f"{LABEL_PREFIX}/workflow"
TASK_LABEL = f"{LABEL_PREFIX}/task"
ATTEMPT_LABEL = f"{LABEL_PREFIX}/attempt"
# Set to a new value (any text) to retry a failed Workflow from the point of failure.
RETRY_ANNOTATION = f"{LABEL_PREFIX}/retry"
# On the runs a CronWorkflow or a Backfill creates: the name of the object that made it.
CRON_WORKFLOW_LABEL = f"{LABEL_PREFIX}/cron-workflow"
BACKFILL_LABEL = f"{LABEL_PREFIX}/backfill"
# On a run `kubedag schedule trigger` created (it is named like the scheduled run).
MANUAL_RUN_ANNOTATION = f"{LABEL_PREFIX}/manual"
# On a run a CronWorkflow's dataset trigger created: the Dataset counts it consumed (JSON).
DATASET_TRIGGER_ANNOTATION = f"{LABEL_PREFIX}/dataset-trigger"

_DNS_LABEL_LIMIT = 63
_MAX_ATTEMPT_SUFFIX = len("-9999")
_TASK_OBJECT_LIMIT = _DNS_LABEL_LIMIT - _MAX_ATTEMPT_SUFFIX
# Kubernetes' own alphabet for generated suffixes (rand.SafeEncodeString, as in a
# ReplicaSet's pod-template-hash): no vowels, so no words, and no 0, 1 or 3, which read
# like o, l and e. Ten characters are ~47 bits: two nodes whose cut readable parts are
# equal collide with a chance of about n²/2^48 (n = such nodes in a namespace).
_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_HASH_LENGTH = 10
_READABLE_LIMIT = _TASK_OBJECT_LIMIT - 1 - _HASH_LENGTH


def shorten(name: str, limit: int) -> str:
    """`name` itself if it fits, else a prefix and 8 hex digits of its SHA-256."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-.')}-{digest}"


def node_hash(workflow: str, node: str) -> str:
    # "/" appears in neither a workflow name (a DNS subdomain) nor a node name (a DNS
    # label), so different pairs always hash different texts.
    digest = hashlib.sha256(f"{workflow}/{node}".encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    characters = []
    for _ in range(_HASH_LENGTH):
        number, index = divmod(number, len(_HASH_ALPHABET))
        characters.append(_HASH_ALPHABET[index])
    return "".join(characters)


# Every pass names each node's Task and Jobs; a 10,000-task run would hash 10,000 names a
# pass (issue 8). The names of a few runs' nodes fit.
@functools.lru_cache(maxsize=32768)
def task_object_name(workflow: str, node: str) -> str:
    """The Task object of one node of a workflow: `<workflow>-<node>-<hash>`."""
    return f"{_readable_join(workflow, node, _READABLE_LIMIT)}-{node_hash(workflow, node)}"


def job_name(workflow: str, node: str, attempt: int) -> str:
    """The Job of attempt `attempt` (1, 2, …) of a node: `<task object name>-<attempt>`."""
    return f"{task_object_name(workflow, node)}-{attempt}"


def _readable_join(workflow: str, node: str, limit: int) -> str:
    joined = f"{workflow}-{node}"
    if len(joined) <= limit:
        return joined
    workflow_kept = min(len(workflow), max(limit // 2, limit - 1 - len(node)))
    node_kept = limit - 1 - workflow_kept
    # A cut must not leave a name part ending in "-" or ".".
    return f"{workflow[:workflow_kept].rstrip('-.')}-{node[:node_kept].rstrip('-.')}"


def task_labels(workflow: str, task: str) -> dict[str, str]:
    # Label values are limited to 63 characters like names; workflow names may be longer.
    return {
        WORKFLOW_LABEL: shorten(workflow, _DNS_LABEL_LIMIT),
        TASK_LABEL: task,
    }


def job_labels(workflow: str, task: str, attempt: int) -> dict[str, str]:
    return {**task_labels(workflow, task), ATTEMPT_LABEL: str(attempt)}


def event_name(regarding: str, uid: str, reason: str, key: str) -> str:
    """The name of an Event about the object `regarding` (its uid): the same Event (same
    object, reason and key) always gets the same name, so posting it twice meets
    AlreadyExists. Event names are DNS subdomains (253 characters)."""
    digest = hashlib.sha256(f"{uid}/{reason}/{key}".encode()).hexdigest()[:16]
    # A cut name may end in "-" or "."; before the "." that follows, that is no valid name.
    return f"{regarding[:200].rstrip('-.')}.{digest}"


def _hash_text(text: str) -> str:
    number = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    characters = []
    for _ in range(_HASH_LENGTH):
        number, index = divmod(number, len(_HASH_ALPHABET))
        characters.append(_HASH_ALPHABET[index])
    return "".join(characters)


def dataset_object_name(namespace: str, name: str) -> str:
    """The Dataset object of the dataset (namespace, name) (issue 10): a readable part (both
    in lower case, every run of other characters one "-", the scheme's "://" too) and a
    hash of the exact pair, at most 63 characters, so it is a DNS label and a label value.
    `s3://bucket`, `raw/orders` -> `s3-bucket-raw-orders-<hash>`. The hash tells apart the
    pairs whose readable parts are equal (`raw/orders` and `raw_orders`, `S3://b`)."""
    readable = re.sub(r"[^a-z0-9]+", "-", f"{namespace}-{name}".lower()).strip("-")
    readable = readable[:_READABLE_LIMIT_DATASET].rstrip("-") or "dataset"
    # A JSON pair: no two different pairs hash the same text.
    return f"{readable}-{_hash_text(json.dumps([namespace, name]))}"


_READABLE_LIMIT_DATASET = _DNS_LABEL_LIMIT - 1 - _HASH_LENGTH
