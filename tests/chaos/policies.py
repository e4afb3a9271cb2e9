"""The admission policies a chaos round relies on, installed once per cluster:

- one ValidatingAdmissionPolicy per status-refusal variant, bound to namespaces whose
  REFUSAL_LABEL names it, so refusing writes is one label on the round's namespace;
- a MutatingAdmissionPolicy that makes the first attempt of a flaky task fail: Pod
  templates cannot say "fail only the first time", so the Pod of attempt 1 of a task whose
  Pods carry FAIL_FIRST_LABEL gets KWOK's exit-code annotation at creation.
"""

from __future__ import annotations

from typing import Any

import yaml

from tests.e2e.cluster import Kubectl

ADMISSION = "admissionregistration.k8s.io/v1"
FAIL_FIRST_LABEL = "chaos.kubedag.io/fail-first"
REFUSAL_LABEL = "chaos.kubedag.io/refuse-status"
# What each refusal variant lets the API server refuse, as a CEL rule over the write.
REFUSALS = {
    # the final write of a Task (issue 6, 3b and 4: a lost "Succeeded")
    "task-final": (
        "tasks/status",
        "!has(object.status) || !has(object.status.phase) "
        "|| !(object.status.phase in ['Succeeded', 'Failed'])",
    ),
    "task-any": ("tasks/status", "false"),
    "workflow-any": ("workflows/status", "false"),
}


def install_policies(kubectl: Kubectl) -> None:
    kubectl.run(
        "apply", "-f", "-", stdin=yaml.safe_dump_all([*refusal_policies(), *fail_first_policy()])
    )


def refusal_policies() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for variant, (resource, rule) in REFUSALS.items():
        name = f"kubedag-chaos-refuse-{variant}"
        documents.append(
            {
                "apiVersion": ADMISSION,
                "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": name},
                "spec": {
                    "failurePolicy": "Fail",
                    "matchConstraints": {
                        "resourceRules": [
                            {
                                "apiGroups": ["kubedag.io"],
                                "apiVersions": ["*"],
                                "operations": ["UPDATE"],
                                "resources": [resource],
                            }
                        ]
                    },
                    "validations": [
                        {"expression": rule, "message": f"chaos: {variant} status writes refused"}
                    ],
                },
            }
        )
        documents.append(
            {
                "apiVersion": ADMISSION,
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": name},
                "spec": {
                    "policyName": name,
                    "validationActions": ["Deny"],
                    "matchResources": {
                        "namespaceSelector": {"matchLabels": {REFUSAL_LABEL: variant}}
                    },
                },
            }
        )
    return documents


def fail_first_policy() -> list[dict[str, Any]]:
    name = "kubedag-chaos-fail-first-attempt"
    first_attempt = (
        f"object.metadata.?labels[?'{FAIL_FIRST_LABEL}'].orValue('') == 'true' && "
        "object.metadata.?labels[?'kubedag.io/attempt'].orValue('') == '1'"
    )
    return [
        {
            "apiVersion": ADMISSION,
            "kind": "MutatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "reinvocationPolicy": "Never",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE"],
                            "resources": ["pods"],
                        }
                    ]
                },
                "matchConditions": [
                    {
                        "name": "first-attempt-of-a-flaky-task",
                        "expression": first_attempt,
                    }
                ],
                "mutations": [
                    {
                        "patchType": "ApplyConfiguration",
                        "applyConfiguration": {
                            "expression": "Object{metadata: Object.metadata{annotations: "
                            '{"sim.kubedag.io/exit-code": "7"}}}'
                        },
                    }
                ],
            },
        },
        {
            "apiVersion": ADMISSION,
            "kind": "MutatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {"policyName": name},
        },
    ]
