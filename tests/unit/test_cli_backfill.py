"""`kubedag backfill NAME --from --to ...` writes the Backfill a user would write by hand."""

from __future__ import annotations

import pytest

from kubedag.api.backfill import BackfillSpec
from kubedag.cli import cluster
from kubedag.cli.app import backfill, backfill_arguments
from kubedag.cli.schedules import backfill_manifest


def manifest(*argv: str) -> dict[str, object]:
    """The Backfill of `kubedag backfill ARGV` as click parses ARGV (in -n's namespace,
    else the context's: here `default`)."""
    context = backfill.make_context("backfill", list(argv))
    namespace = context.params.get("namespace") or "default"
    return backfill_manifest(backfill_arguments(context.params, namespace))


def test_a_template_backfill_with_bare_dates_starts_at_midnight_in_its_time_zone() -> None:
    body = manifest(
        "etl-november",
        "--from=2026-11-01",
        "--to=2026-12-01",
        "--template=daily-etl",
        "--schedule=0 0 * * *",
        "--time-zone=Europe/Berlin",
        "--max-concurrent-runs=3",
        "-p",
        "bucket=raw",
        "-n",
        "data",
    )
    assert body["metadata"] == {"name": "etl-november", "namespace": "data"}
    assert body["spec"] == {
        "start": "2026-11-01T00:00:00+01:00",
        "end": "2026-12-01T00:00:00+01:00",
        "maxConcurrentRuns": 3,
        "rerunSucceeded": False,
        "order": "OldestFirst",
        "workflowTemplateRef": {"name": "daily-etl"},
        "schedules": ["0 0 * * *"],
        "timeZone": "Europe/Berlin",
        "params": [{"name": "bucket", "value": "raw"}],
    }
    BackfillSpec.model_validate(body["spec"])  # what the operator reads


def test_a_cron_workflow_backfill_names_only_the_cron_workflow() -> None:
    spec = manifest(
        "again",
        "--from=2026-11-01T06:00:00Z",
        "--to=2026-11-02",
        "--cron-workflow=nightly",
        "--rerun-succeeded",
        "--newest-first",
    )["spec"]
    assert spec == {
        "start": "2026-11-01T06:00:00Z",
        "end": "2026-11-02T00:00:00Z",
        "maxConcurrentRuns": 1,
        "rerunSucceeded": True,
        "order": "NewestFirst",
        "cronWorkflowRef": {"name": "nightly"},
    }


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--cron-workflow=a", "--template=b", "--schedule=@daily"], "exactly one"),
        (["--template=b"], "needs --schedule"),
        (["--cron-workflow=a", "--schedule=@daily"], "CronWorkflow's schedules"),
        (["--cron-workflow=a", "-p", "novalue"], "NAME=VALUE"),
    ],
)
def test_contradictory_options_are_refused_with_the_reason(argv: list[str], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        manifest("b", "--from=2026-11-01", "--to=2026-11-02", *argv)


def test_an_unreadable_date_says_which_forms_are_accepted() -> None:
    with pytest.raises(ValueError, match="neither a date"):
        manifest("b", "--from=yesterday", "--to=2026-11-02", "--cron-workflow=a")


class _BerlinCronClient:
    """An API client holding one CronWorkflow `nightly` in Europe/Berlin; records creates."""

    def __init__(self) -> None:
        self.created: list[dict[str, object]] = []

    def get(self, resource: object, name: str, namespace: str) -> object:
        from lightkube import ApiError

        from kubedag.k8s.client import RESOURCES

        if name != "nightly":

            class Response:
                status_code = 404

                def json(self) -> dict[str, object]:
                    return {"kind": "Status", "code": 404, "message": "not found"}

            raise ApiError(response=Response())  # type: ignore[arg-type]
        return RESOURCES["CronWorkflow"].from_dict(
            {
                "metadata": {"name": "nightly", "namespace": namespace},
                "spec": {
                    "schedules": ["0 0 * * *"],
                    "timeZone": "Europe/Berlin",
                    "workflowTemplateRef": {"name": "etl"},
                },
            }
        )

    def create(self, obj: object) -> object:
        body = obj.to_dict()  # type: ignore[attr-defined]
        self.created.append(body)
        return obj


def test_bare_dates_of_a_cron_workflow_backfill_are_midnight_in_its_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--from 2026-11-01` for a Europe/Berlin schedule is 2026-11-01T00:00:00+01:00: the
    range holds that day's interval (in UTC midnight, it would begin an hour later and
    leave that day's 00:00 run out)."""
    from kubedag import cli

    fake = _BerlinCronClient()
    monkeypatch.setattr(cluster, "make_client", lambda target: (fake, "default"))
    argv = ["backfill", "b", "--cron-workflow=nightly", "--from=2026-11-01", "--to=2026-11-03"]
    assert cli.main(argv) == 0
    (body,) = fake.created
    assert body["spec"]["start"] == "2026-11-01T00:00:00+01:00"  # type: ignore[index]
    assert body["spec"]["end"] == "2026-11-03T00:00:00+01:00"  # type: ignore[index]


def test_bare_dates_for_a_missing_cron_workflow_are_refused_not_guessed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kubedag import cli

    fake = _BerlinCronClient()
    monkeypatch.setattr(cluster, "make_client", lambda target: (fake, "default"))
    argv = ["backfill", "b", "--cron-workflow=other", "--from=2026-11-01", "--to=2026-11-03"]
    assert cli.main(argv) == 3
    assert fake.created == []
    assert "CronWorkflow 'other' in namespace 'default' not found" in capsys.readouterr().err
