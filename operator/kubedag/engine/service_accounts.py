"""Which ServiceAccounts a Workflow's task Pods may run as: the platform team's allow-list,
checked at admission (kubedag.admission) and again by the operator before it creates a Job,
so the rule holds with the webhook off, down or bypassed. Pure.

Why a rule at all: the operator creates the Jobs with its own rights, so without one, anyone
allowed to create a Workflow could run a Pod under any ServiceAccount of the namespace, and
with it that account's token and permissions, although they may not create Pods themselves.
Kubernetes' own ServiceAccount admission only checks that the account exists. Argo
Workflows takes the namespace as the boundary (its docs/security.md: "if the user has
permission to create a workflow in a namespace, then it is OK to create pods or anything
else for them in that namespace"), any account of it included.

The policy: a list of the accounts allowed in every namespace (`allowed`), and lists that
replace it in named namespaces (`namespaces`); `*` in a list allows any account there.
A task with no account anywhere runs as the namespace's `default` account, which is checked
like any other: the policy `allowed: []` lets no Workflow run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kubedag.api.pod import PodFields
from kubedag.api.template import TaskTemplateSpec
from kubedag.api.workflow import WorkflowSpec
from kubedag.engine.dag import SpecError
from kubedag.engine.specs import ResolvedSpec

ANY = "*"
# The account a Pod runs as when its spec names none (Kubernetes' ServiceAccount admission).
NAMESPACE_DEFAULT = "default"


class ServiceAccountPolicy(BaseModel):
    """The allow-list, as the chart's `serviceAccountPolicy` value and the file the
    operator reads (KUBEDAG_SERVICE_ACCOUNT_POLICY) write it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed: Annotated[
        list[str],
        Field(description="ServiceAccounts task Pods may run as in every namespace; * = any."),
    ] = [ANY]
    namespaces: Annotated[
        dict[str, list[str]],
        Field(description="Per namespace, the list that replaces `allowed` there."),
    ] = {}

    def allowed_in(self, namespace: str) -> frozenset[str]:
        return frozenset(self.namespaces.get(namespace, self.allowed))

    def allows(self, namespace: str, account: str) -> bool:
        allowed = self.allowed_in(namespace)
        return ANY in allowed or account in allowed

    @property
    def unrestricted(self) -> bool:
        return ANY in self.allowed and all(ANY in names for names in self.namespaces.values())


# What the operator does without a policy file: any account (the behaviour before issue 12).
UNRESTRICTED = ServiceAccountPolicy()


def load_policy(path: Path) -> ServiceAccountPolicy:
    """The policy in a YAML file. Raises ValueError (with the file's problem) or OSError."""
    try:
        content = yaml.safe_load(path.read_text()) or {}
        return ServiceAccountPolicy.model_validate(content)
    except (yaml.YAMLError, ValidationError) as error:
        raise ValueError(f"{path}: {error}") from error


def workflow_problems(
    spec: ResolvedSpec,
    workflow: WorkflowSpec,
    *,
    namespace: str,
    policy: ServiceAccountPolicy,
    pod_defaults: PodFields | None = None,
) -> list[SpecError]:
    """The accounts of a resolved Workflow's tasks the policy does not allow, one error per
    place that names one (a task, spec.taskDefaults, spec.serviceAccountName), each with
    its path. A task's account is, in this order (kubedag.k8s.manifests): its own (or its
    TaskTemplate's), spec.taskDefaults', the Workflow's, the operator's task Pod defaults',
    else the namespace's `default`."""
    if policy.unrestricted:
        return []
    defaults = workflow.task_defaults
    errors: dict[str, SpecError] = {}
    for task in spec.tasks.values():
        candidates = [
            (task.definition.service_account_name, f"{task.path}.serviceAccountName"),
            (
                defaults.service_account_name if defaults else None,
                "spec.taskDefaults.serviceAccountName",
            ),
            (workflow.service_account_name, "spec.serviceAccountName"),
            (
                pod_defaults.service_account_name if pod_defaults else None,
                "the operator's task Pod defaults",
            ),
            (NAMESPACE_DEFAULT, f"{task.path} (no serviceAccountName: the namespace's default)"),
        ]
        account, where = next((name, path) for name, path in candidates if name)
        if not policy.allows(namespace, account) and where not in errors:
            errors[where] = SpecError(where, refusal(account, namespace, policy))
    return list(errors.values())


def template_problems(
    spec: TaskTemplateSpec, *, namespace: str, policy: ServiceAccountPolicy
) -> list[SpecError]:
    """A TaskTemplate naming an account its namespace does not allow: no Workflow could run
    it, so it is refused as it is written."""
    account = spec.service_account_name
    if account is None or policy.allows(namespace, account):
        return []
    return [SpecError("spec.serviceAccountName", refusal(account, namespace, policy))]


def refusal(account: str, namespace: str, policy: ServiceAccountPolicy) -> str:
    """The reason a user reads, on `kubectl apply` or the Workflow's InvalidSpec."""
    allowed = sorted(policy.allowed_in(namespace))
    listed = ", ".join(repr(name) for name in allowed) if allowed else "none"
    return (
        f"ServiceAccount {account!r} is not allowed for task Pods in namespace "
        f"{namespace!r} (allowed: {listed}; the operator's ServiceAccount policy, "
        "Helm value serviceAccountPolicy)"
    )
