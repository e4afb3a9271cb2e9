"""The operator can die at any moment (SIGKILL) without duplicating or losing anything."""

from __future__ import annotations

from tests.e2e.cluster import Kubectl, task, wait_for, workflow
from tests.e2e.helpers import jobs_by_task, tasks_by_name, wait_for_phase
from tests.e2e.operator_process import OperatorProcess


def test_operator_killed_mid_run_completes_with_exactly_one_job_per_task(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    names = [f"step-{i}" for i in range(6)]
    tasks = [
        task(name, depends_on=[names[i - 1]] if i else None, seconds=1.5)
        for i, name in enumerate(names)
    ]
    tasks += [task(f"side-{i}", seconds=2) for i in range(4)]
    kubectl.apply(namespace, workflow("crashy", tasks))
    wait_for(
        "two steps of the chain to succeed",
        lambda: (
            sum(
                1
                for t in tasks_by_name(kubectl, namespace, "crashy").values()
                if (t.get("status") or {}).get("phase") == "Succeeded"
                and t["spec"]["name"].startswith("step")
            )
            >= 2
        ),
    )
    operator.kill()
    # The world moves on while the operator is down: running Jobs finish unobserved.
    wait_for(
        "a Job to finish while the operator is down",
        lambda: any(
            (job.get("status") or {}).get("succeeded")
            for found in jobs_by_task(kubectl, namespace, "crashy").values()
            for job in found
        ),
    )
    operator.start()

    body = wait_for_phase(kubectl, namespace, "crashy", "Succeeded", "Failed", timeout=180)
    assert body["status"]["phase"] == "Succeeded"
    jobs = jobs_by_task(kubectl, namespace, "crashy")
    assert {name: len(found) for name, found in jobs.items()} == {t["name"]: 1 for t in tasks}
    assert len(tasks_by_name(kubectl, namespace, "crashy")) == len(tasks)
