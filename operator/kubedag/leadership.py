"""Leader election on a coordination.k8s.io/v1 Lease, and the claim that keeps two releases
from managing the same namespaces (issue 12, item 4).

Election: Kubernetes' own mechanism, with client-go's semantics
(k8s.io/client-go/tools/leaderelection; https://kubernetes.io/docs/concepts/architecture/leases/):

- The Lease's `spec.holderIdentity` names the leader; `leaseDurationSeconds` is how long a
  candidate waits, from the last time it saw the Lease change, before it takes the Lease
  over; `acquireTime` is when the current holder took it; `renewTime` when it last renewed;
  `leaseTransitions` counts changes of holder.
- A candidate judges expiry by its own clock (when it last saw the record change), never by
  comparing `renewTime` with its clock: the machines' clocks may differ.
- The leader renews every `retry_period` seconds; when it has not renewed for
  `renew_deadline` seconds (< `lease_duration`), it stops leading. It fences itself from
  that moment (`LeaderElector.leading()` turns False, and kubedag.k8s.client refuses
  writes), `lease_duration - renew_deadline` seconds before any standby may take over,
  then the process exits and is restarted (as kube-controller-manager does).
- On a graceful stop the leader releases the Lease (empty holder, duration 1 s), so a
  standby takes over at its next retry instead of after a full lease duration.

The kubernetes-client Python library has `kubernetes.leaderelection`, but it is built on
threads and the synchronous client (kubedag's client is lightkube's asyncio one), so it
would bring a second API client and its threads into the operator; this module is the
same algorithm on kubedag's client.

Claims: every kubedag operator's Lease says, in the annotation `kubedag.io/namespaces`,
which namespaces it manages (`*`: all of them), and carries the label
`kubedag.io/operator-lease`. Before its controllers start, a leader lists those Leases in
every namespace; when a live Lease of another release (another Lease object) covers one of
its namespaces and comes first in `claim_order`, the leader does not start: it logs an
error, posts a Warning Event `NamespacesClaimed` on its own Lease, and checks again at
every renewal (it starts when the other release is gone). A release that manages
(annotation `kubedag.io/managing: "true"`) comes first, then the older Lease
(`metadata.creationTimestamp`, set by the API server), then the name. A leader whose Lease
is younger than `CLAIM_SETTLE_SECONDS` waits that long before its first check, so two
releases installed in the same second both see each other's Lease.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubedag.k8s.client import Conflict, KubeApi

logger = logging.getLogger(__name__)

CLAIM_LABEL = "kubedag.io/operator-lease"
NAMESPACES_ANNOTATION = "kubedag.io/namespaces"
MANAGING_ANNOTATION = "kubedag.io/managing"
ALL_NAMESPACES = "*"
# creationTimestamp has a resolution of one second: Leases created more than this apart
# are ordered by it; closer ones are both listed by each leader's first check.
CLAIM_SETTLE_SECONDS = 2.0
# A leader re-checks the claims every this many renewals (a list of labelled Leases).
CLAIM_CHECK_EVERY = 5


@dataclass(frozen=True)
class ElectionConfig:
    """Durations in seconds; client-go's defaults (kube-controller-manager's flags
    --leader-elect-lease-duration=15s, --leader-elect-renew-deadline=10s,
    --leader-elect-retry-period=2s). `namespaces`: the namespaces the operator manages,
    empty for all."""

    lease_namespace: str
    lease_name: str = "kubedag-operator"
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}_{uuid.uuid4()}")
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    namespaces: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # client-go refuses the same: a leader must give up before a standby may take over.
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election needs 0 < retry period < renew deadline < lease duration, got "
                f"{self.retry_period} < {self.renew_deadline} < {self.lease_duration}"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str], namespaces: Sequence[str]) -> ElectionConfig | None:
        """Read from the environment the chart sets; None when KUBEDAG_LEADER_ELECTION is
        not `true` (one operator, no Lease: the behaviour before issue 12).

        KUBEDAG_LEASE_NAMESPACE (else POD_NAMESPACE, else `default`), KUBEDAG_LEASE_NAME,
        POD_NAME (the identity; a random suffix is added), KUBEDAG_LEASE_DURATION,
        KUBEDAG_RENEW_DEADLINE, KUBEDAG_RETRY_PERIOD (seconds). Raises ValueError for
        durations that are not numbers or not ordered."""
        if env.get("KUBEDAG_LEADER_ELECTION", "").lower() != "true":
            return None
        base = env.get("POD_NAME") or socket.gethostname()
        return cls(
            lease_namespace=env.get("KUBEDAG_LEASE_NAMESPACE")
            or env.get("POD_NAMESPACE")
            or "default",
            lease_name=env.get("KUBEDAG_LEASE_NAME") or "kubedag-operator",
            identity=f"{base}_{uuid.uuid4().hex[:8]}",
            lease_duration=float(env.get("KUBEDAG_LEASE_DURATION") or 15),
            renew_deadline=float(env.get("KUBEDAG_RENEW_DEADLINE") or 10),
            retry_period=float(env.get("KUBEDAG_RETRY_PERIOD") or 2),
            namespaces=tuple(sorted(set(namespaces))),
        )


# -- claims: pure -------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One kubedag operator's Lease as a claim on namespaces. `namespaces` empty = all."""

    lease: str  # "namespace/name" of the Lease
    holder: str
    namespaces: frozenset[str]
    managing: bool
    created: datetime
    renewed: datetime | None
    duration_seconds: int

    def live(self, now: datetime, skew: timedelta = timedelta(seconds=5)) -> bool:
        """Held and renewed within its duration (plus `skew`: renewTime was written by the
        holder's clock, `now` is ours)."""
        if not self.holder or self.renewed is None:
            return False
        return self.renewed + timedelta(seconds=self.duration_seconds) + skew > now

    def overlaps(self, other: Claim) -> bool:
        if not self.namespaces or not other.namespaces:
            return True
        return bool(self.namespaces & other.namespaces)


