"""Why the Job controller cannot create an attempt's Pod, from the Job's Events.

Pod Security admission, a ResourceQuota or a webhook refusing a Pod leaves no trace on the
Job but its `FailedCreate` Events (the Job controller sets no condition and keeps retrying
with backoff). Where this costs nothing in the normal case:

- Only a Job the Job controller has synced (status.startTime) while counting no Pod at all
  (`JobRecord.pod_creation_failing`) is looked up: a Job whose Pod was created has
  `status.active` 1 in the very status write that sets its startTime, and a Job waiting
  in the Job controller's queue has no startTime yet. A healthy run makes no request here.
- One list per namespace, not per Job: `involvedObject.kind=Job,reason=FailedCreate`,
  filtered by the API server, answers for every refused Job of the namespace at once (a
  fan-out of 500 tasks in a `restricted` namespace costs one request, not 500).
- At most once every RECHECK_SECONDS per namespace, or every QUICK_RECHECK_SECONDS for a
  refused Job whose Event is not listed yet (the Job controller posts it just after
  writing the Job's status), a few times per Job.

Watching Events instead would cost far more in a busy cluster: Events are its busiest
resource (every Pod of every workload posts several: Scheduled, Pulling, Pulled, Created,
Started, and each Job SuccessfulCreate, Completed), and a watch delivers all of them to
the operator to keep the few FailedCreate of kubedag's own Jobs. The API server cannot
filter a watch by the involved object's labels.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kubedag.engine.observations import PodProblem
from kubedag.k8s.client import KubeApi
from kubedag.k8s.observe import JobRecord, read_creation_failure

RECHECK_SECONDS = 30.0
QUICK_RECHECK_SECONDS = 2.0
QUICK_RECHECKS_PER_JOB = 5
_MAX_COUNTED_JOBS = 10_000


@dataclass
class _Listed:
    at: float
    problems: dict[str, PodProblem]  # by the Job's uid


@dataclass
class CreationFailures:
    """The FailedCreate Events of refused Jobs, by namespace, listed when needed."""

    api: KubeApi
    _listed: dict[str, _Listed] = field(default_factory=dict)
    _quick_rechecks: dict[str, int] = field(default_factory=dict)  # by Job uid

    def known(self, namespace: str, job_uid: str | None) -> PodProblem | None:
        listed = self._listed.get(namespace)
        if listed is None or job_uid is None:
            return None
        return listed.problems.get(job_uid)

    async def refresh(self, namespace: str, refused: Iterable[JobRecord]) -> float | None:
        """Lists the namespace's FailedCreate Events when `refused` (Jobs with no Pod)
        asks for it; returns when to look again for a refused Job not explained yet."""
        uids = [job.uid for job in refused if job.uid is not None]
        if not uids:
            return None
        now = time.monotonic()
        listed = self._listed.get(namespace)
        unexplained = [uid for uid in uids if listed is None or uid not in listed.problems]
        quick = [
            uid for uid in unexplained if self._quick_rechecks.get(uid, 0) < QUICK_RECHECKS_PER_JOB
        ]
        age = None if listed is None else now - listed.at
        due = age is None or age >= RECHECK_SECONDS or (quick and age >= QUICK_RECHECK_SECONDS)
        if due:
            events = await self.api.list(
                "Event",
                namespace,
                fields={"involvedObject.kind": "Job", "reason": "FailedCreate"},
            )
            by_job: dict[str, list[dict[str, Any]]] = {}
            for event in events:
                uid = (event.get("involvedObject") or {}).get("uid")
                if uid:
                    by_job.setdefault(str(uid), []).append(event)
            problems = {
                uid: problem
                for uid, job_events in by_job.items()
                if (problem := read_creation_failure(job_events)) is not None
            }
            self._listed[namespace] = listed = _Listed(now, problems)
            if len(self._quick_rechecks) > _MAX_COUNTED_JOBS:
                self._quick_rechecks.clear()  # a bound on memory; the count only saves lists
            for uid in quick:
                self._quick_rechecks[uid] = self._quick_rechecks.get(uid, 0) + 1
        if listed is not None and any(uid not in listed.problems for uid in quick):
            return QUICK_RECHECK_SECONDS
        return None
