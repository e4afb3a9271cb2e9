"""The Helm chart installs with the real helm into the real API server, and the service
account it creates may do everything the operator does, and no more than it needs.

Issue 12: the release's namespace enforces Pod Security `restricted` (the API server's own
admission refuses a Pod that breaks it); a misspelt value is refused before anything is
installed; `helm test` runs; the chart adopts CRDs applied without it and keeps them on
uninstall.

On the simulated cluster (KWOK) no container runs: a Pod's phase and readiness come from
hack/kwok/stages.yaml, so `helm test` passing there proves that the test hook renders, is
admitted (Pod Security included) and is waited for, not that /readyz answered; that the
test's check passes against a ready operator and fails otherwise is tests/chart/
test_chart.py's job, against the real HTTP server."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.cluster import ROOT, Kubectl, task, wait_for, workflow

# Every request the operator makes, as (verb, resource).
OPERATOR_NEEDS = [
    *[
        (verb, resource)
        for verb in ("get", "list", "watch")
        for resource in (
            "workflows.kubedag.io",
            "tasks.kubedag.io",
            "jobs.batch",
            "pods",
        )
    ],
    ("get", "tasktemplates.kubedag.io"),
    ("list", "tasktemplates.kubedag.io"),
    ("watch", "tasktemplates.kubedag.io"),
    ("get", "workflowtemplates.kubedag.io"),
    ("list", "workflowtemplates.kubedag.io"),
    ("watch", "workflowtemplates.kubedag.io"),
    ("create", "tasks.kubedag.io"),
    ("delete", "jobs.batch"),
    ("delete", "workflows.kubedag.io"),
    ("create", "jobs.batch"),
    ("create", "events"),
    ("patch", "workflows.kubedag.io/status"),
    ("patch", "tasks.kubedag.io/status"),
    # CronWorkflows (issue 9): watched; their runs created, stopped (a merge patch of
    # spec.shutdown) and deleted (history limits).
    *[(verb, "cronworkflows.kubedag.io") for verb in ("get", "list", "watch")],
    ("patch", "cronworkflows.kubedag.io/status"),
    ("create", "workflows.kubedag.io"),
    ("patch", "workflows.kubedag.io"),
]
# Backfills (issue 9): watched; their runs are created, stopped (spec.shutdown) and
# deleted to run again. (They also get the CronWorkflow or WorkflowTemplate they name:
# `kubectl auth can-i` answers no for a resource whose CRD is not installed.)
OPERATOR_NEEDS += [
    *[(verb, "backfills.kubedag.io") for verb in ("get", "list", "watch")],
    ("patch", "backfills.kubedag.io/status"),
    ("create", "workflows.kubedag.io"),
    ("patch", "workflows.kubedag.io"),
]
# Datasets (issue 10): watched (they wake dataset triggers), read and created when a task
# first writes one, counted with a merge patch of their status; Tasks marked as counted.
OPERATOR_NEEDS += [
    *[(verb, "datasets.kubedag.io") for verb in ("get", "list", "watch", "create")],
    ("patch", "datasets.kubedag.io/status"),
]
NOT_NEEDED = [
    ("update", "datasets.kubedag.io"),
    ("delete", "datasets.kubedag.io"),
    ("delete", "pods"),
    ("create", "secrets"),
    ("get", "secrets"),
    ("update", "workflows.kubedag.io"),
]


def helm_binary() -> str:
    result = subprocess.run(
        [str(ROOT / "hack" / "install-helm.sh")], capture_output=True, text=True, timeout=1800
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1]


# No image is published (the chart requires image.repository); on KWOK none is pulled.
IMAGE = ["--set", "image.repository=kubedag"]
# The CRDs are already installed by the test session (tests/e2e/cluster.py), not by Helm.
NO_CRDS = ["--set", "crds.install=false"]


def helm_run(
    kubectl: Kubectl, *arguments: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm_binary(), *arguments],
        env=kubectl.env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def restricted_namespace(kubectl: Kubectl, prefix: str) -> str:
    namespace = f"{prefix}-{uuid.uuid4().hex[:6]}"
    kubectl.run("create", "namespace", namespace)
    kubectl.run("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    return namespace


@pytest.fixture
def release(kubectl: Kubectl) -> Iterator[tuple[str, str]]:
    helm = helm_binary()
    namespace = restricted_namespace(kubectl, "helm")
    name = f"kubedag-{namespace}"
    install = helm_run(
        kubectl,
        "install",
        name,
        str(ROOT / "charts" / "kubedag"),
        "-n",
        namespace,
        *IMAGE,
        *NO_CRDS,
    )
    assert install.returncode == 0, install.stderr
    yield namespace, name
    subprocess.run(
        [helm, "uninstall", name, "-n", namespace],
        env=kubectl.env,
        capture_output=True,
        timeout=300,
    )
    kubectl.run("delete", "namespace", namespace, "--wait=false", check=False)


def can_i(kubectl: Kubectl, service_account: str, verb: str, resource: str, namespace: str) -> bool:
    """`resource` may be `kind/subresource`, or `leases/NAME` (a Lease by name)."""
    if not resource.startswith("leases/"):
        resource, _, subresource = resource.partition("/")
        extra = [f"--subresource={subresource}"] if subresource else []
    else:
        extra = []
    result = kubectl.run(
        "auth",
        "can-i",
        verb,
        resource,
        *extra,
        "-n",
        namespace,
        f"--as={service_account}",
        check=False,
    )
    return result.stdout.strip() == "yes"


def test_chart_installs_an_operator_whose_account_can_do_what_it_needs(
    kubectl: Kubectl, release: tuple[str, str]
) -> None:
    namespace, name = release
    deployment = kubectl.get(namespace, "deployment", name)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "--metrics-port=8080" in container["args"]
    # Two replicas with leader election by default (issue 12): rolling updates, a PDB.
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    env = {variable["name"]: variable for variable in container["env"]}
    assert env["KUBEDAG_LEADER_ELECTION"]["value"] == "true"
    assert env["KUBEDAG_LEASE_NAME"]["value"] == name
    budget = kubectl.get(namespace, "poddisruptionbudget", name)
    assert budget["spec"]["maxUnavailable"] == 1
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    kubectl.get(namespace, "serviceaccount", account)
    service_account = f"system:serviceaccount:{namespace}:{account}"
    # Cluster-wide by default: permissions hold in any namespace, not just the release's.
    for verb, resource in OPERATOR_NEEDS:
        assert can_i(kubectl, service_account, verb, resource, "default"), (verb, resource)
    for verb, resource in NOT_NEEDED:
        assert not can_i(kubectl, service_account, verb, resource, "default"), (verb, resource)
    # Its own Lease in the release's namespace; other releases' Leases: list only.
    for verb in ("get", "update"):
        assert can_i(kubectl, service_account, verb, f"leases/{name}", namespace), verb
    assert can_i(kubectl, service_account, "create", "leases", namespace)
    assert not can_i(kubectl, service_account, "update", "leases/other", namespace)
    assert can_i(kubectl, service_account, "list", "leases", "kube-node-lease")
    assert not can_i(kubectl, service_account, "update", "leases", "kube-node-lease")
    # On the simulated cluster no image is pulled, so the Pod runs whatever the image;
    # on a real cluster that depends on a published image, which does not exist yet.
    if is_simulated(kubectl):
        wait_for(
            "the operator Deployment to be available",
            lambda: (kubectl.get(namespace, "deployment", name).get("status") or {}).get(
                "availableReplicas"
            ),
            timeout=120,
        )


def is_simulated(kubectl: Kubectl) -> bool:
    nodes = json.loads(kubectl.run("get", "nodes", "-o", "json").stdout)["items"]
    return all("kwok.x-k8s.io/node" in (n["metadata"].get("annotations") or {}) for n in nodes)


def test_helm_test_runs_its_pod_under_pod_security_restricted(
    kubectl: Kubectl, release: tuple[str, str]
) -> None:
    namespace, name = release
    wait_for(
        "the operator Pod to be admitted and ready",
        lambda: (kubectl.get(namespace, "deployment", name).get("status") or {}).get(
            "readyReplicas"
        ),
        timeout=120,
    )
    result = helm_run(kubectl, "test", name, "-n", namespace, "--timeout", "3m")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Phase:          Succeeded" in result.stdout
    pod = kubectl.get(namespace, "pod", f"{name}-test-readiness")
    assert pod["status"]["phase"] == "Succeeded"
    # No FailedCreate from Pod Security: the operator's ReplicaSet made all its Pods.
    pods = kubectl.list(namespace, "pods", "app.kubernetes.io/component!=test")
    assert len(pods) == kubectl.get(namespace, "deployment", name)["spec"]["replicas"]


def test_a_misspelt_value_is_refused_and_nothing_is_installed(kubectl: Kubectl) -> None:
    namespace = restricted_namespace(kubectl, "typo")
    try:
        result = helm_run(
            kubectl,
            "install",
            "typo",
            str(ROOT / "charts" / "kubedag"),
            "-n",
            namespace,
            *IMAGE,
            *NO_CRDS,
            "--set",
            "watchNamespace=team-a",
        )
        assert result.returncode != 0
        assert "additional properties 'watchNamespace' not allowed" in result.stderr
        assert helm_run(kubectl, "status", "typo", "-n", namespace).returncode != 0
        assert kubectl.list(namespace, "deployments") == []
        without_image = helm_run(
            kubectl,
            "install",
            "typo",
            str(ROOT / "charts" / "kubedag"),
            "-n",
            namespace,
            *NO_CRDS,
        )
        assert without_image.returncode != 0
        assert "/image/repository" in without_image.stderr
    finally:
        kubectl.run("delete", "namespace", namespace, "--wait=false", check=False)


# Every CRD the project ships (crds/<plural>.yaml), so a new kind is never forgotten here.
CRDS = sorted(f"{path.stem}.kubedag.io" for path in (ROOT / "crds").glob("*.yaml"))


def adopt_crds(kubectl: Kubectl, name: str | None, namespace: str | None) -> None:
    """Marks the CRDs as the release's (Helm adopts an existing object that carries its
    release's name and namespace and the managed-by label), or unmarks them (None)."""
    for crd in CRDS:
        if name is None:
            kubectl.run(
                "annotate",
                "crd",
                crd,
                "meta.helm.sh/release-name-",
                "meta.helm.sh/release-namespace-",
                "helm.sh/resource-policy-",
                check=False,
            )
            kubectl.run("label", "crd", crd, "app.kubernetes.io/managed-by-", check=False)
        else:
            kubectl.run(
                "annotate",
                "--overwrite",
                "crd",
                crd,
                f"meta.helm.sh/release-name={name}",
                f"meta.helm.sh/release-namespace={namespace}",
            )
            kubectl.run("label", "--overwrite", "crd", crd, "app.kubernetes.io/managed-by=Helm")


