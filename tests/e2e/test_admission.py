"""Admission and tenancy on the real API server, RBAC on (issue 12): the operator's webhook
refuses an invalid Workflow at `kubectl apply` with the reasons `kubedag lint` gives; a
user bound only to Kubernetes' `edit` role runs and watches Workflows through the chart's
aggregated roles; the ServiceAccount policy is enforced by the webhook and, without it, by
the operator; task Pods get the chart's security defaults; and a secret's value reaches
no status, event or log.

The operator runs as a local process, as in every e2e test, configured as the chart
configures it (the chart's rendered ConfigMaps are its files), with its own self-signed
certificate: the webhook configuration points at https://127.0.0.1:PORT, and the operator
fills in its caBundle."""

from __future__ import annotations

import base64
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedag.lint import Check, lint_text
from tests.e2e.cluster import ROOT, Kubectl, operator_env, task, wait_for, workflow
from tests.e2e.helpers import condition, jobs_by_task, wait_for_phase
from tests.e2e.operator_process import OperatorProcess, free_port
from tests.e2e.test_helm_install import helm_binary

RUN_ID = uuid.uuid4().hex[:6]
LABEL = "kubedag.io/e2e-admission"  # the namespaces the test's webhook configuration covers
USER = f"alice-{RUN_ID}"  # a user the API server has never heard of, impersonated
RELEASE = f"kubedag-e2e-{RUN_ID}"


