"""The chart's alert rules and dashboard, checked by Prometheus' own rule checker (issue 11).

The PrometheusRule is rendered from the chart as it ships (helm, with the rules turned on);
its rule groups go to `promtool check rules` (syntax, PromQL, templates) and to
`promtool test rules` with tests/chart/alerts/kubedag_alerts_test.yaml (the alerts fire on
the input series they should, and only on those). The dashboard's queries are parsed by the
same checker (as recording rules) and may only name metrics the operator serves.

promtool and helm are built from the Go module proxy the first time
(hack/install-promtool.sh, hack/install-helm.sh) and cached in ~/.cache/kubedag/bin."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY, CollectorRegistry

from kubedag import metrics
from kubedag.api.workflow import WorkflowStatus

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kubedag"
DASHBOARD = CHART / "dashboards" / "kubedag.json"
ALERT_TESTS = Path(__file__).parent / "alerts" / "kubedag_alerts_test.yaml"


def installed(script: str) -> str:
    """The binary an install script builds (or finds cached): its last line of stdout."""
    result = subprocess.run(
        [str(ROOT / "hack" / script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def promtool() -> str:
    return installed("install-promtool.sh")


@pytest.fixture(scope="module")
def rules() -> dict[str, Any]:
    """The rule groups of the chart's PrometheusRule (the file format promtool reads)."""
    rendered = subprocess.run(
        [
            installed("install-helm.sh"),
            "template",
            "kubedag",
            str(CHART),
            "--set",
            "prometheusRule.enabled=true",
            # The one value without a default (charts/kubedag/values.schema.json).
            "--set",
            "image.repository=registry.example.com/kubedag",
            "--show-only",
            "templates/prometheusrule.yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    document = yaml.safe_load(rendered)
    assert document["kind"] == "PrometheusRule"
    return {"groups": document["spec"]["groups"]}


def run(promtool: str, *arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *arguments], capture_output=True, text=True, cwd=cwd, check=False
    )


def test_the_alert_rules_pass_promtool_check(
    promtool: str, rules: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    result = run(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert names == {
        "KubedagWorkflowsFailing",
        "KubedagReconcileErrors",
        "KubedagWorkQueueStuck",
        "KubedagWorkflowRunningTooLong",
    }


def test_the_alerts_fire_on_the_series_they_should(
    promtool: str, rules: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    shutil.copy(ALERT_TESTS, tmp_path / ALERT_TESTS.name)
    result = run(promtool, "test", "rules", ALERT_TESTS.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules_catches_an_alert_that_does_not_fire(
    promtool: str, rules: dict[str, Any], tmp_path: Path
) -> None:
    """The unit tests can fail: with the stuck-queue threshold raised past what the input
    series reach, the test that expects it to fire fails."""
    text = yaml.safe_dump(rules).replace("> 300", "> 30000")
    assert text != yaml.safe_dump(rules)
    (tmp_path / "rules.yaml").write_text(text)
    shutil.copy(ALERT_TESTS, tmp_path / ALERT_TESTS.name)
    result = run(promtool, "test", "rules", ALERT_TESTS.name, cwd=tmp_path)
    assert result.returncode != 0
    assert "KubedagWorkQueueStuck" in result.stdout + result.stderr


def served_metric_names() -> set[str]:
    """Every series name the operator can serve: its counters and histograms (with their
    suffixes) and the scrape-time gauges."""
    names: set[str] = set()
    for family in REGISTRY.collect():
        if not family.name.startswith("kubedag_"):
            continue
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names |= {f"{family.name}_{suffix}" for suffix in ("bucket", "count", "sum")}
        else:
            names.add(family.name)
    collector = metrics.ClusterStateCollector()
    collector.workflows = lambda: [metrics.WorkflowSample("n", WorkflowStatus())]
    registry = CollectorRegistry()
    registry.register(collector)
    names |= {family.name for family in registry.collect()}
    return names


def dashboard_queries() -> list[str]:
    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                yield node["expr"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    return list(walk(json.loads(DASHBOARD.read_text())))


def test_the_dashboard_queries_parse_and_name_only_served_metrics(
    promtool: str, rules: dict[str, Any], tmp_path: Path
) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 10
    # Grafana's variables, as Grafana would fill them in.
    filled = [
        query.replace("$__rate_interval", "1m").replace("$namespace", ".*") for query in queries
    ]
    recording = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query{index}", "expr": query}
                    for index, query in enumerate(filled)
                ],
            }
        ]
    }
    (tmp_path / "dashboard.yaml").write_text(yaml.safe_dump(recording))
    result = run(promtool, "check", "rules", "dashboard.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    served = served_metric_names()
    alert_expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    named = {
        name
        for expression in [*queries, *alert_expressions]
        for name in re.findall(r"\bkubedag_[a-z_]+", expression)
    }
    assert named, "no kubedag metric named"
    assert named <= served, f"not served by the operator: {sorted(named - served)}"
