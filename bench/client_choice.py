#!/usr/bin/env python3
"""Which Kubernetes client should kubedag's operator use? Measured, not guessed.

Compares the official `kubernetes` package (sync, run in a thread executor as an asyncio
operator must), `kubernetes_asyncio` and `lightkube` (async) on the operator's hot path,
against the cluster in $KUBECONFIG (`eval "$(hack/cluster.sh env)"`):

  (a) create a batch/v1 Job from a plain dict, N times sequentially: median and p95 latency
  (b) merge-patch the /status subresource of a kubedag.io/v1alpha1 Task: median and p95
  (c) the creates of (a) with 32 requests in flight: wall time and throughput
  (d) RSS delta of import + client construction (fresh subprocess each, vs. the bare
      interpreter), also inside a Kopf process, and CPU time per request during (a)

(c) also runs two configuration variants: the sync client with urllib3's default pool size
(cpu_count * 5) and lightkube with a keep-alive pool as large as the concurrency.

Every client works on plain dicts, as the operator does: lightkube through generic resources
(from_dict/to_dict, exactly like operator/kubedag/k8s/client.py), the other two through
CustomObjectsApi (whose paths fit any group, batch/v1 Jobs included) so no generated model
classes are built. In (a) and (b) the clients take turns request by request, so each sees the
same cluster state (the Job controller and KWOK work through the growing pile of Jobs in the
background); (c) runs one client at a time, waits for the cluster to settle in between, and
makes two passes, the second in reverse order. The whole run takes about 3-4 minutes, most of
it waiting for the Job controller and for the namespace deletion.

Everything lives in namespace `bench-client-choice`, deleted at the end.

    .venv/bin/python bench/client_choice.py            # writes bench/results/client_choice.md
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.metadata
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

NAMESPACE = "bench-client-choice"
GROUP, VERSION = "kubedag.io", "v1alpha1"
FIELD_MANAGER = "kubedag-bench"
MERGE_PATCH = "application/merge-patch+json"
RESULTS = Path(__file__).resolve().parent / "results" / "client_choice.md"
PACKAGES = (
    "kubernetes",
    "kubernetes_asyncio",
    "lightkube",
    "lightkube-models",
    "httpx2",
    "aiohttp",
    "urllib3",
    "pydantic",
)


# --------------------------------------------------------------------------- manifests


def job_manifest(name: str, client: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/managed-by": FIELD_MANAGER, "bench/client": client}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox", "command": ["true"]}],
                },
            },
        },
    }


def task_manifest(name: str, index: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Task",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"workflow": "bench", "name": f"t{index}", "image": "busybox"},
    }


def task_status(index: int) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "phase": "Running",
        "message": f"attempt 1 of t{index} is running",
        "startedAt": now,
        "attempts": [{"number": 1, "jobName": f"bench-t{index}-1", "startedAt": now}],
    }


# --------------------------------------------------------------------------- adapters


class Adapter(Protocol):
    name: str
    short: str

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any]: ...

    async def patch_task_status(self, name: str, status: dict[str, Any]) -> dict[str, Any]: ...

    async def close(self) -> None: ...


def plural_of(manifest: dict[str, Any]) -> tuple[str, str, str]:
    """(group, version, plural) of the two kinds the benchmark writes."""
    group, _, version = manifest["apiVersion"].rpartition("/")
    plural = {"Job": "jobs", "Task": "tasks"}[manifest["kind"]]
    return group, version, plural


class Lightkube:
    """lightkube's AsyncClient with generic resources, as the operator uses it. httpx2 keeps
    at most 20 idle connections by default and AsyncClient has no `limits` option; with
    `keepalive` set, a transport with a larger pool is passed in, which means building the
    TLS context (cluster CA, client certificate) with lightkube's own helper."""

    def __init__(self, kubeconfig: str, *, keepalive: int | None = None) -> None:
        import httpx2
        from lightkube import AsyncClient
        from lightkube.config.client_adapter import verify_cluster
        from lightkube.config.kubeconfig import KubeConfig
        from lightkube.generic_resource import create_namespaced_resource
        from lightkube.types import PatchType

        self.name = "lightkube" if keepalive is None else f"lightkube (keep-alive {keepalive})"
        self.short = "lk" if keepalive is None else "lt"
        self._merge = PatchType.MERGE
        self._resources = {
            "Job": create_namespaced_resource("batch", "v1", "Job", "jobs"),
            "Task": create_namespaced_resource(GROUP, VERSION, "Task", "tasks"),
        }
        config = KubeConfig.from_file(kubeconfig)
        transport = None
        if keepalive is not None:
            single: Any = config.get()
            transport = httpx2.AsyncHTTPTransport(
                verify=verify_cluster(single.cluster, single.user, single.abs_file),
                limits=httpx2.Limits(max_connections=100, max_keepalive_connections=keepalive),
            )
        # Third-party clients are held as Any: their stubs are partial or absent.
        self._client: Any = AsyncClient(
            config=config, field_manager=FIELD_MANAGER, transport=transport
        )

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        resource = self._resources[manifest["kind"]]
        created = await self._client.create(resource.from_dict(manifest), namespace=NAMESPACE)
        return created.to_dict()  # type: ignore[no-any-return]

    async def patch_task_status(self, name: str, status: dict[str, Any]) -> dict[str, Any]:
        patched = await self._client.patch(
            self._resources["Task"].Status,
            name,
            {"status": status},
            namespace=NAMESPACE,
            patch_type=self._merge,
        )
        return patched.to_dict()  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self._client.close()


