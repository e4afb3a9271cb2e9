"""A per-workflow work queue: many events about one workflow collapse into one pass.

Every event only marks its workflow as needing a pass. A workflow is reconciled by at most
one coroutine at a time; events arriving meanwhile make that coroutine go round once more.
This is what controller-runtime's work queue does for Go controllers, and what keeps the
number of API writes per task low when hundreds of Jobs finish in the same second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from kubedag.metrics import copied

Key = TypeVar("Key", bound=Hashable)

logger = logging.getLogger(__name__)


class CoalescingQueue(Generic[Key]):
    def __init__(
        self,
        work: Callable[[Key, float], Awaitable[None]],
        *,
        concurrency: int = 8,
        retry_initial_delay: float = 0.5,
        retry_max_delay: float = 30.0,
    ) -> None:
        self._work = work
        self._slots = asyncio.Semaphore(concurrency)
        self._workers: dict[Key, asyncio.Task[None]] = {}
        self._pending_since: dict[Key, float] = {}  # time.perf_counter() of the request
        self._running_since: dict[Key, float] = {}  # time.perf_counter() of the pass start
        self._failures: dict[Key, int] = {}
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._retry_initial_delay = retry_initial_delay
        self._retry_max_delay = retry_max_delay

    def request(self, key: Key) -> None:
        """Ask for one more pass over `key`, as soon as possible."""
        self._pending_since.setdefault(key, time.perf_counter())
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._drain(key), name=f"reconcile {key}")

    def request_later(self, key: Key, delay: float) -> None:
        """Ask for a pass over `key` in `delay` seconds; one timer per key, the earliest
        wins (failures, backoffs and deadlines do not pile timers up)."""
        loop = asyncio.get_running_loop()
        timer = self._timers.get(key)
        if timer is not None and timer.when() <= loop.time() + delay:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.request(key)

    async def _drain(self, key: Key) -> None:
        try:
            while key in self._pending_since:
                async with self._slots:
                    # Waiting for a slot is waiting: the request leaves the queue's depth
                    # when its pass starts, as in controller-runtime's work queue.
                    requested_at = self._pending_since.pop(key)
                    self._running_since[key] = time.perf_counter()
                    try:
                        await self._run_once(key, requested_at)
                    finally:
                        del self._running_since[key]
        finally:
            # No await between the loop's last check and this line, so a request made
            # meanwhile either was seen by the loop or finds no worker and starts one.
            del self._workers[key]

    async def _run_once(self, key: Key, requested_at: float) -> None:
        try:
            await self._work(key, requested_at)
        except asyncio.CancelledError:
            raise
        except Exception:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            delay = min(self._retry_initial_delay * 2 ** (failures - 1), self._retry_max_delay)
            logger.exception(
                "reconciling %s failed (attempt %d); retrying in %.1fs", key, failures, delay
            )
            self.request_later(key, delay)
        else:
            self._failures.pop(key, None)

    def stats(self) -> tuple[int, float, float]:
        """(keys waiting for a pass, seconds the oldest of them has waited, seconds the
        longest pass still running has run); zeros when idle. For kubedag.metrics, which
        calls it from the scrape thread: it only copies (see kubedag.metrics.copied)."""
        now = time.perf_counter()
        waiting = copied(self._pending_since.values)
        running = copied(self._running_since.values)
        return (
            len(waiting),
            max(0.0, now - min(waiting)) if waiting else 0.0,
            max(0.0, now - min(running)) if running else 0.0,
        )

    async def idle(self) -> None:
        """Waits until no pass is running or requested (for tests and shutdown)."""
        while self._workers:
            await asyncio.gather(*self._workers.values(), return_exceptions=True)

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for worker in list(self._workers.values()):
            worker.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)
