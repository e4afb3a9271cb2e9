"""Issue 12, item 4: leader election on a Lease with client-go's semantics, and the claims
that keep two releases off the same namespaces. Against an in-memory API server."""

from __future__ import annotations

import asyncio
import copy
import functools
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubedag.k8s.client import Conflict, KubeApi, NotLeading
from kubedag.leadership import (
    ElectionConfig,
    LeaderElector,
    blocking_claims,
    read_claim,
)


class FakeLeases:
    """Leases and Events in memory, with resourceVersion checks like the API server's.
    `down` makes every request fail (the API server is unreachable)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.version = 0
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("API server unreachable")

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        self._check()
        found = self.objects.get((namespace, name))
        return copy.deepcopy(found) if found else None

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        self._check()
        if manifest["kind"] == "Event":
            self.events.append(manifest)
            return manifest
        key = (manifest["metadata"]["namespace"], manifest["metadata"]["name"])
        if key in self.objects:
            return None
        self.version += 1
        stored = copy.deepcopy(manifest)
        stored["metadata"]["resourceVersion"] = str(self.version)
        stored["metadata"]["creationTimestamp"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.objects[key] = stored
        return copy.deepcopy(stored)

    async def replace(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        self._check()
        key = (manifest["metadata"]["namespace"], manifest["metadata"]["name"])
        current = self.objects.get(key)
        if current is None:
            return None
        if current["metadata"]["resourceVersion"] != manifest["metadata"]["resourceVersion"]:
            raise Conflict("changed")
        self.version += 1
        stored = copy.deepcopy(manifest)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.objects[key] = stored
        return copy.deepcopy(stored)

    async def list_all(self, kind: str, *, labels: dict[str, str]) -> list[dict[str, Any]]:
        self._check()
        return [
            copy.deepcopy(lease)
            for lease in self.objects.values()
            if all(lease["metadata"].get("labels", {}).get(k) == v for k, v in labels.items())
        ]

    async def post_event(self, **event: Any) -> None:
        self.events.append(event)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# Fast timings: the loop's sleeps are real; the election's judgement uses `Clock`.
TIMING = {"lease_duration": 2.0, "renew_deadline": 1.0, "retry_period": 0.05}


@pytest.fixture(autouse=True)
def quick_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wait before a new Lease's first claim check, shortened (real seconds)."""
    monkeypatch.setattr("kubedag.leadership.CLAIM_SETTLE_SECONDS", 0.1)


def elector(
    api: FakeLeases,
    identity: str,
    clock: Clock,
    *,
    lease: str = "kubedag",
    namespaces: tuple[str, ...] = (),
    lost: list[str] | None = None,
) -> LeaderElector:
    config = ElectionConfig(
        lease_namespace="ops", lease_name=lease, identity=identity, namespaces=namespaces, **TIMING
    )
    return LeaderElector(
        api,  # type: ignore[arg-type]
        config,
        on_lost=lambda: (lost if lost is not None else []).append(identity),
        clock=clock,
    )


def run_async(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """The test runs in its own event loop (no async plugin in this project)."""

    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())

    return run


async def settle(condition: Any) -> None:
    """Waits (5 s at most) until `condition()` holds."""
    async with asyncio.timeout(5):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)


def test_the_timings_must_let_a_leader_give_up_before_a_standby_takes_over() -> None:
    with pytest.raises(ValueError, match="renew deadline < lease duration"):
        ElectionConfig(lease_namespace="ops", lease_duration=10, renew_deadline=10)
    with pytest.raises(ValueError):
        ElectionConfig(lease_namespace="ops", retry_period=5, renew_deadline=4)


def test_the_election_is_off_unless_the_environment_turns_it_on() -> None:
    assert ElectionConfig.from_env({}, []) is None
    config = ElectionConfig.from_env(
        {"KUBEDAG_LEADER_ELECTION": "true", "POD_NAMESPACE": "kubedag", "POD_NAME": "op-0"},
        ["b", "a"],
    )
    assert config is not None
    assert (config.lease_namespace, config.lease_name) == ("kubedag", "kubedag-operator")
    assert config.identity.startswith("op-0_")
    assert config.namespaces == ("a", "b")
    assert (config.lease_duration, config.renew_deadline, config.retry_period) == (15, 10, 2)


@run_async
async def test_one_candidate_leads_and_the_other_waits_a_full_lease_duration() -> None:
    api, clock = FakeLeases(), Clock()
    first, second = elector(api, "a", clock), elector(api, "b", clock)
    running = [asyncio.create_task(first.run())]
    await settle(first.managing.is_set)
    running.append(asyncio.create_task(second.run()))
    await asyncio.sleep(0.3)
    assert not second.leading() and second.state() == "standby"
    spec = api.objects[("ops", "kubedag")]["spec"]
    assert spec["holderIdentity"] == "a" and spec["leaseTransitions"] == 0
    assert spec["leaseDurationSeconds"] == 2
    for task in running:
        task.cancel()