def claim_order(claim: Claim) -> tuple[bool, datetime, str]:
    """Who goes first: a managing release, then the older Lease, then the name."""
    return (not claim.managing, claim.created, claim.lease)


def read_claim(lease: Mapping[str, Any]) -> Claim:
    """A Lease (a dict as the API server returns it) as a Claim."""
    metadata = lease.get("metadata") or {}
    spec = lease.get("spec") or {}
    annotations = metadata.get("annotations") or {}
    raw = str(annotations.get(NAMESPACES_ANNOTATION, ALL_NAMESPACES))
    namespaces = (
        frozenset()
        if raw.strip() == ALL_NAMESPACES
        else frozenset(part.strip() for part in raw.split(",") if part.strip())
    )
    renewed = spec.get("renewTime")
    return Claim(
        lease=f"{metadata.get('namespace', '')}/{metadata.get('name', '')}",
        holder=str(spec.get("holderIdentity") or ""),
        namespaces=namespaces,
        managing=annotations.get(MANAGING_ANNOTATION) == "true",
        created=_parse_time(metadata.get("creationTimestamp")) or datetime.now(UTC),
        renewed=_parse_time(renewed),
        duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
    )


class ClaimObserver:
    """Whether other releases' claims are live, judged as the election judges a Lease: a
    claim is live while this process saw its renewTime change less than its duration ago,
    on this process's monotonic clock `clock` (seconds). Comparing the other holder's
    renewTime with this machine's wall clock (`Claim.live`) fails when the clocks differ by
    more than the margin: a release whose clock is behind looked expired while it managed,
    and both managed the same namespaces. A claim seen for the first time is live (its
    holder may be renewing); a dead one stops blocking one lease duration later."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._seen: dict[str, tuple[tuple[str, datetime | None], float]] = {}

    def live(self, claim: Claim) -> bool:
        if not claim.holder:
            return False  # released
        now = self.clock()
        stamp = (claim.holder, claim.renewed)
        seen = self._seen.get(claim.lease)
        if seen is None or seen[0] != stamp:
            self._seen[claim.lease] = (stamp, now)
            return True
        return seen[1] + claim.duration_seconds > now


def blocking_claims(
    mine: Claim,
    others: Sequence[Claim],
    now: datetime,
    *,
    live: Callable[[Claim], bool] | None = None,
) -> list[Claim]:
    """The live claims of other Leases that overlap `mine` and come before it: empty when
    `mine` may manage its namespaces. Liveness is `live(claim)` (a ClaimObserver's, as the
    elector uses), else `Claim.live(now)` by the wall clock."""
    return [
        other
        for other in others
        if other.lease != mine.lease
        and (live(other) if live is not None else other.live(now))
        and other.overlaps(mine)
        and claim_order(other) < claim_order(mine)
    ]


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _micro_time(moment: datetime) -> str:
    # MicroTime: RFC 3339 with microseconds, as client-go writes acquireTime/renewTime.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- the elector ---------------------------------------------------------------------------


class LeaderElector:
    """Campaigns for the Lease, renews it, and says whether this process may act.

    `managing` is set once this process leads and no other release claims its namespaces:
    the controllers start then (kubedag.handlers.Caches waits for it). `on_lost` is called
    once when the leadership is lost (default: the process exits with status 1)."""

    def __init__(
        self,
        api: KubeApi,
        config: ElectionConfig,
        *,
        on_lost: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.config = config
        self.on_lost = on_lost or _exit_now
        self.clock = clock
        self.managing = asyncio.Event()
        self.refusal: str | None = None  # why this leader does not manage, if it does not
        self._renewed_at: float | None = None  # when the last successful renewal was sent
        self._observed: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._lease: dict[str, Any] | None = None
        self._lost = False
        self._stopping = False  # resigning on a graceful stop
        self._lock = asyncio.Lock()
        self._claims = ClaimObserver(clock)

    # -- what others ask ---------------------------------------------------------------

    def leading(self) -> bool:
        """True while this process holds the Lease and renewed it less than the renew
        deadline ago (by its own monotonic clock): the fence for every write."""
        return not self._stopping and self._holds()

    def _holds(self) -> bool:
        return (
            not self._lost
            and self._renewed_at is not None
            and self.clock() - self._renewed_at < self.config.renew_deadline
        )

    def state(self) -> str:
        """`standby`, `leading`, `refusing` (leads, but another release claims its
        namespaces) or `lost`."""
        if self._lost:
            return "lost"
        if not self.leading():
            return "standby"
        return "leading" if self.managing.is_set() else "refusing"

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        """Campaigns until elected, then renews until the leadership is lost (then calls
        `on_lost` and returns) or the task is cancelled."""
        config = self.config
        logger.info(
            "leader election: %s campaigns for Lease %s/%s",
            config.identity,
            config.lease_namespace,
            config.lease_name,
        )
        while True:
            if await self._try_acquire_or_renew():
                break
            # client-go's jitter factor 1.2: candidates do not retry in lockstep.
            await asyncio.sleep(config.retry_period * random.uniform(1.0, 1.2))
        logger.info(
            "leader election: %s acquired Lease %s/%s",
            config.identity,
            config.lease_namespace,
            config.lease_name,
        )
        renewals = 0
        while True:
            if not self.managing.is_set() or renewals % CLAIM_CHECK_EVERY == 0:
                await self._check_claims()
                if self._lost:
                    break
            await asyncio.sleep(config.retry_period)
            renewals += 1
            if not await self._renew_until_deadline():
                break
        self._lost = True
        self.managing.clear()
        if self._stopping:
            return  # released on a graceful stop (`release`), not lost
        logger.error(
            "leader election: %s lost Lease %s/%s; stopping",
            config.identity,
            config.lease_namespace,
            config.lease_name,
        )
        self.on_lost()

    async def _renew_until_deadline(self) -> bool:
        """Retries the renewal every retry period until it succeeds (True) or the renew
        deadline since the last success passes (False)."""
        config = self.config
        while True:
            assert self._renewed_at is not None
            left = config.renew_deadline - (self.clock() - self._renewed_at)
            if left <= 0:
                return False
            try:
                if await asyncio.wait_for(self._try_acquire_or_renew(), timeout=left):
                    return True
            except TimeoutError:
                return False
            except Exception as error:  # the API server is unreachable, 5xx, ...
                logger.warning("leader election: renewal failed: %s", error)
            if self._lost:
                return False  # another holder was seen: no more retries
            await asyncio.sleep(min(config.retry_period, max(left, 0.0)))

    async def _try_acquire_or_renew(self) -> bool:
        """One round of client-go's tryAcquireOrRenew: True when this process holds the
        Lease afterwards (and it was written now)."""
        async with self._lock:
            if self._lost:
                return False
            config = self.config
            sent = self.clock()
            now = datetime.now(UTC)
            try:
                lease = await self.api.get("Lease", config.lease_namespace, config.lease_name)
            except Exception as error:
                logger.warning("leader election: cannot read the Lease: %s", error)
                return False
            if lease is None:
                try:
                    created = await self.api.create(self._new_lease(now))
                except Exception as error:  # 403 (RBAC), 5xx, unreachable: next round
                    logger.warning("leader election: cannot create the Lease: %s", error)
                    return False
                if created is None:
                    return False  # another candidate created it first
                self._took(created, sent)
                return True
            spec = lease.get("spec") or {}
            if spec != self._observed:
                self._observed, self._observed_at = dict(spec), self.clock()
            holder = spec.get("holderIdentity") or ""
            duration = float(spec.get("leaseDurationSeconds") or 0)
            if holder and holder != config.identity and self._renewed_at is not None:
                # This process led, and the Lease now names another holder: a standby took
                # it over (the Lease was deleted by hand and re-created, or edited, or our
                # renewals were late). Stop at once, as client-go's IsLeader() turns false
                # on the first record naming someone else: two leaders must not overlap
                # for the rest of the renew deadline.
                logger.error(
                    "leader election: Lease %s/%s is held by %s now; stopping",
                    config.lease_namespace,
                    config.lease_name,
                    holder,
                )
                self._lost = True
                self.managing.clear()
                return False
            if holder and holder != config.identity and self._observed_at + duration > self.clock():
                return False  # held by another, and it renewed within its duration
            lease["spec"] = self._spec(now, spec if holder == config.identity else None)
            lease["metadata"]["annotations"] = {
                **(lease["metadata"].get("annotations") or {}),
                **self._annotations(),
            }
            lease["metadata"]["labels"] = {
                **(lease["metadata"].get("labels") or {}),
                CLAIM_LABEL: "true",
            }
            try:
                updated = await self.api.replace(lease)
            except Conflict:
                return False
            except Exception as error:  # 403 (RBAC), 5xx, unreachable: next round
                logger.warning("leader election: cannot write the Lease: %s", error)
                return False
            if updated is None:
                return False
            self._took(updated, sent)
            return True

    def _took(self, lease: dict[str, Any], sent: float) -> None:
        self._lease = lease
        self._observed, self._observed_at = dict(lease.get("spec") or {}), self.clock()
        self._renewed_at = sent

    def _annotations(self) -> dict[str, str]:
        return {
            NAMESPACES_ANNOTATION: ",".join(self.config.namespaces) or ALL_NAMESPACES,
            MANAGING_ANNOTATION: "true" if self.managing.is_set() else "false",
        }

    def _spec(self, now: datetime, previous: Mapping[str, Any] | None) -> dict[str, Any]:
        """The spec this holder writes: a renewal keeps acquireTime and the transitions;
        taking the Lease over sets acquireTime and counts one more transition."""
        config = self.config
        spec: dict[str, Any] = {
            "holderIdentity": config.identity,
            "leaseDurationSeconds": max(1, round(config.lease_duration)),
            "renewTime": _micro_time(now),
        }
        if previous is not None:
            spec["acquireTime"] = previous.get("acquireTime") or _micro_time(now)
            spec["leaseTransitions"] = int(previous.get("leaseTransitions") or 0)
        else:
            observed = self._observed or {}
            spec["acquireTime"] = _micro_time(now)
            spec["leaseTransitions"] = int(observed.get("leaseTransitions") or 0) + 1
        return spec

    def _new_lease(self, now: datetime) -> dict[str, Any]:
        spec = self._spec(now, None)
        spec["leaseTransitions"] = 0
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": self.config.lease_name,
                "namespace": self.config.lease_namespace,
                "labels": {CLAIM_LABEL: "true"},
                "annotations": self._annotations(),
            },
            "spec": spec,
        }

    # -- claims --------------------------------------------------------------------------

    async def _check_claims(self) -> None:
        """Starts managing when no other release claims these namespaces first; stops the
        leadership (`_lost`) when one does while this process manages."""
        assert self._lease is not None
        mine = read_claim(self._lease)
        if not self.managing.is_set():
            age = (datetime.now(UTC) - mine.created).total_seconds()
            if age < CLAIM_SETTLE_SECONDS:
                await asyncio.sleep(CLAIM_SETTLE_SECONDS - age)
        try:
            leases = await self.api.list_all("Lease", labels={CLAIM_LABEL: "true"})
        except Exception as error:
            # Not acting on namespaces it cannot check: said once, retried every renewal.
            reason = (
                "cannot list the Leases of other kubedag releases (RBAC: list leases in all "
                f"namespaces) to check the namespaces are not managed twice: {error}"
            )
            if not self.managing.is_set() and reason != self.refusal:
                self.refusal = reason
                logger.error("leader election: not managing anything: %s", reason)
                await self._post_refusal(reason, "ClaimsUnreadable")
            return
        blocking = blocking_claims(
            mine,
            [read_claim(lease) for lease in leases],
            datetime.now(UTC),
            live=self._claims.live,
        )
        if not blocking:
            if not self.managing.is_set():
                self.managing.set()
                self.refusal = None
                # The next renewal writes `managing: "true"`; write it now, so a release
                # starting meanwhile defers to this one.
                if not await self._try_acquire_or_renew():
                    self.managing.clear()
                    return
                logger.info("leader election: %s manages %s", self.config.identity, _scope(mine))
            return
        reason = (
            f"the namespaces {_scope(mine)} are managed by another kubedag release: "
            + "; ".join(f"Lease {claim.lease} ({_scope(claim)})" for claim in blocking)
            + ". Give each release its own namespaces (watchNamespaces), or uninstall one."
        )
        if self.managing.is_set():
            logger.error("leader election: %s", reason)
            self._lost = True
            return
        if reason != self.refusal:
            self.refusal = reason
            logger.error("leader election: not managing anything: %s", reason)
            await self._post_refusal(reason, "NamespacesClaimed")

    async def _post_refusal(self, reason: str, event_reason: str) -> None:
        assert self._lease is not None
        metadata = self._lease["metadata"]
        try:
            await self.api.post_event(
                regarding={
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "name": metadata["name"],
                    "namespace": metadata["namespace"],
                    "uid": metadata.get("uid", ""),
                },
                event_type="Warning",
                reason=event_reason,
                message=reason,
            )
        except Exception as error:
            logger.warning("leader election: cannot post the NamespacesClaimed Event: %s", error)

    async def release(self) -> None:
        """On a graceful stop: stops every write at once (`leading()` turns False), then
        gives the Lease up (empty holder, 1 s duration: client-go's ReleaseOnCancel) so a
        standby takes over at its next retry. A standby only stops campaigning."""
        self._stopping = True
        self.managing.clear()
        if self._lease is None or not self._holds():
            self._lost = True
            return
        self._lost = True
        async with self._lock:
            lease = dict(self._lease)
            lease["spec"] = {
                **(lease.get("spec") or {}),
                "holderIdentity": None,
                "leaseDurationSeconds": 1,
                "renewTime": _micro_time(datetime.now(UTC)),
            }
            lease["metadata"] = {
                **lease["metadata"],
                "annotations": {
                    **(lease["metadata"].get("annotations") or {}),
                    MANAGING_ANNOTATION: "false",
                },
            }
            try:
                await self.api.replace(lease)
                logger.info("leader election: released Lease %s", read_claim(lease).lease)
            except Exception as error:
                logger.warning("leader election: cannot release the Lease: %s", error)


def _scope(claim: Claim) -> str:
    return ", ".join(sorted(claim.namespaces)) if claim.namespaces else "(all namespaces)"


def _exit_now() -> None:
    # The fence already stopped every write (LeaderElector.leading); exit before the
    # renew deadline's margin runs out, without waiting for passes in flight.
    logging.shutdown()
    os._exit(1)
