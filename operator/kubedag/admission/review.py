"""The answer to one AdmissionReview (admission.k8s.io/v1): allowed, or refused with the
engine's reasons. Pure: the review's JSON in, the response's JSON out.

The reasons are kubedag.validation.engine_problems', the function `kubedag lint` applies,
worded as the operator's InvalidSpec condition (kubedag.engine.dag.invalid_spec_message).
What the rules could not check (a TaskTemplate not in the namespace yet: the operator waits
for it) comes back as admission warnings, which kubectl prints as `Warning: ...`.

Kubernetes: https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/
(request and response shapes; `warnings` since 1.19)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubedag.api import GROUP
from kubedag.api.pod import PodFields
from kubedag.engine.dag import SpecError, invalid_spec_message
from kubedag.engine.service_accounts import ServiceAccountPolicy
from kubedag.validation import CHECKED_KINDS, Templates, engine_problems

REVIEW_VERSION = "admission.k8s.io/v1"
# Kubernetes caps a warning at 256 characters (longer ones are truncated by the API server).
MAX_WARNING_LENGTH = 256
MAX_WARNINGS = 10


@dataclass(frozen=True)
class Decision:
    allowed: bool
    message: str = ""  # why not, when refused
    warnings: list[str] = field(default_factory=list)


def decide(
    request: Mapping[str, Any],
    *,
    templates_in: Callable[[str], Templates],
    service_accounts: ServiceAccountPolicy,
    pod_defaults: PodFields | None = None,
) -> Decision:
    """Whether the API server may store the object of one AdmissionReview `request`.

    `templates_in(namespace)` are the templates the operator knows in that namespace;
    `pod_defaults` its task Pod defaults (their serviceAccountName is the account of a
    task that names none).
    An UPDATE is refused only for the problems it adds: an object stored before the
    webhook existed, or before a rule did, or before a template it uses changed, can still
    be labelled, suspended, stopped (`spec.shutdown`, which the operator itself writes on
    a replaced run) or have its finalizers removed; the operator reports its InvalidSpec,
    as it would without a webhook."""
    kind = (request.get("kind") or {}).get("kind")
    group = (request.get("kind") or {}).get("group")
    content = request.get("object")
    if group != GROUP or kind not in CHECKED_KINDS or not isinstance(content, dict):
        return Decision(True)
    old = request.get("oldObject") if request.get("operation") == "UPDATE" else None
    if isinstance(old, dict) and old.get("spec") == content.get("spec"):
        return Decision(True)
    namespace = str(request.get("namespace") or "default")
    templates = templates_in(namespace)

    def check(body: dict[str, Any]) -> tuple[list[tuple[str, str]], list[str]]:
        body = copy.copy(body)
        body["metadata"] = {**(body.get("metadata") or {}), "namespace": namespace}
        return engine_problems(
            kind,
            body,
            templates,
            templates_from=f"namespace {namespace!r}",
            service_accounts=service_accounts,
            pod_defaults=pod_defaults,
        )

    problems, notes = check(content)
    if problems and isinstance(old, dict):
        known = set(check(old)[0])
        problems = [problem for problem in problems if problem not in known]
    warnings = [note[:MAX_WARNING_LENGTH] for note in notes[:MAX_WARNINGS]]
    if not problems:
        return Decision(True, warnings=warnings)
    errors = [SpecError(path, message) for path, message in problems]
    return Decision(False, invalid_spec_message(errors), warnings)


def review_response(review: Mapping[str, Any], decision: Decision) -> dict[str, Any]:
    """The AdmissionReview to send back for `review` (its `request.uid` echoed, as the API
    server requires). A refusal carries 422 Invalid, as the API server's own validation."""
    request = review.get("request") or {}
    response: dict[str, Any] = {"uid": request.get("uid", ""), "allowed": decision.allowed}
    if not decision.allowed:
        response["status"] = {"code": 422, "reason": "Invalid", "message": decision.message}
    if decision.warnings:
        response["warnings"] = decision.warnings
    return {"apiVersion": REVIEW_VERSION, "kind": "AdmissionReview", "response": response}