@run_async
async def test_a_leader_that_cannot_renew_fences_itself_before_the_lease_expires() -> None:
    api, clock = FakeLeases(), Clock()
    lost: list[str] = []
    leader = elector(api, "a", clock, lost=lost)
    kube = KubeApi.__new__(KubeApi)
    kube.may_write = leader.leading
    task = asyncio.create_task(leader.run())
    await settle(leader.managing.is_set)
    api.down = True
    clock.now += TIMING["renew_deadline"]  # no renewal for the renew deadline
    assert not leader.leading()
    with pytest.raises(NotLeading):
        kube._fence("Job")
    kube._fence("Lease")  # the election's own writes are not fenced
    await settle(lambda: lost == ["a"])
    assert leader.state() == "lost"
    await task


@run_async
async def test_a_standby_takes_over_once_the_lease_went_unrenewed_for_its_duration() -> None:
    api, clock = FakeLeases(), Clock()
    lost: list[str] = []
    first = elector(api, "a", clock, lost=lost)
    second = elector(api, "b", clock)
    tasks = [asyncio.create_task(first.run())]
    await settle(first.managing.is_set)
    tasks.append(asyncio.create_task(second.run()))
    await asyncio.sleep(0.2)  # b saw the Lease
    tasks[0].cancel()  # a dies without releasing
    await asyncio.sleep(0.2)  # b sees a's last renewal (its clock starts from there)
    acquired_before = api.objects[("ops", "kubedag")]["spec"]["acquireTime"]
    clock.now += TIMING["lease_duration"] - 0.1
    await asyncio.sleep(0.3)
    assert not second.leading()  # not before the lease duration has passed
    clock.now += 0.2
    await settle(second.managing.is_set)
    spec = api.objects[("ops", "kubedag")]["spec"]
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1
    assert spec["acquireTime"] != acquired_before
    tasks[1].cancel()


@run_async
async def test_a_released_lease_is_taken_at_the_next_retry() -> None:
    api, clock = FakeLeases(), Clock()
    first, second = elector(api, "a", clock), elector(api, "b", clock)
    tasks = [asyncio.create_task(first.run())]
    await settle(first.managing.is_set)
    tasks.append(asyncio.create_task(second.run()))
    await asyncio.sleep(0.2)
    tasks[0].cancel()
    await first.release()
    assert not first.leading()
    await settle(second.managing.is_set)  # the clock never moved: no lease duration waited
    tasks[1].cancel()


def claim(lease: str, namespaces: str, *, managing: bool, created: int, renewed: int = 0) -> Any:
    base = datetime(2026, 11, 30, tzinfo=UTC)
    namespace, name = lease.split("/")
    return read_claim(
        {
            "metadata": {
                "namespace": namespace,
                "name": name,
                "creationTimestamp": (base + timedelta(seconds=created)).isoformat(),
                "annotations": {
                    "kubedag.io/namespaces": namespaces,
                    "kubedag.io/managing": "true" if managing else "false",
                },
            },
            "spec": {
                "holderIdentity": "x",
                "leaseDurationSeconds": 15,
                "renewTime": (base + timedelta(seconds=renewed)).isoformat(),
            },
        }
    )


NOW = datetime(2026, 11, 30, tzinfo=UTC) + timedelta(seconds=5)


def test_releases_with_disjoint_namespaces_both_manage() -> None:
    mine = claim("a/op", "team-a", managing=False, created=2)
    other = claim("b/op", "team-b,team-c", managing=True, created=1)
    assert blocking_claims(mine, [other], NOW) == []


@pytest.mark.parametrize(
    ("mine", "other"),
    [("team-a,team-b", "team-b"), ("*", "team-x"), ("team-x", "*"), ("*", "*")],
)
def test_an_overlapping_release_that_manages_blocks_a_newcomer(mine: str, other: str) -> None:
    newcomer = claim("a/op", mine, managing=False, created=1)
    managing = claim("b/op", other, managing=True, created=2)
    assert blocking_claims(newcomer, [managing], NOW) == [managing]
    assert blocking_claims(managing, [newcomer], NOW) == []


def test_of_two_newcomers_the_older_lease_goes_first_and_a_tie_by_name() -> None:
    older = claim("a/op", "*", managing=False, created=1)
    younger = claim("b/op", "*", managing=False, created=2)
    assert blocking_claims(younger, [older], NOW) == [older]
    assert blocking_claims(older, [younger], NOW) == []
    twin = claim("c/op", "*", managing=False, created=1)
    assert blocking_claims(twin, [older], NOW) == [older]  # "a/op" < "c/op"
    assert blocking_claims(older, [twin], NOW) == []


def test_an_expired_or_released_claim_blocks_nobody() -> None:
    mine = claim("a/op", "*", managing=False, created=2)
    expired = claim("b/op", "*", managing=True, created=1, renewed=-60)
    assert blocking_claims(mine, [expired], NOW) == []


