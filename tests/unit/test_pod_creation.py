"""Why a Job has no Pod, from the namespace's FailedCreate Events: listed only for Jobs
that have none, once per namespace for all of them, and not again at every pass."""

import asyncio
from typing import Any

from kubedag.controller import pod_creation
from kubedag.controller.pod_creation import CreationFailures
from kubedag.engine.observations import JobOutcome
from kubedag.k8s.observe import JobRecord


class Events:
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.lists: list[tuple[str, str, dict[str, str] | None]] = []

    async def list(
        self, kind: str, namespace: str, *, fields: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        self.lists.append((kind, namespace, fields))
        return self.events


def refused_job(uid: str) -> JobRecord:
    return JobRecord(
        name=f"job-{uid}",
        task="train",
        attempt=1,
        outcome=JobOutcome.RUNNING,
        finished_at=None,
        reason=None,
        message=None,
        uid=uid,
        pod_creation_failing=True,
    )


def failed_create(uid: str) -> dict[str, Any]:
    return {
        "metadata": {"name": f"e-{uid}"},
        "involvedObject": {"kind": "Job", "uid": uid},
        "reason": "FailedCreate",
        "lastTimestamp": "2026-11-30T06:27:03Z",
        "message": 'Error creating: pods "p" is forbidden: violates PodSecurity '
        '"restricted:latest"',
    }


def test_one_list_answers_for_every_refused_job_of_the_namespace() -> None:
    api = Events([failed_create("a"), failed_create("b")])
    failures = CreationFailures(api)  # type: ignore[arg-type]
    again = asyncio.run(failures.refresh("ns", [refused_job("a"), refused_job("b")]))
    assert again is None
    assert api.lists == [("Event", "ns", {"involvedObject.kind": "Job", "reason": "FailedCreate"})]
    problem = failures.known("ns", "b")
    assert problem is not None and problem.message.startswith('pods "p" is forbidden')
    # The next passes ask nothing until RECHECK_SECONDS have passed.
    asyncio.run(failures.refresh("ns", [refused_job("a"), refused_job("b")]))
    assert len(api.lists) == 1


def test_no_refused_job_no_request() -> None:
    api = Events([])
    failures = CreationFailures(api)  # type: ignore[arg-type]
    assert asyncio.run(failures.refresh("ns", [])) is None
    assert api.lists == []


def test_a_refused_job_whose_event_is_not_listed_yet_is_looked_up_again_soon_a_few_times(
    monkeypatch: Any,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(pod_creation.time, "monotonic", lambda: clock[0])
    api = Events([])
    failures = CreationFailures(api)  # type: ignore[arg-type]
    looks = 0
    for _ in range(20):
        again = asyncio.run(failures.refresh("ns", [refused_job("a")]))
        looks = len(api.lists)
        if again is None:
            break
        assert again == pod_creation.QUICK_RECHECK_SECONDS
        clock[0] += again
    assert looks == pod_creation.QUICK_RECHECKS_PER_JOB