class KubernetesAsyncio:
    name, short = "kubernetes_asyncio", "ka"

    def __init__(self, api_client: Any) -> None:
        from kubernetes_asyncio import client

        self._api_client = api_client
        self._api: Any = client.CustomObjectsApi(api_client)

    @classmethod
    async def build(cls, kubeconfig: str) -> KubernetesAsyncio:
        from kubernetes_asyncio import config

        return cls(await config.new_client_from_config(config_file=kubeconfig))

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        group, version, plural = plural_of(manifest)
        return await self._api.create_namespaced_custom_object(  # type: ignore[no-any-return]
            group, version, NAMESPACE, plural, manifest, field_manager=FIELD_MANAGER
        )

    async def patch_task_status(self, name: str, status: dict[str, Any]) -> dict[str, Any]:
        # Content-Type must be forced: for a dict body its default pick is
        # application/json-patch+json, which the API server rejects (400).
        return await self._api.patch_namespaced_custom_object_status(  # type: ignore[no-any-return]
            GROUP,
            VERSION,
            NAMESPACE,
            "tasks",
            name,
            {"status": status},
            field_manager=FIELD_MANAGER,
            _content_type=MERGE_PATCH,
        )

    async def close(self) -> None:
        await self._api_client.close()


class KubernetesSync:
    """The official client; each call runs in a thread pool, as it must in an asyncio
    operator. urllib3's pool defaults to cpu_count * 5 connections; `pool_size` raises it."""

    def __init__(self, kubeconfig: str, *, pool_size: int | None, threads: int) -> None:
        from kubernetes import client, config

        load_kube_config: Any = config.load_kube_config  # untyped
        configuration: Any = client.Configuration()
        load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        if pool_size is not None:
            configuration.connection_pool_maxsize = pool_size
        self.name = (
            "kubernetes"
            if pool_size is not None
            else f"kubernetes (default pool {configuration.connection_pool_maxsize})"
        )
        self.short = "k8" if pool_size is not None else "kd"
        self._api_client: Any = client.ApiClient(configuration)
        self._api: Any = client.CustomObjectsApi(self._api_client)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="k8s")

    async def _run(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(call, *args, **kwargs))

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        group, version, plural = plural_of(manifest)
        return await self._run(  # type: ignore[no-any-return]
            self._api.create_namespaced_custom_object,
            group,
            version,
            NAMESPACE,
            plural,
            manifest,
            field_manager=FIELD_MANAGER,
        )

    async def patch_task_status(self, name: str, status: dict[str, Any]) -> dict[str, Any]:
        return await self._run(  # type: ignore[no-any-return]
            self._api.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            NAMESPACE,
            "tasks",
            name,
            {"status": status},
            field_manager=FIELD_MANAGER,
            _content_type=MERGE_PATCH,
        )

    async def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._api_client.close()


# --------------------------------------------------------------------------- measurement


@dataclass
class Result:
    name: str
    version: str
    create_ms: list[float] = field(default_factory=list)
    create_cpu_s: float = 0.0
    patch_ms: list[float] = field(default_factory=list)
    concurrent: list[tuple[float, float]] = field(default_factory=list)  # (wall s, CPU s)
    memory: Memory | None = None


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def p95(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94]