def rendered_chart(**values: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The chart's objects by (kind, name), rendered with `--set` values by the real helm."""
    # No image is published: the chart requires a repository (on KWOK none is pulled).
    values = {"image.repository": "kubedag", **values}
    settings = [
        argument for key, value in values.items() for argument in ("--set", f"{key}={value}")
    ]
    result = subprocess.run(
        [helm_binary(), "template", RELEASE, str(ROOT / "charts" / "kubedag"), *settings],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return {
        (document["kind"], document["metadata"]["name"]): document
        for document in yaml.safe_load_all(result.stdout)
        if document
    }


@pytest.fixture(scope="module")
def chart() -> dict[tuple[str, str], dict[str, Any]]:
    return rendered_chart(**{"serviceAccountPolicy.allowed": "{default,runner}"})


@pytest.fixture(scope="module")
def webhook_operator(
    kubectl: Kubectl,
    operator: OperatorProcess,
    chart: dict[tuple[str, str], dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """The session's operator is replaced, for this module, by one configured as the chart
    configures it, with the webhook on; the session's comes back afterwards."""
    files = Path(tmp_path_factory.mktemp("admission"))
    for config_map, key in (
        (f"{RELEASE}-service-account-policy", "service-account-policy.yaml"),
        (f"{RELEASE}-task-pod-defaults", "task-pod-defaults.yaml"),
    ):
        (files / key).write_text(chart[("ConfigMap", config_map)]["data"][key])
    system = f"kubedag-system-{RUN_ID}"
    kubectl.run("create", "namespace", system)
    port = free_port()
    configuration = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": RELEASE},
        "webhooks": [
            {
                **chart[("ValidatingWebhookConfiguration", RELEASE)]["webhooks"][0],
                # The local process instead of the chart's Service; no caBundle: the
                # operator sets it.
                "clientConfig": {"url": f"https://127.0.0.1:{port}/validate"},
                "namespaceSelector": {"matchLabels": {LABEL: RUN_ID}},
            }
        ],
    }
    kubectl.run("apply", "-f", "-", stdin=yaml.safe_dump(configuration))
    env = operator_env(kubectl.env) | {
        "KUBEDAG_WEBHOOK_PORT": str(port),
        "KUBEDAG_WEBHOOK_SECRET": f"{system}/webhook-tls",
        "KUBEDAG_WEBHOOK_HOSTS": "127.0.0.1",
        "KUBEDAG_WEBHOOK_CONFIGURATION": RELEASE,
        "KUBEDAG_WEBHOOK_KEY_DIR": str(files),
        "KUBEDAG_SERVICE_ACCOUNT_POLICY": str(files / "service-account-policy.yaml"),
    }
    process = OperatorProcess(
        env,
        files / "operator.log",
        (
            "--task-events=all",
            "--verbose",
            f"--task-pod-defaults={files / 'task-pod-defaults.yaml'}",
        ),
    )
    operator.stop()
    try:
        process.start()
        wait_for(
            "the operator to set the webhook's caBundle",
            lambda: (
                kubectl.run(
                    "get",
                    "validatingwebhookconfiguration",
                    RELEASE,
                    "-o",
                    "jsonpath={.webhooks[0].clientConfig.caBundle}",
                ).stdout
            ),
        )
        yield process
    finally:
        process.stop()
        kubectl.run("delete", "validatingwebhookconfiguration", RELEASE, check=False)
        kubectl.run("delete", "namespace", system, "--wait=false", check=False)
        operator.start()
        print(f"admission operator log: {process.log_path}")


def new_namespace(kubectl: Kubectl, *, webhook: bool) -> str:
    name = f"adm-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", name)
    if webhook:
        kubectl.run("label", "namespace", name, f"{LABEL}={RUN_ID}")
    wait_for(
        "the namespace's default service account",
        lambda: (
            kubectl.run("get", "-n", name, "serviceaccount", "default", check=False).returncode == 0
        ),
    )
    return name


@pytest.fixture
def tenant(kubectl: Kubectl, webhook_operator: OperatorProcess) -> Iterator[str]:
    """A namespace the webhook covers."""
    name = new_namespace(kubectl, webhook=True)
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def unguarded(kubectl: Kubectl, webhook_operator: OperatorProcess) -> Iterator[str]:
    """A namespace the webhook does not cover: the operator alone decides."""
    name = new_namespace(kubectl, webhook=False)
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)


def apply(kubectl: Kubectl, namespace: str, body: dict[str, Any], *as_user: str) -> Any:
    return kubectl.run(
        *as_user, "apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(body), check=False
    )


CYCLE = [task("a", depends_on=["c"]), task("b", depends_on=["a"]), task("c", depends_on=["b"])]


def test_kubectl_apply_of_a_cyclic_workflow_is_refused_with_the_cycles_path(
    kubectl: Kubectl, tenant: str
) -> None:
    body = workflow("cyclic", [*CYCLE, task("d", depends_on=["missing"])])
    result = apply(kubectl, tenant, body)
    assert result.returncode != 0
    assert 'admission webhook "validate.kubedag.io" denied the request: invalid spec: ' in (
        result.stderr
    )
    assert "spec.tasks: dependency cycle: a -> c -> b -> a" in result.stderr
    # The same reasons, word for word, as `kubedag lint` gives offline (lint in reading
    # order, the webhook in the order of the operator's InvalidSpec).
    findings = lint_text(yaml.safe_dump(body))
    assert len(findings) == 2
    for finding in findings:
        assert finding.check == Check.ENGINE
        assert f"{finding.path}: {finding.message}" in result.stderr
    gone = kubectl.run("get", "-n", tenant, "workflows.kubedag.io", "cyclic", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_the_webhook_checks_references_against_the_namespaces_templates(
    kubectl: Kubectl, tenant: str
) -> None:
    template = {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": "nightly"},
        "spec": {"tasks": [task("extract"), task("load", depends_on=["extract"])]},
    }
    assert apply(kubectl, tenant, template).returncode == 0
    run = workflow(
        "run", [], workflowTemplateRef={"name": "nightly"}, params=[{"name": "day", "value": "1"}]
    )
    del run["spec"]["tasks"]

    def refused() -> str | None:
        result = apply(kubectl, tenant, run)
        return result.stderr if result.returncode != 0 else None

    # The operator's caches see the template a moment after it is stored.
    stderr = wait_for("the run of an unknown param to be refused", refused, timeout=30)
    assert (
        "invalid spec: spec.params[0]: WorkflowTemplate 'nightly' has no parameter 'day' "
        "(it declares: none)"
    ) in stderr


def test_a_user_bound_only_to_edit_creates_and_watches_a_workflow(
    kubectl: Kubectl, tenant: str, chart: dict[tuple[str, str], dict[str, Any]]
) -> None:
    as_user = (f"--as={USER}",)
    kubectl.run(
        "create", "rolebinding", "alice-edits", "--clusterrole=edit", f"--user={USER}", "-n", tenant
    )
    roles = [
        body
        for (kind, _), body in chart.items()
        if kind == "ClusterRole" and "aggregate-to" in str(body["metadata"]["labels"])
    ]
    assert {role["metadata"]["name"] for role in roles} == {
        f"{RELEASE}-view",
        f"{RELEASE}-edit",
        f"{RELEASE}-admin",
    }

    def can_i(verb: str, resource: str) -> bool:
        resource, _, subresource = resource.partition("/")
        extra = [f"--subresource={subresource}"] if subresource else []
        result = kubectl.run(
            "auth", "can-i", verb, resource, *extra, "-n", tenant, *as_user, check=False
        )
        return result.stdout.strip() == "yes"

    # `edit` alone knows nothing of kubedag's kinds.
    assert not can_i("create", "workflows.kubedag.io")
    kubectl.run("apply", "-f", "-", stdin=yaml.safe_dump_all(roles))
    try:
        # Kubernetes' ClusterRole aggregation controller copies the rules into `edit`.
        wait_for("edit to include workflows", lambda: can_i("create", "workflows.kubedag.io"))
        assert can_i("watch", "tasks.kubedag.io")
        assert can_i("create", "cronworkflows.kubedag.io")
        # The operator's records and writes stay the operator's.
        assert not can_i("create", "tasks.kubedag.io")
        assert not can_i("patch", "workflows.kubedag.io/status")

        created = apply(
            kubectl, tenant, workflow("mine", [task("a"), task("b", depends_on=["a"])]), *as_user
        )
        assert created.returncode == 0, created.stderr
        waited = kubectl.run(
            *as_user,
            "wait",
            "-n",
            tenant,
            "workflows.kubedag.io/mine",
            "--for=jsonpath={.status.phase}=Succeeded",
            "--timeout=90s",
            check=False,
        )
        assert waited.returncode == 0, waited.stderr
        listed = kubectl.run(*as_user, "get", "-n", tenant, "tasks.kubedag.io", "-o", "name")
        assert len(listed.stdout.split()) == 2
        # And the webhook answers this user as it answers anyone.
        refused = apply(kubectl, tenant, workflow("cyclic", CYCLE), *as_user)
        assert "dependency cycle: a -> c -> b -> a" in refused.stderr
    finally:
        kubectl.run("delete", "-f", "-", stdin=yaml.safe_dump_all(roles), check=False)


def test_a_workflow_naming_a_forbidden_service_account_is_refused_with_a_clear_reason(
    kubectl: Kubectl, tenant: str
) -> None:
    body = workflow("escalate", [task("a")], serviceAccountName="builder")
    result = apply(kubectl, tenant, body)
    assert result.returncode != 0
    assert (
        f"invalid spec: spec.serviceAccountName: ServiceAccount 'builder' is not allowed for "
        f"task Pods in namespace '{tenant}' (allowed: 'default', 'runner'; the operator's "
        "ServiceAccount policy, Helm value serviceAccountPolicy)"
    ) in result.stderr

    # An allowed account runs, and its Pods carry the chart's security defaults.
    kubectl.run("create", "serviceaccount", "runner", "-n", tenant)
    allowed = workflow("allowed", [task("a")], serviceAccountName="runner")
    assert apply(kubectl, tenant, allowed).returncode == 0
    wait_for_phase(kubectl, tenant, "allowed", "Succeeded")
    (job,) = jobs_by_task(kubectl, tenant, "allowed")["a"]
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "runner"
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = pod["containers"][0]["securityContext"]
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}


def test_without_the_webhook_the_operator_stops_a_forbidden_service_account(
    kubectl: Kubectl, unguarded: str
) -> None:
    body = workflow(
        "escalate",
        [task("a"), task("b", depends_on=["a"], serviceAccountName="builder")],
    )
    assert apply(kubectl, unguarded, body).returncode == 0  # no webhook here
    failed = wait_for_phase(kubectl, unguarded, "escalate", "Failed")
    reason = condition(failed, "Succeeded")
    assert reason["reason"] == "InvalidSpec"
    assert reason["message"] == (
        "invalid spec: spec.tasks[1].serviceAccountName: ServiceAccount 'builder' is not "
        f"allowed for task Pods in namespace '{unguarded}' (allowed: 'default', 'runner'; "
        "the operator's ServiceAccount policy, Helm value serviceAccountPolicy)"
    )
    warnings = [
        event
        for event in kubectl.events(unguarded, "Workflow", "escalate")
        if event["type"] == "Warning" and event["reason"] == "InvalidSpec"
    ]
    assert warnings and "ServiceAccount 'builder' is not allowed" in warnings[0]["message"]
    assert jobs_by_task(kubectl, unguarded, "escalate") == {}


def test_a_secrets_value_reaches_no_status_event_or_log(
    kubectl: Kubectl, tenant: str, webhook_operator: OperatorProcess
) -> None:
    value = f"s3cr3t-{uuid.uuid4().hex}"
    kubectl.run(
        "create", "secret", "generic", "db", f"--from-literal=password={value}", "-n", tenant
    )
    from_secret = {
        "name": "PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
    }
    failing = workflow(
        "uses-secret",
        [
            task("a", env=[from_secret]),
            task(
                "b",
                depends_on=["a"],
                exit_code=3,
                output="boom",
                env=[from_secret],
                retryStrategy={"limit": 1},
            ),
        ],
        onExit=[task("notify", env=[from_secret])],
    )
    assert apply(kubectl, tenant, failing).returncode == 0
    wait_for_phase(kubectl, tenant, "uses-secret", "Failed")
    # A spec the webhook refuses and one a missing key keeps from running, too.
    refused = workflow("refused", [task("a", env=[from_secret], depends_on=["nope"])])
    assert apply(kubectl, tenant, refused).returncode != 0
    missing_key = {"name": "X", "valueFrom": {"secretKeyRef": {"name": "db", "key": "nokey"}}}
    assert (
        apply(kubectl, tenant, workflow("missing-key", [task("a", env=[missing_key])])).returncode
        == 0
    )
    wait_for(
        "the missing key's Job",
        lambda: jobs_by_task(kubectl, tenant, "missing-key"),
    )

    seen = {
        "objects": kubectl.run(
            "get", "-n", tenant, "workflows.kubedag.io,tasks.kubedag.io", "-o", "yaml"
        ).stdout,
        "events": kubectl.run("get", "-n", tenant, "events", "-o", "yaml").stdout,
        "operator log": webhook_operator.log_path.read_text(errors="replace"),
    }
    encoded = base64.b64encode(value.encode()).decode()
    for where, text in seen.items():
        assert "uses-secret" in text or where == "events", where  # the text is about the run
        assert value not in text, where
        assert encoded not in text, where
