"""The processes of hack/cluster.sh's control plane (`kwokctl --runtime binary`), for the
API server restarts a chaos round injects.

kwokctl records every component's command line in the cluster's kwok.yaml and its pid under
pids/, and supervises nothing: a killed kube-apiserver stays down until someone starts it
again, and kube-controller-manager and kube-scheduler exit by design when they cannot renew
their leader lease for 10 s (an API server that takes longer to come back). On a real node
the kubelet restarts all three; here the Supervisor does, with kwokctl's own command lines,
writing the new pids back where `kwokctl stop/delete cluster` looks for them.

Why not `kwokctl stop cluster` + `start cluster`: that restarts etcd, the controllers and
KWOK too (and a restarted KWOK controller leaves nodes alone until the dead controller's
node leases expire, see hack/cluster.sh); killing the one process is the finer fault.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.cluster import Kubectl, wait_for

API_SERVER = "kube-apiserver"
# What a kubelet would restart; etcd and KWOK are never killed by the suite.
SUPERVISED = (API_SERVER, "kube-controller-manager", "kube-scheduler")


class ControlPlane:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.lock = threading.Lock()
        self.restarts: list[str] = []
        documents = yaml.safe_load_all((workdir / "kwok.yaml").read_text())
        self.components: dict[str, dict[str, Any]] = {
            component["name"]: component
            for document in documents
            if document and document.get("kind") == "KwokctlConfiguration"
            for component in document.get("components") or []
        }

    @classmethod
    def of_local_cluster(cls) -> ControlPlane | None:
        """hack/cluster.sh's cluster (KUBEDAG_CLUSTER_NAME), or None for any other one."""
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        name = os.environ.get("KUBEDAG_CLUSTER_NAME", "kubedag")
        workdir = cache / "kubedag" / "kwok" / "clusters" / name
        if not (workdir / "kwok.yaml").exists() or not (workdir / "pids").exists():
            return None
        return cls(workdir)

    def restart_api_server(self, kubectl: Kubectl, pause: float) -> str:
        """SIGKILL kube-apiserver, wait `pause` seconds, start it, wait until it is ready."""
        with self.lock:
            old_pid = self._pid(API_SERVER)
            os.kill(old_pid, signal.SIGKILL)
            wait_for("kube-apiserver to die", lambda: not _alive(old_pid), timeout=30)
            time.sleep(pause)
            new_pid = self._start(API_SERVER)
        began = time.monotonic()
        wait_for(
            "kube-apiserver to be ready again",
            lambda: kubectl.run("get", "--raw", "/readyz", check=False).returncode == 0,
            timeout=120,
        )
        return (
            f"kube-apiserver pid {old_pid} killed, pid {new_pid} ready "
            f"{time.monotonic() - began:.1f}s after its start"
        )

    def revive(self) -> list[str]:
        """Starts every supervised component that is not running; says which."""
        revived = []
        with self.lock:
            for name in SUPERVISED:
                if name in self.components and not _alive(self._pid(name)):
                    revived.append(f"{name} pid {self._start(name)}")
        self.restarts += revived
        return revived

    def _pid(self, name: str) -> int:
        return int((self.workdir / "pids" / f"{name}.pid").read_text().strip())

    def _start(self, name: str) -> int:
        component = self.components[name]
        env = {each["name"]: each.get("value", "") for each in component.get("envs") or []}
        log = (self.workdir / "logs" / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [component["binary"], *component.get("args", [])],
            cwd=component.get("workDir") or self.workdir,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the harness, as kwokctl's processes do
        )
        (self.workdir / "pids" / f"{name}.pid").write_text(str(process.pid))
        return process.pid


class Supervisor:
    """The kubelet's part: every second, start the control plane components that died."""

    def __init__(self, control_plane: ControlPlane | None, report: Any = print) -> None:
        self.control_plane = control_plane
        self.report = report
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Supervisor:
        if self.control_plane:
            self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join(timeout=10)

    def _loop(self) -> None:
        assert self.control_plane is not None
        while not self.stopped.wait(1.0):
            for revived in self.control_plane.revive():
                self.report(f"restarted {revived}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child of ours lingers as a zombie until reaped; it is dead all the same.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False