async def timed(call: Awaitable[Any]) -> tuple[float, float]:
    """(wall ms, process CPU s) of one awaited request. Nothing else runs meanwhile, so
    the process CPU time (all threads) is this request's: event loop, encode, TLS, decode."""
    cpu, wall = time.process_time(), time.perf_counter()
    await call
    return (time.perf_counter() - wall) * 1000, time.process_time() - cpu


async def sequential_creates(adapters: list[Adapter], results: dict[str, Result], n: int) -> None:
    for i in range(n):
        for adapter in adapters:
            ms, cpu = await timed(
                adapter.create(job_manifest(f"a-{adapter.short}-{i}", adapter.short))
            )
            results[adapter.name].create_ms.append(ms)
            results[adapter.name].create_cpu_s += cpu


async def sequential_patches(adapters: list[Adapter], results: dict[str, Result], n: int) -> None:
    for i in range(n):
        for adapter in adapters:
            ms, _ = await timed(adapter.patch_task_status(f"{adapter.short}-t{i}", task_status(i)))
            results[adapter.name].patch_ms.append(ms)


async def bounded(calls: Sequence[Callable[[], Awaitable[Any]]], limit: int) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[Any]]) -> None:
        async with semaphore:
            await call()

    await asyncio.gather(*(one(call) for call in calls))


async def concurrent_creates(adapter: Adapter, n: int, limit: int, run: int) -> tuple[float, float]:
    """(wall s, process CPU s) for n creates, `limit` in flight. The sync client's own pool
    has `limit` threads, so the semaphore never binds for it: the pool is the bound."""
    calls = [
        functools.partial(
            adapter.create, job_manifest(f"c{run}-{adapter.short}-{i}", adapter.short)
        )
        for i in range(n)
    ]
    cpu, started = time.process_time(), time.perf_counter()
    await bounded(calls, limit)
    return time.perf_counter() - started, time.process_time() - cpu


