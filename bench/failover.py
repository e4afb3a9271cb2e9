"""Failover benchmark: how long two operator replicas with leader election take to hand a
running Workflow over when the leader dies (issue 12, item 4).

Two replicas (kubedag operator processes, KUBEDAG_LEADER_ELECTION=true) manage a fresh
namespace and hold a Lease there. A long chain of short tasks runs, so a Job is always due
within a second; the kills start once three of its Jobs were made. Then, `--kills` times
per signal (SIGKILL: a crash or a lost node; SIGTERM: a rolling update or a drain), right
after a Job of the chain was created:

- the leader is signalled (t0);
- `lease`: t0 until the Lease names the other replica (polled every 50 ms);
- `first_job`: t0 until the first Job created after t0 arrives on a watch (includes up to
  one task duration of waiting for the next task to be due);
- the killed replica is started again, as the new standby.

At the end every task has exactly one Job (checked, reported). Numbers, never pass/fail;
the machine is shared (load average recorded), wall times are noisy.

    python bench/failover.py [--kills 5] [--lease-duration 15 --renew-deadline 10 --retry-period 2]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from lightkube import Client
from lightkube.generic_resource import create_namespaced_resource

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2e.cluster import task, workflow

from harness import (
    RESULTS,
    ROOT,
    OperatorProcess,
    delete_namespace,
    free_port,
    fresh_namespace,
    kubectl,
)

Lease = create_namespaced_resource("coordination.k8s.io", "v1", "Lease", "leases")
Job = create_namespaced_resource("batch", "v1", "Job", "jobs")
LEASE = "kubedag-bench"


class JobWatch:
    """Arrival times (time.monotonic) of the Jobs created in `namespace`, from a watch."""

    def __init__(self, namespace: str) -> None:
        self.arrivals: list[tuple[float, str]] = []
        self.seen: set[str] = set()
        self._stop = False
        self._thread = threading.Thread(target=self._run, args=(namespace,), daemon=True)
        self._thread.start()

    def _run(self, namespace: str) -> None:
        client = Client()
        while not self._stop:
            try:
                for kind, job in client.watch(Job, namespace=namespace):
                    name = job.metadata.name
                    if kind == "ADDED" and name not in self.seen:
                        self.seen.add(name)
                        self.arrivals.append((time.monotonic(), name))
                    if self._stop:
                        return
            except Exception:
                time.sleep(0.2)

    def first_after(self, moment: float) -> float | None:
        return next((at for at, _ in self.arrivals if at > moment), None)

    def stop(self) -> None:
        self._stop = True


def holder(client: Client, namespace: str) -> str:
    try:
        found = client.get(Lease, LEASE, namespace=namespace)
    except Exception:
        return ""
    return str((found.to_dict().get("spec") or {}).get("holderIdentity") or "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=5, help="kills per signal")
    parser.add_argument("--lease-duration", type=float, default=15)
    parser.add_argument("--renew-deadline", type=float, default=10)
    parser.add_argument("--retry-period", type=float, default=2)
    parser.add_argument("--task-seconds", type=float, default=0.5)
    arguments = parser.parse_args()
    # Stopped with SIGTERM (a background job ignores SIGINT): clean up all the same.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    namespace = fresh_namespace("bench-failover")
    client = Client()
    jobs = JobWatch(namespace)
    replicas: dict[str, OperatorProcess] = {}
    counter = 0

    def start(name: str) -> None:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "KUBEDAG_LEADER_ELECTION": "true",
            "KUBEDAG_LEASE_NAMESPACE": namespace,
            "KUBEDAG_LEASE_NAME": LEASE,
            "POD_NAME": name,
            "KUBEDAG_LEASE_DURATION": str(arguments.lease_duration),
            "KUBEDAG_RENEW_DEADLINE": str(arguments.renew_deadline),
            "KUBEDAG_RETRY_PERIOD": str(arguments.retry_period),
        }
        log = ROOT / ".local" / f"failover-{name}.log"
        log.parent.mkdir(exist_ok=True)
        log.unlink(missing_ok=True)
        process = OperatorProcess(env, log, ("--namespace", namespace))
        # Not OperatorProcess.start: on a loaded machine the imports alone may take longer
        # than its 60 s. A replica counts once its caches are filled (it is a standby, or
        # the leader), as logged.
        process.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kubedag.cli",
                "operator",
                "--namespace",
                namespace,
                f"--metrics-port={free_port()}",
                f"--health-port={free_port()}",
            ],
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 600
        while "watch caches filled" not in log.read_text(errors="replace"):
            if process.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"replica {name} did not start; see {log}")
            time.sleep(0.2)
        replicas[name] = process

    samples: list[dict[str, Any]] = []
    steps = 400
    try:
        start("replica-0")
        while not holder(client, namespace).startswith("replica-0"):
            time.sleep(0.1)
        counter = 1
        start("replica-1")
        names = [f"step-{i}" for i in range(steps)]
        tasks = [
            task(name, depends_on=[names[i - 1]] if i else None, seconds=arguments.task_seconds)
            for i, name in enumerate(names)
        ]
        kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(workflow("chain", tasks)))
        # Kills start once the run is under way (its Tasks are made up front, in the first
        # passes): three Jobs in.
        while len(jobs.arrivals) < 3:
            time.sleep(0.1)
        failure = None  # why the kills stopped early, if they did
        try:
            for sig in [signal.SIGKILL, signal.SIGTERM] * arguments.kills:
                leader = holder(client, namespace).split("_")[0]
                seen = len(jobs.arrivals)
                while len(jobs.arrivals) == seen:  # right after a Job was made
                    time.sleep(0.01)
                process = replicas[leader]
                assert process.process is not None
                t0 = time.monotonic()
                process.process.send_signal(sig)
                lease_at = None
                while lease_at is None or jobs.first_after(t0) is None:
                    now_holder = holder(client, namespace)
                    if lease_at is None and now_holder and not now_holder.startswith(leader):
                        lease_at = time.monotonic()
                    time.sleep(0.05)
                    if time.monotonic() - t0 > 180:
                        raise RuntimeError("no failover within 180 s")
                first_job = jobs.first_after(t0)
                assert first_job is not None
                process.process.wait(timeout=60)
                sample = {
                    "signal": sig.name,
                    "lease_seconds": round(lease_at - t0, 3),
                    "first_job_seconds": round(first_job - t0, 3),
                    "load_average_1m": os.getloadavg()[0],
                }
                samples.append(sample)
                print(json.dumps(sample), flush=True)
                counter += 1
                del replicas[leader]
                start(f"replica-{counter}")
        except Exception as error:  # the figures so far are kept
            failure = repr(error)
            print(f"stopped: {failure}", flush=True)
        kubectl(
            "patch",
            "-n",
            namespace,
            "workflow",
            "chain",
            "--type=merge",
            "-p",
            '{"spec": {"shutdown": "Stop"}}',
        )
        time.sleep(3)
        per_task: dict[str, int] = {}
        listed = json.loads(kubectl("get", "-n", namespace, "jobs", "-o", "json"))["items"]
        for job in listed:
            label = job["metadata"]["labels"]["kubedag.io/task"]
            per_task[label] = per_task.get(label, 0) + 1
        duplicates = {name: count for name, count in per_task.items() if count > 1}
    finally:
        jobs.stop()
        for process in replicas.values():
            process.stop()
        delete_namespace(namespace)

    summary: dict[str, Any] = {}
    for name in ("SIGKILL", "SIGTERM"):
        rows = [s for s in samples if s["signal"] == name]
        for metric in ("lease_seconds", "first_job_seconds"):
            values = [row[metric] for row in rows]
            if values:
                summary[f"{name}_{metric}"] = {
                    "median": round(statistics.median(values), 3),
                    "min": min(values),
                    "max": max(values),
                    "n": len(values),
                }
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "timings": {
            "lease_duration": arguments.lease_duration,
            "renew_deadline": arguments.renew_deadline,
            "retry_period": arguments.retry_period,
            "task_seconds": arguments.task_seconds,
        },
        "jobs": len(listed),
        "tasks_with_more_than_one_job": duplicates,
        "stopped_early": failure,
        "summary": summary,
        "samples": samples,
        "conditions": "shared 2-core machine, six engineers' clusters and builds running; "
        "KWOK nodes (simulated Pods)",
    }
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if arguments.lease_duration == 15 else f"-{int(arguments.lease_duration)}s"
    path = RESULTS / f"failover{suffix}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