def test_the_chart_adopts_existing_crds_upgrades_them_and_keeps_them_and_the_runs_on_uninstall(
    kubectl: Kubectl,
) -> None:
    # The upgrade path from a chart version that installed the CRDs from crds/ (or from
    # `kubectl apply -f crds/`): mark them as the release's, then install or upgrade.
    namespace = restricted_namespace(kubectl, "crds")
    name = f"kubedag-{namespace}"
    chart = str(ROOT / "charts" / "kubedag")
    try:
        kubectl.apply(namespace, workflow("survivor", [task("a")]))
        adopt_crds(kubectl, name, namespace)
        install = helm_run(kubectl, "install", name, chart, "-n", namespace, *IMAGE)
        assert install.returncode == 0, install.stderr
        crd = json.loads(kubectl.run("get", "crd", CRDS[0], "-o", "json").stdout)
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert crd["metadata"]["labels"]["app.kubernetes.io/instance"] == name
        upgrade = helm_run(
            kubectl, "upgrade", name, chart, "-n", namespace, *IMAGE, "--set", "taskEvents=all"
        )
        assert upgrade.returncode == 0, upgrade.stderr
        uninstall = helm_run(kubectl, "uninstall", name, "-n", namespace)
        assert uninstall.returncode == 0, uninstall.stderr
        assert "kept due to the resource policy" in uninstall.stdout + uninstall.stderr
        for crd_name in CRDS:
            kubectl.run("get", "crd", crd_name)
        kubectl.get(namespace, "workflow", "survivor")
    finally:
        helm_run(kubectl, "uninstall", name, "-n", namespace)
        adopt_crds(kubectl, None, None)
        kubectl.run("delete", "namespace", namespace, "--wait=false", check=False)


