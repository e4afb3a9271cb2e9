from pathlib import Path

import pytest

from kubedag.cli import main

GOOD = """apiVersion: kubedag.io/v1alpha1
kind: Workflow
metadata: {name: good}
spec:
  tasks: [{name: a, image: x}]
"""


def test_lint_prints_ok_and_exits_0_for_a_good_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    assert main(["lint", str(good)]) == 0
    out, err = capsys.readouterr()
    assert out == "ok\n"
    assert err == f"{good}: note: ConfigMap c: not a kubedag document; skipped\n"


def test_lint_exits_1_and_names_file_document_and_path_of_each_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("image: x}", "image: x, dependsOn: [a], volumez: []}"))
    assert main(["lint", str(bad)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert f"{bad}: Workflow good: spec.tasks[0].volumez: unknown field\n" in err
    assert f"{bad}: Workflow good: spec.tasks[0].dependsOn[0]:" in err


def test_lint_warnings_alone_do_not_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warned = tmp_path / "warned.yaml"
    warned.write_text(GOOD.replace("image: x}", "image: x, withItems: [{on: 1}]}"))
    assert main(["lint", str(warned)]) == 0
    out, err = capsys.readouterr()
    assert out == "ok\n"
    assert "warning: Workflow good: spec.tasks[0].withItems[0].true: the key on" in err


def test_lint_reports_a_file_that_is_not_yaml_or_missing(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("tasks: [unclosed\n")
    assert main(["lint", str(broken)]) == 1
    assert main(["lint", str(tmp_path / "missing.yaml")]) == 1
