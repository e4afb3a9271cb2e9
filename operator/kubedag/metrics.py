"""Prometheus metrics of the operator (served by `kubedag operator --metrics-port`)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

API_REQUESTS = Counter(
    "kubedag_api_requests_total",
    "Requests the operator sent to the Kubernetes API server.",
    ["verb", "resource", "outcome"],
)
API_LATENCY = Histogram(
    "kubedag_api_request_duration_seconds",
    "Latency of the operator's requests to the Kubernetes API server.",
    ["verb", "resource"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
RECONCILES = Counter(
    "kubedag_reconciles_total",
    "Workflow reconciliations, by outcome.",
    ["outcome"],
)
RECONCILE_DURATION = Histogram(
    "kubedag_reconcile_duration_seconds",
    "Time to plan and apply one reconciliation of one workflow.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TASK_TRANSITIONS = Counter(
    "kubedag_task_transitions_total",
    "Task phase transitions written by the operator.",
    ["phase"],
)
WORKFLOWS_FINISHED = Counter(
    "kubedag_workflows_finished_total",
    "Workflows that reached a final phase.",
    ["phase"],
)
JOB_START_LATENCY = Histogram(
    "kubedag_job_start_latency_seconds",
    "From the event that made a task runnable reaching the operator to its Job being created.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