def test_chart_installs_the_admission_webhook_and_its_certificates_narrow_rights(
    kubectl: Kubectl, release: tuple[str, str]
) -> None:
    namespace, name = release
    configuration = json.loads(
        kubectl.run("get", "validatingwebhookconfiguration", name, "-o", "json").stdout
    )
    (webhook,) = configuration["webhooks"]
    assert webhook["failurePolicy"] == "Ignore"
    assert webhook["clientConfig"]["service"] == {
        "name": f"{name}-webhook",
        "namespace": namespace,
        "path": "/validate",
        "port": 443,
    }
    kubectl.get(namespace, "service", f"{name}-webhook")
    account = kubectl.get(namespace, "deployment", name)["spec"]["template"]["spec"][
        "serviceAccountName"
    ]
    service_account = f"system:serviceaccount:{namespace}:{account}"
    # The operator's certificate Secret and caBundle, by name, and nothing more.

    def may(verb: str, resource: str, where: str = namespace) -> bool:
        # `kubectl auth can-i VERB RESOURCE/NAME`: one object of the resource.
        result = kubectl.run(
            "auth", "can-i", verb, resource, "-n", where, f"--as={service_account}", check=False
        )
        return result.stdout.strip() == "yes"

    assert may("get", f"secrets/{name}-webhook-tls")
    assert may("patch", f"secrets/{name}-webhook-tls")
    assert may("create", "secrets")
    assert not may("get", "secrets/another")
    assert not may("create", "secrets", "default")
    webhooks = "validatingwebhookconfigurations.admissionregistration.k8s.io"
    assert may("update", f"{webhooks}/{name}")
    assert not may("update", f"{webhooks}/another")
    for role in ("view", "edit", "admin"):
        labels = kubectl.get("", "clusterrole", f"{name}-{role}")["metadata"]["labels"]
        assert labels[f"rbac.authorization.k8s.io/aggregate-to-{role}"] == "true"
