import asyncio

from kubedag.controller.queue import CoalescingQueue


def test_requests_during_a_pass_collapse_into_one_more_pass() -> None:
    async def scenario() -> list[str]:
        passes: list[str] = []
        release = asyncio.Event()

        async def work(key: str, requested_at: float) -> None:
            passes.append(key)
            await release.wait()

        queue: CoalescingQueue[str] = CoalescingQueue(work)
        queue.request("wf")
        await asyncio.sleep(0)
        for _ in range(50):
            queue.request("wf")
        release.set()
        await queue.idle()
        return passes

    assert asyncio.run(scenario()) == ["wf", "wf"]


def test_different_keys_run_concurrently_and_one_key_never_does() -> None:
    async def scenario() -> tuple[int, int]:
        running: dict[str, int] = {}
        most_at_once = {"per_key": 0, "all": 0}

        async def work(key: str, requested_at: float) -> None:
            running[key] = running.get(key, 0) + 1
            most_at_once["per_key"] = max(most_at_once["per_key"], running[key])
            most_at_once["all"] = max(most_at_once["all"], sum(running.values()))
            await asyncio.sleep(0.01)
            running[key] -= 1

        queue: CoalescingQueue[str] = CoalescingQueue(work, concurrency=4)
        for round_ in range(5):
            for key in ("a", "b", "c"):
                queue.request(key)
            await asyncio.sleep(0.003 * round_)
        await queue.idle()
        return most_at_once["per_key"], most_at_once["all"]

    per_key, overall = asyncio.run(scenario())
    assert per_key == 1
    assert overall == 3


def test_a_failing_pass_is_retried_with_backoff() -> None:
    async def scenario() -> int:
        calls = 0

        async def work(key: str, requested_at: float) -> None:
            nonlocal calls
            calls += 1
            if calls < 3:
                raise RuntimeError("API server unavailable")

        queue: CoalescingQueue[str] = CoalescingQueue(work, retry_initial_delay=0.01)
        queue.request("wf")
        for _ in range(100):
            await asyncio.sleep(0.01)
            await queue.idle()
            if calls >= 3:
                break
        return calls

    assert asyncio.run(scenario()) == 3


def test_delayed_requests_keep_one_timer_per_key_and_the_earliest_wins() -> None:
    async def scenario() -> list[float]:
        passes: list[float] = []
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def work(key: str, requested_at: float) -> None:
            passes.append(round(loop.time() - started, 1))

        queue: CoalescingQueue[str] = CoalescingQueue(work)
        queue.request_later("wf", 0.3)
        for _ in range(20):  # e.g. a failing pass retried again and again
            queue.request_later("wf", 0.5)
        queue.request_later("wf", 0.1)  # earlier: replaces the 0.3 s timer
        await asyncio.sleep(0.6)
        await queue.idle()
        return passes

    assert asyncio.run(scenario()) == [0.1]