@run_async
async def test_a_second_release_refuses_with_a_warning_and_manages_once_the_first_is_gone() -> None:
    api, clock = FakeLeases(), Clock()
    first = elector(api, "a", clock, lease="release-a", namespaces=("team",))
    second = elector(api, "b", clock, lease="release-b", namespaces=("team", "other"))
    tasks = [asyncio.create_task(first.run())]
    await settle(first.managing.is_set)
    tasks.append(asyncio.create_task(second.run()))
    await settle(lambda: second.state() == "refusing" and second.refusal is not None)
    assert "Lease ops/release-a" in (second.refusal or "")
    (event,) = [e for e in api.events if e.get("reason") == "NamespacesClaimed"]
    assert event["event_type"] == "Warning"
    assert event["regarding"]["name"] == "release-b"
    tasks[0].cancel()
    await first.release()
    await settle(second.managing.is_set)
    assert api.objects[("ops", "release-b")]["metadata"]["annotations"]["kubedag.io/managing"] == (
        "true"
    )
    tasks[1].cancel()


@run_async
async def test_a_leader_that_cannot_read_the_claims_does_not_act_and_says_why() -> None:
    api, clock = FakeLeases(), Clock()

    async def forbidden(kind: str, *, labels: dict[str, str]) -> list[dict[str, Any]]:
        raise PermissionError("leases is forbidden: cannot list resource leases")

    api.list_all = forbidden  # type: ignore[method-assign]
    leader = elector(api, "a", clock)
    task = asyncio.create_task(leader.run())
    await settle(lambda: leader.refusal is not None)
    assert leader.state() == "refusing"
    (event,) = [e for e in api.events if e.get("reason") == "ClaimsUnreadable"]
    assert "forbidden" in event["message"]
    task.cancel()


@run_async
async def test_a_leader_that_sees_another_holder_stops_writing_at_once() -> None:
    """The Lease deleted by hand while `a` leads, and re-created by standby `b` before `a`
    renews (or its holder edited by hand): `a` must not act for the rest of its renew
    deadline beside `b`. client-go's IsLeader() is false as soon as the observed record
    names another holder (review of issue 12)."""
    api, clock = FakeLeases(), Clock()
    lost: list[str] = []
    first = elector(api, "a", clock, lost=lost)
    task = asyncio.create_task(first.run())
    await settle(first.managing.is_set)
    stored = api.objects.pop(("ops", "kubedag"))
    # b's Lease, as b's first campaign after the delete writes it (the clock never moves:
    # only what `a` reads can make it step down).
    taken = copy.deepcopy(stored)
    taken["spec"] = {**stored["spec"], "holderIdentity": "b", "leaseTransitions": 1}
    del taken["metadata"]["resourceVersion"]
    await api.create(taken)
    await settle(lambda: lost == ["a"])
    assert not first.leading() and first.state() == "lost"
    assert api.objects[("ops", "kubedag")]["spec"]["holderIdentity"] == "b"
    await task


@run_async
async def test_a_leader_whose_lease_is_deleted_with_no_standby_takes_it_again() -> None:
    api, clock = FakeLeases(), Clock()
    lost: list[str] = []
    first = elector(api, "a", clock, lost=lost)
    task = asyncio.create_task(first.run())
    await settle(first.managing.is_set)
    del api.objects[("ops", "kubedag")]
    await settle(lambda: ("ops", "kubedag") in api.objects)
    await asyncio.sleep(0.2)
    assert first.leading() and lost == []
    assert api.objects[("ops", "kubedag")]["spec"]["holderIdentity"] == "a"
    task.cancel()


def test_a_release_whose_clock_is_behind_still_blocks_while_it_renews() -> None:
    """Claims are judged live as the election judges a Lease: by when this process saw the
    renewTime change, on its own monotonic clock. A managing release whose clock is a
    minute behind ours (its renewTime a minute "old") was taken for expired, and both
    releases managed the same namespaces (review of issue 12)."""
    from kubedag.leadership import ClaimObserver

    clock = Clock()
    seen = ClaimObserver(clock)
    newcomer = claim("a/op", "*", managing=False, created=2)
    lagging = [claim("b/op", "*", managing=True, created=1, renewed=-60 + step) for step in (0, 2)]
    assert blocking_claims(newcomer, [lagging[0]], NOW, live=seen.live) == [lagging[0]]
    clock.now += 14
    assert blocking_claims(newcomer, [lagging[1]], NOW, live=seen.live) == [lagging[1]]
    clock.now += 14  # it renewed 14 s ago by our clock: within its 15 s
    assert blocking_claims(newcomer, [lagging[1]], NOW, live=seen.live) == [lagging[1]]
    clock.now += 2  # no renewal seen for 16 s: gone
    assert blocking_claims(newcomer, [lagging[1]], NOW, live=seen.live) == []


def test_a_release_whose_clock_is_ahead_stops_blocking_once_it_stops_renewing() -> None:
    from kubedag.leadership import ClaimObserver

    clock = Clock()
    seen = ClaimObserver(clock)
    newcomer = claim("a/op", "*", managing=False, created=2)
    dead = claim("b/op", "*", managing=True, created=1, renewed=3600)  # an hour ahead
    assert blocking_claims(newcomer, [dead], NOW, live=seen.live) == [dead]
    clock.now += 16
    assert blocking_claims(newcomer, [dead], NOW, live=seen.live) == []
