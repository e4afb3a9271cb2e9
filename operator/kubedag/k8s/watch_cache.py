"""Watch caches: what the operator knows of the cluster, kept by list + watch.

One `Reflector` per (resource, namespace) lists the objects once, then watches from the
list's resourceVersion, the way client-go's informers do (Kubernetes docs, "API Concepts",
"Efficient detection of changes"):

- every object goes through an `index` function into an `IndexedStore`: a mapping of keys
  to collections of records, the shape `kubedag.controller.reconciler.Views` reads;
- the watch asks for bookmarks (`allowWatchBookmarks`), which only move the
  resourceVersion it resumes from;
- a dropped or ended watch resumes from the last resourceVersion seen; an expired one
  ("410 Gone": the API server no longer holds that version) relists, and objects missing
  from the new list are dropped from the store and reported through `on_vanished`, since
  their deletion happened while nobody watched;
- a watch that delivers nothing (not even a bookmark) for `inactivity_timeout` seconds is
  restarted from its last resourceVersion, and a `WatchMonitor` is told (see
  kubedag.frozen_watches).

`Reflector.listed` is set once the first list is in the store: until every reflector's is,
the store is incomplete, and the controller must not plan from it (a planner that cannot
see a Job would create it again). Changes after the first list are passed to `on_event`
as (type, body), type ADDED, MODIFIED or DELETED; objects of a relist as (None, body).

Why not Kopf's indices (issue 8): Kopf pre-populates them with one readiness toggle per
object, and every object's worker waits on one condition that each toggle change wakes in
full, so its startup grows with the square of the objects in the cluster (131 s to the first
reconcile with ~4,900 objects, measured with bench/startup.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import (
    AsyncIterator,
    Callable,
    Collection,
    Hashable,
    Iterator,
    Mapping,
)
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from lightkube import ALL_NS, ApiError

from kubedag.frozen_watches import WatchMonitor
from kubedag.k8s.client import RESOURCES, KubeApi
from kubedag.metrics import copied

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")

Body = Mapping[str, Any]
logger = logging.getLogger(__name__)


class Gone(Exception):
    """The API server no longer holds the resourceVersion a watch asked for (HTTP 410):
    only a new list can say what changed since."""


@dataclass(frozen=True)
class Listing:
    """One page of a list: its objects, and the resourceVersion the list was made at."""

    items: list[dict[str, Any]]
    resource_version: str


class Source(Protocol):
    """One resource in one namespace (None: all namespaces), as the API server serves it."""

    name: str  # for logs and the watch monitor: `jobs.v1.batch`

    def list(self) -> AsyncIterator[Listing]:
        """Every object, page by page (each page is indexed, then dropped: the whole list
        is never held at once)."""
        ...

    def watch(self, resource_version: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Events after `resource_version`: (ADDED|MODIFIED|DELETED|BOOKMARK, object).
        Raises Gone when the version is too old."""
        ...


def _uid(body: Body) -> str:
    return str(body["metadata"]["uid"])


class IndexedStore(Mapping[K, Collection[R]], Generic[K, R]):
    """Records by key, one per object (by uid): `store[key]` is a live collection of the
    records of every object `index` put under `key`. An object `index` maps to None is
    not kept. Reading never raises for a missing key through `.get`."""

    def __init__(self, index: Callable[[Body], tuple[K, R] | None]) -> None:
        self._index = index
        self._groups: dict[K, dict[str, R]] = {}
        self._keys: dict[str, K] = {}  # uid -> the key its record is kept under

    def __getitem__(self, key: K) -> Collection[R]:
        return self._groups[key].values()

    def __iter__(self) -> Iterator[K]:
        return iter(self._groups)

    def __len__(self) -> int:
        return len(self._groups)

    def records(self) -> list[R]:
        """Every record, copied. Safe to call from another thread while the event loop
        changes the store (the metrics' scrape thread, kubedag.metrics.copied)."""
        return [
            record
            for group in copied(lambda: self._groups.values())
            for record in copied(group.values)
        ]

    def put(self, body: Body) -> None:
        """Keeps what `index` makes of `body`, replacing the object's earlier record."""
        uid = _uid(body)
        try:
            indexed = self._index(body)
        except Exception:
            # An object kubedag cannot read is one it does not track (Kopf's indices
            # skipped them the same way); the watch goes on.
            logger.exception("cannot index %s", body.get("metadata", {}).get("name"))
            indexed = None
        self.discard(uid)
        if indexed is None:
            return
        key, record = indexed
        self._groups.setdefault(key, {})[uid] = record
        self._keys[uid] = key

    def discard(self, uid: str) -> tuple[K, R] | None:
        """Forgets the object's record; returns it with its key, or None if none was kept."""
        key = self._keys.pop(uid, None)
        if key is None:
            return None
        group = self._groups[key]
        record = group.pop(uid)
        if not group:
            del self._groups[key]
        return key, record


