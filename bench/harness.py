"""Helpers shared by the benchmarks (`scale.py`, `compare.py`): kubectl, fresh namespaces,
the operator in its own process, and what /proc says about a process.

Every function needs KUBECONFIG and kubectl on PATH (`eval "$(hack/cluster.sh env)"`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2e.operator_process import OperatorProcess, free_port

__all__ = ["OperatorProcess", "free_port"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
# USER_HZ: the unit of utime/stime in /proc/<pid>/stat (proc(5)); 100 on every Linux build.
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def kubectl(*args: str, stdin: str | None = None) -> str:
    """kubectl's stdout; raises CalledProcessError on a non-zero exit, after 300 s."""
    return subprocess.run(
        ["kubectl", *args], input=stdin, capture_output=True, text=True, check=True, timeout=300
    ).stdout


def fresh_namespace(prefix: str) -> str:
    """A new namespace, ready for Pods (its default service account exists)."""
    namespace = f"{prefix}-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", namespace)
    for _ in range(120):
        found = subprocess.run(
            ["kubectl", "get", "-n", namespace, "serviceaccount", "default"], capture_output=True
        )
        if found.returncode == 0:
            return namespace
        time.sleep(0.5)
    raise RuntimeError(f"namespace {namespace} has no default service account")


def delete_namespace(namespace: str) -> None:
    """Deletes it and waits until it is gone (at most 280 s), so the garbage collector's
    burst of deletions (and a controller's processing of their watch events) stays out of
    the next run. A namespace still going after that (tens of thousands of objects) is
    left to finish on its own, with a note, rather than losing the run's results."""
    try:
        kubectl("delete", "namespace", namespace, "--wait=true", "--timeout=280s")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        print(f"namespace {namespace} still being deleted: {error}", file=sys.stderr)


def start_operator(
    log_name: str, env: dict[str, str] | None = None, arguments: tuple[str, ...] = ()
) -> OperatorProcess:
    """kubedag's operator in its own process, healthy; its log in .local/<log_name>;
    `arguments` are more `kubedag operator` options."""
    log = ROOT / ".local" / log_name
    log.parent.mkdir(exist_ok=True)
    log.unlink(missing_ok=True)
    operator = OperatorProcess(env or dict(os.environ), log, arguments)
    operator.start()
    return operator


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM in /proc/<pid>/status), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used (/proc/<pid>/stat fields 14, 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of a non-empty list; fraction in [0, 1]."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]