# --------------------------------------------------------------------------- cluster helpers


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> str:
    done = subprocess.run(
        ["kubectl", *args], input=stdin, capture_output=True, text=True, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def namespace_exists() -> bool:
    return bool(kubectl("get", "namespace", NAMESPACE, "--ignore-not-found", "-o", "name"))


def delete_namespace(timeout_s: float) -> float:
    """Deletes the namespace and waits until it is gone; returns seconds waited."""
    started = time.perf_counter()
    kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")
    while namespace_exists():
        if time.perf_counter() - started > timeout_s:
            raise TimeoutError(f"namespace {NAMESPACE} still terminating after {timeout_s}s")
        time.sleep(1)
    return time.perf_counter() - started


def wait_for_jobs_settled(timeout_s: float) -> float:
    """Waits until every Job in the namespace has finished, so a concurrent run does not
    pay for the previous client's backlog in the Job controller, scheduler and KWOK."""
    started = time.perf_counter()
    template = '{range .items[*]}{.status.succeeded}{.status.failed}{"\\n"}{end}'
    while True:
        lines = kubectl("get", "jobs", "-n", NAMESPACE, "-o", f"jsonpath={template}").splitlines()
        if all(line.strip() for line in lines):
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout_s:
            print(
                f"  (still {sum(not x.strip() for x in lines)} Jobs running after "
                f"{timeout_s:.0f}s; going on)",
                file=sys.stderr,
            )
            return time.perf_counter() - started
        time.sleep(1)


# --------------------------------------------------------------------------- memory probes

# Each probe runs in a fresh interpreter: bare RSS first, then import + construction (peak
# RSS, VmHWM), then one GET of a Task and the resident RSS after it (VmRSS): what stays, once
# lazy imports, TLS and the connection pool are in place and transient peaks are gone.
PROBE_PRELUDE = """
import sys
def hwm_rss():
    fields = dict(line.split(':', 1) for line in open('/proc/self/status'))
    return int(fields['VmHWM'].split()[0]), int(fields['VmRSS'].split()[0])
KCFG, NS, NAME, BLOCKED, WITH_KOPF = sys.argv[1:6]
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.partition('.')[0] in BLOCKED.split(','):
            raise ImportError(name)
sys.meta_path.insert(0, Block())
_, bare = hwm_rss()
if WITH_KOPF == '1':
    import kopf
_, kopf_kib = hwm_rss()
kopf_kib -= bare
bare += kopf_kib
import asyncio
async def main():
"""
PROBE_EPILOGUE = """
asyncio.run(main())
"""
PROBE_BODIES = {
    "asyncio only (reference)": """
    mark = hwm_rss()[0]
    after = hwm_rss()[1]
    print(kopf_kib, mark - bare, after - bare)
""",
    "lightkube": """
    from lightkube import AsyncClient
    from lightkube.config.kubeconfig import KubeConfig
    from lightkube.generic_resource import create_namespaced_resource
    task = create_namespaced_resource('kubedag.io', 'v1alpha1', 'Task', 'tasks')
    client = AsyncClient(config=KubeConfig.from_file(KCFG))
    mark = hwm_rss()[0]
    (await client.get(task, NAME, namespace=NS)).to_dict()
    after = hwm_rss()[1]
    await client.close()
    print(kopf_kib, mark - bare, after - bare)
""",
    "kubernetes_asyncio": """
    from kubernetes_asyncio import client, config
    api_client = await config.new_client_from_config(config_file=KCFG)
    api = client.CustomObjectsApi(api_client)
    mark = hwm_rss()[0]
    await api.get_namespaced_custom_object('kubedag.io', 'v1alpha1', NS, 'tasks', NAME)
    after = hwm_rss()[1]
    await api_client.close()
    print(kopf_kib, mark - bare, after - bare)
""",
    "kubernetes": """
    from kubernetes import client, config
    api_client = config.new_client_from_config(config_file=KCFG)
    api = client.CustomObjectsApi(api_client)
    mark = hwm_rss()[0]
    await asyncio.get_running_loop().run_in_executor(None, lambda: (
        api.get_namespaced_custom_object('kubedag.io', 'v1alpha1', NS, 'tasks', NAME)))
    after = hwm_rss()[1]
    api_client.close()
    print(kopf_kib, mark - bare, after - bare)
""",
}


OFFICIAL = ("kubernetes", "kubernetes_asyncio")


@dataclass
class Memory:
    """KiB, medians over fresh interpreters."""

    peak: int  # VmHWM after import + construction, minus the bare interpreter's RSS
    resident: int  # VmRSS after the first request, minus the bare interpreter's RSS
    with_kopf: int  # the same resident delta, but on top of `import kopf`
    kopf: int  # what `import kopf` itself took in that run


def memory_probe(name: str, kubeconfig: str, task_name: str, repeats: int = 3) -> Memory:
    """Runs the probe `repeats` times alone, and `repeats` times after `import kopf` with the
    official clients other than `name` made unimportable: Kopf imports `kubernetes.client`
    and `kubernetes_asyncio.client` itself whenever they are installed, so what a client
    costs an operator depends on what else is installed; this models an image that ships
    only the chosen client."""
    code = PROBE_PRELUDE + PROBE_BODIES[name] + PROBE_EPILOGUE
    blocked = ",".join(package for package in OFFICIAL if package != name)

    def sample(with_kopf: bool) -> list[int]:
        argv = [kubeconfig, NAMESPACE, task_name, blocked if with_kopf else "", str(+with_kopf)]
        done = subprocess.run(
            [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True
        )
        return [int(x) for x in done.stdout.split()]

    alone = [sample(with_kopf=False) for _ in range(repeats)]
    kopf = [sample(with_kopf=True) for _ in range(repeats)]
    return Memory(
        peak=int(statistics.median(s[1] for s in alone)),
        resident=int(statistics.median(s[2] for s in alone)),
        with_kopf=int(statistics.median(s[2] for s in kopf)),
        kopf=int(statistics.median(s[0] for s in kopf)),
    )


# --------------------------------------------------------------------------- report


def versions() -> dict[str, str]:
    found = {}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "-"
    return found


def server_version() -> str:
    try:
        return str(json.loads(kubectl("version", "-o", "json"))["serverVersion"]["gitVersion"])
    except (RuntimeError, KeyError, ValueError):
        return "?"


def mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def render(
    sequential: list[Result],
    concurrent: list[Result],
    reference: Memory,
    args: argparse.Namespace,
    started: datetime,
    elapsed_s: float,
) -> str:
    first: list[list[str]] = []
    for r in sequential:
        first.append(
            [
                r.name,
                r.version,
                f"{median(r.create_ms):.1f} / {p95(r.create_ms):.1f}",
                f"{median(r.patch_ms):.1f} / {p95(r.patch_ms):.1f}",
                f"{r.create_cpu_s * 1000 / len(r.create_ms):.2f}",
                mib(r.memory.peak if r.memory else None),
                mib(r.memory.resident if r.memory else None),
                mib(r.memory.kopf + r.memory.with_kopf - reference.kopf if r.memory else None),
            ]
        )
    second: list[list[str]] = []
    for r in concurrent:
        walls = [wall for wall, _ in r.concurrent]
        cpu = sum(cpu for _, cpu in r.concurrent)
        requests = args.concurrent_n * len(r.concurrent)
        second.append(
            [
                r.name,
                " / ".join(f"{wall:.2f}" for wall in walls),
                " / ".join(f"{args.concurrent_n / wall:.0f}" for wall in walls),
                f"{requests / sum(walls):.0f}",
                f"{cpu * 1000 / requests:.2f}",
            ]
        )
    c, passes = args.concurrency, args.passes
    lines = [
        "# Kubernetes client choice: measurements",
        "",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC; the run took {elapsed_s:.0f} s "
        "(`.venv/bin/python bench/client_choice.py`)",
        f"- Machine: {os.cpu_count()} CPUs (nproc), {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}",
        f"- Cluster: local KWOK control plane (hack/cluster.sh), kube-apiserver "
        f"{server_version()}, TLS with client certificates, on the same CPUs as the benchmark",
        "- Packages: " + ", ".join(f"{k} {v}" for k, v in versions().items()),
        "",
        f"## (a) {args.n} sequential Job creates, (b) {args.n} sequential Task /status merge "
        "patches, (d) memory",
        "",
        *table(
            [
                "client",
                "version",
                "Job create p50 / p95 ms",
                "status patch p50 / p95 ms",
                "CPU ms/create",
                "peak RSS Δ import+client MiB",
                "RSS Δ after 1st request MiB",
                "RSS Δ in a Kopf process MiB",
            ],
            first,
        ),
        "",
        f"## (c) {args.concurrent_n} Job creates, {c} in flight, "
        f"{passes} pass{'es' if passes > 1 else ''}",
        "",
        *table(
            ["client", "wall s per pass", "req/s per pass", "req/s overall", "CPU ms/create"],
            second,
        ),
        "",
        "## How it was measured",
        "",
        "- Every client sends and receives plain dicts: lightkube via generic resources "
        "(`from_dict`/`to_dict`, as in operator/kubedag/k8s/client.py), kubernetes and "
        "kubernetes_asyncio via `CustomObjectsApi` (no generated model classes). Merge patches "
        "set `Content-Type: application/merge-patch+json` explicitly.",
        f"- The sync `kubernetes` client runs every call in a pool of {c} threads via "
        "`run_in_executor`, as an asyncio operator has to; latency and CPU include that "
        f"hand-off. Its urllib3 pool is raised to {c} connections; the `default pool` row "
        f"keeps cpu_count * 5 = {(os.cpu_count() or 1) * 5}. lightkube's httpx2 keeps 20 idle "
        f"connections by default; the `keep-alive {c}` row passes a transport with a larger "
        "pool. Both variants only run in (c).",
        "- (a) and (b): the clients take turns request by request, so all see the same "
        "cluster state (the Job controller and KWOK are busy with the Jobs created so far); "
        "5 unmeasured warm-up creates per client first. CPU ms/create: process CPU time (all "
        "threads) per request.",
        "- (c): one client at a time, after all Jobs so far have finished"
        + (
            f"; {passes} passes, every other one in reverse order, so drift in the cluster's "
            "state hits all alike"
            if passes > 1
            else ""
        )
        + ". The API server, etcd, the Job controller and KWOK share the benchmark's CPUs, "
        "so client CPU competes with the server's; pass-to-pass spread shows the noise.",
        "- Memory, each in a fresh interpreter (median of 3 each): peak RSS (VmHWM) after "
        "`import asyncio`, importing the client and constructing it from the kubeconfig; "
        "then resident RSS (VmRSS) after one GET of a Task (lazy imports, TLS and connection "
        "in place, transient peaks gone); both minus the bare interpreter's RSS. "
        f"`import asyncio` + an event loop alone: {mib(reference.peak)} MiB peak, "
        f"{mib(reference.resident)} MiB resident, included in both columns.",
        "- RSS Δ in a Kopf process: the same resident RSS after one request, but in a process "
        "that imports `kopf` first, with the *other* official client made unimportable (an "
        "image that ships only the chosen client), minus a Kopf process with neither "
        f"official client ({mib(reference.kopf)} MiB over the bare interpreter). Kopf imports "
        "`kubernetes.client` and `kubernetes_asyncio.client` on its own whenever they are "
        "installed (kopf/_cogs/helpers/thirdparty.py), so choosing either one puts its whole "
        "import cost into the operator, and a venv with both (like the dev group's) "
        "carries both.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


async def run(
    args: argparse.Namespace, kubeconfig: str
) -> tuple[list[Result], list[Result], Memory]:
    lightkube = Lightkube(kubeconfig)
    kasync = await KubernetesAsyncio.build(kubeconfig)
    ksync = KubernetesSync(kubeconfig, pool_size=args.concurrency, threads=args.concurrency)
    adapters: list[Adapter] = [ksync, kasync, lightkube]
    variants: list[Adapter] = [
        KubernetesSync(kubeconfig, pool_size=None, threads=args.concurrency),
        Lightkube(kubeconfig, keepalive=args.concurrency),
    ]
    everyone = [*adapters, *variants]
    package = {ksync.name: "kubernetes", kasync.name: "kubernetes_asyncio"}
    results = {
        a.name: Result(a.name, importlib.metadata.version(package.get(a.name, a.name)))
        for a in adapters
    }
    results |= {a.name: Result(a.name, "") for a in variants}
    try:
        print("memory probes (fresh interpreters) ...", file=sys.stderr)
        await lightkube.create(task_manifest("probe", 0))
        reference = memory_probe("asyncio only (reference)", kubeconfig, "probe")
        for adapter in adapters:
            results[adapter.name].memory = memory_probe(adapter.name, kubeconfig, "probe")

        print("warm-up ...", file=sys.stderr)
        for adapter in everyone:
            for i in range(5):
                await adapter.create(job_manifest(f"w-{adapter.short}-{i}", adapter.short))

        print(f"(a) {args.n} sequential Job creates per client ...", file=sys.stderr)
        await sequential_creates(adapters, results, args.n)

        print(f"(b) creating {args.n} Tasks per client, then patching /status ...", file=sys.stderr)
        for adapter in adapters:
            await bounded(
                [
                    functools.partial(adapter.create, task_manifest(f"{adapter.short}-t{i}", i))
                    for i in range(args.n)
                ],
                args.concurrency,
            )
        await sequential_patches(adapters, results, args.n)

        concurrent_order = [ksync, variants[0], kasync, lightkube, variants[1]]
        for run_index in range(args.passes):
            for adapter in concurrent_order[:: -1 if run_index % 2 else 1]:
                waited = wait_for_jobs_settled(args.settle_timeout)
                wall, cpu = await concurrent_creates(
                    adapter, args.concurrent_n, args.concurrency, run_index
                )
                print(
                    f"(c) pass {run_index + 1}: {adapter.name}: {args.concurrent_n / wall:.0f} "
                    f"req/s (after {waited:.1f}s waiting for Jobs to finish)",
                    file=sys.stderr,
                )
                results[adapter.name].concurrent.append((wall, cpu))
    finally:
        for adapter in everyone:
            await adapter.close()
    return (
        [results[a.name] for a in adapters],
        [results[a.name] for a in concurrent_order],
        reference,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="sequential requests, (a) and (b)")
    parser.add_argument("--concurrent-n", type=int, default=400, help="creates in (c)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight, (c)")
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=60.0,
        help="max seconds to wait for Jobs to finish before each (c) run",
    )
    parser.add_argument("--passes", type=int, default=2, help="passes over the clients, (c)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    kubeconfig = os.environ.get("KUBECONFIG")
    if not kubeconfig:
        print('KUBECONFIG is not set: eval "$(hack/cluster.sh env)"', file=sys.stderr)
        return 2
    # urllib3 warns on every discarded connection when its pool is too small; the
    # default-pool run would flood stderr. The cost shows in the numbers instead.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)

    started = datetime.now(UTC)
    clock = time.perf_counter()
    if namespace_exists():
        print(f"removing {NAMESPACE} left over from an earlier run ...", file=sys.stderr)
        delete_namespace(timeout_s=180)
    kubectl("create", "namespace", NAMESPACE)
    try:
        sequential, concurrent, reference = asyncio.run(run(args, kubeconfig))
    finally:
        print(f"deleting namespace {NAMESPACE} ...", file=sys.stderr)
        waited = delete_namespace(timeout_s=300)
        print(f"namespace gone after {waited:.0f}s", file=sys.stderr)
    report = render(sequential, concurrent, reference, args, started, time.perf_counter() - clock)
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