class Reflector(Generic[K, R]):
    """Keeps `store` in step with one `source`; see the module's docstring. `run` runs
    until cancelled; errors other than Gone are logged and retried after `retry_delay`
    seconds (doubling up to 30 s) from the last resourceVersion seen."""

    def __init__(
        self,
        source: Source,
        store: IndexedStore[K, R],
        *,
        on_event: Callable[[str | None, Body], None] | None = None,
        on_vanished: Callable[[K, R], None] | None = None,
        monitor: WatchMonitor | None = None,
        inactivity_timeout: float = 70.0,
        retry_delay: float = 1.0,
    ) -> None:
        self.source = source
        self.store = store
        self.on_event = on_event
        self.on_vanished = on_vanished
        self.monitor = monitor
        self.inactivity_timeout = inactivity_timeout
        self.retry_delay = retry_delay
        self.listed = asyncio.Event()
        self.resource_version: str | None = None
        self._uids: set[str] = set()  # the objects this reflector put in the store

    async def run(self) -> None:
        delay = self.retry_delay
        while True:
            try:
                if self.resource_version is None:
                    await self._list()
                await self._watch(self.resource_version)  # type: ignore[arg-type]
                delay = self.retry_delay
            except Gone:
                logger.info("the watch of %s expired (410 Gone): listing again", self.source.name)
                self.resource_version = None
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the API server restarting, a dropped connection
                logger.warning(
                    "the watch of %s failed (%s: %s); retrying in %g s",
                    self.source.name,
                    type(error).__name__,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _list(self) -> None:
        relist = self.listed.is_set()
        seen = set()
        version = ""
        async for page in self.source.list():
            version = page.resource_version or version
            for body in page.items:
                uid = _uid(body)
                seen.add(uid)
                self.store.put(body)
                if relist:
                    self._tell(self.on_event, None, body)
        for uid in self._uids - seen:
            gone = self.store.discard(uid)
            if gone is not None:
                self._tell(self.on_vanished, *gone)
        self._uids = seen
        self.resource_version = version
        self.listed.set()

    async def _watch(self, resource_version: str) -> None:
        """Applies events until the stream ends (resume) or is silent too long (restart)."""
        events = aiter(self.source.watch(resource_version))
        try:
            while True:
                try:
                    event_type, body = await asyncio.wait_for(
                        anext(events), timeout=self.inactivity_timeout
                    )
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    logger.debug("Watch-stream for %s is inactive, reconnecting.", self.source.name)
                    if self.monitor is not None:
                        self.monitor.restarted(self.source.name)
                    return
                version = body.get("metadata", {}).get("resourceVersion")
                if event_type == "BOOKMARK":
                    if version:
                        self.resource_version = version
                    continue
                self._apply(event_type, body)
                if version:
                    self.resource_version = version
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()

    def _apply(self, event_type: str, body: dict[str, Any]) -> None:
        if self.monitor is not None:
            self.monitor.saw_event(self.source.name)
        uid = _uid(body)
        if event_type == "DELETED":
            self.store.discard(uid)
            self._uids.discard(uid)
        else:
            self.store.put(body)
            self._uids.add(uid)
        self._tell(self.on_event, event_type, body)

    def _tell(self, callback: Callable[..., None] | None, *arguments: Any) -> None:
        # A failing callback is a bug to log, not a reason to lose the watch.
        if callback is None:
            return
        try:
            callback(*arguments)
        except Exception:
            logger.exception("handling a change of %s failed", self.source.name)


class ApiSource:
    """A `Source` on the operator's lightkube client (KubeApi's, so one connection pool
    and one set of credentials). Lists in pages of `page_size` objects (the API server
    answers a page from its watch cache, as client-go's informers ask); watches ask the
    API server to end each request after `server_timeout` seconds, and lightkube starts
    the next one from the last resourceVersion it saw."""

    def __init__(
        self,
        api: KubeApi,
        kind: str,
        namespace: str | None,
        *,
        labels: str | None = None,
        page_size: int = 500,
        server_timeout: int = 300,
    ) -> None:
        self.api = api
        self.kind = kind
        self.resource = RESOURCES[kind]
        # lightkube reads namespace=None as its client's default namespace; every
        # namespace is ALL_NS.
        self.namespace = ALL_NS if namespace is None else namespace
        self.labels = labels
        self.page_size = page_size
        self.server_timeout = server_timeout
        info = self.resource._api_info
        group = f".{info.resource.group}" if info.resource.group else ""
        # As kopf named it: jobs.v1.batch
        self.name = f"{info.plural}.{info.resource.version}{group}"

    async def list(self) -> AsyncIterator[Listing]:
        started = time.perf_counter()
        # lightkube's public list takes a label dict; the raw request takes the selector
        # string as Kubernetes spells it (`kubedag.io/workflow` = exists).
        request = self.api._client._client.prepare_request(
            "list",
            res=self.resource,
            namespace=self.namespace,
            params={"limit": self.page_size, "labelSelector": self.labels},
        )
        try:
            async for rv, chunk in self.api._client._client.list_chunks(request):
                yield Listing([item.to_dict() for item in chunk], rv or "")
        except ApiError:
            self.api.count_request("list", self.kind, started, "error")
            raise
        self.api.count_request("list", self.kind, started, "ok")

    async def watch(self, resource_version: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        request = self.api._client._client.prepare_request(
            "list",
            res=self.resource,
            namespace=self.namespace,
            watch=True,
            params={
                "resourceVersion": resource_version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": self.server_timeout,
                "labelSelector": self.labels,
            },
        )
        self.api.count_request("watch", self.kind, time.perf_counter(), "ok")
        try:
            async for event_type, item in self.api._client._client.watch(request):
                yield event_type, item.to_dict()
        except ApiError as error:
            if error.status.code == 410:
                raise Gone(str(error)) from error
            raise
