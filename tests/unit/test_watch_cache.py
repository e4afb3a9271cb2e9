"""Watch caches (kubedag.k8s.watch_cache): list, then watch from the list's resourceVersion;
resume after a dropped watch, relist after 410 Gone (dropping what vanished meanwhile),
follow bookmarks, restart a silent watch, and say when the first list is complete."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from kubedag.frozen_watches import WatchMonitor
from kubedag.k8s.watch_cache import Gone, IndexedStore, Listing, Reflector

Body = dict[str, Any]


def obj(uid: str, version: str, group: str = "a", value: int = 0) -> Body:
    return {
        "metadata": {"uid": uid, "name": uid, "resourceVersion": version},
        "spec": {"group": group, "value": value},
    }


def by_group(body: Any) -> tuple[str, tuple[str, int]] | None:
    spec = body["spec"]
    if spec["group"] is None:
        return None  # not tracked
    return spec["group"], (body["metadata"]["name"], spec["value"])


Step = tuple[str, Body] | Exception | Callable[[], None]


class FakeSource:
    """Serves scripted lists and watches, and records what was asked of it. A watch step
    is an event, an exception to raise, or "hang" (a stream that stays open, silent)."""

    name = "things.v1.example.org"

    def __init__(self, lists: list[Listing], watches: list[list[Any]]) -> None:
        self.lists = lists
        self.watches = watches
        self.asked: list[tuple[str, str | None]] = []
        self.done = asyncio.Event()

    async def list(self) -> AsyncIterator[Listing]:
        self.asked.append(("list", None))
        listing = self.lists.pop(0)
        # Two pages of the same list, as the API server pages a long one.
        half = len(listing.items) // 2
        yield Listing(listing.items[:half], listing.resource_version)
        yield Listing(listing.items[half:], listing.resource_version)

    async def watch(self, resource_version: str) -> AsyncIterator[tuple[str, Body]]:
        self.asked.append(("watch", resource_version))
        if not self.watches:
            self.done.set()
            await asyncio.sleep(3600)
        for step in self.watches.pop(0):
            if step == "hang":
                await asyncio.sleep(3600)
            elif isinstance(step, Exception):
                raise step
            else:
                yield step


def run(reflector: Reflector[Any, Any], source: FakeSource) -> None:
    async def main() -> None:
        task = asyncio.create_task(reflector.run())
        await asyncio.wait_for(source.done.wait(), timeout=5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())


def contents(store: IndexedStore[str, tuple[str, int]]) -> dict[str, set[tuple[str, int]]]:
    return {key: set(records) for key, records in store.items()}


def test_the_list_fills_the_store_and_the_watch_starts_from_its_resource_version() -> None:
    source = FakeSource(
        [Listing([obj("x", "5"), obj("y", "6", group="b"), obj("z", "7", group=None)], "9")],
        [[("ADDED", obj("w", "10")), ("MODIFIED", obj("x", "11", value=1))]],
    )
    store: IndexedStore[str, tuple[str, int]] = IndexedStore(by_group)
    events: list[tuple[str | None, str]] = []
    reflector = Reflector(
        source, store, on_event=lambda t, b: events.append((t, b["metadata"]["name"]))
    )
    run(reflector, source)
    assert source.asked[:2] == [("list", None), ("watch", "9")]
    assert contents(store) == {"a": {("w", 0), ("x", 1)}, "b": {("y", 0)}}
    assert events == [("ADDED", "w"), ("MODIFIED", "x")]  # the first list tells nobody
    assert reflector.listed.is_set()


def test_an_object_moving_to_another_key_or_out_of_the_index_leaves_its_old_place() -> None:
    source = FakeSource(
        [Listing([obj("x", "1"), obj("y", "2")], "2")],
        [[("MODIFIED", obj("x", "3", group="b")), ("MODIFIED", obj("y", "4", group=None))]],
    )
    store: IndexedStore[str, tuple[str, int]] = IndexedStore(by_group)
    run(Reflector(source, store), source)
    assert contents(store) == {"b": {("x", 0)}}


def test_a_deleted_object_leaves_the_store() -> None:
    source = FakeSource(
        [Listing([obj("x", "1"), obj("y", "2")], "2")], [[("DELETED", obj("x", "3"))]]
    )
    store: IndexedStore[str, tuple[str, int]] = IndexedStore(by_group)
    run(Reflector(source, store), source)
    assert contents(store) == {"a": {("y", 0)}}
    assert store.get("missing", ()) == ()


def test_a_watch_that_ends_resumes_from_the_last_version_seen_without_listing_again() -> None:
    source = FakeSource(
        [Listing([obj("x", "1")], "1")],
        [[("MODIFIED", obj("x", "4", value=4))], [("MODIFIED", obj("x", "6", value=6))]],
    )
    store: IndexedStore[str, tuple[str, int]] = IndexedStore(by_group)
    run(Reflector(source, store), source)
    assert source.asked == [("list", None), ("watch", "1"), ("watch", "4"), ("watch", "6")]
    assert contents(store) == {"a": {("x", 6)}}


def test_a_bookmark_moves_the_resume_point_and_changes_nothing_else() -> None:
    bookmark = {"metadata": {"resourceVersion": "50"}}
    source = FakeSource([Listing([obj("x", "1")], "1")], [[("BOOKMARK", bookmark)]])
    store: IndexedStore[str, tuple[str, int]] = IndexedStore(by_group)
    events: list[Any] = []
    run(Reflector(source, store, on_event=lambda *e: events.append(e)), source)
    assert source.asked[-2:] == [("watch", "1"), ("watch", "50")]
    assert contents(store) == {"a": {("x", 0)}}
    assert events == []


def test_410_gone_relists_and_objects_deleted_meanwhile_are_dropped_and_reported() -> None:
    source = FakeSource(
        [
            Listing([obj("x", "1"), obj("y", "2", group="b")], "2"),
            Listing([obj("x", "8", value=8), obj("v", "9")], "9"),
        ],
        [[Gone("too old")]],
    )
    store: IndexedStore[str, tuple[str, int]] = IndexedStore(by_group)
    events: list[tuple[str | None, str]] = []
    vanished: list[tuple[str, tuple[str, int]]] = []
    reflector = Reflector(
        source,
        store,
        on_event=lambda t, b: events.append((t, b["metadata"]["name"])),
        on_vanished=lambda key, record: vanished.append((key, record)),
    )
    run(reflector, source)
    assert source.asked == [("list", None), ("watch", "2"), ("list", None), ("watch", "9")]
    assert contents(store) == {"a": {("x", 8), ("v", 0)}}
    assert vanished == [("b", ("y", 0))]
    assert sorted(events) == [(None, "v"), (None, "x")]  # a relist tells what it found


def test_an_error_is_retried_from_the_last_version_seen() -> None:
    source = FakeSource(
        [Listing([obj("x", "1")], "1")],
        [[("MODIFIED", obj("x", "3", value=3)), ConnectionError("reset")]],
    )
    store: IndexedStore[str, tuple[str, int]] = IndexedStore(by_group)
    run(Reflector(source, store, retry_delay=0.01), source)
    assert source.asked == [("list", None), ("watch", "1"), ("watch", "3")]


def test_a_silent_watch_is_restarted_and_the_monitor_told() -> None:
    source = FakeSource([Listing([obj("x", "1")], "1")], [["hang"]])
    store: IndexedStore[str, tuple[str, int]] = IndexedStore(by_group)
    monitor = WatchMonitor(timeout=0.05)
    run(Reflector(source, store, monitor=monitor, inactivity_timeout=0.05), source)
    assert source.asked == [("list", None), ("watch", "1"), ("watch", "1")]
    assert set(monitor.restarts) == {"things.v1.example.org"}


def test_changes_right_after_a_restart_warn_that_the_watch_was_frozen(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = FakeSource(
        [Listing([obj("x", "1")], "1")], [["hang"], [("MODIFIED", obj("x", "2", value=2))]]
    )
    store: IndexedStore[str, tuple[str, int]] = IndexedStore(by_group)
    monitor = WatchMonitor(timeout=0.05)
    caplog.set_level(logging.INFO)
    run(Reflector(source, store, monitor=monitor, inactivity_timeout=0.05), source)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "the watch of things.v1.example.org was frozen: it delivered nothing for 0.05 s, and "
        "changes made meanwhile arrived only once it was restarted (from the last resource "
        "version seen, so none was lost)"
    ]


def test_an_object_the_index_cannot_read_is_skipped_and_the_watch_goes_on() -> None:
    def fragile(body: Any) -> tuple[str, tuple[str, int]] | None:
        if body["spec"]["value"] < 0:
            raise ValueError("unreadable")
        return by_group(body)

    source = FakeSource(
        [Listing([obj("x", "1", value=-1)], "1")], [[("ADDED", obj("y", "2", value=2))]]
    )
    store: IndexedStore[str, tuple[str, int]] = IndexedStore(fragile)
    run(Reflector(source, store), source)
    assert contents(store) == {"a": {("y", 2)}}


def test_listed_is_set_only_once_the_first_list_is_in_the_store() -> None:
    async def main() -> None:
        gate = asyncio.Event()

        class SlowSource(FakeSource):
            async def list(self) -> AsyncIterator[Listing]:
                await gate.wait()
                async for page in super().list():
                    yield page

        source = SlowSource([Listing([obj("x", "1")], "1")], [])
        store: IndexedStore[str, tuple[str, int]] = IndexedStore(by_group)
        reflector = Reflector(source, store)
        task = asyncio.create_task(reflector.run())
        await asyncio.sleep(0.01)
        assert not reflector.listed.is_set() and len(store) == 0
        gate.set()
        await asyncio.wait_for(reflector.listed.wait(), timeout=5)
        assert contents(store) == {"a": {("x", 0)}}
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
